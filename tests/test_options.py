"""Option files: every mistake stops train.py with one line (exit 2) that names the file and the key.

Each case goes through `dpmambair.train.main`, as a user's command would; nothing trains (every check fires
before the first iteration), so the whole file takes a few seconds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict

import pytest
import yaml
from train_helpers import tiny_options, write_options

from dpmambair.utils.options import parse_options


def train_error(capsys, path: Path, *extra: str) -> str:
    """Run train.py's main on `path`; it must exit with status 2 and one stderr line, which is returned."""
    from dpmambair.train import main

    with pytest.raises(SystemExit) as info:
        main(["-opt", str(path), *extra])
    err = capsys.readouterr().err.strip()
    assert info.value.code == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err
    return err


@pytest.fixture
def base(tmp_path) -> Dict[str, Any]:
    return tiny_options(tmp_path, "opts", total_iter=1)


def write(tmp: Path, name: str, data: Dict[str, Any]) -> Path:
    path = tmp / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_unknown_top_level_key(tmp_path, base, capsys):
    base["netwrok_g"] = {"type": "DPMambaIR"}
    err = train_error(capsys, write_options(base, tmp_path / "typo.yml"))
    assert "typo.yml" in err and "unknown top-level key 'netwrok_g'" in err


@pytest.mark.parametrize("key", ["name", "model_type"])
def test_missing_required_key(tmp_path, base, capsys, key):
    base.pop(key)
    err = train_error(capsys, write_options(base, tmp_path / "short.yml"))
    assert "short.yml" in err and f"missing required key '{key}'" in err


def test_inherit_cycle_names_both_files(tmp_path, capsys):
    write(tmp_path, "a.yml", {"inherit": "b.yml", "name": "a"})
    write(tmp_path, "b.yml", {"inherit": "a.yml", "model_type": "DPMambaIRModel"})
    err = train_error(capsys, tmp_path / "a.yml")
    assert "'inherit' forms a cycle" in err and "a.yml" in err and "b.yml" in err


def test_inherit_of_a_missing_parent(tmp_path, base, capsys):
    base["inherit"] = "gone.yml"
    err = train_error(capsys, write_options(base, tmp_path / "child.yml"))
    assert "child.yml" in err and "'inherit' names" in err and "gone.yml" in err and "does not exist" in err


def test_tilde_cancels_an_inherited_block(tmp_path, base):
    """`key: ~` in a child removes what the parent set (the merge replaces, it does not keep the parent's block)."""
    write_options(base, tmp_path / "parent.yml")
    child = write(
        tmp_path,
        "child.yml",
        {"inherit": "parent.yml", "network_de": None, "val": {"val_freq": None}, "train": {"fft_opt": None}},
    )
    opt = parse_options(child)
    assert opt["network_de"] is None and base["network_de"] is not None
    assert opt["val"]["val_freq"] is None and opt["val"]["metrics"] == base["val"]["metrics"]  # siblings inherited
    assert opt["train"]["fft_opt"] is None and opt["train"]["pixel_opt"] == base["train"]["pixel_opt"]
    assert opt["name"] == base["name"]
    # ... and the training side then has no FFT loss
    from dpmambair.models.dpmambair_model import DPMambaIRModel
    from dpmambair.train import experiment_paths

    experiment_paths(opt)
    assert sorted(DPMambaIRModel(opt).losses) == ["mse", "pixel"]


@pytest.mark.parametrize(
    "override,needle",
    [("train:total_iter", "expected key=value, got 'train:total_iter'"), ("=3", "expected key=value, got '=3'")],
)
def test_malformed_force_yml(tmp_path, base, capsys, override, needle):
    err = train_error(capsys, write_options(base, tmp_path / "o.yml"), "--force_yml", override)
    assert "--force_yml" in err and needle in err


def test_force_yml_overrides_nested_keys(tmp_path, base):
    opt = parse_options(
        write_options(base, tmp_path / "o.yml"),
        overrides=["train:total_iter=7", "val.val_freq=~", "network_g:d_state=2"],
    )
    assert opt["train"]["total_iter"] == 7 and opt["val"]["val_freq"] is None and opt["network_g"]["d_state"] == 2


@pytest.mark.parametrize(
    "change,needles",
    [
        ({"type": "DPMambaIRR"}, ["network_g", "unknown network type 'DPMambaIRR'"]),
        ({"dimm": 8}, ["network_g", "unknown key 'dimm' for DPMambaIR"]),
    ],
)
def test_unknown_network_type_or_key(tmp_path, base, capsys, change, needles):
    base["network_g"].update(change)
    err = train_error(capsys, write_options(base, tmp_path / "net.yml"))
    assert "net.yml" in err
    for needle in needles:
        assert needle in err, err


def test_network_without_type(tmp_path, base, capsys):
    base["network_g"].pop("type")
    err = train_error(capsys, write_options(base, tmp_path / "net.yml"))
    assert "net.yml" in err and "'network_g' needs a 'type' key" in err


def test_unknown_model_type(tmp_path, base, capsys):
    base["model_type"] = "DPMambaIRModell"
    err = train_error(capsys, write_options(base, tmp_path / "m.yml"))
    assert "m.yml" in err and "unknown model_type 'DPMambaIRModell'" in err and "DPMambaIRModel" in err


def test_no_experiment_folder_is_left_by_a_bad_option_file(tmp_path, base, capsys):
    """A typo found at start-up archives nothing: the error comes before any folder is touched."""
    base["netwrok_g"] = {}
    train_error(capsys, write_options(base, tmp_path / "o.yml"))
    assert not (tmp_path / "experiments").exists()

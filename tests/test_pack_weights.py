"""scripts/pack_weights.py and dpmambair.inference.weights: training file → shipped format, and back."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml
from conftest import load_script
from inference_helpers import save_checkpoint

from dpmambair.inference.restorer import Restorer
from dpmambair.inference.weights import FORMAT, pack_weights, plain, read_weights, save_weights
from dpmambair.utils.checkpoint import CheckpointError


def test_plain_turns_options_into_data_a_safe_load_accepts(tmp_path):
    value = plain({"a": (1, 2.5), "b": Path("x/y"), "c": {"d": None, "e": torch.tensor(3)}, 4: object})
    assert value == {"a": [1, 2.5], "b": "x/y", "c": {"d": None, "e": 3}, "4": str(object)}
    torch.save(value, tmp_path / "v.pth")
    assert torch.load(tmp_path / "v.pth", weights_only=True) == value


def test_packed_file_keeps_the_ema_weights_and_restores_like_the_training_file(tmp_path, one_thread):
    ckpt = save_checkpoint(tmp_path / "net_g_4.pth", ema=True)
    out = save_weights(pack_weights(ckpt, {"stage2": {"name": "x"}}, {"commit": "abc"}), tmp_path / "w.pth")
    obj = read_weights(out)  # weights_only=True inside
    assert obj["format"] == FORMAT and obj["meta"] == {"commit": "abc", "iter": 4, "weights_from": "params_ema"}
    assert obj["options"] == {"stage2": {"name": "x"}}
    assert "params_ema" not in obj  # one copy of the restorer's weights
    x = torch.rand(1, 3, 24, 24)
    a, b = Restorer.from_checkpoint(ckpt)(x), Restorer.from_checkpoint(out)(x)
    assert torch.equal(a, b)  # the training file also restores with its EMA weights
    assert Restorer.from_checkpoint(out).prototypes["names"] == ["rain", "noise"]


def test_pack_script_reads_an_experiment_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s1, s2 = tmp_path / "experiments" / "s1", tmp_path / "experiments" / "s2"
    (s1 / "models").mkdir(parents=True)
    save_checkpoint(s2 / "models" / "net_g_latest.pth", ema=True)
    (s1 / "options_resolved.yml").write_text(yaml.safe_dump({"name": "s1", "model_type": "ExtractorPretrainModel"}))
    (s2 / "options_resolved.yml").write_text(
        yaml.safe_dump({"name": "s2", "path": {"pretrain_network_de": "experiments/s1/models/net_de_latest.pth"}})
    )
    (s1 / "train_s1.log").write_text("2026-12-03 10:00:00 INFO: start\n2026-12-03 10:10:30 INFO: done\n")
    (s2 / "train_s2.log").write_text("2026-12-03 10:11:00 INFO: start\nno stamp\n2026-12-03 11:11:00 INFO: end\n")
    pack = load_script("pack_weights")
    assert pack.main(["--experiment", str(s2), "--output", "w/out.pth"]) == 0
    assert "weights_only=True): ok" in capsys.readouterr().out
    meta = read_weights(tmp_path / "w" / "out.pth")["meta"]
    assert meta["wall_seconds"] == {"stage1": 630.0, "stage2": 3600.0}
    assert meta["parameters"]["restorer"] > 0 and meta["parameters"]["extractor"] > 0
    assert read_weights(tmp_path / "w" / "out.pth")["options"]["stage1"]["name"] == "s1"


def test_pack_script_without_a_trained_model_is_a_one_line_error(tmp_path, capsys):
    assert load_script("pack_weights").main(["--experiment", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "net_g_latest.pth" in err and "train stage 2 first" in err


def test_a_packed_file_that_a_safe_load_refuses_is_never_left_behind(tmp_path):
    good = save_weights({"format": FORMAT, "params": {}}, tmp_path / "w.pth")
    bad = {"format": FORMAT, "params": {}, "meta": Path("x")}  # an object a weights-only load rejects
    with pytest.raises(CheckpointError, match="not a readable weights file"):
        save_weights(bad, good)
    assert read_weights(good) == {"format": FORMAT, "params": {}}  # the earlier file is untouched
    assert [p.name for p in tmp_path.iterdir()] == ["w.pth"]  # and no temporary file is left

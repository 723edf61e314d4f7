"""`convolve train --resume` and honest evaluation on the command line: a run folder resumes
from last (not best), settings given on resume are applied or refused, stale temp files are
cleaned, and the test split never influences which model is kept."""

import json
import os

import numpy as np
import pytest

from convolve import data as cdata
from convolve import io as cio
from convolve.cli import main

BASE = ["train", "--model", "mlp", "--data", "digits", "--limit", "200", "--seed", "0", "-q"]


def _weights(path):
    return cio.load_checkpoint(path)["model"]


def _same(a, b) -> bool:
    return list(a) == list(b) and all(np.array_equal(a[k], b[k]) for k in a)


def _files(folder) -> dict:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def _error(capsys, argv, match):
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("convolve: error: ") and err.count("\n") == 1, err
    assert match in err, err


@pytest.fixture(scope="module")
def run2(tmp_path_factory):
    out = tmp_path_factory.mktemp("run2")
    assert main(BASE + ["--epochs", "2", "--out", str(out)]) == 0
    return out


def test_run_folder_resumes_from_last_not_best(tmp_path):
    straight, run = tmp_path / "straight", tmp_path / "run"
    assert main(BASE + ["--epochs", "3", "--out", str(straight)]) == 0
    assert main(BASE + ["--epochs", "1", "--out", str(run)]) == 0
    epoch1 = (run / "last.safetensors").read_bytes()
    assert main(["train", "--resume", str(run), "--epochs", "2", "-q"]) == 0
    (run / "best.safetensors").write_bytes(epoch1)  # best (epoch 1) != last (epoch 2)
    assert main(["train", "--resume", str(run), "--epochs", "3", "-q"]) == 0
    last = cio.load_checkpoint(run / "last.safetensors")
    assert last["epoch"] == 3 and [e["epoch"] for e in last["extra"]["history"]] == [1, 2, 3]
    assert _same(last["model"], _weights(straight / "last.safetensors"))


@pytest.mark.parametrize("flag, value", [
    ("--model", "lenet5"), ("--optimizer", "sgd"), ("--data", "mnist5k"),
    ("--val-split", "0.2"), ("--batch-size", "32"), ("--seed", "1"), ("--limit", "100"),
    ("--translate", "1"), ("--scheduler", "cosine"), ("--weight-decay", "0.1")])
def test_resume_refuses_settings_it_cannot_honour(run2, capsys, flag, value):
    before = _files(run2)
    _error(capsys, ["train", "--resume", str(run2), flag, value, "--epochs", "3", "-q"],
           f"{flag} {value}")
    assert _files(run2) == before


def test_resume_refuses_config_and_old_checkpoints(run2, tmp_path, capsys):
    cfg = tmp_path / "m.json"
    cfg.write_text(json.dumps([{"type": "flatten"}, {"type": "linear", "out_features": 10}]))
    _error(capsys, ["train", "--resume", str(run2), "--config", str(cfg), "-q"],
           "is the named model mlp")
    old = tmp_path / "old"
    ckpt = cio.load_checkpoint(run2 / "last.safetensors")
    cli = {k: v for k, v in ckpt["extra"]["cli"].items() if k != "val_split"}
    cio.save_checkpoint(old / "last.safetensors", cio.load_model(ckpt), epoch=2,
                        extra={"cli": cli})
    _error(capsys, ["train", "--resume", str(old), "-q"], "predates the held-out validation")
    _error(capsys, ["train", "--resume", str(tmp_path / "nothing"), "-q"], "no checkpoint at")


def test_resume_applies_lr_epochs_patience_and_cleans_stale_temps(run2, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    for name in ("last.safetensors", "best.safetensors", "log.jsonl"):
        (run / name).write_bytes((run2 / name).read_bytes())
    stale = [run / ".last.safetensors.0123456789ab.tmp", run / ".log.jsonl.ba9876543210.tmp"]
    for s in stale:
        s.write_bytes(b"left by a killed write")
    assert main(["train", "--resume", str(run), "--lr", "0.01", "--epochs", "3",
                 "--patience", "4", "--optimizer", "adam", "--model", "mlp", "-q"]) == 0
    assert not any(s.exists() for s in stale)
    last = cio.load_checkpoint(run / "last.safetensors")
    assert last["epoch"] == 3 and last["extra"]["cli"]["epochs"] == 3
    assert last["extra"]["cli"]["lr"] == 0.01 and last["extra"]["cli"]["patience"] == 4
    assert [g["lr"] for g in last["optimizer"]["param_groups"]] == [0.01]
    assert [e["lr"] for e in last["extra"]["history"]] == [1e-3, 1e-3, 0.01]
    log = [json.loads(s) for s in (run / "log.jsonl").read_text().splitlines()]
    assert [e.get("event", e.get("epoch")) for e in log] == \
        ["start", 1, 2, "test", "resume", 3, "test"]


def test_resume_refuses_lr_under_a_schedule(tmp_path, capsys):
    run = tmp_path / "one"
    assert main(BASE + ["--epochs", "1", "--scheduler", "onecycle", "--out", str(run)]) == 0
    capsys.readouterr()
    _error(capsys, ["train", "--resume", str(run), "--lr", "0.1", "-q"],
           "onecycle schedule sets the learning rate")


@pytest.mark.parametrize("argv", [["train", "--limit", "0"], ["train", "--limit", "-5"],
                                  ["eval", "x.safetensors", "--limit", "-5"],
                                  ["eval", "x.safetensors", "--limit", "many"]])
def test_limit_must_be_positive(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert "--limit: expected a positive integer" in capsys.readouterr().err


def test_val_split_zero_says_selection_uses_the_training_loss(tmp_path, capsys):
    assert main(BASE + ["--epochs", "1", "--val-split", "0", "--out", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert "--val-split 0: no held-out data" in captured.err
    assert "chosen by loss" in captured.out and "test_acc" in captured.out
    hist = json.loads((tmp_path / "history.json").read_text())
    assert hist["sizes"] == {"train": 200, "val": None, "test": 200}
    assert hist["epochs"][0]["val_loss"] is None
    _error(capsys, BASE + ["--val-split", "1.5", "--out", str(tmp_path / "x")], "--val-split")
    _error(capsys, ["eval", str(tmp_path), "--split", "val"], "records no held-out validation")


def test_cli_selection_ignores_poisoned_test_labels(tmp_path, monkeypatch, capsys):
    """best.safetensors, the stopping epoch and every val_* number are the same when every
    test label is wrong; only the once-evaluated test numbers change."""
    argv = BASE + ["--epochs", "6", "--patience", "1", "--lr", "0.05"]
    assert main(argv + ["--out", str(tmp_path / "clean")]) == 0
    real = cdata.load_dataset

    def poisoned(name, *a, **kw):
        s = real(name, *a, **kw)
        return type(s)(s.x_train, s.y_train, s.x_test, (s.y_test + 1) % 10)

    monkeypatch.setattr(cdata, "load_dataset", poisoned)
    assert main(argv + ["--out", str(tmp_path / "poisoned")]) == 0
    out = capsys.readouterr().out.splitlines()
    runs = [json.loads((tmp_path / r / "history.json").read_text()) for r in ("clean", "poisoned")]
    strip = [[{k: v for k, v in e.items() if k != "seconds"} for e in h["epochs"]] for h in runs]
    assert strip[0] == strip[1] and runs[0]["stop_reason"] == runs[1]["stop_reason"]
    assert "early stopping" in runs[0]["stop_reason"]  # patience acted, on val only
    best = [cio.load_checkpoint(tmp_path / r / "best.safetensors") for r in ("clean", "poisoned")]
    assert best[0]["epoch"] == best[1]["epoch"] and _same(best[0]["model"], best[1]["model"])
    assert runs[0]["test"]["test_accuracy"] > 0.5 > runs[1]["test"]["test_accuracy"]
    assert out[0].split("; test")[0] == out[1].split("; test")[0]  # same val part of the line


def test_eval_of_a_run_folder_matches_the_logged_test_line(run2, capsys):
    assert main(["eval", str(run2), "--json", "--limit", "200"]) == 0
    res = json.loads(capsys.readouterr().out)
    test = json.loads((run2 / "history.json").read_text())["test"]
    assert res["accuracy"] == pytest.approx(test["test_accuracy"])
    assert os.path.basename(res["checkpoint"]) == "best.safetensors"

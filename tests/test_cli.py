"""The `convolve` command line end to end on digits (1 epoch), in-process and as a
subprocess, and its one-line error messages."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from convolve import cli
from convolve import io as cio
from convolve.cli import main

TRAIN = ["train", "--model", "lenet5", "--data", "digits", "--limit", "300", "--batch-size", "64",
         "--seed", "0", "-q"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    assert main(TRAIN + ["--epochs", "1", "--out", str(out)]) == 0
    return out


def _error(capsys, argv, match):
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("convolve: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err and match in err, err


def test_train_writes_checkpoints_and_logs(run_dir):
    names = sorted(p.name for p in run_dir.iterdir())
    assert names == ["best.safetensors", "history.json", "last.safetensors", "log.jsonl"]
    ckpt = cio.load_checkpoint(run_dir / "last.safetensors")
    assert ckpt["epoch"] == 1 and ckpt["architecture"]["name"] == "lenet5"
    assert ckpt["architecture"]["input_shape"] == [1, 8, 8]
    assert ckpt["extra"]["data"]["name"] == "digits" and ckpt["extra"]["cli"]["lr"] == 1e-3
    log = [json.loads(s) for s in (run_dir / "log.jsonl").read_text().splitlines()]
    history = json.loads((run_dir / "history.json").read_text())
    sizes = {"train": 270, "val": 30, "test": 300}  # --limit 300, --val-split 0.1
    assert log[0] == {"event": "start", "epoch": 0, "sizes": sizes, "test_from": "own"} == \
        {"event": "start", "epoch": 0, "sizes": history["sizes"], "test_from": "own"}
    assert log[1:-1] == history["epochs"] and len(log) == 3
    assert log[-1] == {"event": "test", **history["test"]} and log[-1]["model_epoch"] == 1
    assert ckpt["extra"]["cli"]["limit"] == 300 and ckpt["extra"]["cli"]["val_split"] == 0.1
    assert ckpt["extra"]["split"] == {"val_split": 0.1, "seed": 0, **sizes, "test_from": "own"}
    assert os.stat(run_dir / "last.safetensors").st_mode & 0o777 == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_eval_reproduces_the_logged_test_accuracy(run_dir, capsys):
    assert main(["eval", str(run_dir), "--json", "--limit", "300"]) == 0
    res = json.loads(capsys.readouterr().out)
    log = [json.loads(s) for s in (run_dir / "log.jsonl").read_text().splitlines()]
    assert res["data"] == "digits" and res["samples"] == 300
    assert res["accuracy"] == pytest.approx(log[-1]["test_accuracy"])
    assert res["loss"] == pytest.approx(log[-1]["test_loss"], rel=1e-5)
    assert main(["eval", str(run_dir), "--json", "--split", "val"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["samples"] == 30 and res["accuracy"] == pytest.approx(log[1]["val_accuracy"])
    assert res["loss"] == pytest.approx(log[1]["val_loss"], rel=1e-5)
    assert main(["eval", str(run_dir / "last.safetensors"), "--split", "train"]) == 0
    assert "digits train (1438 samples): accuracy" in capsys.readouterr().out
    assert main(["eval", str(run_dir), "--split", "test", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["samples"] == 359


def test_resume_continues_bit_identically(run_dir, tmp_path):
    straight = tmp_path / "straight"
    assert main(TRAIN + ["--epochs", "2", "--out", str(straight)]) == 0
    shifted = tmp_path / "shifted"  # augmentation is seeded too: the same run twice agrees
    for run, shift in (("a", "1"), ("b", "1"), ("c", "0")):
        assert main(TRAIN + ["--model", "mlp", "--epochs", "1", "--translate", shift,
                             "--out", str(shifted / run)]) == 0
    a, b, c = (cio.load_checkpoint(shifted / r / "last.safetensors")["model"] for r in "abc")
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not all(np.array_equal(a[k], c[k]) for k in a)
    resumed = tmp_path / "resumed"
    resumed.mkdir()
    (resumed / "last.safetensors").write_bytes((run_dir / "last.safetensors").read_bytes())
    assert main(["train", "--resume", str(resumed / "last.safetensors"), "--epochs", "2",
                 "-q"]) == 0
    a = cio.load_checkpoint(straight / "last.safetensors")
    b = cio.load_checkpoint(resumed / "last.safetensors")
    assert b["epoch"] == 2
    assert all(np.array_equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert a["extra"]["history"][1]["val_loss"] == b["extra"]["history"][1]["val_loss"]


def test_predict_images(run_dir, tmp_path, capsys):
    from PIL import Image

    from convolve.data import load_digits
    from convolve.io import load_model
    from convolve.train import predict

    split = load_digits()
    files = []
    for i in range(3):
        img = Image.fromarray((split.x_test[i, 0] * 255).astype(np.uint8)).resize((32, 32))
        files.append(tmp_path / f"d{i}.png")
        img.save(files[-1])
    assert main(["predict", str(run_dir), *map(str, files), "--top", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and all(line.count("%") == 2 for line in lines)
    model = load_model(run_dir / "best.safetensors")
    x = np.stack([cli.load_image(f, (1, 8, 8)) for f in files])
    norm = cio.load_checkpoint(run_dir / "best.safetensors")["extra"]["data"]["normalize"]
    x = (x - np.float32(norm["mean"][0])) / np.float32(norm["std"][0])  # as trained
    top = predict(model, x).argmax(axis=1)
    assert [line.split(": ")[1].split()[0] for line in lines] == [str(k) for k in top]
    # a light background on dark-background training data is inverted automatically
    light = cli.load_image(files[0], (1, 8, 8), "no")
    np.testing.assert_allclose(cli.load_image(files[0], (1, 8, 8), "yes"), 1 - light)
    inverted = tmp_path / "light.png"
    Image.fromarray(255 - np.asarray(Image.open(files[0]))).save(inverted)
    np.testing.assert_allclose(cli.load_image(inverted, (1, 8, 8), "auto", 0.3), light,
                               atol=1.01 / 255)  # resizing rounds to whole grey levels


def test_summary_command(tmp_path, capsys, run_dir):
    assert main(["summary", "lenet5", "--input", "1x28x28"]) == 0
    out = capsys.readouterr().out
    assert "Total params: 61,706" in out
    assert main(["summary", "lenet5", "--input", "3x32x32", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["rows"][0]["dense_params"] == 3072 * 4704 + 4704
    spec = tmp_path / "m.json"
    spec.write_text(json.dumps([{"type": "conv2d", "out_channels": 6, "kernel_size": 5}]))
    assert main(["summary", str(spec), "--input", "3x32x32", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["total_params"] == 456
    assert main(["summary", str(run_dir / "last.safetensors")]) == 0
    assert "1x8x8" in capsys.readouterr().out


def test_datasets_command(capsys):
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    assert "digits" in out and "mnist5k" in out and "mnist1d" in out
    assert main(["datasets", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {"name": "digits", "shape": "1x8x8"}.items() <= rows[0].items()


def test_user_errors_are_one_line(tmp_path, capsys, run_dir):
    _error(capsys, ["train", "--model", "resnet", "--data", "digits", "-q", "--out",
                    str(tmp_path)], "unknown model 'resnet'")
    _error(capsys, ["train", "--data", "imagenet", "-q"], "unknown dataset 'imagenet'")
    _error(capsys, ["summary", "lenet5", "--input", "1xbadx28"], "bad shape '1xbadx28'")
    _error(capsys, ["summary", "lenet5", "--input", "1x40"], "lenet5: input_shape")
    _error(capsys, ["eval", str(tmp_path / "nope.safetensors")], "no such checkpoint")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes((run_dir / "last.safetensors").read_bytes()[:100])
    _error(capsys, ["eval", str(bad)], str(bad))
    _error(capsys, ["predict", str(run_dir), str(tmp_path / "nope.png")], "no such image")
    txt = tmp_path / "notes.png"
    txt.write_text("hello")
    _error(capsys, ["predict", str(run_dir), str(txt)], "cannot read image")
    _error(capsys, ["train", "--data", "digits", "--translate", "-1", "-q"], "--translate")
    one = tmp_path / "onecycle"
    assert main(["train", "--model", "mlp", "--data", "digits", "--limit", "100", "--epochs", "1",
                 "--scheduler", "onecycle", "--out", str(one), "-q"]) == 0
    capsys.readouterr()
    _error(capsys, ["train", "--resume", str(one), "--epochs", "2", "-q"],
           "planned for 1 epochs; resume with --epochs 1")
    cfg = tmp_path / "broken.json"
    cfg.write_text("[{")
    _error(capsys, ["train", "--config", str(cfg), "--data", "digits", "-q"], "not valid JSON")


def test_help_and_usage_errors(capsys):
    for cmd in ([], ["train"], ["eval"], ["predict"], ["summary"], ["datasets"]):
        with pytest.raises(SystemExit) as info:
            main([*cmd, "--help"])
        assert info.value.code == 0
        assert "usage: convolve" in capsys.readouterr().out
    with pytest.raises(SystemExit) as info:
        main(["train", "--epochs", "many"])
    assert info.value.code == 2
    assert main([]) == 2


def test_a_plugin_subcommand_is_one_function(capsys):
    @cli.subcommand("hello", "say hello")
    def hello(p):
        p.add_argument("--name", default="world")
        return lambda args: print(f"hello {args.name}") or 0

    try:
        assert main(["hello", "--name", "conv"]) == 0
        assert capsys.readouterr().out == "hello conv\n"
    finally:
        del cli._SUBCOMMANDS["hello"]


def test_subprocess_entry_point(tmp_path):
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    ok = subprocess.run([sys.executable, "-m", "convolve.cli", "summary", "lenet5", "--input",
                         "1x8x8"], capture_output=True, text=True, env=env, timeout=120, check=False)
    assert ok.returncode == 0 and "Total params" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "convolve.cli", "eval",
                          str(tmp_path / "missing.safetensors")],
                         capture_output=True, text=True, env=env, timeout=120, check=False)
    assert bad.returncode == 1
    assert bad.stderr.startswith("convolve: error: no such checkpoint")
    assert bad.stderr.count("\n") == 1

"""`convolve compare` end to end on small subsets: report.json keys, report.html sections and
embedded images, figures on disk, MNIST-1D replication path, argument errors."""

import base64
import json

import numpy as np
import pytest

import convolve as cv
from convolve.cli import main as cli_main
from convolve.lab import data as labdata
from convolve.lab.html_sections import COMPARE_SECTIONS, PAPER_SECTIONS
from convolve.lab.models import build_image_model

MODEL_KEYS = {"label", "params", "mult_adds", "connections", "receptive_field",
              "receptive_field_measured", "dense_equivalent", "layers", "equivariance",
              "metrics"}
METRICS = {"train_accuracy", "test_accuracy", "gap", "shift_accuracy", "consistency",
           "p_top1_change", "mac", "sample_efficiency", "train_seconds"}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _is_summary(s, n_seeds):
    return (set(s) >= {"mean", "ci95", "per_seed"} and len(s["ci95"]) == 2
            and len(s["per_seed"]) == n_seeds
            and s["mean"] == pytest.approx(float(np.mean(s["per_seed"]))))


def _embedded_pngs(html: str) -> list[bytes]:
    parts = html.split('src="data:image/png;base64,')[1:]
    return [base64.b64decode(p.split('"', 1)[0]) for p in parts]


@pytest.fixture(scope="module")
def digits_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("digits")
    argv = ["compare", "--data", "digits", "--epochs", "1", "--subset", "200", "--sizes",
            "60", "--seeds", "2", "--workers", "2", "--out", str(out), "--quiet"]
    assert cli_main(argv) == 0
    return out


def test_report_json_has_mean_interval_and_per_seed_values_for_every_metric(digits_report):
    rep = json.loads((digits_report / "report.json").read_text())
    assert {"data", "seeds", "settings", "splits", "statistics", "worked_example",
            "parameter_growth", "models", "verdicts", "per_seed", "figures",
            "wall_seconds"} <= set(rep)
    assert rep["seeds"] == [0, 1] and rep["workers"] == 2
    assert list(rep["models"]) == ["mlp", "lc", "cnn", "cnn_blur"]
    for name, m in rep["models"].items():
        assert MODEL_KEYS <= set(m), name
        met = m["metrics"]
        assert METRICS <= set(met), name
        for key in ("train_accuracy", "test_accuracy", "gap", "consistency", "p_top1_change",
                    "mac"):
            assert _is_summary(met[key], 2), (name, key)
        assert list(met["shift_accuracy"]) == ["0", "1", "2", "3", "4"]
        assert all(_is_summary(s, 2) for s in met["shift_accuracy"].values())
        assert list(met["sample_efficiency"]) == ["60", "180"]  # 180 = 200 minus validation
        gaps = np.subtract(met["train_accuracy"]["per_seed"], met["test_accuracy"]["per_seed"])
        assert met["gap"]["per_seed"] == pytest.approx(gaps.tolist())
        for lo, hi in met["consistency"]["bootstrap_ci95_per_seed"]:
            assert 0 <= lo <= hi <= 1
    assert rep["data"]["train_size"] == 180 and rep["data"]["val_size"] == 20
    assert rep["data"]["test_size"] == 200 and rep["settings"]["epochs"] == 1
    assert set(rep["splits"]) == {"train", "validation", "test"}
    assert rep["models"]["mlp"]["equivariance"]["error"] is None
    assert rep["worked_example"]["dense"] == 3072 * 4704 + 4704
    assert len(rep["per_seed"]) == 2 and len(rep["per_seed"][0]["histories"]["cnn"]) == 1
    assert "val_accuracy" in rep["per_seed"][0]["histories"]["cnn"][0]


def test_every_paired_verdict_carries_the_difference_and_follows_the_rule(digits_report):
    from convolve.lab import stats

    rep = json.loads((digits_report / "report.json").read_text())
    paired = [v for v in rep["verdicts"] if "difference" in v]
    assert {v["b"] for v in paired} >= {"mlp", "lc", "cnn"}  # CNN vs MLP, LC; Blur vs CNN
    for v in paired:
        d = v["difference"]
        assert _is_summary(d, 2)
        assert v["status"] in (stats.SUPPORTED, stats.CONTRADICTED, stats.INCONCLUSIVE)
        if "near chance" not in v["text"]:
            direction = 1 if v["direction"] == "a > b" else -1
            assert v["status"] == stats.verdict(d, direction)
        assert v["text"].startswith(f"{v['claim']}: {v['status']}")
    html = (digits_report / "report.html").read_text()
    assert "Verdict rule:" in html and "95% Student-t interval" in html


def test_report_html_has_every_heading_and_embedded_images(digits_report):
    html = (digits_report / "report.html").read_text()
    for heading in COMPARE_SECTIONS:
        assert f"<h2>{heading}</h2>" in html
    pngs = _embedded_pngs(html)
    rep = json.loads((digits_report / "report.json").read_text())
    assert len(pngs) == len(rep["figures"]) == 6
    assert all(p.startswith(PNG_MAGIC) for p in pngs)
    for name in rep["figures"]:
        assert (digits_report / "figures" / f"{name}.png").read_bytes().startswith(PNG_MAGIC)
    assert "src=\"http" not in html  # self-contained


def test_mnist1d_runs_the_paper_replication_over_seeds(tmp_path):
    argv = ["compare", "--data", "mnist1d", "--epochs", "1", "--subset", "100", "--seeds",
            "2", "--workers", "1", "--out", str(tmp_path), "--quiet"]
    assert cli_main(argv) == 0
    rep = json.loads((tmp_path / "report.json").read_text())
    assert rep["kind"] == "paper" and rep["seeds"] == [0, 1]
    assert set(rep["ours"]) == set(rep["paper"]) == {
        "logistic", "mlp", "cnn", "logistic (shuffled)", "mlp (shuffled)", "cnn (shuffled)"}
    assert all(_is_summary(s, 2) for s in rep["ours"].values())
    assert rep["paper"]["cnn (shuffled)"] == 0.56
    for p in rep["per_seed"]:
        assert sorted(p["permutation"]) == list(range(40))
    assert rep["settings"]["paper_settings"] is False
    rows = rep["replication"]
    assert len(rows) == 6 and all("not the paper's settings" in r["text"] for r in rows)
    assert all(r["status"] in ("replicated", "not replicated") and r["how"] for r in rows)
    assert any("ordered vs shuffled" in v["claim"] and "difference" in v
               for v in rep["verdicts"])
    html = (tmp_path / "report.html").read_text()
    for heading in PAPER_SECTIONS:
        assert f"<h2>{heading}</h2>" in html
    assert len(_embedded_pngs(html)) == len(rep["figures"])


@pytest.mark.parametrize("argv,message", [
    (["--data", "digits", "--paper"], "needs sequence data"),
    (["--data", "mnist1d", "--paper", "--epochs", "3"], "do not combine"),
    (["--data", "/no/such/folder"], "no such file or folder"),
    (["--data", "digits", "--epochs", "0"], "--epochs must be >= 1"),
    (["--data", "digits", "--subset", "5"], "--subset must be at least 20"),
    (["--data", "digits", "--seeds", "0"], "--seeds must be >= 1"),
    (["--data", "digits", "--workers", "0"], "--workers must be >= 1"),
])
def test_bad_arguments_exit_with_a_one_line_error(tmp_path, capsys, argv, message):
    assert cli_main(["compare", *argv, "--out", str(tmp_path), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("convolve: error: ") and message in err


def test_sizes_none_skips_the_curve(tmp_path):
    argv = ["compare", "--data", "digits", "--epochs", "1", "--subset", "60", "--sizes", "none",
            "--seeds", "1", "--out", str(tmp_path), "--quiet"]
    assert cli_main(argv) == 0
    rep = json.loads((tmp_path / "report.json").read_text())
    assert rep["settings"]["sizes"] == [] and "sample_efficiency" not in rep["figures"]
    assert all("sample_efficiency" not in m["metrics"] for m in rep["models"].values())
    assert "Sample efficiency not measured" in (tmp_path / "report.html").read_text()
    assert all(v["status"] == "inconclusive at this sample size" for v in rep["verdicts"]
               if "difference" in v)  # one seed: no interval, no claim settled


def test_sizes_argument_is_validated(capsys):
    with pytest.raises(SystemExit) as exc:
        cli_main(["compare", "--sizes", "10,abc"])
    assert exc.value.code == 2 and "--sizes" in capsys.readouterr().err


# ------------------------------------------------------------------ --data PATH
def _write_idx(path, array):
    """An IDX file by the format's definition: 0, 0, type 0x08 (ubyte), ndim; big-endian dims."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def test_data_path_reads_an_idx_folder(tmp_path):
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 40), ("t10k", 20)):
        _write_idx(tmp_path / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 10, 10)))
        _write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 4)
    split, info = labdata.load(str(tmp_path))
    assert split.x_train.shape == (40, 1, 10, 10) and split.x_test.shape == (20, 1, 10, 10)
    assert info["num_classes"] == 4 and info["source"].startswith("files in")
    np.testing.assert_array_equal(split.y_test, np.arange(20) % 4)


def test_data_path_reads_an_image_folder_and_splits_it(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in ("cat", "dog", "owl"):
        (tmp_path / c).mkdir()
        for i in range(10):
            Image.fromarray(rng.integers(0, 256, (12, 12), dtype=np.uint8)).save(
                tmp_path / c / f"{i}.png")
    split, info = labdata.load(str(tmp_path), subset=None)
    assert (len(split.y_train), len(split.y_test)) == (24, 6)
    assert np.bincount(split.y_test).tolist() == [2, 2, 2]  # stratified
    assert split.x_train.shape[1:] == (1, 12, 12) and info["sample_shape"] == [1, 12, 12]
    for name in ("mlp", "lc", "cnn", "cnn_blur"):  # every compared model fits a 12x12 image
        model = build_image_model(name, (1, 12, 12), 3)
        assert model(cv.tensor(split.x_test)).shape == (6, 3)


def test_data_path_reads_cifar10_binaries_and_compares_on_colour_images(tmp_path):
    """A tiny file in CIFAR-10's binary format (per record: label byte, then 3072 bytes of
    R, G, B planes of 32x32) runs the comparison on 3x32x32 inputs."""
    import convolve.lab

    rng = np.random.default_rng(0)

    def batch(path, n, offset):
        labels = (np.arange(n) + offset) % 10
        pixels = rng.integers(0, 256, (n, 3072))
        path.write_bytes(np.concatenate([labels[:, None], pixels], 1).astype(np.uint8).tobytes())
        return labels, pixels

    for i in range(1, 6):
        batch(tmp_path / f"data_batch_{i}.bin", 10, i)
    labels, pixels = batch(tmp_path / "test_batch.bin", 20, 0)
    split, info = labdata.load(str(tmp_path))
    assert split.x_train.shape == (50, 3, 32, 32) and info["sample_shape"] == [3, 32, 32]
    np.testing.assert_array_equal(split.y_test, labels)
    np.testing.assert_allclose(split.x_test[3, 1], pixels[3, 1024:2048].reshape(32, 32) / 255,
                               rtol=1e-6)
    res = convolve.lab.compare(str(tmp_path), epochs=1, seeds=2, workers=1, sizes=(),
                               models=("mlp", "cnn"), write=False, quiet=True)
    assert res["models"]["cnn"]["connections"]["mean"] == 75  # 5x5 kernel, 3 channels
    assert len(res["models"]["cnn"]["metrics"]["test_accuracy"]["per_seed"]) == 2


def test_subset_is_stratified_and_bounded():
    split, info = labdata.load("digits", subset=100)
    assert (info["train_size"], info["test_size"]) == (100, 100)
    assert np.bincount(split.y_train, minlength=10).min() >= 9


def test_python_api_returns_the_result_without_writing(tmp_path, monkeypatch, capsys):
    import convolve.lab

    monkeypatch.chdir(tmp_path)
    res = convolve.lab.compare("digits", epochs=1, subset=100, write=False, quiet=True,
                               models=("mlp", "cnn"), sizes=(), seeds=2, workers=1)
    assert list(res["models"]) == ["mlp", "cnn"]
    assert [v["b"] for v in res["verdicts"]] == ["mlp", "mlp", "mlp", "mlp"]
    assert "files" not in res and not any(tmp_path.iterdir())
    assert res["models"]["cnn"]["connections"]["mean"] == 25  # 5x5 kernel, 1 input channel
    assert "digits: size, connectivity, accuracy" in capsys.readouterr().out

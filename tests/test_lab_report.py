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
              "receptive_field_measured", "history", "train_accuracy", "test_accuracy", "gap",
              "shift", "equivariance", "sample_efficiency", "dense_equivalent", "train_seconds"}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _embedded_pngs(html: str) -> list[bytes]:
    parts = html.split('src="data:image/png;base64,')[1:]
    return [base64.b64decode(p.split('"', 1)[0]) for p in parts]


@pytest.fixture(scope="module")
def digits_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("digits")
    argv = ["compare", "--data", "digits", "--epochs", "1", "--subset", "200", "--sizes",
            "60,120", "--out", str(out), "--quiet"]
    assert cli_main(argv) == 0
    return out


def test_report_json_has_every_section(digits_report):
    rep = json.loads((digits_report / "report.json").read_text())
    assert {"data", "settings", "worked_example", "parameter_growth", "models", "verdicts",
            "figures", "wall_seconds"} <= set(rep)
    assert list(rep["models"]) == ["mlp", "lc", "cnn", "cnn_blur"]
    for name, m in rep["models"].items():
        assert MODEL_KEYS <= set(m), name
        assert set(m["shift"]) == {"accuracy", "consistency", "top1_change"}
        assert list(m["shift"]["accuracy"]) == ["0", "1", "2", "3", "4"]
        assert list(m["sample_efficiency"]) == ["60", "120"]
        assert len(m["history"]) == 1
        assert m["gap"] == pytest.approx(m["train_accuracy"] - m["test_accuracy"])
    assert rep["data"]["train_size"] == 200 and rep["data"]["test_size"] == 200
    assert rep["settings"]["epochs"] == 1
    assert rep["models"]["mlp"]["equivariance"]["error"] is None
    assert "n/a" in rep["models"]["mlp"]["equivariance"]["note"]
    assert rep["worked_example"]["dense"] == 3072 * 4704 + 4704
    claims = [v["claim"] for v in rep["verdicts"]]
    assert claims[:3] == ["Parameter sharing", "Sparsity of connections",
                          "Translation invariance"]
    assert "Less overfitting" in claims
    for v in rep["verdicts"]:
        assert v["text"].startswith(f"{v['claim']}: {v['status']}")


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


def test_mnist1d_runs_the_paper_replication(tmp_path):
    argv = ["compare", "--data", "mnist1d", "--epochs", "1", "--subset", "100", "--out",
            str(tmp_path), "--quiet"]
    assert cli_main(argv) == 0
    rep = json.loads((tmp_path / "report.json").read_text())
    assert rep["kind"] == "paper"
    assert set(rep["ours"]) == set(rep["paper"]) == {
        "logistic", "mlp", "cnn", "logistic (shuffled)", "mlp (shuffled)", "cnn (shuffled)"}
    assert rep["paper"]["cnn (shuffled)"] == 0.56
    assert sorted(rep["settings"]["permutation"]) == list(range(40))
    assert rep["settings"]["paper_settings"] is False
    assert all("not the paper's settings" in v["text"] for v in rep["verdicts"][:6])
    html = (tmp_path / "report.html").read_text()
    for heading in PAPER_SECTIONS:
        assert f"<h2>{heading}</h2>" in html
    assert len(_embedded_pngs(html)) == len(rep["figures"])


@pytest.mark.parametrize("argv,message", [
    (["--data", "digits", "--paper"], "needs sequence data"),
    (["--data", "mnist1d", "--paper", "--epochs", "3"], "do not combine"),
    (["--data", "/no/such/folder"], "existing folder"),
    (["--data", "digits", "--epochs", "0"], "--epochs must be >= 1"),
    (["--data", "digits", "--subset", "5"], "--subset must be at least 20"),
])
def test_bad_arguments_exit_with_a_one_line_error(tmp_path, capsys, argv, message):
    assert cli_main(["compare", *argv, "--out", str(tmp_path), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("convolve: error: ") and message in err


def test_sizes_none_skips_the_curve(tmp_path):
    argv = ["compare", "--data", "digits", "--epochs", "1", "--subset", "60", "--sizes", "none",
            "--out", str(tmp_path), "--quiet"]
    assert cli_main(argv) == 0
    rep = json.loads((tmp_path / "report.json").read_text())
    assert rep["settings"]["sizes"] == [] and "sample_efficiency" not in rep["figures"]
    assert all("sample_efficiency" not in m for m in rep["models"].values())
    assert "Sample efficiency not measured" in (tmp_path / "report.html").read_text()


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


def test_subset_is_stratified_and_bounded():
    split, info = labdata.load("digits", subset=100)
    assert (info["train_size"], info["test_size"]) == (100, 100)
    assert np.bincount(split.y_train, minlength=10).min() >= 9


def test_python_api_returns_the_result_without_writing(tmp_path, monkeypatch, capsys):
    import convolve.lab

    monkeypatch.chdir(tmp_path)
    res = convolve.lab.compare("digits", epochs=1, subset=100, write=False, quiet=True,
                               models=("mlp", "cnn"), sizes=())
    assert list(res["models"]) == ["mlp", "cnn"] and res["verdicts"] == []
    assert "files" not in res and not any(tmp_path.iterdir())
    assert res["models"]["cnn"]["connections"]["mean"] == 25  # 5x5 kernel, 1 input channel
    assert "digits: size, connectivity, accuracy" in capsys.readouterr().out

"""`--data PATH` end to end, one test per format: each writes a tiny dataset in that format,
then runs `convolve train` -> `eval` -> `predict` -> `summary --data` through the CLI and
checks the numbers against values computed here from the pixels it wrote."""

import gzip
import json
import shutil
import tarfile

import numpy as np
import pytest

from convolve import io as cio
from convolve.cli import main
from convolve.data import stratified_split
from convolve.io import load_model
from convolve.summary import summary
from convolve.train import evaluate, predict

CLASSES = ["ant", "bee", "cat", "dog"]


def _pixels(n, shape, seed, labels):
    """uint8 images whose brightness depends on the class (so there is something to learn)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 120, (n, *shape))
    return (base + 40 * labels.reshape((-1,) + (1,) * len(shape))).astype(np.uint8)


def _labels(n, k=4):
    return np.arange(n) % k


# ------------------------------------------------------------------------------ writers
def _png(path, array):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def write_image_folder(root, n=48, size=12, seed=0):
    """4 class sub-folders of grey PNGs; returns (x (n, 1, H, W) in [0, 1], y) in the
    resolver's order (sorted class names, then sorted file names)."""
    y = np.sort(_labels(n))
    pix = _pixels(n, (size, size), seed, y)
    for i, (img, label) in enumerate(zip(pix, y)):
        _png(root / CLASSES[label] / f"{i:03d}.png", img)
    return pix[:, None] / np.float32(255), y


def _idx(path, array, gz):
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big")
                                                        for d in array.shape)
    blob = header + array.astype(np.uint8).tobytes()
    if gz:
        path = path.with_name(path.name + ".gz")
        blob = gzip.compress(blob)
    path.write_bytes(blob)


def write_idx(root, gz):
    out = {}
    for prefix, n, seed in (("train", 48, 1), ("t10k", 16, 2)):
        y = _labels(n)
        pix = _pixels(n, (10, 10), seed, y)
        _idx(root / f"{prefix}-images-idx3-ubyte", pix, gz)
        _idx(root / f"{prefix}-labels-idx1-ubyte", y, gz)
        out[prefix] = (pix[:, None] / np.float32(255), y)
    return out["t10k"]


def _cifar_records(n, seed, fine=None):
    y = _labels(n)
    pix = _pixels(n, (3072,), seed, y)
    labels = [y[:, None]] if fine is None else [(y % 20)[:, None], y[:, None]]
    return np.concatenate(labels + [pix], 1).astype(np.uint8).tobytes(), \
        pix.reshape(n, 3, 32, 32) / np.float32(255), y


def cifar10_files():
    files = {f"data_batch_{i}.bin": _cifar_records(8, i)[0] for i in range(1, 6)}
    test, x, y = _cifar_records(16, 9)
    files["test_batch.bin"] = test
    return files, (x, y)


def _tar(path, members):
    import io

    with tarfile.open(path, "w:gz") as tar:
        for name, blob in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return path


# ---------------------------------------------------------------------- the round trip
def _train_part_stats(x_train, y_train, val_split=0.1, seed=0):
    keep = np.sort(stratified_split(y_train, val_split, seed)[0])
    part = x_train[keep].astype(np.float64)
    return part.mean(axis=(0, *range(2, part.ndim))), part.std(axis=(0, *range(2, part.ndim)))


def round_trip(tmp_path, capsys, data, x_test, y_test, *, classes=None, train=None,
               args=(), model="lenet5", seed=0):
    """train -> eval -> predict -> summary on ``data``; x_test/y_test: the test part as
    written; train: the training part as written (to check the normalisation stats)."""
    run = tmp_path / "run"
    assert main(["train", "--data", str(data), "--model", model, "--epochs", "2",
                 "--batch-size", "16", "--out", str(run), "-q", *args]) == 0
    capsys.readouterr()
    ckpt = cio.load_checkpoint(run / "best.safetensors")
    record = ckpt["extra"]["data"]
    norm = record["normalize"]
    if train is not None:
        mean, std = _train_part_stats(*train, seed=seed)
        np.testing.assert_allclose(norm["mean"], mean, rtol=1e-9)
        np.testing.assert_allclose(norm["std"], std, rtol=1e-9)
    if classes is not None:
        assert record["classes"] == classes
    assert main(["eval", str(run), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    model_ = load_model(run / "best.safetensors")
    axes = (1, -1) + (1,) * (x_test.ndim - 2)
    x_norm = ((x_test - np.reshape(norm["mean"], axes)) / np.reshape(norm["std"], axes))
    want = evaluate(model_, (x_norm.astype(np.float32), y_test))
    assert got["samples"] == len(y_test) and got["accuracy"] == want["accuracy"]
    assert got["loss"] == pytest.approx(want["loss"], rel=1e-5)
    if x_test.ndim == 4:  # predict on image files written from two test samples
        files = []
        for i in range(2):
            img = (x_test[i] * 255).round().astype(np.uint8)
            img = img[0] if img.shape[0] == 1 else img.transpose(1, 2, 0)
            files.append(tmp_path / f"p{i}.png")
            _png(files[-1], img)
        assert main(["predict", str(run), *map(str, files), "--top", "1",
                     "--invert", "no"]) == 0
        lines = capsys.readouterr().out.splitlines()
        names = record.get("classes") or [str(k) for k in range(record["num_classes"])]
        top = predict(model_, x_norm[:2].astype(np.float32)).argmax(axis=1)
        assert [ln.split(": ")[1].rsplit(" ", 1)[0] for ln in lines] == [names[k] for k in top]
    pairs = zip(args[::2], args[1::2])
    image_args = [a for pair in pairs if pair[0] in ("--image-size", "--channels") for a in pair]
    assert main(["summary", "lenet5", "--data", str(data), "--json", *image_args]) == 0
    got = json.loads(capsys.readouterr().out)
    k = max(int(y_test.max()) + 1, len(classes or ()))
    assert got == _summary("lenet5", tuple(x_test.shape[1:]), k)
    return ckpt


def _summary(name, shape, classes):
    """What `convolve summary NAME --input SHAPE --classes K --json` prints."""
    from convolve.models import model_spec

    return json.loads(json.dumps(summary(model_spec(name, shape, classes), shape).to_dict()))


# ---------------------------------------------------------------------------- formats
def test_image_folder_without_a_test_split_is_split_stratified(tmp_path, capsys):
    x, y = write_image_folder(tmp_path / "imgs")
    train, test = (np.sort(i) for i in stratified_split(y, 0.25, 3))
    ckpt = round_trip(tmp_path, capsys, tmp_path / "imgs", x[test], y[test], classes=CLASSES,
                      train=(x[train], y[train]), args=["--test-split", "0.25", "--seed", "3"],
                      seed=3)
    split = ckpt["extra"]["split"]
    assert split["test_from"] == "stratified" and split["test_split"] == 0.25
    assert (split["train"], split["val"], split["test"]) == (32, 4, 12)
    log = json.loads((tmp_path / "run" / "log.jsonl").read_text().splitlines()[0])
    assert log["test_from"] == "stratified" and log["sizes"]["test"] == 12


def test_image_folder_with_train_and_test_and_image_options(tmp_path, capsys):
    """--image-size and --channels are read from the checkpoint by eval, predict reads
    the file at the model's size: 12x12 grey PNGs trained as 3x16x16."""
    from convolve.data.images import read_image

    write_image_folder(tmp_path / "d" / "train", n=48, seed=1)
    write_image_folder(tmp_path / "d" / "test", n=16, seed=2)
    files = sorted((tmp_path / "d" / "test").rglob("*.png"))
    x_test = np.stack([read_image(f, "RGB", (16, 16)).transpose(2, 0, 1) for f in files])
    y_test = np.sort(_labels(16))
    ckpt = round_trip(tmp_path, capsys, tmp_path / "d", x_test, y_test, classes=CLASSES,
                      args=["--image-size", "16", "--channels", "3"])
    assert ckpt["architecture"]["input_shape"] == [3, 16, 16]
    assert ckpt["extra"]["split"]["test_from"] == "own"
    assert main(["eval", str(tmp_path / "run"), "--split", "val", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    best = history["epochs"][history["test"]["model_epoch"] - 1]
    assert got["samples"] == 5  # 10% of 48, stratified
    assert got["accuracy"] == best["val_accuracy"]  # the very samples validated on
    assert got["loss"] == pytest.approx(best["val_loss"], rel=1e-5)


@pytest.mark.parametrize("gz", [True, False])
def test_idx_folder(tmp_path, capsys, gz):
    (tmp_path / "idx").mkdir()
    x_test, y_test = write_idx(tmp_path / "idx", gz)
    ckpt = round_trip(tmp_path, capsys, tmp_path / "idx", x_test, y_test)
    assert ckpt["extra"]["data"]["format"] == "idx"
    assert ckpt["extra"]["split"] == {"val_split": 0.1, "seed": 0, "train": 43, "val": 5,
                                      "test": 16, "test_from": "own"}


def test_cifar10_folder_and_tarball(tmp_path, capsys):
    files, (x_test, y_test) = cifar10_files()
    folder = tmp_path / "c10"
    folder.mkdir()
    for name, blob in files.items():
        (folder / name).write_bytes(blob)
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
             "ship", "truck"]
    ckpt = round_trip(tmp_path, capsys, folder, x_test, y_test, classes=names, model="mlp")
    assert ckpt["extra"]["data"]["num_classes"] == 10
    tarball = _tar(tmp_path / "my-cifar.tar.gz",
                   {f"cifar-10-batches-bin/{n}": b for n, b in files.items()})
    (tmp_path / "run").rename(tmp_path / "run_folder")
    round_trip(tmp_path, capsys, tarball, x_test, y_test, classes=names, model="mlp")


def test_cifar100_tarball_uses_fine_labels_and_names(tmp_path, capsys):
    train = _cifar_records(40, 1, fine=True)[0]
    test, x_test, y_test = _cifar_records(20, 2, fine=True)
    names = [f"class{k:02d}" for k in range(100)]
    tarball = _tar(tmp_path / "cifar-100-binary.tar.gz", {
        "cifar-100-binary/train.bin": train, "cifar-100-binary/test.bin": test,
        "cifar-100-binary/fine_label_names.txt": ("\n".join(names) + "\n").encode()})
    ckpt = round_trip(tmp_path, capsys, tarball, x_test, y_test, classes=names, model="mlp")
    assert ckpt["extra"]["data"]["num_classes"] == 100 and ckpt["extra"]["data"]["format"] \
        == "cifar100"
    (tmp_path / "run").rename(tmp_path / "run1")
    folder = tmp_path / "c100"  # the same tarball inside a folder
    folder.mkdir()
    (folder / "cifar-100-binary.tar.gz").write_bytes(tarball.read_bytes())
    assert main(["eval", str(tmp_path / "run1"), "--data", str(folder), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["samples"] == 20


def test_npz_channels_last_with_class_names(tmp_path, capsys):
    y_tr, y_te = _labels(48), _labels(16)
    x_tr = _pixels(48, (12, 12, 3), 1, y_tr)
    x_te = _pixels(16, (12, 12, 3), 2, y_te)
    np.savez(tmp_path / "d.npz", x_train=x_tr, y_train=y_tr, x_test=x_te, y_test=y_te,
             classes=np.array(CLASSES))
    to_nchw = lambda a: a.transpose(0, 3, 1, 2) / np.float32(255)
    round_trip(tmp_path, capsys, tmp_path / "d.npz", to_nchw(x_te), y_te, classes=CLASSES,
               train=(to_nchw(x_tr), y_tr))


def test_npz_signals_and_normalize_none(tmp_path, capsys):
    """(N, L) float signals: kept as floats, laid out (N, 1, L); --normalize none stores
    no statistics and eval feeds the data as they are."""
    rng = np.random.default_rng(0)
    y = _labels(60)
    x = (rng.standard_normal((60, 40)) + y[:, None]).astype(np.float32)
    np.savez(tmp_path / "s.npz", x_train=x, y_train=y)
    run = tmp_path / "run"
    assert main(["train", "--data", str(tmp_path / "s.npz"), "--model", "mlp", "--epochs", "1",
                 "--normalize", "none", "--out", str(run), "-q"]) == 0
    assert "no test split of its own: 12 samples" in capsys.readouterr().err
    ckpt = cio.load_checkpoint(run / "best.safetensors")
    assert "normalize" not in ckpt["extra"]["data"]
    test = np.sort(stratified_split(y, 0.2, 0)[1])
    assert main(["eval", str(run), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    want = evaluate(load_model(run / "best.safetensors"), (x[test][:, None], y[test]))
    assert got["accuracy"] == want["accuracy"] and got["samples"] == 12


def test_bundled_name_summary_takes_its_shape(tmp_path, capsys):
    assert main(["summary", "lenet5", "--data", "digits", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got == _summary("lenet5", (1, 8, 8), 10)


@pytest.mark.parametrize("fmt", ["images", "npz"])
def test_compare_on_a_path(tmp_path, capsys, fmt):
    shape, args = [1, 12, 12], []
    if fmt == "images":
        write_image_folder(tmp_path / "d", n=48)
        data, shape, args = tmp_path / "d", [3, 16, 16], ["--image-size", "16", "--channels", "3"]
    else:
        y = _labels(60)
        np.savez(tmp_path / "d.npz", x_train=_pixels(60, (12, 12), 1, y), y_train=y)
        data, args = tmp_path / "d.npz", ["--normalize", "channel"]
    assert main(["compare", "--data", str(data), "--epochs", "1", "--sizes", "none",
                 "--seeds", "2", "--workers", "1", "--subset", "40", "--out",
                 str(tmp_path / "rep"), "-q", *args]) == 0
    rep = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert rep["data"]["num_classes"] == 4 and rep["data"]["sample_shape"] == shape
    assert rep["settings"]["normalize"] == ("channel" if fmt == "npz" else "none")


def _compare_report(tmp_path, data, *args):
    assert main(["compare", "--data", str(data), "--epochs", "1", "--sizes", "none",
                 "--seeds", "1", "--workers", "1", "--subset", "32", "--out",
                 str(tmp_path / "rep"), "-q", *args]) == 0
    return json.loads((tmp_path / "rep" / "report.json").read_text())


@pytest.mark.parametrize("fmt", ["idx", "cifar10-tarball", "cifar100-tarball"])
def test_compare_reads_the_other_formats(tmp_path, capsys, fmt):
    """compare on IDX files and CIFAR-10/100 tarballs: the lab trains its four models on
    the data each file holds (shape and class count as the writer made them)."""
    if fmt == "idx":
        (tmp_path / "d").mkdir()
        write_idx(tmp_path / "d", gz=True)
        data, shape, classes = tmp_path / "d", [1, 10, 10], 4
    elif fmt == "cifar10-tarball":
        files, _ = cifar10_files()
        data = _tar(tmp_path / "c10.tar.gz", {f"cifar-10-batches-bin/{n}": b
                                              for n, b in files.items()})
        shape, classes = [3, 32, 32], 10
    else:
        data = _tar(tmp_path / "c100.tar.gz", {
            "cifar-100-binary/train.bin": _cifar_records(40, 1, fine=True)[0],
            "cifar-100-binary/test.bin": _cifar_records(20, 2, fine=True)[0]})
        shape, classes = [3, 32, 32], 100
    rep = _compare_report(tmp_path, data)
    assert rep["data"]["sample_shape"] == shape and rep["data"]["num_classes"] == classes
    assert 0 < rep["data"]["train_size"] <= 32 and rep["data"]["test_size"] > 0


def test_resume_on_path_data_rebuilds_the_same_inputs(tmp_path, capsys):
    """A run on an .npz without a test part (stratified split, normalised) resumed after
    one epoch ends bit-identical to the straight two-epoch run; a changed data option is
    refused."""
    y = _labels(60)
    np.savez(tmp_path / "d.npz", x_train=_pixels(60, (6, 6), 1, y), y_train=y)
    base = ["train", "--data", str(tmp_path / "d.npz"), "--model", "mlp", "--batch-size", "16",
            "--test-split", "0.25", "-q"]
    assert main(base + ["--epochs", "2", "--out", str(tmp_path / "a")]) == 0
    assert main(base + ["--epochs", "1", "--out", str(tmp_path / "b")]) == 0
    assert main(["train", "--resume", str(tmp_path / "b"), "--epochs", "2", "-q"]) == 0
    a, b = (cio.load_checkpoint(tmp_path / r / "last.safetensors") for r in "ab")
    assert b["epoch"] == 2 and all(np.array_equal(a["model"][k], b["model"][k])
                                   for k in a["model"])
    assert a["extra"]["data"]["normalize"] == b["extra"]["data"]["normalize"]
    capsys.readouterr()
    assert main(["train", "--resume", str(tmp_path / "b"), "--epochs", "3", "--normalize",
                 "none", "-q"]) == 1
    assert "--normalize none differs from the resumed run's channel" in capsys.readouterr().err


def test_downloadable_names_go_through_the_catalog(tmp_path, capsys, monkeypatch):
    """`--data fashion-mnist` asks convolve.data.catalog.locate for the folder of original
    files (passing --download on) and reads it like any IDX folder, with the class names."""
    import sys
    import types

    (tmp_path / "fm").mkdir()
    write_idx(tmp_path / "fm", gz=True)
    calls = []
    catalog = types.ModuleType("convolve.data.catalog")
    catalog.locate = lambda name, *, download=False: calls.append((name, download)) or \
        tmp_path / "fm"
    monkeypatch.setitem(sys.modules, "convolve.data.catalog", catalog)
    assert main(["train", "--data", "fashion-mnist", "--download", "--model", "mlp",
                 "--epochs", "1", "--out", str(tmp_path / "run"), "-q"]) == 0
    ckpt = cio.load_checkpoint(tmp_path / "run" / "best.safetensors")
    assert calls == [("fashion-mnist", True)]
    assert ckpt["extra"]["data"]["classes"][9] == "Ankle boot"
    assert main(["eval", str(tmp_path / "run"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["samples"] == 16
    assert calls[-1] == ("fashion-mnist", False)


def test_a_new_run_never_overwrites_another(tmp_path, capsys):
    """--out holding a run is refused (nothing changes in it); --overwrite replaces it."""
    y = _labels(40)
    np.savez(tmp_path / "d.npz", x_train=_pixels(40, (6, 6), 1, y), y_train=y)
    argv = ["train", "--data", str(tmp_path / "d.npz"), "--model", "mlp", "--epochs", "1",
            "-q", "--out", str(tmp_path / "run")]
    assert main(argv) == 0
    before = {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir()}
    capsys.readouterr()
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "already holds a run" in err and "--overwrite" in err and err.count("\n") == 1
    assert {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir()} == before
    assert main(argv + ["--overwrite", "--seed", "3"]) == 0
    after = (tmp_path / "run" / "last.safetensors").read_bytes()
    assert after != before["last.safetensors"]


def test_model_outputs_must_match_the_classes_before_training(tmp_path, capsys):
    y = _labels(40, k=7)
    np.savez(tmp_path / "d.npz", x_train=_pixels(40, (6, 6), 1, y), y_train=y)
    config = tmp_path / "net.json"
    config.write_text(json.dumps({"layers": [{"type": "flatten"},
                                             {"type": "linear", "out_features": 3}]}))
    out = tmp_path / "run"
    assert main(["train", "--data", str(tmp_path / "d.npz"), "--config", str(config), "-q",
                 "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"--config {config} ends in outputs of shape (3,)" in err and "7 classes" in err
    assert not out.exists()


def test_one_class_is_not_a_classification_problem(tmp_path, capsys):
    write_image_folder(tmp_path / "d", n=12)
    for extra in sorted((tmp_path / "d").iterdir())[1:]:
        shutil.rmtree(extra)
    out = tmp_path / "run"
    assert main(["train", "--data", str(tmp_path / "d"), "-q", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "holds 1 class" in err and "at least 2" in err and err.count("\n") == 1
    assert not out.exists()


def test_the_dashboard_names_the_classes_of_path_data(tmp_path, capsys):
    """Class names of an image folder reach the dashboard (confusion-matrix labels), for a
    finished run and for a live one."""
    from convolve.live.dashboard_load import load_run

    write_image_folder(tmp_path / "d", n=24)
    out = tmp_path / "run"
    argv = ["train", "--data", str(tmp_path / "d"), "--model", "mlp", "--epochs", "1", "-q"]
    assert main(argv + ["--out", str(out)]) == 0
    assert load_run(out).snapshot()["classes"] == sorted(CLASSES)
    seen = {}

    def watch(run_train):
        from convolve.live import monitor

        original = monitor.RunState.set

        def spy(self, **fields):
            if "classes" in fields:
                seen["classes"] = fields["classes"]
            return original(self, **fields)

        monitor.RunState.set = spy
        try:
            return run_train()
        finally:
            monitor.RunState.set = original

    assert watch(lambda: main(argv + ["--out", str(tmp_path / "live"), "--live",
                                      "--live-linger", "0"])) == 0
    assert seen["classes"] == sorted(CLASSES)

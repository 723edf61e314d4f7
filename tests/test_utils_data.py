"""convolve.utils.data against torch.utils.data (torch 2.13 as the oracle): collate structure,
dtypes and values, loader lengths, samplers, random_split and the argument checks."""

import collections
import warnings

import numpy as np
import pytest

import convolve
from convolve.utils import data as D

Point = collections.namedtuple("Point", ["x", "y"])


def _same(ours, theirs, torch):
    """Recursively: same container types, Tensor dtype/shape/values as torch's."""
    if isinstance(theirs, torch.Tensor):
        assert isinstance(ours, convolve.Tensor), type(ours)
        expected = theirs.numpy()
        assert ours.dtype == expected.dtype, (ours.dtype, expected.dtype)
        assert ours.shape == expected.shape
        np.testing.assert_array_equal(ours.data, expected)
        return
    assert type(ours) is type(theirs), (type(ours), type(theirs))
    if isinstance(theirs, dict):
        assert list(ours) == list(theirs)
        for k in theirs:
            _same(ours[k], theirs[k], torch)
    elif isinstance(theirs, (list, tuple)) and not isinstance(theirs, str):
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            _same(a, b, torch)
    else:
        assert ours == theirs


def _sample_tables(rng):
    img = lambda: rng.random((3, 4, 4)).astype(np.float32)
    return {
        "tuple_array_int": [(img(), int(rng.integers(10))) for _ in range(5)],
        "dict": [{"image": img(), "label": i, "name": f"s{i}", "w": 0.5 * i} for i in range(4)],
        "namedtuple": [Point(rng.random(2), i) for i in range(3)],
        "list_nested": [[np.int16(i), [i, float(i)], {"b": True}] for i in range(3)],
        "numpy_scalars": [np.float32(i) for i in range(4)],
        "uint8_images": [rng.integers(0, 255, (8, 8, 3), dtype=np.uint8) for _ in range(3)],
        "bools": [True, False, True],
        "int_then_float": [1, 2.5, 3],
        "strings": ["a", "bb"],
        "float64_arrays": [rng.random(3) for _ in range(2)],
    }


@pytest.mark.parametrize("case", list(_sample_tables(np.random.default_rng(0))))
def test_default_collate_matches_torch(torch, case):
    samples = _sample_tables(np.random.default_rng(0))[case]
    from torch.utils.data import default_collate as torch_collate
    _same(D.default_collate(samples), torch_collate(samples), torch)


def test_default_collate_of_convolve_tensors_and_errors():
    batch = D.default_collate([convolve.tensor([1.0, 2.0]), convolve.tensor([3.0, 4.0])])
    assert batch.shape == (2, 2) and batch.dtype == np.float32
    leaves = [convolve.Tensor(np.ones(2), requires_grad=True) for _ in range(2)]
    stacked = D.default_collate(leaves)
    (stacked * convolve.Tensor(np.arange(4.0).reshape(2, 2))).sum().backward()
    np.testing.assert_array_equal(leaves[1].grad, [2.0, 3.0])  # the graph survives collation
    with pytest.raises(TypeError, match="found <U1"):
        D.default_collate([np.array(["a"]), np.array(["b"])])
    with pytest.raises(RuntimeError, match="equal size"):
        D.default_collate([[1, 2], [3]])
    with pytest.raises(ValueError, match=r"equal size, but got \[2\] at entry 0 and \[3\] at entry 1"):
        D.default_collate([np.zeros(2), np.zeros(3)])
    with pytest.raises(ValueError, match="equal size"):
        D.default_collate([convolve.tensor([1.0]), convolve.tensor([1.0, 2.0])])
    with pytest.raises(ValueError, match="non-empty"):
        D.default_collate([])


class NumpyImages(D.Dataset):
    """A dataset returning (PIL-free) HWC uint8 NumPy images turned CHW float, and int labels."""

    def __init__(self, n, seed=0):
        rng = np.random.default_rng(seed)
        self.images = rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8)
        self.labels = rng.integers(0, 10, n).tolist()

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.images[i].transpose(2, 0, 1).astype(np.float32) / 255, self.labels[i]


class TorchNumpyImages(NumpyImages):
    pass


def test_loader_over_numpy_image_dataset_matches_torch(torch):
    ours = D.DataLoader(NumpyImages(10), batch_size=4)
    theirs = torch.utils.data.DataLoader(TorchNumpyImages(10), batch_size=4)
    assert len(ours) == len(theirs) == 3 and len(ours.dataset) == 10
    for a, b in zip(ours, theirs, strict=True):
        _same(a, b, torch)
    x, y = next(iter(ours))
    assert x.size() if callable(getattr(x, "size", None)) else x.shape == (4, 3, 8, 8)
    assert y.dtype == np.int64


@pytest.mark.parametrize("n,bs,drop_last", [(10, 3, False), (10, 3, True), (9, 3, True),
                                            (2, 5, False), (2, 5, True), (7, 1, True)])
def test_lengths_and_batch_sizes_match_torch(torch, n, bs, drop_last):
    x, y = np.arange(n * 2, dtype=np.float32).reshape(n, 2), np.arange(n)
    ours = D.DataLoader(D.TensorDataset(x, y), batch_size=bs, drop_last=drop_last)
    theirs = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y)),
        batch_size=bs, drop_last=drop_last)
    assert len(ours) == len(theirs)
    got = [b for b in ours]
    for a, b in zip(got, theirs, strict=True):
        _same(a, b, torch)
    assert len(list(ours)) == len(got)  # a second pass gives the batches again


def test_fast_gather_equals_sample_by_sample():
    rng = np.random.default_rng(1)
    ds = D.TensorDataset(rng.random((11, 2, 3)), rng.integers(0, 5, 11))
    sub = D.Subset(ds, [10, 3, 5, 7, 0])
    for dataset in (ds, sub, convolve.data.ArrayDataset(rng.random((6, 2)), np.arange(6))):
        fast = list(D.DataLoader(dataset, batch_size=2))
        slow = list(D.DataLoader(dataset, batch_size=2, collate_fn=lambda b: D.default_collate(b)))
        for a, b in zip(fast, slow, strict=True):
            assert type(a) is type(b) is list
            for u, v in zip(a, b):
                assert u.dtype == v.dtype and u.shape == v.shape
                np.testing.assert_array_equal(u.data, v.data)


def test_subclass_getitem_is_honoured():
    class Doubled(D.TensorDataset):
        def __getitem__(self, i):
            x, y = super().__getitem__(i)
            return x * 2, y

    ds = Doubled(np.arange(4.0), np.arange(4))
    for dataset in (ds, D.Subset(ds, [3, 2])):
        x, _ = next(iter(D.DataLoader(dataset, batch_size=2)))
        np.testing.assert_array_equal(x.data, 2 * np.asarray(dataset.indices if
                                                             dataset is not ds else [0, 1]))


def test_subset_follows_replaced_indices():
    ds = D.TensorDataset(np.arange(6.0), np.arange(6))
    sub = D.Subset(ds, [5, 4, 3])
    assert next(iter(D.DataLoader(sub, batch_size=3)))[1].tolist() == [5, 4, 3]
    sub.indices = [0, 1]
    assert next(iter(D.DataLoader(sub, batch_size=3)))[1].tolist() == [0, 1]
    sub.indices.append(2)
    assert next(iter(D.DataLoader(sub, batch_size=3)))[1].tolist() == [0, 1, 2]


def _epoch_orders(loader):
    return [np.concatenate([y.data for _, y in loader]) for _ in range(3)]


def test_shuffle_is_seeded_by_manual_seed_and_generator():
    ds = D.TensorDataset(np.zeros((20, 1)), np.arange(20))
    convolve.manual_seed(3)
    first = _epoch_orders(D.DataLoader(ds, batch_size=6, shuffle=True))
    convolve.manual_seed(3)
    again = _epoch_orders(D.DataLoader(ds, batch_size=6, shuffle=True))
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
        assert sorted(a.tolist()) == list(range(20))
    assert not np.array_equal(first[0], first[1])  # a fresh order every pass
    g = lambda s: convolve.Generator().manual_seed(s)
    with_gen = [_epoch_orders(D.DataLoader(ds, batch_size=6, shuffle=True, generator=g(7)))
                for _ in range(2)]
    np.testing.assert_array_equal(with_gen[0][2], with_gen[1][2])
    other = _epoch_orders(D.DataLoader(ds, batch_size=6, shuffle=True, generator=g(8)))
    assert not np.array_equal(with_gen[0][0], other[0])


@pytest.mark.parametrize("lengths", [[0.8, 0.2], [0.33, 0.33, 0.34], [0.5, 0.5], [3, 4, 6],
                                     [1.0, 0.0]])
def test_random_split_sizes_and_disjointness_match_torch(torch, lengths):
    ds = D.TensorDataset(np.arange(13.0), np.arange(13))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zero-length split warning, also raised by torch
        ours = D.random_split(ds, lengths, generator=convolve.Generator().manual_seed(0))
        theirs = torch.utils.data.random_split(range(13), lengths)
        again = D.random_split(ds, lengths, generator=convolve.Generator().manual_seed(0))
    assert [len(s) for s in ours] == [len(s) for s in theirs]
    indices = [i for s in ours for i in s.indices]
    assert sorted(indices) == list(range(13))
    assert [s.indices for s in again] == [s.indices for s in ours]
    sample = ours[0][0] if len(ours[0]) else None
    if sample is not None:
        assert sample[1].item() == ours[0].indices[0]


def test_random_split_errors(torch):
    ds = D.TensorDataset(np.arange(5.0))
    for bad in ([2, 2], [0.5, 0.6]):
        with pytest.raises(ValueError):
            torch.utils.data.random_split(range(5), bad)
        with pytest.raises(ValueError, match="random_split"):
            D.random_split(ds, bad)
    with pytest.raises(TypeError, match="generator"):
        D.random_split(ds, [5], generator=3)


def test_concat_subset_and_samplers_match_torch(torch):
    a, b = NumpyImages(3), NumpyImages(4, seed=1)
    ours, theirs = a + b, torch.utils.data.ConcatDataset([a, b])
    assert len(ours) == len(theirs) and ours.cumulative_sizes == theirs.cumulative_sizes
    for i in range(-7, 7):
        np.testing.assert_array_equal(ours[i][0], theirs[i][0])
    seq = list(range(10))
    for bs, dl in [(3, False), (3, True), (4, True)]:
        assert list(D.BatchSampler(D.SequentialSampler(seq), bs, dl)) == list(
            torch.utils.data.BatchSampler(torch.utils.data.SequentialSampler(seq), bs, dl))
        assert list(D.BatchSampler(range(10), bs, dl)) == list(
            torch.utils.data.BatchSampler(range(10), bs, dl))
    picked = list(D.SubsetRandomSampler([2, 4, 6, 8]))
    assert sorted(picked) == [2, 4, 6, 8]
    rs = D.RandomSampler(seq, replacement=True, num_samples=25)
    assert len(list(rs)) == len(rs) == 25 and set(rs) <= set(seq)
    assert len(list(D.RandomSampler(seq, num_samples=25))) == 25
    sub = D.Subset(a, [2, 0])
    np.testing.assert_array_equal(sub[0][0], a[2][0])


def test_custom_sampler_and_batch_sampler(torch):
    ds = D.TensorDataset(np.arange(8.0), np.arange(8))
    ours = list(D.DataLoader(ds, sampler=[7, 5, 3], batch_size=2))
    assert [y.tolist() for _, y in ours] == [[7, 5], [3]]
    loader = D.DataLoader(ds, batch_sampler=[[0, 1, 2], [6]])
    assert len(loader) == 2 and loader.batch_size is None
    assert [y.tolist() for _, y in loader] == [[0, 1, 2], [6]]
    unbatched = D.DataLoader(ds, batch_size=None)
    assert len(unbatched) == 8 and next(iter(unbatched))[1].shape == ()


class Stream(D.IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return iter([(np.full(2, i, np.float32), i) for i in range(self.n)])


def test_iterable_dataset_matches_torch(torch):
    class TorchStream(torch.utils.data.IterableDataset):
        def __iter__(self):
            return iter(Stream(7))

    for drop_last in (False, True):
        ours = D.DataLoader(Stream(7), batch_size=3, drop_last=drop_last)
        theirs = torch.utils.data.DataLoader(TorchStream(), batch_size=3, drop_last=drop_last)
        for a, b in zip(ours, theirs, strict=True):
            _same(a, b, torch)
    with pytest.raises(ValueError, match="shuffle"):
        D.DataLoader(Stream(3), shuffle=True)
    with pytest.raises(TypeError):
        len(D.DataLoader(Stream(3)))


def test_workers_run_in_process_with_same_batches():
    ds = D.TensorDataset(np.arange(10.0), np.arange(10))
    seen = []
    loader = D.DataLoader(ds, batch_size=4, num_workers=2, pin_memory=True, prefetch_factor=2,
                          persistent_workers=True, worker_init_fn=seen.append)
    plain = D.DataLoader(ds, batch_size=4)
    for a, b in zip(loader, plain, strict=True):
        np.testing.assert_array_equal(a[0].data, b[0].data)
    assert seen == [0] and D.get_worker_info() is None
    it = iter(loader)
    assert len(it) == 3


@pytest.mark.parametrize("kwargs,match", [
    ({"sampler": [0], "shuffle": True}, "mutually exclusive with shuffle"),
    ({"batch_sampler": [[0]], "batch_size": 2}, "batch_sampler option is mutually exclusive"),
    ({"batch_sampler": [[0]], "drop_last": True}, "batch_sampler option is mutually exclusive"),
    ({"batch_size": None, "drop_last": True}, "mutually exclusive with drop_last"),
    ({"num_workers": -1}, "num_workers"),
    ({"prefetch_factor": 2}, "prefetch_factor"),
    ({"persistent_workers": True}, "persistent_workers"),
    ({"batch_size": 0}, "batch_size"),
])
def test_argument_errors_match_torch(torch, kwargs, match):
    ds = D.TensorDataset(np.arange(4.0))
    with pytest.raises(ValueError):
        torch.utils.data.DataLoader(range(4), **kwargs)
    with pytest.raises(ValueError, match=match):
        D.DataLoader(ds, **kwargs)


def test_generator_api():
    g = convolve.Generator()
    assert g.manual_seed(5) is g and g.initial_seed() == 5 and g.device == "cpu"
    state = g.get_state()
    first = g.rng.random(3)
    np.testing.assert_array_equal(g.set_state(state).rng.random(3), first)
    with pytest.raises(ValueError, match="seed"):
        g.manual_seed(1.5)
    with pytest.raises(ValueError, match="device"):
        convolve.Generator("cuda")

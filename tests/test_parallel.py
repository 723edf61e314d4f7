"""Op-level threads (convolve/_parallel.py) and the split fully-connected GEMMs."""

import importlib
import threading
import time
from concurrent.futures import Future

import numpy as np
import pytest

import convolve as cv
import convolve.functional as F
from convolve import _parallel

L = importlib.import_module("convolve.functional.linear")  # F.linear is the function


@pytest.fixture
def threads(monkeypatch):
    def set_threads(n):
        monkeypatch.setattr(_parallel, "thread_count", lambda: n)
    return set_threads


def test_parallel_map_keeps_order_and_uses_workers(threads):
    threads(2)
    seen = set()

    def work(i):
        seen.add(threading.get_ident())
        time.sleep(0.002)  # releases the GIL, like NumPy's loops
        return i * i
    assert _parallel.parallel_map(work, list(range(40))) == [i * i for i in range(40)]
    assert threading.get_ident() in seen and len(seen) == 2  # the caller takes parts too


def test_caller_does_all_parts_when_no_worker_runs(threads, monkeypatch):
    """A worker that is never scheduled (a busy machine) costs nothing: its queued task
    is cancelled and the caller has done every part."""
    threads(2)
    _parallel.parallel_map(lambda i: i, [0, 1])  # create the pool
    never = Future()  # a task that never starts
    monkeypatch.setattr(_parallel._state["pool"], "submit", lambda fn: never)
    ran = []
    assert _parallel.parallel_map(lambda i: ran.append(i) or -i, [1, 2, 3]) == [-1, -2, -3]
    assert ran == [1, 2, 3] and never.cancelled()


def test_blas_threads_restored_and_single_blas(threads):
    before = [c.num_threads for c in _parallel._blas()]
    threads(2)
    inside = _parallel.parallel_map(lambda _: [c.num_threads for c in _parallel._blas()], [0, 1])
    assert all(n == 1 for counts in inside for n in counts)
    assert _parallel.single_blas(lambda: [c.num_threads for c in _parallel._blas()]) == \
        [1] * len(before)
    assert [c.num_threads for c in _parallel._blas()] == before


def test_errors_propagate_and_release_the_region(threads):
    threads(2)

    def boom(i):
        if i == 3:
            raise RuntimeError("part 3")
        return i
    with pytest.raises(RuntimeError, match="part 3"):
        _parallel.parallel_map(boom, list(range(6)))
    assert _parallel.parallel_map(lambda i: i, [5, 6]) == [5, 6]


@pytest.mark.parametrize("n", [0, 1, 5, 8])
def test_split_covers_range(n):
    for parts in (1, 2, 3, 9):
        sls = _parallel.split(n, parts)
        assert [i for sl in sls for i in range(n)[sl]] == list(range(n))
        assert len(sls) == max(1, min(parts, n))


@pytest.mark.parametrize("shape", [(64, 300), (3, 5, 300), (300,), (1, 300)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_linear_split_gemms_match_serial_and_torch(torch, threads, monkeypatch, shape, dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal((70, 300)).astype(dtype)
    b = rng.standard_normal(70).astype(dtype)
    g = rng.standard_normal(shape[:-1] + (70,)).astype(dtype)

    def run():
        X, W, B = (cv.tensor(a, requires_grad=True) for a in (x, w, b))
        out = F.linear(X, W, B)
        out.backward(g)
        return out.data, X.grad, W.grad, B.grad
    threads(1)
    serial = run()
    threads(2)
    monkeypatch.setattr(L, "_SPLIT_MACS", 1)  # split every GEMM
    split = run()
    monkeypatch.setattr(L, "_SPLIT_MACS", 1 << 40)
    monkeypatch.setattr(L, "_BLAS_MT_MACS", 1)  # one BLAS thread, unsplit
    single = run()
    tol = 1e-5 if dtype == np.float32 else 1e-12
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    yt = torch.nn.functional.linear(xt, wt, bt)
    yt.backward(torch.tensor(g))
    ref = (yt.detach().numpy(), xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy())
    for res in (serial, split, single):
        for a, r in zip(res, ref):
            assert a.dtype == dtype and a.shape == r.shape
            np.testing.assert_allclose(a, r, rtol=tol, atol=tol * 10)

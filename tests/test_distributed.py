"""convolve.distributed: sharding, equivalence of N ranks with one, faults, sweeps.

The MPI tests launch ``mpiexec -n N python tests/mpi_worker.py`` in a subprocess with a
timeout; the oracle is the same training run in this process on one rank (no MPI).
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import mpi_worker
from convolve import distributed as dist

ROOT = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).with_name("mpi_worker.py")


def _env():
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), OMP_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1")
    for var in ("PMI_RANK", "PMI_SIZE", "PMIX_RANK", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS"):
        env.pop(var, None)
    return env


def _launch(mpiexec, n, *args, timeout=90):
    cmd = [mpiexec, "-n", str(n), sys.executable, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=_env(),
                          cwd=ROOT, check=False)


def test_core_import_does_not_import_mpi4py():
    code = ("import sys, convolve, convolve.distributed as d, convolve.cli; d.init(); "
            "print('mpi4py' in sys.modules, d.world_size(), d.rank(), d.is_initialized())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=_env(), timeout=60, check=True).stdout.split()
    assert out == ["False", "1", "0", "True"]


@pytest.mark.parametrize("world", [1, 2, 3])
def test_sampler_shards_partition_the_global_order(world):
    n, batch = 23, 6
    shards = [dist.DistributedSampler(n, batch, world, r, seed=5) for r in range(world)]
    for epoch in (0, 1):
        for s in shards:
            s.set_epoch(epoch)
        # the global order is the single-process DataLoader's, whatever the world size
        from convolve.data import ArrayDataset, DataLoader
        loader = DataLoader(ArrayDataset(np.zeros((n, 1)), np.zeros(n)), batch, shuffle=True,
                            seed=5)
        ref = loader.order(epoch)
        got = [np.concatenate(parts) for parts in zip(*(list(s.batches()) for s in shards))]
        expected = [ref[i:i + batch] for i in range(0, n, batch)]
        assert len(got) == len(expected) == len(shards[0])
        for g, e in zip(got, expected):
            np.testing.assert_array_equal(g, e)
    assert not np.array_equal(shards[0].global_order(0), shards[0].global_order(1))


def test_sampler_drops_a_last_batch_smaller_than_the_world():
    s = dist.DistributedSampler(13, 6, num_replicas=3, rank=2, seed=0)  # last batch: 1 sample
    assert len(s) == 2 and all(len(b) == 2 for b in s.batches())


@pytest.mark.parametrize("kwargs, match", [
    ({"n_samples": 2, "batch_size": 4, "num_replicas": 3, "rank": 0}, r"more ranks \(3\)"),
    ({"n_samples": 20, "batch_size": 2, "num_replicas": 3, "rank": 0}, "batch_size"),
    ({"n_samples": 20, "batch_size": 4, "num_replicas": 0, "rank": 0}, "num_replicas"),
    ({"n_samples": 20, "batch_size": 4, "num_replicas": 2, "rank": 2}, "rank"),
])
def test_sampler_rejects_bad_world(kwargs, match):
    with pytest.raises(ValueError, match=match):
        dist.DistributedSampler(**kwargs)


def test_map_trials_on_local_processes_matches_serial():
    serial = [mpi_worker.trial(c) for c in mpi_worker.TRIALS]
    assert dist.map_trials(mpi_worker.trial, mpi_worker.TRIALS, max_workers=2) == serial
    assert dist.map_trials(mpi_worker.trial, mpi_worker.TRIALS[:2], max_workers=1) == serial[:2]


@pytest.mark.parametrize("world", [2, 3])
def test_n_ranks_take_the_steps_of_one_rank(mpiexec, world, tmp_path):
    res = _launch(mpiexec, world, str(WORKER), "equiv", str(tmp_path))
    assert res.returncode == 0, res.stderr[-2000:]
    assert (tmp_path / "world.txt").read_text() == str(world)
    for optimizer, dtype in mpi_worker.CONFIGS:
        params, losses = mpi_worker.train(optimizer, dtype, distributed=False)
        got = np.load(tmp_path / f"{optimizer}-{dtype}.npz")
        tol = {"rtol": 1e-10, "atol": 0} if dtype == "float64" else {"rtol": 1e-4, "atol": 1e-6}
        for key, value in params.items():
            assert got[key].dtype == value.dtype
            np.testing.assert_allclose(got[key], value, **tol, err_msg=f"{optimizer} {key}")
        np.testing.assert_allclose(got["losses"], losses, **tol)  # metrics reduced over ranks
    serial = [mpi_worker.trial(c) for c in mpi_worker.TRIALS]
    assert np.load(tmp_path / "trials.npy").tolist() == serial


def test_a_failing_rank_ends_the_job_naming_it(mpiexec, tmp_path):
    res = _launch(mpiexec, 2, str(WORKER), "fail", str(tmp_path), timeout=60)
    assert res.returncode != 0
    assert "rank 1 failed: RuntimeError: deliberate failure" in res.stderr


def test_a_killed_rank_ends_the_job(mpiexec, tmp_path):
    res = _launch(mpiexec, 2, str(WORKER), "die", str(tmp_path), timeout=60)
    assert res.returncode != 0  # MPICH's launcher cleans up the surviving rank, no hang
    assert "BAD TERMINATION" in res.stdout + res.stderr


def test_a_nan_loss_on_one_rank_stops_every_rank(mpiexec, tmp_path):
    res = _launch(mpiexec, 2, str(WORKER), "nan", str(tmp_path), timeout=60)
    assert res.returncode == 0, res.stderr[-2000:]
    reports = [(tmp_path / f"nan-{r}.txt").read_text() for r in (0, 1)]
    assert reports[0] == reports[1]  # both stopped at the same batch
    assert reports[0].startswith("0 non-finite loss") and "epoch 1, batch 2" in reports[0]

"""Run under ``mpiexec -n N python tests/mpi_worker.py MODE OUTDIR`` by test_distributed.py.

MODE ``equiv``: data-parallel fit of a small conv net for each config in CONFIGS, then a
sweep through map_trials; rank 0 writes the results to OUTDIR as .npz files. The test
compares them with :func:`train` run in one process (no MPI). MODE ``fail``: rank 1 raises
while rank 0 waits in a collective; the job must end with a message naming rank 1.
MODE ``die``: rank 1 is killed by SIGKILL; the launcher must end the job. MODE ``nan``:
rank 1 alone meets a NaN loss; every rank must stop at that batch (no hang).
"""

import os
import signal
import sys
from pathlib import Path

import numpy as np

import convolve
from convolve import distributed as dist
from convolve import nn
from convolve.data import ArrayDataset, DataLoader
from convolve.train import fit, make_optimizer

CONFIGS = [("sgd", "float64"), ("adam", "float64"), ("sgd", "float32"), ("adam", "float32")]
N_SAMPLES, BATCH, EPOCHS = 51, 12, 2  # last global batch of 3: uneven shards with 2 ranks


def dataset(dtype):
    rng = np.random.default_rng(42)
    x = rng.normal(size=(N_SAMPLES, 1, 6, 6)).astype(dtype)
    return ArrayDataset(x, rng.integers(0, 3, size=N_SAMPLES))


def net(dtype, seed):
    convolve.manual_seed(seed)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(64, 3))
    return model.double() if dtype == "float64" else model


def train(optimizer: str, dtype: str, distributed: bool):
    """Final parameters and epoch losses; distributed runs start from rank-dependent weights
    (rank 0's are broadcast: seed 1, the reference's)."""
    data = dataset(dtype)
    if distributed:
        # tiny buckets for Adam: several allreduces per step (SGD: one 4 MB bucket)
        bucket_mb = 0.0005 if optimizer == "adam" else 4.0
        model = dist.DistributedDataParallel(net(dtype, seed=1 + dist.rank()), bucket_mb)
        loader = dist.DistributedLoader(data, batch_size=BATCH, shuffle=True, seed=7,
                                        dtype=None)
        callbacks = [dist.DistributedMetrics()]
    else:
        model, callbacks = net(dtype, seed=1), []
        loader = DataLoader(data, batch_size=BATCH, shuffle=True, seed=7, dtype=None)
    opt = make_optimizer(optimizer, model.parameters(), lr=0.05)
    if distributed:
        model.attach(opt)
    history = fit(model, loader, epochs=EPOCHS, optimizer=opt, callbacks=callbacks, verbose=0)
    params = {k: np.array(v) for k, v in model.state_dict().items()}
    return params, np.array(history["loss"])


def trial(config):
    """One sweep trial: seeded from its config, so any executor gives the same result."""
    convolve.manual_seed(config["seed"])
    model = net("float64", seed=config["seed"])
    x = np.random.default_rng(config["seed"]).normal(size=(8, 1, 6, 6))
    return float(model(convolve.tensor(x)).data.sum()) * config["scale"]


TRIALS = [{"seed": s, "scale": k} for s in range(3) for k in (1.0, 2.0)]


def main(mode: str, out: Path) -> None:
    dist.init()
    if mode in ("fail", "die"):
        if dist.rank() == 1 and mode == "fail":
            raise RuntimeError("deliberate failure for the test")
        if dist.rank() == 1:
            os.kill(os.getpid(), signal.SIGKILL)  # dies without a word
        dist.barrier()  # rank 0 would wait here forever without the abort
        return
    if mode == "nan":  # a NaN sample in rank 1's shard of the 2nd batch
        data = dataset("float64")
        loader = dist.DistributedLoader(data, batch_size=BATCH, shuffle=True, seed=7,
                                        dtype=None)
        data.x[loader.order(0)[2 * BATCH - 1]] = np.nan  # last of batch 2: rank 1
        model = dist.DistributedDataParallel(net("float64", seed=1))
        opt = model.attach(make_optimizer("sgd", model.parameters(), lr=0.05))
        history = fit(model, loader, epochs=2, optimizer=opt, verbose=0,
                      callbacks=[dist.DistributedMetrics()])
        (out / f"nan-{dist.rank()}.txt").write_text(f"{len(history)} {history.stop_reason}")
        return
    for optimizer, dtype in CONFIGS:
        params, losses = train(optimizer, dtype, distributed=True)
        if dist.rank() == 0:
            np.savez(out / f"{optimizer}-{dtype}.npz", losses=losses, **params)
    results = dist.map_trials(trial, TRIALS)
    if dist.rank() == 0:
        np.save(out / "trials.npy", np.array(results))
        (out / "world.txt").write_text(str(dist.world_size()))


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))

"""MPI measurements for the README's "Beyond one machine (MPI)" section.

    mpiexec -n 2 python benchmarks/mpi_scaling.py allreduce      # time vs message size
    python benchmarks/mpi_scaling.py step --threads 2            # 1 rank, 2 BLAS threads
    mpiexec -n 1 python benchmarks/mpi_scaling.py step           # 1 rank, 1 thread
    mpiexec -n 2 python benchmarks/mpi_scaling.py step           # 2 ranks, 1 thread each

``step`` trains LeNet-5 data-parallel on mnist5k with a global batch of 64 and prints the
median step time and samples/s (rank 0). Results are printed as one JSON line.
"""

import argparse
import json
import time

import numpy as np

from convolve import distributed as dist


def allreduce(repeats: int) -> list:
    rows = []
    for kb in (1, 4, 16, 64, 256, 1024, 4096, 16384):
        buf = np.ones(kb * 256, dtype=np.float32)
        times = []
        for _ in range(repeats):
            dist.barrier()
            t = time.perf_counter()
            dist.allreduce_(buf)
            times.append(time.perf_counter() - t)
        rows.append({"bytes": buf.nbytes, "median_ms": 1e3 * float(np.median(times)),
                     "min_ms": 1e3 * min(times)})
    return rows


def step(steps: int, batch: int) -> dict:
    from convolve import data, models
    from convolve.nn import CrossEntropyLoss
    from convolve.optim import SGD
    from convolve.tensor import Tensor

    split = data.load_dataset("mnist5k")
    model = dist.DistributedDataParallel(models.get_model("lenet5", split.x_train.shape[1:], 10))
    opt = SGD(model.parameters(), lr=0.01)
    loader = dist.DistributedLoader(data.ArrayDataset(split.x_train, split.y_train),
                                    batch_size=batch, shuffle=True, seed=0)
    loss_fn, times, comm = CrossEntropyLoss(), [], []
    for b, (x, y) in enumerate(loader):
        if b == steps:
            break
        dist.barrier()
        t = time.perf_counter()
        loss = loss_fn(model(Tensor(x)), y)
        opt.zero_grad()
        loss.backward()
        t_comm = time.perf_counter()
        model.sync_gradients()  # what model.attach(opt) makes opt.step() do first
        comm.append(time.perf_counter() - t_comm)
        opt.step()
        times.append(time.perf_counter() - t)
    t_step = float(np.median(times[5:]))
    return {"ranks": dist.world_size(), "global_batch": batch, "median_step_ms": 1e3 * t_step,
            "median_allreduce_ms": 1e3 * float(np.median(comm[5:])),
            "samples_per_s": batch / t_step,
            "param_bytes": sum(p.data.nbytes for p in model.parameters())}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("what", choices=["allreduce", "step"])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--batch", type=int, default=64)
    args = p.parse_args()
    dist.init()
    from convolve.threads import blas_threads

    with blas_threads(args.threads):
        result = allreduce(30) if args.what == "allreduce" else step(args.steps, args.batch)
    if dist.rank() == 0:
        print(json.dumps({"what": args.what, "threads": args.threads, "result": result}))


if __name__ == "__main__":
    main()

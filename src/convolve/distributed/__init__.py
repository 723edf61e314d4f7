"""convolve.distributed: data-parallel training and sweeps over MPI (extra ``convolve[mpi]``).

Importing this package does not import mpi4py; :func:`init` does, and only when an MPI
launcher started the process. Without one, the world has one rank and everything runs
serially, so one script serves both::

    from convolve import distributed as dist
    dist.init()
    model = dist.DistributedDataParallel(model)          # rank 0's weights everywhere
    opt = model.attach(convolve.optim.SGD(model.parameters(), lr=0.1))  # step() averages grads
    loader = dist.DistributedLoader(train_set, batch_size=64, shuffle=True, seed=0)  # global B
    fit(model, loader, ..., callbacks=[dist.DistributedMetrics()] + (
        [ModelCheckpoint("runs/x")] if dist.rank() == 0 else []))

Launch with ``mpiexec -n 4 python train.py`` (or ``srun``), or ``convolve train --workers 4``.
"""

from .comm import (  # noqa: F401
    abort,
    allreduce_,
    allreduce_sum,
    barrier,
    broadcast_,
    broadcast_object,
    init,
    is_initialized,
    launched_under_mpi,
    rank,
    world_size,
)
from .launch import map_trials  # noqa: F401
from .parallel import (  # noqa: F401
    DistributedDataParallel,
    DistributedLoader,
    DistributedMetrics,
    DistributedSampler,
)

"""The MPI environment: initialisation, rank / world size, collectives on NumPy arrays.

mpi4py is imported only by :func:`init`, and only when the process was started by an MPI
launcher (``mpiexec``, ``srun``: detected from the PMI / PMIx / Open MPI / SLURM environment
variables). Without a launcher everything works as a world of one rank and every collective
is the identity, so the same script runs serially and under ``mpiexec -n N``.

Faults: :func:`init` installs an excepthook that prints ``convolve: rank R failed: ...``
and calls ``MPI.COMM_WORLD.Abort(1)``, so an exception on one rank ends the whole job within
seconds instead of leaving the others blocked in a collective.
"""

from __future__ import annotations

import os
import sys
import traceback

import numpy as np

__all__ = [
    "abort",
    "allreduce_",
    "allreduce_sum",
    "barrier",
    "broadcast_",
    "broadcast_object",
    "init",
    "is_initialized",
    "launched_under_mpi",
    "rank",
    "world_size",
]

MPI_EXTRA_HINT = "pip install convolve[mpi]"
_LAUNCHER_VARS = ("PMI_RANK", "PMI_SIZE", "PMIX_RANK", "OMPI_COMM_WORLD_SIZE",
                  "MPI_LOCALNRANKS", "HYDI_CONTROL_FD")
_state = {"comm": None, "initialized": False, "rank": 0, "size": 1}


def launched_under_mpi() -> bool:
    """True when an MPI launcher started this process (mpiexec, mpirun, srun with PMI)."""
    if any(v in os.environ for v in _LAUNCHER_VARS):
        return True
    return int(os.environ.get("SLURM_NTASKS", "1") or 1) > 1 and "SLURM_PROCID" in os.environ


def _import_mpi():
    try:
        from mpi4py import MPI
    except ImportError as err:
        raise ImportError(f"convolve.distributed: this process was started by an MPI launcher "
                          f"but mpi4py is missing ({err}); {MPI_EXTRA_HINT}") from None
    return MPI


def init(use_mpi: bool | None = None) -> int:
    """Initialise from the environment; returns the world size. Safe to call twice.

    ``use_mpi=None`` uses MPI when launched under an MPI launcher; False forces a world of
    one; True requires mpi4py (ImportError naming ``convolve[mpi]`` when it is missing).
    """
    if _state["initialized"]:
        return _state["size"]
    if use_mpi is None:
        use_mpi = launched_under_mpi()
    if use_mpi:
        comm = _import_mpi().COMM_WORLD
        _state.update(comm=comm, rank=comm.Get_rank(), size=comm.Get_size())
        if _state["size"] > 1:
            sys.excepthook = _abort_hook
    _state["initialized"] = True
    return _state["size"]


def is_initialized() -> bool:
    return _state["initialized"]


def rank() -> int:
    """This process's rank (0 without MPI)."""
    return _state["rank"]


def world_size() -> int:
    """The number of ranks (1 without MPI)."""
    return _state["size"]


def comm():
    """The mpi4py communicator, or None in a world of one."""
    return _state["comm"]


def abort(message: str, code: int = 1) -> None:
    """Print ``message`` naming this rank to stderr and end every rank of the job."""
    print(f"convolve: rank {rank()} failed: {message}", file=sys.stderr, flush=True)
    if _state["comm"] is not None and _state["size"] > 1:
        _state["comm"].Abort(code)
    raise SystemExit(code)


def _abort_hook(exc_type, exc, tb) -> None:
    traceback.print_exception(exc_type, exc, tb, file=sys.stderr)
    text = " ".join(str(exc).split()) or exc_type.__name__
    abort(f"{exc_type.__name__}: {text}")


# -------------------------------------------------------------------------- collectives
def _contiguous(a: np.ndarray, who: str) -> np.ndarray:
    if not isinstance(a, np.ndarray) or not a.flags.c_contiguous:
        raise TypeError(f"{who}: expected a C-contiguous NumPy array, received "
                        f"{type(a).__name__}")
    return a


def allreduce_(buf: np.ndarray, op: str = "sum") -> np.ndarray:
    """Reduce ``buf`` in place over all ranks (op 'sum', 'max' or 'min'); returns it."""
    c = _state["comm"]
    if c is None or _state["size"] == 1:
        return buf
    from mpi4py import MPI

    ops = {"sum": MPI.SUM, "max": MPI.MAX, "min": MPI.MIN}
    if op not in ops:
        raise ValueError(f"allreduce_: op must be 'sum', 'max' or 'min', received {op!r}")
    c.Allreduce(MPI.IN_PLACE, _contiguous(buf, "allreduce_"), op=ops[op])
    return buf


def allreduce_sum(values) -> np.ndarray:
    """The elementwise sum over ranks of ``values`` (a new float64 array)."""
    return allreduce_(np.array(values, dtype=np.float64, copy=True).reshape(-1))


def broadcast_(buf: np.ndarray, root: int = 0) -> np.ndarray:
    """Overwrite ``buf`` in place on every rank with rank ``root``'s values; returns it."""
    c = _state["comm"]
    if c is not None and _state["size"] > 1:
        c.Bcast(_contiguous(buf, "broadcast_"), root=root)
    return buf


def broadcast_object(obj, root: int = 0):
    """Rank ``root``'s Python object on every rank (small control data only)."""
    c = _state["comm"]
    return obj if c is None or _state["size"] == 1 else c.bcast(obj, root=root)


def barrier() -> None:
    c = _state["comm"]
    if c is not None and _state["size"] > 1:
        c.Barrier()

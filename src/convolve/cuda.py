"""``convolve.cuda``: PyTorch's CUDA queries, answered for a CPU-only library.

``is_available()`` is False and ``device_count()`` 0, so scripts that pick their device
with ``"cuda" if cuda.is_available() else "cpu"`` choose the CPU. The seeding calls are
no-ops (convolve's one generator is seeded by ``convolve.manual_seed``).
"""

from __future__ import annotations


def is_available() -> bool:
    return False


def device_count() -> int:
    return 0


def manual_seed(seed: int) -> None:
    """No-op: there is no CUDA generator (seed with ``convolve.manual_seed``)."""


def manual_seed_all(seed: int) -> None:
    """No-op: there is no CUDA generator (seed with ``convolve.manual_seed``)."""


def synchronize(device=None) -> None:
    """No-op: every convolve op has finished when it returns."""


def empty_cache() -> None:
    """No-op: there is no device memory to release."""


def __getattr__(name: str):
    """Every other CUDA query or tool: not provided, with the reason."""
    raise AttributeError(f"convolve.cuda.{name}: not provided (convolve computes on the CPU "
                         f"only; convolve.cuda.is_available() is False)")

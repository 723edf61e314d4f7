"""``convolve.accelerator``: PyTorch's accelerator queries, for a CPU-only library.

As under a CPU build of PyTorch: ``is_available()`` is False, ``current_accelerator()``
None and ``device_count()`` 0, so device-agnostic scripts fall back to the CPU.
"""

from __future__ import annotations


def is_available(check_fork: bool = False) -> bool:
    return False


def current_accelerator(check_available: bool = False):
    return None


def device_count() -> int:
    return 0


def synchronize(device=None) -> None:
    """No-op: every convolve op has finished when it returns."""

"""Shared fixtures. Tests that need PyTorch use the ``torch`` fixture: it skips on a
developer machine without torch, but FAILS when CI is set, so CI never silently skips."""

import os
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))


def _import_torch():
    try:
        import torch
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("PyTorch is required in CI (pip install torch==2.13.0) but is missing")
        pytest.skip("PyTorch not installed")
    torch.set_num_threads(1)
    return torch


@pytest.fixture(scope="session")
def torch():
    return _import_torch()


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def _find_mpiexec():
    """mpiexec next to this Python (the one the convolve[mpi] extra installs), with mpi4py."""
    exe = Path(sys.executable).with_name("mpiexec")
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        exe = None
    if exe is None or not exe.exists():
        if os.environ.get("CI"):
            pytest.fail("mpi4py and mpiexec are required in CI (pip install convolve[mpi]) "
                        "but are missing")
        pytest.skip("mpi4py / mpiexec not installed (pip install convolve[mpi])")
    return str(exe)


@pytest.fixture(scope="session")
def mpiexec():
    return _find_mpiexec()

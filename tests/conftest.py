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

"""Allocator tuning (convolve/_memory.py): freed arrays are reused without new page faults."""

import os
import subprocess
import sys

import pytest

# Allocate, free and re-allocate a 3 MiB array (under NumPy's 4 MiB huge-page threshold);
# print the minor page faults of the second allocation and whether tuning applied.
PROBE = """
import resource, numpy as np, convolve, convolve._memory as m
a = np.ones(3 << 18, np.float32); del a
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
b = np.ones(3 << 18, np.float32)
print(m.tune_allocator(), resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _probe(env_value):
    env = {"CONVOLVE_MALLOC_TUNING": env_value} if env_value is not None else {}
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                         env={**os.environ, **env}, check=True).stdout.split()
    return out[0] == "True", int(out[1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt only")
def test_reallocation_reuses_memory_and_env_var_opts_out():
    applied, faults = _probe(None)
    off, faults_off = _probe("0")
    assert applied and not off
    pages = (3 << 20) // 4096
    assert faults < pages // 10  # served from memory the process kept
    assert faults_off > pages // 2  # glibc's default: unmapped on free, faulted in again


def test_tune_allocator_is_idempotent():
    from convolve._memory import tune_allocator

    assert tune_allocator() == tune_allocator()

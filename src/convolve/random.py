"""The library's seedable random number generator (initialisation, dropout, shuffling)."""

from __future__ import annotations

import numpy as np

_rng = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed the global generator used by parameter initialisation and dropout."""
    global _rng
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"manual_seed: seed must be an int, received {type(seed).__name__}")
    _rng = np.random.default_rng(int(seed))
    return _rng


def get_rng() -> np.random.Generator:
    return _rng


def get_rng_state() -> dict:
    """The generator's state as a JSON-serialisable dict."""
    return _rng.bit_generator.state


def set_rng_state(state: dict) -> None:
    """Restore a state returned by :func:`get_rng_state`."""
    global _rng
    name = state.get("bit_generator") if isinstance(state, dict) else None
    if name != "PCG64":
        raise ValueError(f"set_rng_state: expected a PCG64 state dict, received {name!r}")
    _rng = np.random.default_rng()
    _rng.bit_generator.state = state

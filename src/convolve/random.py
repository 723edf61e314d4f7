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


class Generator:
    """PyTorch's ``torch.Generator`` for convolve: a seedable source of randomness that
    ``DataLoader``/``RandomSampler``/``random_split`` accept as ``generator=``.

    ``Generator().manual_seed(42)`` returns the generator itself, as in PyTorch. The
    streams are NumPy PCG64 ones, so the same seed gives the same order on every run
    (but not the same order as PyTorch).
    """

    def __init__(self, device="cpu"):
        if str(device) != "cpu":
            raise ValueError(f"Generator: device must be 'cpu' (convolve runs on the CPU), "
                             f"received device={device!r}")
        self.seed()

    @property
    def device(self) -> str:
        return "cpu"

    def manual_seed(self, seed: int) -> Generator:
        """Reseed and return ``self``; ``seed`` is an int in [-2**63, 2**64)."""
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) \
                or not -2**63 <= int(seed) < 2**64:
            raise ValueError(f"Generator.manual_seed: seed must be an int in [-2**63, 2**64), "
                             f"received seed={seed!r}")
        self._seed = int(seed) % 2**64
        self.rng = np.random.default_rng(self._seed)
        return self

    def seed(self) -> int:
        """Reseed from fresh OS entropy and return the new seed."""
        self.manual_seed(int(np.random.SeedSequence().entropy % 2**63))
        return self._seed

    def initial_seed(self) -> int:
        return self._seed

    def get_state(self) -> dict:
        return {"seed": self._seed, "state": self.rng.bit_generator.state}

    def set_state(self, state: dict) -> Generator:
        if not isinstance(state, dict) or set(state) != {"seed", "state"}:
            raise ValueError(f"Generator.set_state: expected a dict from get_state(), "
                             f"received {state!r}")
        self.manual_seed(state["seed"])
        self.rng.bit_generator.state = state["state"]
        return self


def rng_of(generator, where: str) -> np.random.Generator:
    """The NumPy generator behind ``generator`` (a convolve Generator, a NumPy Generator,
    or None for the global one), raising TypeError naming ``where`` for anything else."""
    if generator is None:
        return _rng
    if isinstance(generator, Generator):
        return generator.rng
    if isinstance(generator, np.random.Generator):
        return generator
    raise TypeError(f"{where}: generator must be a convolve.Generator (or a NumPy Generator), "
                    f"received {type(generator).__name__}")

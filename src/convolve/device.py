"""Devices with PyTorch's names: ``convolve.device``, and the parsing of ``.to(...)`` arguments.

convolve computes on the CPU only. ``device("cuda")`` can be built (so the usual
``device("cuda" if cuda.is_available() else "cpu")`` line works), but moving a tensor
or module to any device other than the CPU raises :class:`DeviceError` naming it.
"""

from __future__ import annotations

from . import dtypes

# PyTorch's device types, in the order its error message lists them
_TYPES = ("cpu", "cuda", "ipu", "xpu", "mkldnn", "opengl", "opencl", "ideep", "hip", "ve",
          "fpga", "maia", "xla", "lazy", "vulkan", "mps", "meta", "hpu", "mtia",
          "privateuseone")


class DeviceError(RuntimeError, ValueError):
    """A device convolve cannot compute on was requested (a RuntimeError, as in PyTorch)."""


def _parse(spec: str):
    kind, _, index = spec.partition(":")
    if kind not in _TYPES or (index and not index.isdigit()):
        raise DeviceError(f"device: expected one of {', '.join(_TYPES)} (optionally ':index'), "
                          f"received {spec!r}")
    return kind, (int(index) if index else None)


class device:  # PyTorch's name
    """A device name: ``device("cpu")``, ``device("cuda:0")``, ``device("cuda", 0)``; a bare
    index (``device(0)``) fails, as in PyTorch on a machine without an accelerator.

    Equality, hashing, ``str`` and ``repr`` are PyTorch's (``device(type='cpu')``; a device
    is not equal to a string, as in PyTorch: compare ``d.type == "cpu"``).
    """

    __slots__ = ("index", "type")

    def __init__(self, type, index=None):  # PyTorch's argument name
        if isinstance(type, device):
            type, index = type.type, type.index if index is None else index
        elif isinstance(type, int) and not isinstance(type, bool):  # as PyTorch without one
            raise DeviceError(f"device: an index alone ({type}) names an accelerator device, "
                              f"and none is available; use device('cpu')")
        elif not isinstance(type, str):
            raise TypeError(f"device: expected a string such as 'cpu', received {type!r}")
        else:
            type, parsed = _parse(type)
            if parsed is not None and index is not None:
                raise DeviceError(f"device: index given twice, in {type}:{parsed} and index={index}")
            index = parsed if index is None else index
        if index is not None and (not isinstance(index, int) or index < 0):
            raise DeviceError(f"device: index must be a non-negative int, received {index!r}")
        self.type, self.index = type, index

    def __eq__(self, other):
        if not isinstance(other, device):
            return False
        return self.type == other.type and self.index == other.index

    def __hash__(self):
        return hash((self.type, self.index))

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self):
        extra = "" if self.index is None else f", index={self.index}"
        return f"device(type='{self.type}'{extra})"


CPU = device("cpu")


def check(spec, op: str) -> device:
    """The device ``spec`` names, if convolve can compute on it; else a DeviceError naming it."""
    d = spec if isinstance(spec, device) else device(spec)
    if d.type != "cpu":
        raise DeviceError(
            f"{op}: convolve computes on the CPU only; device '{d}' is not available. Use "
            f"'cpu', or device('cuda' if convolve.cuda.is_available() else 'cpu')")
    return d


def _is_device(x) -> bool:
    return isinstance(x, (str, device, int)) and not isinstance(x, bool)


def parse_to(op: str, args: tuple, kwargs: dict):
    """(dtype or None, copy) from ``to``'s call forms: to(device), to(dtype), to(tensor),
    to(device, dtype), and the keywords device=, dtype=, non_blocking=, copy=.
    The device is checked (cpu only)."""
    unknown = set(kwargs) - {"device", "dtype", "non_blocking", "copy", "memory_format"}
    if unknown or len(args) > 2:
        raise TypeError(f"{op}: expected to(device), to(dtype), to(tensor) or to(device, dtype), "
                        f"received {len(args)} positional arguments and {sorted(kwargs)}")
    from .tensor import Tensor

    dev, dtype = kwargs.get("device"), kwargs.get("dtype")
    for a in args:
        if isinstance(a, Tensor):
            dev, dtype = a.device, a.dtype
        elif _is_device(a):
            dev = a
        else:
            dtype = a
    if dev is not None:
        check(dev, op)
    return (None if dtype is None else dtypes.as_dtype(dtype, f"{op}: dtype")), \
        bool(kwargs.get("copy", False))


"""``convolve.save`` / ``convolve.load``: PyTorch's ``torch.save`` / ``torch.load`` for what
training scripts save (state dicts, optimizer states, checkpoint dicts of tensors, numbers,
strings, None and bools, nested in dicts, lists and tuples), in a format that cannot run code.

``save`` writes one safetensors file: every tensor or array is a safetensors tensor named by
its key path (a saved state dict is a plain safetensors state dict), and the structure around
them is a JSON skeleton in the file's metadata (bounded in size and depth when read back). ``load`` tells formats apart by their first bytes: convolve's files and any
safetensors file, and PyTorch's own ``.pt``/``.pth`` files (zip or legacy), which are read by
a pickle interpreter of our own that only rebuilds tensors (see ``convolve._torchfile``).
"""

from __future__ import annotations

import io
import json
import os
from collections import OrderedDict

import numpy as np
import safetensors.numpy as st

from ._torch_pickle import UnsafeFileError
from ._torchfile import read_legacy, read_zip
from .io import save_safetensors
from .tensor import Tensor

__all__ = ["UnsafeFileError", "load", "save"]

FORMAT, FORMAT_VERSION = "convolve.save", "1"
MAX_DEPTH = 100                     # nesting levels of dicts/lists/tuples
MAX_HEADER_BYTES = 100 * 2**20      # safetensors' own header limit
_SAVE_HINT = ("convolve.save stores tensors, arrays, numbers, strings, None, bools and "
              "dicts/lists/tuples of them (save model.state_dict(), not the model)")


# ------------------------------------------------------------------------------- saving
class _Encoder:
    """Turns an object into a JSON skeleton, collecting its arrays (shared ones once).

    Arrays are named by their path of keys (``conv1.weight``, ``optimizer.state.0.exp_avg``),
    so a saved state dict is an ordinary safetensors state dict that other tools can read;
    a clashing or empty path falls back to ``t<n>``.
    """

    def __init__(self):
        self.arrays: dict = {}
        self.keys: dict = {}  # id(array or tensor) -> key
        self.alive: list = []  # keep encoded objects alive so ids stay unique

    def array(self, value, data: np.ndarray, where: str, name: str) -> str:
        if id(value) in self.keys:
            return self.keys[id(value)]
        if data.dtype.kind not in "biuf":
            raise TypeError(f"save: cannot store an array of dtype {data.dtype} at {where}; "
                            f"{_SAVE_HINT}")
        key, n = name, len(self.arrays)
        while not key or key in self.arrays or key == "__metadata__":
            key, n = f"t{n}", n + 1
        self.arrays[key] = np.ascontiguousarray(data, dtype=data.dtype.newbyteorder("=")) \
            .reshape(data.shape)
        self.keys[id(value)] = key
        self.alive.append(value)
        return key

    def encode(self, value, where: str, depth: int = 0, name: str = ""):
        if depth > MAX_DEPTH:
            raise ValueError(f"save: {where} is nested deeper than {MAX_DEPTH} levels")
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if isinstance(value, Tensor):
            from .nn.module import Parameter
            node = {"T": self.array(value, value.data, where, name)}
            if value.requires_grad:
                node["g"] = 1
            if isinstance(value, Parameter):
                node["p"] = 1
            return node
        if isinstance(value, np.ndarray):
            return {"A": self.array(value, value, where, name)}
        if isinstance(value, np.generic) and value.dtype.kind in "biuf":
            return {"S": self.array(value, np.asarray(value), where, name)}
        child = lambda k: f"{name}.{k}" if name else str(k)
        if isinstance(value, dict):
            items = [[self.key(k, where), self.encode(v, f"{where}[{k!r}]", depth + 1, child(k))]
                     for k, v in value.items()]
            return {"D": items, "O": 1} if isinstance(value, OrderedDict) else {"D": items}
        if isinstance(value, (list, tuple)):
            items = [self.encode(v, f"{where}[{i}]", depth + 1, child(i))
                     for i, v in enumerate(value)]
            return {"U": items} if isinstance(value, tuple) else {"L": items}
        raise TypeError(f"save: cannot store a value of type {type(value).__name__} at "
                        f"{where}; {_SAVE_HINT}")

    def key(self, k, where: str):
        if k is None or isinstance(k, (bool, int, float, str)):
            return k
        if isinstance(k, tuple) and all(v is None or isinstance(v, (bool, int, float, str))
                                        for v in k):
            return {"U": list(k)}
        raise TypeError(f"save: dict key {k!r} at {where} is not a number, string, None, "
                        f"bool or a tuple of those")


def save(obj, f, pickle_module=None, pickle_protocol=2, _use_new_zipfile_serialization=True,
         _disable_byteorder_record=False) -> None:
    """Save ``obj`` to ``f`` (a path or a writable binary file) as safetensors + JSON.

    ``pickle_protocol`` and the underscore options are accepted and ignored (nothing is
    pickled); a path is written atomically.
    """
    if pickle_module is not None:
        raise TypeError(f"save: pickle_module={pickle_module!r} is not supported: convolve.save "
                        f"never pickles (it writes safetensors plus a JSON skeleton)")
    enc = _Encoder()
    skeleton = json.dumps(enc.encode(obj, "obj"))
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "skeleton": skeleton}
    if isinstance(f, (str, os.PathLike)):
        save_safetensors(f, enc.arrays, meta)
    elif hasattr(f, "write"):
        f.write(st.save(enc.arrays, metadata=meta))
    else:
        raise TypeError(f"save: f must be a path or a writable binary file, received "
                        f"{type(f).__name__}")


# ------------------------------------------------------------------------------ loading
def _check_map_location(map_location) -> None:
    """None, 'cpu', a cpu device, a dict onto cpu or a callable are fine; other devices not."""
    if map_location is None or callable(map_location):
        return
    targets = map_location.values() if isinstance(map_location, dict) else [map_location]
    for target in targets:
        name = target.decode() if isinstance(target, bytes) else str(target)
        if name.partition(":")[0] != "cpu":
            raise ValueError(f"load: map_location={map_location!r} names a device convolve "
                             f"cannot use; convolve runs on the CPU: pass map_location='cpu' "
                             f"or None")


class _Decoder:
    """Rebuilds the saved object from its skeleton and arrays (shared arrays stay shared)."""

    def __init__(self, arrays: dict, where: str):
        self.arrays, self.where, self.made = arrays, where, {}

    def fail(self, what: str):
        raise UnsafeFileError(f"{self.where}: damaged convolve.save skeleton ({what})")

    def leaf(self, tag: str, node: dict):
        key = node[tag]
        if not isinstance(key, str) or key not in self.arrays:
            self.fail(f"unknown array {key!r}")
        if (tag, key) not in self.made:
            arr = self.arrays[key]
            if tag == "S":
                value = arr[()]
            elif tag == "A":
                value = np.array(arr)
            else:
                from .nn.module import Parameter
                cls = Parameter if node.get("p") else Tensor
                value = cls(arr, requires_grad=bool(node.get("g")), dtype=arr.dtype)
            self.made[(tag, key)] = value
        return self.made[(tag, key)]

    def decode(self, node, depth: int = 0):
        if depth > MAX_DEPTH:
            self.fail(f"nested deeper than {MAX_DEPTH} levels")
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if not isinstance(node, dict) or not node:
            self.fail(f"unexpected node of type {type(node).__name__}")
        tag = next(iter(node))
        if tag in ("T", "A", "S"):
            return self.leaf(tag, node)
        items = node[tag]
        if tag in ("L", "U") and isinstance(items, list):
            out = [self.decode(v, depth + 1) for v in items]
            return tuple(out) if tag == "U" else out
        if tag == "D" and isinstance(items, list) and all(
                isinstance(kv, list) and len(kv) == 2 for kv in items):
            pairs = [(self.dict_key(k), self.decode(v, depth + 1)) for k, v in items]
            return OrderedDict(pairs) if node.get("O") else dict(pairs)
        return self.fail(f"unknown node tag {tag!r}")

    def dict_key(self, k):
        if isinstance(k, dict) and isinstance(k.get("U"), list) and all(
                v is None or isinstance(v, (bool, int, float, str)) for v in k["U"]):
            return tuple(k["U"])
        if k is None or isinstance(k, (bool, int, float, str)):
            return k
        return self.fail(f"bad dict key {k!r}")


def _safetensors_meta(data: bytes, where: str) -> dict:
    """The ``__metadata__`` of a safetensors file, after checking its header length."""
    n = int.from_bytes(data[:8], "little") if len(data) >= 8 else -1
    if n < 2 or n > MAX_HEADER_BYTES or 8 + n > len(data):
        raise UnsafeFileError(f"{where}: not a convolve, safetensors or PyTorch file, or "
                              f"truncated (header length {n}, file length {len(data)})")
    try:
        header = json.loads(data[8:8 + n])
    except (ValueError, RecursionError) as err:
        raise UnsafeFileError(f"{where}: damaged safetensors header ({err})") from None
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    return meta if isinstance(meta, dict) else {}


def _load_safetensors(data: bytes, where: str):
    meta = _safetensors_meta(data, where)
    try:
        arrays = st.load(data)
    except Exception as err:  # noqa: BLE001 - safetensors raises its own error types
        raise UnsafeFileError(f"{where}: damaged safetensors file ({err})") from None
    if meta.get("format") != FORMAT:  # any other safetensors file: its tensors by name, sorted
        return OrderedDict((k, Tensor(arrays[k], dtype=arrays[k].dtype)) for k in sorted(arrays))
    if meta.get("format_version") != FORMAT_VERSION:
        raise UnsafeFileError(f"{where}: convolve.save format version "
                              f"{meta.get('format_version')!r}, this convolve reads "
                              f"{FORMAT_VERSION}")
    try:
        skeleton = json.loads(meta.get("skeleton", ""))
    except (ValueError, RecursionError) as err:
        raise UnsafeFileError(f"{where}: damaged convolve.save skeleton ({err})") from None
    return _Decoder(arrays, where).decode(skeleton)


def _read_bytes(f) -> tuple[bytes, str]:
    if isinstance(f, (str, os.PathLike)):
        if os.path.isdir(f):
            raise IsADirectoryError(f"load: {os.fspath(f)} is a directory, expected a file")
        with open(f, "rb") as fh:
            return fh.read(), f"load: {os.fspath(f)}"
    if hasattr(f, "read"):
        data = f.read()
        if not isinstance(data, bytes):
            raise TypeError(f"load: f must be opened in binary mode, read() gave "
                            f"{type(data).__name__}")
        return data, f"load: {getattr(f, 'name', type(f).__name__)}"
    raise TypeError(f"load: f must be a path or a readable binary file, received "
                    f"{type(f).__name__}")


def load(f, map_location=None, pickle_module=None, *, weights_only=None, mmap=None,
         **pickle_load_args):
    """Load what :func:`save` or ``torch.save`` wrote to ``f`` (a path or a binary file).

    Tensors come back as convolve Tensors (arrays saved as NumPy arrays stay arrays).
    Nothing in the file is ever executed, whatever ``weights_only`` says: PyTorch files are
    read by a code-free interpreter that refuses every global but tensor rebuilds, with a
    one-line :class:`UnsafeFileError` (a ValueError) naming it. ``map_location`` may be None,
    'cpu', a dict onto 'cpu' or a callable (everything loads onto the CPU); other devices are
    refused. ``mmap`` and ``pickle_load_args`` are accepted and ignored.
    """
    _check_map_location(map_location)
    if pickle_module is not None:
        raise TypeError(f"load: pickle_module={pickle_module!r} is not supported: convolve.load "
                        f"never unpickles")
    if weights_only not in (None, True, False):
        raise TypeError(f"load: weights_only must be a bool or None, received {weights_only!r}")
    data, where = _read_bytes(f)
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return read_zip(io.BytesIO(data), where)
    if data[:3] == b"\x80\x02\x8a":  # legacy torch.save: a pickled magic number first
        return read_legacy(data, where)
    return _load_safetensors(data, where)

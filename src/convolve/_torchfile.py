"""Read PyTorch's ``torch.save`` files (the zip format and the legacy one) into convolve
Tensors, without the pickle module and without running any code from the file.

The pickle inside is interpreted by :mod:`convolve._torch_pickle`; the only globals it may
name are tensor rebuilds, storage types and ``collections.OrderedDict``, each mapped to a
NumPy reconstruction here. Sizes are checked against the bytes actually present before
anything is allocated, so a lying header costs an error, not memory.
"""

from __future__ import annotations

import re
import zipfile
from collections import Counter, OrderedDict

import numpy as np

from ._torch_pickle import Allowed, UnsafeFileError, unpickle
from .tensor import Tensor

__all__ = ["UnsafeFileError", "read_legacy", "read_zip"]

MAX_PICKLE_BYTES = 256 * 2**20   # data.pkl of a state dict is kilobytes
MAX_EXPANDED = 2**24             # elements a view may have beyond its storage (stride 0)
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_KEY = re.compile(r"[A-Za-z0-9_.]{1,64}")
_STORAGE_DTYPES = {
    "FloatStorage": "f4", "DoubleStorage": "f8", "HalfStorage": "f2", "BFloat16Storage": "bf16",
    "LongStorage": "i8", "IntStorage": "i4", "ShortStorage": "i2", "CharStorage": "i1",
    "ByteStorage": "u1", "BoolStorage": "b1",
}


class StorageType:
    """Stand-in for ``torch.<Name>Storage``: a dtype, never called."""

    def __init__(self, name: str):
        self.name, self.kind = name, _STORAGE_DTYPES[name]
        self.itemsize = 2 if self.kind == "bf16" else np.dtype(self.kind).itemsize


class Storage:
    """A flat array (bfloat16 widened to float32); ``array`` is None in a sizing pass."""

    def __init__(self, stype: StorageType, numel: int, array):
        self.stype, self.numel, self.array = stype, numel, array


def decode(raw: bytes, stype: StorageType, big_endian: bool) -> np.ndarray:
    """Storage bytes -> a native-endian 1-D array (bfloat16 -> float32, exactly)."""
    order = ">" if big_endian else "<"
    if stype.kind == "bf16":
        half = np.frombuffer(raw, order + "u2").astype(np.uint32)
        return (half << 16).view(np.float32)
    dtype = np.dtype(stype.kind).newbyteorder(order)
    return np.frombuffer(raw, dtype).astype(dtype.newbyteorder("="))


# ------------------------------------------------------------------- allowed callables
def _check_shape(where: str, offset, size, stride, numel: int) -> None:
    ints = lambda v: isinstance(v, tuple) and all(
        isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in v)
    if not isinstance(offset, int) or offset < 0 or not ints(size) or not ints(stride) \
            or len(size) != len(stride):
        raise UnsafeFileError(f"{where}: corrupt tensor record (offset {offset!r}, size "
                              f"{size!r}, stride {stride!r})")
    count = int(np.prod(size, dtype=object)) if size else 1
    if count == 0:
        return
    last = offset + sum((n - 1) * s for n, s in zip(size, stride))
    if last >= numel:
        raise UnsafeFileError(f"{where}: tensor of size {list(size)} (stride {list(stride)}, "
                              f"offset {offset}) reaches element {last} of a storage of {numel}")
    if count > numel + MAX_EXPANDED:
        raise UnsafeFileError(f"{where}: expanded tensor of {count} elements over a storage of "
                              f"{numel} is over the limit of {MAX_EXPANDED} extra elements")


def _make_rebuild(where: str):
    def rebuild(storage, offset, size, stride, requires_grad=False, backward_hooks=None,
                metadata=None):
        if not isinstance(storage, Storage):
            raise UnsafeFileError(f"{where}: tensor rebuild without a storage")
        _check_shape(where, offset, size, stride, storage.numel)
        if storage.array is None:  # sizing pass of the legacy format
            return None
        base = storage.array
        view = np.lib.stride_tricks.as_strided(
            base[offset:], shape=size, strides=[s * base.itemsize for s in stride])
        data = np.array(view, copy=True)
        grad = requires_grad is True and data.dtype.kind == "f"
        return Tensor(data, dtype=data.dtype, requires_grad=grad)
    return rebuild


def _make_parameter(where: str):
    def parameter(data, requires_grad=True, backward_hooks=None, state=None):
        if data is None:
            return None
        if not isinstance(data, Tensor) or not isinstance(requires_grad, bool):
            raise UnsafeFileError(f"{where}: corrupt parameter record")
        from .nn.module import Parameter
        floating = data.data.dtype.kind == "f"
        return Parameter(data.data, requires_grad=requires_grad and floating, dtype=data.dtype)
    return parameter


def _ordered_dict(*args):
    if args and (len(args) > 1 or not isinstance(args[0], list)):
        raise UnsafeFileError("OrderedDict: expected no arguments or one list of pairs")
    return OrderedDict(*args)


def _counter(counts=None):
    """collections.Counter (MultiStepLR's milestones) from a dict of counts."""
    if counts is not None and not isinstance(counts, dict):
        raise UnsafeFileError("Counter: expected a dict of counts")
    return Counter(counts or {})


def _size(dims=()):
    if not isinstance(dims, (tuple, list)) or not all(
            isinstance(d, int) and not isinstance(d, bool) for d in dims):
        raise UnsafeFileError("torch.Size: expected a tuple of ints")
    from .tensor_methods import Size
    return Size(dims)


def _set(items=()):
    try:
        return set(items) if isinstance(items, (list, tuple)) else None
    except TypeError:
        raise UnsafeFileError("set: unhashable items") from None


def _bytes(text, encoding="latin1"):
    """Protocol 2 writes bytes as ``_codecs.encode(text, 'latin1')``."""
    if not isinstance(text, str) or not isinstance(encoding, str) or encoding != "latin1":
        raise UnsafeFileError("_codecs.encode: expected (str, 'latin1')")
    return text.encode("latin1")


def _rules(where: str):
    """find_class and build for the interpreter, refusing everything not listed."""
    allowed = {
        "torch._utils._rebuild_tensor_v2": _make_rebuild(where),
        "torch._utils._rebuild_tensor": _make_rebuild(where),
        "torch._utils._rebuild_parameter": _make_parameter(where),
        "torch._utils._rebuild_parameter_with_state": _make_parameter(where),
        "collections.OrderedDict": _ordered_dict, "collections.Counter": _counter,
        "torch.Size": _size, "builtins.set": _set, "__builtin__.set": _set,
        "_codecs.encode": _bytes,
    }

    def find_class(module: str, name: str):
        if module == "torch" and name in _STORAGE_DTYPES:
            return StorageType(name)
        full = f"{module}.{name}"
        if module == "torch" and name.endswith("Storage"):
            raise UnsafeFileError(f"{where}: tensors of storage type {full} are not supported; "
                                  f"convolve reads {', '.join(sorted(_STORAGE_DTYPES))}")
        if full in allowed:
            return Allowed(full, allowed[full])
        raise UnsafeFileError(
            f"{where}: refusing to load the global {full!r}: only tensors, numbers, strings "
            f"and containers are read, no code runs (for a pickled model, save its "
            f"state_dict() with PyTorch and load that)")

    def build(obj, state):
        if isinstance(obj, OrderedDict) and isinstance(state, dict) and set(state) <= {
                "_metadata"}:
            obj.__dict__.update(state)
            return obj
        raise UnsafeFileError(f"{where}: refusing BUILD (setstate) on a "
                              f"{type(obj).__name__}; only state-dict metadata is read")
    return find_class, build


def _storage_record(where: str, pid, length: int):
    if not isinstance(pid, tuple) or len(pid) != length or not isinstance(pid[0], str) \
            or pid[0] != "storage":
        raise UnsafeFileError(f"{where}: unsupported persistent id {str(pid)[:80]!r}")
    stype, key, location, numel = pid[1:5]
    if not isinstance(stype, StorageType) or not isinstance(key, str) \
            or not _KEY.fullmatch(key) or not isinstance(numel, int) or numel < 0 \
            or not isinstance(location, str):
        raise UnsafeFileError(f"{where}: corrupt storage record {str(pid)[:80]!r}")
    return stype, key, numel


# ------------------------------------------------------------------------ the zip format
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, KeyError,
               NotImplementedError, RuntimeError)


def _entry(zf: zipfile.ZipFile, name: str, where: str, size: int, expected=None) -> bytes:
    """The bytes of ``name``, after checking its declared size against the archive's."""
    try:
        info = zf.getinfo(name)
    except KeyError:
        raise UnsafeFileError(f"{where}: the archive has no entry {name!r}") from None
    if expected is not None and info.file_size != expected:
        raise UnsafeFileError(f"{where}: {name} holds {info.file_size} bytes, its tensor record "
                              f"declares {expected}")
    if info.compress_type != zipfile.ZIP_STORED or info.header_offset + info.compress_size \
            > size or info.file_size != info.compress_size:
        raise UnsafeFileError(f"{where}: entry {name} declares {info.file_size} bytes that the "
                              f"{size}-byte archive does not hold uncompressed")
    try:
        return zf.read(name)
    except _ZIP_ERRORS as err:
        raise UnsafeFileError(f"{where}: corrupt or truncated PyTorch zip file ({err})") from None


def _archive_prefix(zf: zipfile.ZipFile, where: str) -> str:
    names = zf.namelist()
    pkl = [n for n in names if n.endswith("data.pkl") and n.count("/") <= 1]
    if not pkl:
        hint = " (a TorchScript archive: save a state_dict instead)" if any(
            n.endswith("constants.pkl") for n in names) else ""
        raise UnsafeFileError(f"{where}: zip archive without data.pkl, not a torch.save "
                              f"file{hint}")
    return pkl[0][:-len("data.pkl")]


def read_zip(fileobj, where: str):
    """The object saved by ``torch.save`` in ``fileobj`` (a seekable binary file)."""
    size = fileobj.seek(0, 2)
    fileobj.seek(0)
    try:
        zf = zipfile.ZipFile(fileobj)
    except _ZIP_ERRORS as err:
        raise UnsafeFileError(f"{where}: corrupt or truncated PyTorch zip file ({err})") from None
    with zf:
        prefix = _archive_prefix(zf, where)
        big = prefix + "byteorder" in zf.namelist() and \
            _entry(zf, prefix + "byteorder", where, size).strip() == b"big"
        info = zf.getinfo(prefix + "data.pkl")
        if info.file_size > MAX_PICKLE_BYTES:
            raise UnsafeFileError(f"{where}: data.pkl declares {info.file_size} bytes, over the "
                                  f"limit of {MAX_PICKLE_BYTES}")
        pkl = _entry(zf, prefix + "data.pkl", where, size)
        storages: dict = {}

        def persistent_load(pid):
            stype, key, numel = _storage_record(where, pid, 5)
            if key not in storages:
                raw = _entry(zf, f"{prefix}data/{key}", where, size, numel * stype.itemsize)
                storages[key] = Storage(stype, numel, decode(raw, stype, big))
            if storages[key].stype.kind != stype.kind or storages[key].numel != numel:
                raise UnsafeFileError(f"{where}: storage {key} is declared with two dtypes/sizes")
            return storages[key]

        find_class, build = _rules(where)
        obj, _ = unpickle(pkl, where=where, find_class=find_class,
                          persistent_load=persistent_load, build=build)
    return obj


# ----------------------------------------------------------------- the legacy format
def _legacy_header(data: bytes, where: str) -> int:
    """Check the magic number, protocol and byte order; return where the main pickle starts."""
    def nothing(module, name):
        raise UnsafeFileError(f"{where}: unexpected global {module}.{name} in the header")

    magic, pos = unpickle(data, 0, where=where, find_class=nothing)
    if magic != LEGACY_MAGIC:
        raise UnsafeFileError(f"{where}: not a PyTorch file (wrong magic number)")
    protocol, pos = unpickle(data, pos, where=where, find_class=nothing)
    info, pos = unpickle(data, pos, where=where, find_class=nothing)
    little = info.get("little_endian") if isinstance(info, dict) else None
    if protocol != 1001 or little is not True:
        raise UnsafeFileError(f"{where}: unsupported legacy PyTorch file (protocol "
                              f"{protocol!r}, little_endian={little!r})")
    return pos


def _legacy_storages(data: bytes, pos: int, keys, records: dict, where: str) -> dict:
    """Read the raw storages that follow the pickles: per key, an int64 count and the bytes."""
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys) \
            or set(keys) != set(records):
        raise UnsafeFileError(f"{where}: the storage key list does not match the tensors")
    out = {}
    for key in keys:
        stype, numel = records[key]
        if pos + 8 > len(data) or int.from_bytes(data[pos:pos + 8], "little") != numel:
            raise UnsafeFileError(f"{where}: storage {key} is truncated or has a wrong size")
        end = pos + 8 + numel * stype.itemsize
        if end > len(data):
            raise UnsafeFileError(f"{where}: storage {key} declares {numel} elements beyond the "
                                  f"end of the file")
        out[key] = Storage(stype, numel, decode(data[pos + 8:end], stype, False))
        pos = end
    return out


def read_legacy(data: bytes, where: str):
    """The object saved by ``torch.save(..., _use_new_zipfile_serialization=False)``."""
    start = _legacy_header(data, where)
    find_class, build = _rules(where)
    records: dict = {}

    def sizing(pid):
        stype, key, numel = _storage_record(where, pid, 6)
        if pid[5] is not None:
            raise UnsafeFileError(f"{where}: legacy storage views are not supported")
        if records.setdefault(key, (stype, numel))[1] != numel:
            raise UnsafeFileError(f"{where}: storage {key} is declared with two sizes")
        return Storage(stype, numel, None)

    _, pos = unpickle(data, start, where=where, find_class=find_class,
                      persistent_load=sizing, build=build)
    keys, pos = unpickle(data, pos, where=where, find_class=find_class)
    storages = _legacy_storages(data, pos, keys, records, where)
    obj, _ = unpickle(data, start, where=where, find_class=find_class,
                      persistent_load=lambda pid: storages[pid[2]], build=build)
    return obj

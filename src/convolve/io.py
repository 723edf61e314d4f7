"""Checkpoints as safetensors files: arrays in the tensor section, everything else as JSON.

A checkpoint holds the model's state dict (``model/<key>``), the optimizer's and scheduler's
state (nested dicts flattened to arrays plus a JSON skeleton), the epoch, the RNG states
(``convolve.random`` and the data loader's), a JSON description of the architecture (so
:func:`load_model` can rebuild the model) and free-form ``extra`` data. No pickle anywhere.
Files are written atomically and safely by :mod:`convolve._fileio` (temporary file in the
same directory, fsync, ``os.replace``; symbolic links and special files are refused).
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from pathlib import Path

import numpy as np
import safetensors.numpy as st
from safetensors import safe_open

from . import limits
from . import random as _random
from ._fileio import atomic_write
from .errors import CheckpointError, LimitError
from .spec_io import check_tree
from .tensor import Tensor

__all__ = [
    "CheckpointError",
    "flatten_state",
    "load_checkpoint",
    "load_model",
    "restore_checkpoint",
    "save_checkpoint",
    "save_safetensors",
    "unflatten_state",
]

FORMAT = "convolve.checkpoint"
FORMAT_VERSION = "1"


# --------------------------------------------------------------- nested state <-> arrays + JSON
def flatten_state(state, prefix: str, arrays: dict):
    """Nested dicts/lists/tuples of arrays and scalars -> a JSON skeleton; arrays go to ``arrays``.

    Dict keys keep their type (optimizer states use int keys), NumPy scalars keep their dtype.
    """
    if isinstance(state, Tensor):
        state = state.data
    if isinstance(state, (np.ndarray, np.generic)):
        key = f"{prefix}{len(arrays)}"
        arrays[key] = _contiguous(np.asarray(state))
        return {"__array__" if isinstance(state, np.ndarray) else "__scalar__": key}
    if isinstance(state, dict):
        return {"__dict__": [[k, flatten_state(v, prefix, arrays)] for k, v in state.items()]}
    if isinstance(state, (list, tuple)):
        items = [flatten_state(v, prefix, arrays) for v in state]
        return {"__tuple__": items} if isinstance(state, tuple) else items
    if state is None or isinstance(state, (bool, int, float, str)):
        return state
    raise TypeError(f"flatten_state: cannot store a value of type {type(state).__name__} "
                    f"(under {prefix!r}); expected arrays, numbers, strings, lists or dicts")


def unflatten_state(skeleton, arrays: dict):
    """Inverse of :func:`flatten_state`."""
    if isinstance(skeleton, list):
        return [unflatten_state(v, arrays) for v in skeleton]
    if not isinstance(skeleton, dict):
        return skeleton
    if "__array__" in skeleton:
        return arrays[skeleton["__array__"]]
    if "__scalar__" in skeleton:
        return arrays[skeleton["__scalar__"]][()]
    if "__tuple__" in skeleton:
        return tuple(unflatten_state(v, arrays) for v in skeleton["__tuple__"])
    if "__dict__" in skeleton:
        return {k: unflatten_state(v, arrays) for k, v in skeleton["__dict__"]}
    return {k: unflatten_state(v, arrays) for k, v in skeleton.items()}


# ---------------------------------------------------------------------------- atomic writing
def _contiguous(a: np.ndarray) -> np.ndarray:
    """C-contiguous without promoting 0-d arrays to 1-d (as np.ascontiguousarray does)."""
    return a if a.flags.c_contiguous else np.ascontiguousarray(a)


def save_safetensors(path, arrays: dict, metadata: dict | None = None) -> Path:
    """Write ``arrays`` (+ string ``metadata``) to ``path`` atomically; return the path.

    Through :func:`convolve._fileio.atomic_write`: a temporary file in the same directory,
    fsync, ``os.replace``, so a crash leaves either the old file or the new one; a symbolic
    link or non-regular file at ``path`` is refused, not followed or replaced.
    """
    data = st.save({k: _contiguous(np.asarray(v)) for k, v in arrays.items()},
                   metadata=metadata)
    return atomic_write(path, data)


# ------------------------------------------------------------------------------- checkpoints
def _architecture_of(model, architecture):
    if architecture is not None:
        return architecture
    return getattr(model, "spec", None)


def save_checkpoint(path, model, optimizer=None, scheduler=None, epoch: int = 0, extra=None,
                    loader=None, architecture=None) -> Path:
    """Save model (+ optimizer, scheduler, loader) state, the epoch and RNG states to ``path``.

    ``architecture`` defaults to ``model.spec`` (set by :func:`convolve.models.build_model`);
    ``extra`` is any JSON-able structure, which may contain arrays.
    """
    if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or epoch < 0:
        raise ValueError(f"save_checkpoint: epoch must be an int >= 0, received {epoch!r}")
    state = model.state_dict()
    arrays = {f"model/{key}": np.asarray(value) for key, value in state.items()}
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "epoch": str(int(epoch)),
            "model_class": type(model).__name__, "model_keys": json.dumps(list(state)),
            "rng": json.dumps(_random.get_rng_state())}
    parts = {"optimizer": optimizer, "scheduler": scheduler, "loader": loader}
    for name, obj in parts.items():
        if obj is not None:
            meta[name] = json.dumps(flatten_state(obj.state_dict(), f"{name}/", arrays))
            meta[f"{name}_class"] = type(obj).__name__
    if extra is not None:
        meta["extra"] = json.dumps(flatten_state(extra, "extra/", arrays))
    arch = _architecture_of(model, architecture)
    if arch is not None:
        meta["architecture"] = json.dumps(arch)
    return save_safetensors(path, arrays, meta)


def _read(path: Path):
    if not path.exists():
        raise FileNotFoundError(f"load_checkpoint: no such file: {path}")
    if path.is_dir():
        raise CheckpointError(f"load_checkpoint: {path} is a directory, expected a checkpoint file")
    try:
        arrays = st.load_file(path)
        with safe_open(path, framework="numpy") as fh:
            meta = fh.metadata() or {}
    except Exception as err:  # noqa: BLE001 - safetensors raises its own error types
        raise CheckpointError(f"load_checkpoint: {path} is not a readable safetensors file "
                              f"(truncated or corrupted?): {err}") from None
    limits.check("metadata_bytes", sum(len(k) + len(v) for k, v in meta.items()),
                 f"load_checkpoint: {path}'s metadata")
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"load_checkpoint: {path} is a safetensors file but not a convolve "
                              f"checkpoint (metadata format={meta.get('format')!r})")
    if meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"load_checkpoint: {path} has format version "
                              f"{meta.get('format_version')!r}, this convolve reads {FORMAT_VERSION}")
    return arrays, meta


def _json_field(meta: dict, name: str, path: Path):
    """One metadata field parsed as JSON, bounded in depth (limit json_depth)."""
    try:
        value = json.loads(meta[name])
    except RecursionError:
        raise LimitError(f"load_checkpoint: {path}'s metadata field {name!r} is nested too "
                         f"deeply to parse") from None
    check_tree(value, f"load_checkpoint: {path}'s metadata field {name!r}", nodes=None)
    return value


def _expect(value, kind, what: str, path: Path):
    if not isinstance(value, kind) or isinstance(value, bool):
        raise CheckpointError(f"load_checkpoint: {path} has damaged metadata: {what} must be "
                              f"{getattr(kind, '__name__', 'of another type')}, "
                              f"received {type(value).__name__}")
    return value


def _check_rng(state, path: Path):
    try:
        np.random.PCG64().state = state
    except (TypeError, ValueError, KeyError, OverflowError) as err:
        raise CheckpointError(f"load_checkpoint: {path} has a damaged RNG state: {err}") from None
    return state


def _epoch(path: Path, text) -> int:
    """The stored epoch: decimal digits only (no sign, spaces or underscores), at most 12."""
    if not isinstance(text, str) or not re.fullmatch(r"[0-9]{1,12}", text):
        shown = text if not isinstance(text, str) or len(text) <= 40 else text[:40] + "..."
        raise CheckpointError(f"load_checkpoint: {path} stores epoch {shown!r}; expected a "
                              f"non-negative integer")
    return int(text)


def load_checkpoint(path) -> dict:
    """Read a checkpoint -> dict with keys model (OrderedDict of arrays), optimizer, scheduler,
    loader (state dicts or None), epoch, rng, architecture, extra, model_class, path.

    Raises FileNotFoundError for a missing file, CheckpointError (a ValueError naming the
    file) for a truncated, corrupted or foreign file or damaged metadata, and LimitError for
    metadata over the size or depth limits.
    """
    path = Path(path)
    arrays, meta = _read(path)
    try:
        out = {"path": str(path), "epoch": _epoch(path, meta.get("epoch")),
               "model_class": meta.get("model_class"),
               "rng": _check_rng(_json_field(meta, "rng", path), path)}
        keys = _expect(_json_field(meta, "model_keys", path), list, "model_keys", path)
        out["model"] = OrderedDict((k, arrays[f"model/{k}"]) for k in keys)
        for name in ("optimizer", "scheduler", "loader", "extra"):
            out[name] = unflatten_state(_json_field(meta, name, path), arrays) \
                if name in meta else None
        arch = _json_field(meta, "architecture", path) if "architecture" in meta else None
        out["architecture"] = None if arch is None else _expect(arch, dict, "architecture", path)
        for name in ("optimizer", "scheduler", "loader", "extra"):
            if out[name] is not None:
                _expect(out[name], dict, name, path)
    except (KeyError, ValueError, TypeError, AttributeError) as err:
        if isinstance(err, (CheckpointError, LimitError)):
            raise
        raise CheckpointError(f"load_checkpoint: {path} has damaged metadata: "
                              f"{type(err).__name__}: {err}") from None
    return out


def restore_checkpoint(ckpt, model, optimizer=None, scheduler=None, loader=None,
                       restore_rng: bool = True) -> dict:
    """Load a checkpoint (path or dict from :func:`load_checkpoint`) into live objects."""
    if not isinstance(ckpt, dict):
        ckpt = load_checkpoint(ckpt)
    model.load_state_dict(ckpt["model"])
    for name, obj in (("optimizer", optimizer), ("scheduler", scheduler), ("loader", loader)):
        if obj is None:
            continue
        if ckpt[name] is None:
            raise CheckpointError(f"restore_checkpoint: {ckpt['path']} holds no {name} state")
        obj.load_state_dict(ckpt[name])
    if restore_rng:
        _random.set_rng_state(ckpt["rng"])
    return ckpt


def load_model(path):
    """Rebuild the model from the checkpoint's architecture description and load its weights
    (eval mode). ``path`` may also be a dict returned by :func:`load_checkpoint`."""
    from .models import build_model

    ckpt = path if isinstance(path, dict) else load_checkpoint(path)
    if ckpt["architecture"] is None:
        raise CheckpointError(f"load_model: {ckpt['path']} stores no architecture description; "
                              f"build the model yourself and use load_checkpoint()['model']")
    try:
        model = build_model(ckpt["architecture"])
        model.load_state_dict(ckpt["model"])
    except (ValueError, KeyError, TypeError) as err:
        kind = type(err) if isinstance(err, LimitError) else CheckpointError
        raise kind(f"load_model: {ckpt['path']}: {str(err).strip(chr(39))}") from None
    model.eval()
    return model

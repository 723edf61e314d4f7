"""A finished run folder as a :class:`RunState`: what ``convolve dashboard`` serves.

From the folder's files, each optional (what is missing or damaged becomes a one-line
note on the page and on stderr, never a failure, as long as something is there):

- ``history.json`` (else the epoch lines of ``log.jsonl``): the per-epoch curves, the test;
- ``live.jsonl`` (written by ``convolve train --live``): the batch windows, layer norms,
  the last epoch's confusion matrix and misclassified samples, the final status;
- ``best.safetensors`` (else ``last``): the first conv layer's filters, and, when the
  run's dataset loads here, the feature maps of the pinned validation image and the
  images of the misclassified samples (the validation split is rebuilt from the settings
  in the checkpoint). Without ``live.jsonl`` the confusion matrix is computed from the
  checkpoint's model on that validation split.

Only JSON and safetensors are read: nothing in a run folder can execute code.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from . import dashboard_images as images
from .dashboard_state import RunState

__all__ = ["load_run", "read_jsonl"]

MAX_LINES = 200_000  # live.jsonl lines read at most (the writer keeps far fewer)
MAX_BYTES = 64 << 20  # a run file larger than this is not read (the writer's are far smaller)


def _too_large(path: Path, notes: list) -> bool:
    size = path.stat().st_size
    if size > MAX_BYTES:
        notes.append(f"{path.name} is {size} bytes, over the {MAX_BYTES}-byte limit: not read")
        return True
    return False


def read_jsonl(path: Path, limit: int = MAX_LINES) -> tuple:
    """(records that are JSON objects, count of lines that were not)."""
    records, bad = [], 0
    with open(path, encoding="utf-8", errors="replace") as fh:
        for n, line in enumerate(fh):
            if n >= limit:
                break
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except ValueError:
                bad += 1
                continue
            if isinstance(value, dict):
                records.append(value)
            else:
                bad += 1
    return records, bad


def _history(folder: Path, notes: list) -> tuple:
    """(epochs, test) from history.json, else log.jsonl."""
    path = folder / "history.json"
    if path.is_file() and not _too_large(path, notes):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, dict) and isinstance(data.get("epochs"), list):
                return [e for e in data["epochs"] if isinstance(e, dict)], data.get("test")
        except (ValueError, UnicodeDecodeError, OSError):
            pass
        notes.append("history.json is unreadable: curves from log.jsonl")
    log = folder / "log.jsonl"
    if not log.is_file():
        notes.append("no history.json or log.jsonl: no per-epoch curves")
        return [], None
    if _too_large(log, notes):
        return [], None
    records, bad = read_jsonl(log)
    if bad:
        notes.append(f"log.jsonl: {bad} unreadable line(s) skipped")
    epochs = [r for r in records if "event" not in r and isinstance(r.get("epoch"), int)]
    test = next((r for r in records if r.get("event") == "test"), None)
    return epochs, test


def _live(folder: Path, run: RunState, notes: list) -> dict:
    """Fill ``run`` from live.jsonl; returns its start record and last view (or {})."""
    path = folder / "live.jsonl"
    if not path.is_file():
        notes.append("no live.jsonl (the run was trained without --live): no batch curves, "
                     "layer norms or per-epoch confusion matrices")
        return {}
    if _too_large(path, notes):
        return {}
    records, bad = read_jsonl(path)
    if bad:
        notes.append(f"live.jsonl: {bad} unreadable line(s) skipped")
    start, view = {}, None
    for r in records:
        kind = r.get("kind")
        if kind == "start" and isinstance(r.get("layers"), list):
            start = r
        elif kind == "batch":
            run.add_batch({k: v for k, v in r.items() if k != "kind"})
        elif kind == "view" and isinstance(r.get("confusion"), list):
            view = r
        elif kind == "end" and r.get("status") in ("finished", "stopped", "interrupted"):
            run.set(status=r["status"])
    run.set(layers=[str(n) for n in start.get("layers", [])])
    return {"start": start, "view": view}


def load_run(folder, load_data: bool = True) -> RunState:
    """The dashboard state of a finished run folder (see the module docstring)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"convolve dashboard: {folder} is not a folder (expected a run "
                                f"folder written by `convolve train`)")
    names = ("history.json", "log.jsonl", "live.jsonl", "best.safetensors", "last.safetensors")
    if not any((folder / n).is_file() for n in names):
        raise FileNotFoundError(f"convolve dashboard: {folder} holds no run files (none of "
                                f"{', '.join(names)})")
    run, notes = RunState(folder.resolve().name, status="finished"), []
    epochs, test = _history(folder, notes)
    run.set(history=epochs, test=test if isinstance(test, dict) else None)
    live = _live(folder, run, notes)
    _from_checkpoint(folder, run, live, notes, load_data)
    run.set(notes=notes, progress={"epoch": len(epochs), "epochs": len(epochs), "eta_s": 0.0})
    return run


def _from_checkpoint(folder: Path, run: RunState, live: dict, notes: list,
                     load_data: bool) -> None:
    from ..io import load_checkpoint, load_model

    path = next((folder / n for n in ("best.safetensors", "last.safetensors")
                 if (folder / n).is_file()), None)
    if path is None:
        notes.append("no checkpoint: no filters or feature maps")
        return
    try:
        ckpt = load_checkpoint(path)
        model = load_model(ckpt)
    except (ValueError, OSError, KeyError, TypeError) as err:
        notes.append(f"{path.name} cannot be loaded ({' '.join(str(err).split())[:200]}): "
                     f"no filters or feature maps")
        return
    convs = images.conv_layers(model)
    if not run.layers:
        run.set(layers=[n for n, _ in images.param_layers(model)])
        from .._data_cli import data_info

        run.set(classes=data_info(ckpt).get("classes"))  # names for the confusion matrix
    if convs:
        run.set_pictures(filters=(convs[0][0], np.array(convs[0][1].weight.data)))
    else:
        notes.append("the model has no convolution layer: no filters or feature maps")
    _with_data(run, model, convs, _val_data(ckpt, notes) if load_data else None, live, path)


def _with_data(run: RunState, model, convs: list, val, live: dict, path: Path) -> None:
    """Feature maps of the pinned validation image; the confusion matrix and mistakes (from
    live.jsonl, else computed from the checkpoint's model); without data, only numbers."""
    if val is None:
        if live.get("view"):
            run.set_epoch_view(_view(live["view"]))
        return
    x, y = val
    pinned = live.get("start", {}).get("pinned", 0)
    pinned = pinned if isinstance(pinned, int) and 0 <= pinned < len(x) else 0
    if convs:
        from .monitor import feature_maps

        run.set_pictures(maps=(x[pinned], feature_maps(model, convs, x[pinned])))
    if live.get("view"):
        run.set_epoch_view(_view(live["view"]), images_of=lambda i: x[i])
    else:
        from ..train import predict

        view = images.epoch_view(predict(model, x), y)
        run.set_epoch_view({"epoch": path.name, **view}, lambda i: x[i])


def _view(record: dict) -> dict:
    wrong = [w for w in record.get("misclassified") or [] if isinstance(w, dict)
             and isinstance(w.get("index"), int)]
    return {"epoch": record.get("epoch"), "confusion": record["confusion"],
            "misclassified": wrong}


def _val_data(ckpt: dict, notes: list):
    """The run's validation (x, y) in the model's input shape, or None (noted)."""
    from .. import _data_cli as dcli
    from .._train_run import val_part
    from ..cli import CLIError

    extra = ckpt.get("extra") if isinstance(ckpt.get("extra"), dict) else {}
    name = (extra.get("data") or {}).get("name") if isinstance(extra.get("data"), dict) else None
    if not isinstance(name, str):
        notes.append("the checkpoint does not name its dataset: no feature maps or "
                     "misclassified images")
        return None
    try:
        x, y = val_part(ckpt, name, None)
        shape = tuple((ckpt.get("architecture") or {}).get("input_shape") or x.shape[1:])
        view = dcli.inputs(x, shape, name, dcli.normalize_stats(ckpt))
        return view[np.arange(len(view))], y  # the validation part: small, read once
    except (CLIError, ValueError, OSError, ImportError) as err:
        notes.append(f"validation data of {name} not available "
                     f"({' '.join(str(err).split())[:200]}): no feature maps or misclassified "
                     f"images")
        return None

"""What the training dashboard shows of one run, shared by the training thread and the
server's threads: a :class:`RunState`.

The training side (:class:`convolve.live.monitor.LiveMonitor`, or the loader of a finished
run folder) calls the ``set_*``/``add_*`` methods; the server reads :meth:`RunState.snapshot`
(the whole state, JSON-ready) and :meth:`RunState.since` (what changed after a client's
cursor, for Server-Sent Events). Raw arrays are kept as they arrive and turned into PNG
data URLs only when a page asks (once per change), so training pays for a copy, not for
the encoding. The batch-window series is bounded: past ``max_points`` points every other
one is dropped and only every ``stride``-th new one is kept (the whole run stays in view;
clients then get a fresh snapshot).
"""

from __future__ import annotations

import math
import threading
import time

import numpy as np

from . import dashboard_images as images

__all__ = ["RunState", "clean"]


def clean(value):
    """``value`` with NaN/Inf floats as None and NumPy scalars as Python numbers (the
    pages' JSON is strict)."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


class RunState:
    """One run's curves, pictures and status; thread-safe."""

    def __init__(self, name: str, status: str = "running", max_points: int = 2000):
        self._cond = threading.Condition()
        self.name, self.status, self.max_points = name, status, int(max_points)
        self.version = self.generation = 0
        self.history, self.batches, self.notes = [], [], []
        self.layers, self.classes = [], None
        self.progress, self.test, self.epoch_view = {}, None, None
        self.stride, self._count = 1, 0
        self._filters = self._maps = None   # raw arrays: (layer, weight), (input, [(layer, out)])
        self._wrong_images = None           # callable index -> image array, or None
        self._encoded = {}                  # what -> (version, value)
        self._image_version = self._view_version = 0

    # ------------------------------------------------------------------ writers
    def _changed(self) -> None:
        self.version += 1
        self._cond.notify_all()

    def add_batch(self, record: dict) -> bool:
        """Add one batch-window record; False when the stride drops it."""
        with self._cond:
            self._count += 1
            kept = self._count % self.stride == 0
            if kept:
                self.batches.append(clean(record))
                if len(self.batches) > self.max_points:
                    self.batches = self.batches[1::2]
                    self.stride *= 2
                    self.generation += 1
            self._changed()
            return kept

    def set(self, **fields) -> None:
        """Set plain fields: status, progress, history, test, layers, classes, notes..."""
        with self._cond:
            for key, value in fields.items():
                setattr(self, key, clean(value))
            if "history" in fields:  # replaced, not appended to: clients start afresh
                self.generation += 1
            self._changed()

    def add_epoch(self, logs: dict) -> None:
        with self._cond:
            self.history.append(clean(logs))
            self._changed()

    def set_pictures(self, filters=None, maps=None) -> None:
        """filters: (layer name, weight array); maps: (input sample, [(layer, maps)])."""
        with self._cond:
            if filters is not None:
                self._filters = filters
            if maps is not None:
                self._maps = maps
            self._image_version += 1
            self._changed()

    def set_epoch_view(self, view: dict, images_of=None) -> None:
        """view: {"epoch", "confusion", "misclassified"}; images_of(index) -> sample."""
        with self._cond:
            self.epoch_view = clean(view)
            self._wrong_images = images_of
            self._view_version += 1
            self._changed()

    # ------------------------------------------------------------------ readers
    def _cached(self, what: str, version: int, make):
        hit = self._encoded.get(what)
        if hit is None or hit[0] != version:
            hit = (version, make())
            self._encoded[what] = hit
        return hit[1]

    def _pictures(self) -> dict:
        out = {"filters": None, "featuremaps": None}
        if self._filters is not None:
            layer, w = self._filters
            out["filters"] = {"layer": layer, "shape": list(np.shape(w)),
                              "tiles": images.filter_tiles(w)}
        if self._maps is not None:
            x, layers = self._maps
            out["featuremaps"] = {"input": images.image_tile(x), "layers": [
                {"layer": n, "shape": list(np.shape(m)), "tiles": images.feature_maps(m)}
                for n, m in layers]}
        return out

    def _view(self):
        if self.epoch_view is None:
            return None
        view = dict(self.epoch_view)
        wrong = [dict(w) for w in view.get("misclassified") or []]
        for w in wrong:
            if self._wrong_images is not None:
                try:
                    w["image"] = images.image_tile(self._wrong_images(w["index"]))
                except (IndexError, KeyError, ValueError, TypeError):
                    w["image"] = None
        view["misclassified"] = wrong
        return view

    def snapshot(self) -> dict:
        """Everything the page shows, JSON-ready."""
        with self._cond:
            state = {"name": self.name, "status": self.status, "history": list(self.history),
                     "batches": list(self.batches), "layers": list(self.layers),
                     "classes": self.classes, "progress": dict(self.progress),
                     "test": self.test, "notes": list(self.notes), "stride": self.stride,
                     "version": self.version}
            state.update(self._cached("pictures", self._image_version, self._pictures))
            state["epoch_view"] = self._cached("view", self._view_version, self._view)
            return state

    def since(self, cursor):
        """(message, cursor) for a client that has seen up to ``cursor`` (None: nothing):
        {"type": "snapshot", "state": ...} or {"type": "delta", ...}; message is None when
        nothing changed."""
        with self._cond:
            if cursor is None or cursor[0] != self.generation:
                return {"type": "snapshot", "state": self.snapshot()}, self._cursor()
            _, version, nb, nh, iv, vv = cursor
            if version == self.version:
                return None, cursor
            msg = {"type": "delta", "status": self.status, "progress": dict(self.progress),
                   "batches": self.batches[nb:], "history": self.history[nh:],
                   "test": self.test, "notes": list(self.notes), "version": self.version}
            if iv != self._image_version:
                msg.update(self._cached("pictures", self._image_version, self._pictures))
            if vv != self._view_version:
                msg["epoch_view"] = self._cached("view", self._view_version, self._view)
            return msg, self._cursor()

    def _cursor(self) -> tuple:
        return (self.generation, self.version, len(self.batches), len(self.history),
                self._image_version, self._view_version)

    def wait(self, version: int, timeout: float) -> None:
        """Block until the state's version differs from ``version`` (or ``timeout`` s)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self.version == version:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self._cond.wait(left)

    def summary(self) -> dict:
        """For comparing runs: name, status, per-epoch history, batch windows."""
        with self._cond:
            return {"name": self.name, "status": self.status, "history": list(self.history),
                    "batches": [{k: b.get(k) for k in ("step", "epoch", "loss", "accuracy")}
                                for b in self.batches], "test": self.test}

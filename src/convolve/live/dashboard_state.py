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
    def _encoded_once(self, what: str, version: int, make):
        """``make()`` (PNG encoding) for this version, cached; run without the lock so the
        training thread never waits for it."""
        with self._cond:
            hit = self._encoded.get(what)
        if hit is not None and hit[0] == version:
            return hit[1]
        value = make()
        with self._cond:
            self._encoded[what] = (version, value)
        return value

    @staticmethod
    def _pictures(filters, maps) -> dict:
        out = {"filters": None, "featuremaps": None}
        if filters is not None:
            layer, w = filters
            out["filters"] = {"layer": layer, "shape": list(np.shape(w)),
                              "tiles": images.filter_tiles(w)}
        if maps is not None:
            x, layers = maps
            out["featuremaps"] = {"input": images.image_tile(x), "layers": [
                {"layer": n, "shape": list(np.shape(m)), "tiles": images.feature_maps(m)}
                for n, m in layers]}
        return out

    @staticmethod
    def _view(view, images_of):
        if view is None:
            return None
        view = dict(view)
        wrong = [dict(w) for w in view.get("misclassified") or []]
        for w in wrong:
            if images_of is not None:
                try:
                    w["image"] = images.image_tile(images_of(w["index"]))
                except (IndexError, KeyError, ValueError, TypeError):
                    w["image"] = None
        view["misclassified"] = wrong
        return view

    def _images(self, pictures: tuple | None, view: tuple | None) -> dict:
        """The encoded pictures and/or epoch view of the versions captured under the lock:
        pictures = (version, filters, maps), view = (version, view, images_of)."""
        out = {}
        if pictures is not None:
            v, filters, maps = pictures
            out.update(self._encoded_once("pictures", v,
                                          lambda: self._pictures(filters, maps)))
        if view is not None:
            v, raw, images_of = view
            out["epoch_view"] = self._encoded_once("view", v,
                                                   lambda: self._view(raw, images_of))
        return out

    def _captured(self) -> tuple:
        return ((self._image_version, self._filters, self._maps),
                (self._view_version, self.epoch_view, self._wrong_images))

    def _plain(self) -> tuple:
        """Under the lock: (the state without pictures, raw pictures, raw view, cursor)."""
        state = {"name": self.name, "status": self.status, "history": list(self.history),
                 "batches": list(self.batches), "layers": list(self.layers),
                 "classes": self.classes, "progress": dict(self.progress), "test": self.test,
                 "notes": list(self.notes), "stride": self.stride, "version": self.version}
        return (state, *self._captured(), self._cursor())

    def snapshot(self) -> dict:
        """Everything the page shows, JSON-ready."""
        with self._cond:
            state, pictures, view, _ = self._plain()
        state.update(self._images(pictures, view))
        return state

    def since(self, cursor):
        """(message, cursor) for a client that has seen up to ``cursor`` (None: nothing):
        {"type": "snapshot", "state": ...} or {"type": "delta", ...}; message is None when
        nothing changed."""
        with self._cond:
            if cursor is None or cursor[0] != self.generation:
                state, pictures, view, new_cursor = self._plain()
                msg = {"type": "snapshot", "state": state}
            else:
                _, version, nb, nh, iv, vv = cursor
                if version == self.version:
                    return None, cursor
                msg = {"type": "delta", "status": self.status, "progress": dict(self.progress),
                       "batches": self.batches[nb:], "history": self.history[nh:],
                       "test": self.test, "notes": list(self.notes), "version": self.version}
                pictures, view = self._captured()
                pictures = pictures if iv != self._image_version else None
                view = view if vv != self._view_version else None
                new_cursor = self._cursor()
        msg.get("state", msg).update(self._images(pictures, view))
        return msg, new_cursor

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

"""``convolve train --live``: the callback that feeds the training dashboard, and the run.

:class:`LiveMonitor` is a training callback. It does no work per batch beyond reading a
clock: every ``interval`` seconds (0.25 by default) it records one *batch window* (the mean
training loss and accuracy since the previous window, the learning rate, samples/s, the
ETA, and the L2 norm of every layer's weights and gradients); once a second it also copies
the first conv layer's filters and runs the pinned validation image (sample ``pinned`` of
the validation data) through the model for the feature maps of every conv layer. At each
epoch end it adds the epoch's metrics and, from the model outputs that validation already
computed (captured by a forward hook, no second pass), the confusion matrix and the most
confidently misclassified validation images. Everything goes to a :class:`RunState`
(served by :mod:`convolve.live.dashboard`) and, as JSON lines, to ``live.jsonl`` in the run
folder (what ``convolve dashboard`` shows later; see :mod:`convolve.live.dashboard_load`),
whose "end" line records the seconds training took and the seconds spent in this callback.

:func:`run_live` runs ``convolve train`` with the dashboard: the server starts before the
data loads (a port in use fails at once), the URL goes to stderr, and after training the
page stays up (status "finished") for ``--live-linger`` seconds: by default until Ctrl-C
when stdin is a terminal, not at all otherwise (scripts, CI). Ctrl-C during training ends
the run as without ``--live`` (exit status 130; checkpoint writes are atomic).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from .._fileio import atomic_write, open_append
from ..callbacks import Callback
from . import dashboard_images as images
from .dashboard_state import RunState, clean

__all__ = ["LiveMonitor", "run_live"]

PICTURES_EVERY = 1.0  # seconds between updates of the filters and feature maps


class LiveMonitor(Callback):
    """Feeds ``run`` (a :class:`RunState`) while training; see the module docstring.
    ``val``: the validation (x, y) arrays (or None); ``log_path``: the live.jsonl to write
    (None: none)."""

    def __init__(self, run: RunState, val=None, log_path=None, interval: float = 0.25,
                 pinned: int = 0):
        if interval <= 0:
            raise ValueError(f"LiveMonitor: interval must be > 0 seconds, received {interval}")
        self.run, self.interval, self.pinned = run, float(interval), int(pinned)
        self.val, self.log_path = val, None if log_path is None else Path(log_path)
        self._hook, self._busy, self._logits = None, False, []
        self.busy_s = 0.0  # seconds spent in this callback (the training thread's overhead)

    # ------------------------------------------------------------------------ hooks
    def on_train_begin(self, state):
        t = time.perf_counter()
        self._train_begin(state)
        self.busy_s += time.perf_counter() - t

    def _train_begin(self, state):
        model = state.model
        self._convs, self._layers = images.conv_layers(model), images.param_layers(model)
        self._x = self._pinned_sample(state)
        self._t0, self._step0, self._next = time.perf_counter(), state.step, 0.0
        self._next_pictures = self._t0 + PICTURES_EVERY
        self._total = state.epochs * (state.num_batches or 0)
        self.run.set(status="running", layers=[n for n, _ in self._layers],
                     history=list(state.history.epochs), notes=self._notes())
        if self.log_path is not None and not state.resumed:
            atomic_write(self.log_path, b"")
        self._write({"kind": "start", "resumed": bool(state.resumed), "epoch": state.epoch,
                     "epochs": state.epochs, "batches": state.num_batches,
                     "layers": self.run.layers, "pinned": self.pinned, "time": time.time()})
        self._hook = model.register_forward_hook(self._capture)
        self._pictures(model)
        self._mark = (0, 0, 0.0, time.perf_counter())

    def on_epoch_begin(self, state):
        self._logits = []
        self._mark = (0, 0, 0.0, time.perf_counter())

    def on_batch_end(self, state, logs):
        now = time.perf_counter()
        if now >= self._next:
            self._next = now + self.interval
            self._window(state, logs["batch"] + 1, now)
            self.busy_s += time.perf_counter() - now

    def on_epoch_end(self, state, logs):
        t = time.perf_counter()
        self._epoch_end(state, logs)
        self.busy_s += time.perf_counter() - t

    def _epoch_end(self, state, logs):
        self.run.add_epoch(logs)
        self._write({"kind": "epoch", **logs})
        if self.val is not None:
            view = self._epoch_view(state.model, logs["epoch"])
            self.run.set_epoch_view(view, images_of=lambda i, x=self.val[0]: x[i])
            self._write({"kind": "view", **view})
        self._logits = []
        self._pictures(state.model)

    def on_train_end(self, state):
        if self._hook is not None:
            self._hook.remove()
            self._hook = None
        reason = state.stop_reason or ""
        done = state.epoch >= state.epochs or reason.startswith("early stopping")
        status = "finished" if done else ("stopped" if reason else "interrupted")
        self.run.set(status=status, progress={**self.run.progress, "eta_s": 0.0,
                                              "stop_reason": reason or None})
        self._write({"kind": "end", "status": status, "epoch": state.epoch,
                     "stop_reason": reason or None, "time": time.time(),
                     "train_s": time.perf_counter() - self._t0, "monitor_s": self.busy_s})

    def on_test_end(self, state, logs):
        self.run.set(test=logs)
        self._write({"kind": "test", **logs})

    # ----------------------------------------------------------------------- helpers
    def _write(self, record: dict) -> None:
        if self.log_path is not None:
            with open_append(self.log_path) as fh:
                fh.write(json.dumps(clean(record), allow_nan=False) + "\n")

    def _notes(self) -> list:
        notes = []
        if not self._convs:
            notes.append("this model has no convolution layer: no filters or feature maps")
        if self.val is None:
            notes.append("no validation data: no confusion matrix or misclassified images")
        return notes

    def _pinned_sample(self, state):
        x = self.val[0] if self.val is not None else getattr(
            getattr(state.loader, "dataset", None), "x", None)
        if x is None or len(x) == 0:
            return None
        return np.asarray(x[min(self.pinned, len(x) - 1)])

    def _capture(self, module, inputs, out):
        """Forward hook on the model: keeps its outputs in eval mode (= validation)."""
        if not module.training and not self._busy:
            self._logits.append(np.array(getattr(out, "data", out)))

    def _window(self, state, batch: int, now: float) -> None:
        seen, correct, loss_sum, t = self._mark
        n = state.seen - seen
        if n <= 0:
            return
        self._mark = (state.seen, state.correct, state.loss_sum, now)
        weights, grads = images.norms(self._layers)
        done = state.step - self._step0
        eta = (now - self._t0) / done * max(self._total - state.step, 0) if done else None
        groups = getattr(state.optimizer, "param_groups", None)
        lr = float(groups[0]["lr"]) if groups else None
        per_epoch = state.num_batches or batch
        rec = {"step": state.step, "epoch": state.epoch + batch / per_epoch,
               "loss": (state.loss_sum - loss_sum) / n, "accuracy": (state.correct - correct) / n,
               "lr": lr, "samples_per_s": n / max(now - t, 1e-9), "w": weights, "g": grads}
        self.run.set(progress={"epoch": state.epoch + 1, "epochs": state.epochs,
                               "batch": batch, "batches": state.num_batches, "step": state.step,
                               "elapsed_s": now - self._t0, "eta_s": eta, "lr": lr,
                               "samples_per_s": rec["samples_per_s"]})
        if self.run.add_batch(rec):
            self._write({"kind": "batch", **rec})
        if now >= self._next_pictures:
            self._next_pictures = now + PICTURES_EVERY
            self._pictures(state.model)

    def _pictures(self, model) -> None:
        if not self._convs:
            return
        name, first = self._convs[0]
        filters = (name, np.array(first.weight.data, copy=True))
        maps = None
        if self._x is not None:
            maps = (self._x, feature_maps(model, self._convs, self._x, self))
        self.run.set_pictures(filters=filters, maps=maps)

    def _epoch_view(self, model, epoch: int) -> dict:
        x, y = self.val
        logits = np.concatenate(self._logits) if self._logits else np.zeros((0,))
        if logits.ndim != 2 or len(logits) != len(y):  # not captured: one pass of our own
            from ..train import predict

            self._busy = True
            try:
                logits = predict(model, x)
            finally:
                self._busy = False
        return {"epoch": epoch, **images.epoch_view(logits, y)}


def feature_maps(model, convs: list, x: np.ndarray, monitor=None) -> list:
    """[(layer name, maps (C, H, W))] of every conv layer for one sample ``x``, in eval
    mode without gradients (the model's mode is restored)."""
    from ..grad_mode import no_grad
    from ..tensor import Tensor

    outs = []
    handles = [m.register_forward_hook(
        lambda mod, inp, out, n=n: outs.append((n, np.array(out.data[0])))) for n, m in convs]
    was_training = model.training
    if monitor is not None:
        monitor._busy = True
    model.eval()
    try:
        with no_grad():
            model(Tensor(np.asarray(x, np.float32)[None]))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
        if monitor is not None:
            monitor._busy = False
    return outs


# ----------------------------------------------------------------------------- the run
def run_live(args, run_train, fit=None) -> int:
    """``run_train(args, fit=...)`` with the dashboard served and fed (see module doc)."""
    from ..cli import CLIError
    from .dashboard import serve_dashboard

    if not args.live:
        raise CLIError("--port, --host and --live-linger go with --live")
    if (getattr(args, "workers", None) or 1) > 1:
        raise CLIError("--live does not support --workers yet: train on one process to watch")
    if args.live_linger is not None and args.live_linger < 0:
        raise CLIError(f"--live-linger must be >= 0 seconds, received {args.live_linger}")
    run = RunState("convolve train", status="starting")
    server = serve_dashboard([run], args.host or "127.0.0.1", args.port or 0, "live dashboard")
    monitor = LiveMonitor(run)

    def live_fit(model, train, val=None, **kw):
        from ..train import fit as plain_fit

        log = kw.get("log_path")
        monitor.val = val if isinstance(val, tuple) else None
        monitor.log_path = Path(log).parent / "live.jsonl" if log else None
        run.set(name=Path(log).parent.name if log else "convolve train")
        classes = ((kw.get("extra") or {}).get("data") or {}).get("classes")
        run.set(classes=[str(c) for c in classes] if isinstance(classes, list) else None)
        kw["callbacks"] = [*kw.get("callbacks", ()), monitor]
        return (fit or plain_fit)(model, train, val, **kw)

    try:
        status = run_train(args, fit=live_fit)
        _linger(args.live_linger, server)
        return status
    finally:
        server.close()


def _linger(seconds, server) -> None:
    """Keep the page up after training: ``seconds`` (None: until Ctrl-C on a terminal,
    0 otherwise)."""
    if seconds is None:
        seconds = float("inf") if sys.stdin is not None and sys.stdin.isatty() else 0.0
    if seconds <= 0:
        return
    until = "until Ctrl-C" if seconds == float("inf") else f"for {seconds:g} s (Ctrl-C quits)"
    print(f"convolve: training finished; the dashboard stays at {server.url} {until}",
          file=sys.stderr, flush=True)
    end = time.monotonic() + seconds
    try:
        while time.monotonic() < end:
            time.sleep(min(0.2, max(end - time.monotonic(), 0.0)))
    except KeyboardInterrupt:
        pass

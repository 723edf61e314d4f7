"""The training dashboard's server, and ``convolve dashboard RUN_DIR [RUN_DIR ...]``.

Routes (on :mod:`convolve.live.server`):

- ``GET /``: the page (``static/dashboard.html``, its script and style from ``/static/``).
- ``GET /api/state[?run=I]``: run I's (default 0) whole state as JSON: ``name``,
  ``status`` ("starting", "running", "finished", "stopped", "interrupted"), ``history`` (one
  dict per epoch, as in ``log.jsonl``), ``batches`` (batch windows: step, epoch, loss,
  accuracy, lr, samples_per_s, weight norms ``w`` and gradient norms ``g`` per layer of
  ``layers``), ``progress`` (epoch, batch, elapsed_s, eta_s...), ``filters`` and
  ``featuremaps`` (PNG data URLs), ``epoch_view`` (confusion matrix, misclassified images),
  ``test``, ``notes``; and ``runs``: every served run's name, status, history and loss
  windows, for comparing runs.
- ``GET /events[?run=I]``: Server-Sent Events: a ``{"type": "snapshot", "state": ...}``
  first, then ``{"type": "delta", ...}`` messages with what changed (new batch windows and
  epochs, progress, pictures when they changed), at most about five a second.

``convolve dashboard`` serves finished run folders (see :mod:`convolve.live.dashboard_load`)
until Ctrl-C; ``convolve train --live`` serves the run being trained
(:mod:`convolve.live.monitor`). Both bind 127.0.0.1 unless ``--host`` says otherwise.
"""

from __future__ import annotations

import sys
import time

from ..cli import subcommand
from .server import App, EventStream, HTTPError, check_port, open_page, static_file

__all__ = ["make_app", "serve_dashboard"]



def _index(request, runs: list) -> int:
    text = request.query.get("run", "0")
    if not (text.isascii() and text.isdigit()) or int(text) >= len(runs):
        raise HTTPError(400, f"run must be an integer in 0..{len(runs) - 1}, received {text!r}")
    return int(text)


def _events(app: App, run):
    """The SSE messages of one client: a snapshot, then deltas as the run changes."""
    cursor, quiet_since = None, time.monotonic()
    while not app.stopping.is_set():
        message, cursor = run.since(cursor)
        if message is not None:
            yield message
            quiet_since = time.monotonic()
            app.stopping.wait(0.2)  # let a burst of changes coalesce into one message
        elif time.monotonic() - quiet_since > 15:
            yield None  # keep-alive comment
            quiet_since = time.monotonic()
        run.wait(cursor[1], 0.5)


def make_app(runs: list) -> App:
    """The dashboard's routes over ``runs`` (RunState objects; the first one is shown)."""
    if not runs:
        raise ValueError("make_app: runs must hold at least one RunState")
    app = App("dashboard")

    @app.route("GET", "/")
    def page(request):
        return static_file("dashboard.html")

    @app.route("GET", "/api/state")
    def state(request):
        i = _index(request, runs)
        return {**runs[i].snapshot(), "run": i, "runs": [r.summary() for r in runs]}

    @app.route("GET", "/events")
    def events(request):
        run = runs[_index(request, runs)]
        return EventStream(lambda: _events(app, run))

    return app


def serve_dashboard(runs: list, host: str = "127.0.0.1", port: int = 0,
                    what: str = "dashboard", stream=None):
    """Serve ``runs`` on ``host:port`` (0: a free port); prints ``convolve: WHAT at URL``
    (and a warning when ``host`` is not a loopback address) to ``stream`` (stderr)."""
    return open_page(make_app(runs), host, port, what, stream)


# ------------------------------------------------------------------------------- the command
@subcommand("dashboard", "show finished training runs (their logs and checkpoints) in the "
                         "browser")
def dashboard_command(p):
    p.add_argument("runs", nargs="+", metavar="RUN_DIR",
                   help="run folders written by `convolve train` (several: curves compared)")
    p.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--no-data", action="store_true",
                   help="do not load the dataset (no feature maps or misclassified images)")
    return _run_dashboard


def _run_dashboard(args) -> int:
    from .dashboard_load import load_run

    runs = [load_run(d, load_data=not args.no_data) for d in args.runs]
    for run in runs:
        for note in run.notes:
            print(f"convolve: {run.name}: {note}", file=sys.stderr)
    check_port(args.port)
    server = serve_dashboard(runs, args.host, args.port)
    try:
        server.wait()
    except KeyboardInterrupt:
        pass
    return 0

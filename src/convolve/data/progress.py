"""A one-line text progress bar for downloads, on stderr (no dependency).

:func:`progress_reporter` turns the ``progress`` argument of the download functions into a
``report(done, total)`` function: ``None`` shows the bar only when stderr is a terminal,
``True`` always, ``False`` never, and a callable ``progress(label, done, total)`` receives
the counts instead (``total`` is None when unknown). ``report(None, None)`` ends the line.
"""

from __future__ import annotations

import sys
import time

__all__ = ["format_bar", "progress_reporter"]

_WIDTH = 24
_INTERVAL = 0.1  # seconds between redraws


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def format_bar(label: str, done: int, total: int | None, rate: float = 0.0) -> str:
    """``label [#######.........]  42%  4.2 MB/9.9 MB  1.5 MB/s`` (no bar when total is
    unknown)."""
    speed = f"  {_size(rate)}/s" if rate > 0 else ""
    if not total:
        return f"{label}  {_size(done)}{speed}"
    frac = min(max(done / total, 0.0), 1.0)
    filled = round(frac * _WIDTH)
    bar = "#" * filled + "." * (_WIDTH - filled)
    return f"{label} [{bar}] {frac * 100:3.0f}%  {_size(done)}/{_size(total)}{speed}"


class _Bar:
    """Redraws the bar on ``stream`` at most every 0.1 s, and once more at the end."""

    def __init__(self, label: str, stream):
        self.label, self.stream = label, stream
        self.start = self.last = time.monotonic()
        self.first = None
        self.shown = False
        self.state = (0, None)

    def __call__(self, done, total) -> None:
        if done is None:
            self.finish()
            return
        now = time.monotonic()
        self.first = done if self.first is None else self.first  # bytes resumed from a .part
        self.state = (done, total)
        if now - self.last >= _INTERVAL or (total and done >= total):
            self.draw(now)

    def draw(self, now: float) -> None:
        done, total = self.state
        elapsed = now - self.start
        rate = (done - (self.first or 0)) / elapsed if elapsed > 0 else 0.0
        self.stream.write("\r" + format_bar(self.label, done, total, rate) + "\x1b[K")
        self.stream.flush()
        self.last, self.shown = now, True

    def finish(self) -> None:
        if self.shown:
            self.draw(time.monotonic())
            self.stream.write("\n")
            self.stream.flush()
            self.shown = False


def progress_reporter(progress, label: str):
    """The ``report(done, total)`` function for one file (see the module docstring)."""
    if callable(progress) and not isinstance(progress, bool):
        return lambda done, total: None if done is None else progress(label, done, total)
    stream = sys.stderr
    show = progress if progress is not None else bool(getattr(stream, "isatty", bool)())
    if not show:
        return lambda done, total: None
    return _Bar(label, stream)

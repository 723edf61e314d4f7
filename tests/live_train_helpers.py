"""Test helpers for the training dashboard: a `convolve train --live` run in a subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[1] / "src")


def env() -> dict:
    """The environment for a `convolve` subprocess: this checkout's sources first."""
    return dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))


def http(url, data=None, method=None, timeout=10):
    """(status, headers, body bytes) of one request; HTTP errors returned, not raised."""
    req = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


class LiveTrain:
    """``convolve train --live --port 0`` on a slice of mnist5k; ``url`` once it serves."""

    def __init__(self, out, epochs=6, limit=1000, linger=60, extra=()):
        self.out = out
        cmd = [sys.executable, "-m", "convolve.cli", "train", "--model", "lenet5", "--data",
               "mnist5k", "--epochs", str(epochs), "--out", str(out), "-q", "--live",
               "--port", "0", "--live-linger", str(linger), *extra]
        cmd += ["--limit", str(limit)] if limit else []
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True, env=env())
        self.lines: list = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_for_line(self, text: str, timeout=60) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            hit = next((line for line in self.lines if text in line), None)
            if hit is not None:
                return hit
            if self.proc.poll() is not None and not any(text in x for x in self.lines):
                time.sleep(0.2)
                if not any(text in x for x in self.lines):
                    raise AssertionError(f"exited {self.proc.returncode}: {self.lines}")
            time.sleep(0.05)
        raise AssertionError(f"no line with {text!r} in {timeout} s: {self.lines}")

    @property
    def url(self) -> str:
        line = self.wait_for_line("live dashboard at ")
        return line.split(" at ", 1)[1].strip()

    def state(self, query="") -> dict:
        status, _, body = http(self.url + "api/state" + query)
        assert status == 200, body
        return json.loads(body)

    def wait_state(self, predicate, timeout=60) -> dict:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            st = self.state()
            if predicate(st):
                return st
            time.sleep(0.1)
        raise AssertionError(f"state never matched in {timeout} s: {st['status']}")

    def interrupt(self, timeout=30) -> int:
        """Ctrl-C (SIGINT), then the exit status."""
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout)

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

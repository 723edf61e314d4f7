"""``convolve lab`` and ``convolve compare --serve`` as commands: train, save, reload, serve,
warn off loopback, stop cleanly on Ctrl-C; argument errors are one line."""

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from convolve import cli
from convolve.lab.models import IMAGE_MODELS
from convolve.live import lab_cli
from lab_page_support import get_json

ROOT = Path(__file__).resolve().parents[1]
URL = re.compile(r"convolve: lab page at (http://127\.0\.0\.\d+:\d+/)")


class Command:
    """A running ``convolve ...``: its output lines arrive on a queue (a reader thread)."""

    def __init__(self, args):
        env = dict(os.environ, PYTHONPATH=str(ROOT / "src") + os.pathsep
                   + os.environ.get("PYTHONPATH", ""))
        self.proc = subprocess.Popen([sys.executable, "-m", "convolve.cli", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, env=env)
        self.lines, self.seen = queue.Queue(), []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, pattern, timeout=90):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            self.seen.append(line)
            found = re.search(pattern, line)
            if found:
                return found
        self.proc.kill()
        raise AssertionError(f"no line matching {pattern!r} in:\n{''.join(self.seen)}")

    def interrupt(self, timeout=30) -> str:
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout)
        rest = []
        while (line := self.lines.get(timeout=5)) is not None:
            rest.append(line)
        return "".join(self.seen + rest)


def _wait_finished(url, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = get_json(url + "api/state")
        if state["status"] != "running":
            return state
        time.sleep(0.2)
    raise AssertionError(f"training did not finish in {timeout} s")


def test_lab_trains_saves_serves_then_reloads(tmp_path):
    out = tmp_path / "models"
    first = Command(["lab", "--epochs", "1", "--out", str(out), "--port", "0"])
    url = first.wait_for(URL.pattern).group(1)
    state = _wait_finished(url)
    assert state["status"] == "finished" and state["source"] == "trained"
    assert {n: len(h) for n, h in state["history"].items()} == {n: 1 for n in IMAGE_MODELS}
    text = first.interrupt()
    assert first.proc.returncode == 0 and "convolve: lab page stopped" in text, text
    assert "cnn: epoch 1/1" in text
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{n}.safetensors"
                                                           for n in IMAGE_MODELS)
    # a second run loads them (no training), here on another loopback address: a warning
    second = Command(["lab", "--out", str(out), "--host", "127.0.0.2", "--port", "0"])
    warning = second.wait_for(r"convolve: warning: --host 127\.0\.0\.2")
    assert "without any authentication" in warning.string
    url = second.wait_for(URL.pattern).group(1)
    again = get_json(url + "api/state")
    assert again["status"] == "finished" and again["source"].startswith("loaded from")
    assert again["history"] == state["history"]
    text = second.interrupt()
    assert second.proc.returncode == 0 and "training" not in text.split("lab page at")[1]


@pytest.mark.parametrize("args,message", [
    (["--port", "70000"], "--port must be in 0..65535, received 70000"),
    (["--epochs", "0"], "--epochs must be >= 1, received 0"),
    (["--lr", "-1"], "--lr must be positive, received -1.0"),
    (["--data", "mnist1d", "--out", "{tmp}"], "the page shows image models"),
])
def test_lab_argument_errors_are_one_line(capsys, tmp_path, args, message):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    assert cli.main(["lab", *args]) == 1
    err = capsys.readouterr().err
    assert err.startswith("convolve: error:") and message in err and err.count("\n") == 1


def test_compare_serve_serves_the_first_seeds_models(tmp_path, monkeypatch, capsys):
    seen = {}

    def hold(server):  # instead of waiting for Ctrl-C: look at the page's API, then stop
        seen["state"] = get_json(server.url + "api/state")
        seen["predict"] = get_json(server.url + "api/predict", {"index": 0, "dx": 1})
        server.close()
        return 0

    monkeypatch.setattr(lab_cli, "hold", hold)
    out = tmp_path / "report"
    status = cli.main(["compare", "--data", "digits", "--seeds", "1", "--epochs", "1",
                       "--sizes", "none", "--workers", "1", "--out", str(out), "-q",
                       "--serve", "--port", "0"])
    assert status == 0
    report = __import__("json").loads((out / "report.json").read_text())
    state = seen["state"]
    assert state["status"] == "finished" and state["ready"] == list(IMAGE_MODELS)
    for name in IMAGE_MODELS:
        assert state["history"][name] == report["per_seed"][0]["histories"][name]
    assert set(seen["predict"]["models"]) == set(IMAGE_MODELS)
    assert "convolve: lab page at http://127.0.0.1:" in capsys.readouterr().out
    assert sorted(p.name for p in (out / "lab").iterdir()) == sorted(
        f"{n}.safetensors" for n in IMAGE_MODELS)


def test_compare_serve_refuses_sequence_data(capsys):
    assert cli.main(["compare", "--data", "mnist1d", "--serve"]) == 1
    assert "--serve shows image models" in capsys.readouterr().err

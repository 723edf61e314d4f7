"""The training dashboard over HTTP: `convolve train --live` while it trains and after,
Server-Sent Events, bad requests, `convolve dashboard` on finished run folders (damaged
ones included), the --host warning and a port in use."""

import io
import json
import shutil
import signal
import socket
import subprocess
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from convolve import models
from convolve.live.dashboard import make_app, serve_dashboard
from convolve.live.dashboard_images import conv_layers
from convolve.live.dashboard_load import load_run
from convolve.live.server import serve
from live_train_helpers import LiveTrain, env, http

EPOCHS = 5


def _out_channels_of_first_conv():
    return conv_layers(models.get_model("lenet5", (1, 28, 28), 10))[0][1].weight.shape[0]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A --live run watched while training (two event streams from before it starts, and
    /api/state), then Ctrl-C'd while its page lingers: (folder, states seen while running,
    state after, exit status, stderr lines, each stream's messages)."""
    out = tmp_path_factory.mktemp("live") / "run"
    run = LiveTrain(out, epochs=EPOCHS, limit=2000)
    try:
        with ThreadPoolExecutor(2) as pool:  # two tabs at once: each gets its own stream
            streams = [pool.submit(_sse_until_finished, run.url + "events") for _ in range(2)]
            running = run.wait_state(lambda s: s["status"] == "running"
                                     and len(s["batches"]) >= 2)
            later = run.wait_state(lambda s: len(s["batches"]) > len(running["batches"]))
            events = [f.result() for f in streams]
        finished = run.wait_state(lambda s: s["status"] == "finished" and s["test"])
        run.wait_for_line("the dashboard stays at")
        status = run.interrupt()
    finally:
        run.close()
    return out, (running, later), finished, status, run.lines, events


def _sse_until_finished(url, timeout=60):
    """The messages of one event stream, up to the one that says the run finished."""
    msgs = []
    with urllib.request.urlopen(url, timeout=timeout) as r:
        assert r.headers["Content-Type"] == "text/event-stream"
        for raw in r:
            line = raw.decode().strip()
            if line.startswith("data: "):
                msgs.append(json.loads(line[6:]))
                if msgs[-1].get("status", msgs[-1].get("state", {}).get("status")) == \
                        "finished":
                    break
    return msgs


def test_state_while_training(finished_run):
    _, (running, later), _, _, lines, _ = finished_run
    assert lines[0].startswith("convolve: live dashboard at http://127.0.0.1:")
    for key in ("history", "status", "batches", "progress", "layers", "filters",
                "featuremaps"):
        assert key in running
    assert running["progress"]["epochs"] == EPOCHS and running["progress"]["eta_s"] >= 0
    window = running["batches"][-1]
    assert set(window) >= {"step", "epoch", "loss", "accuracy", "lr", "samples_per_s", "w", "g"}
    assert len(window["w"]) == len(running["layers"]) == 5  # 2 conv + 3 linear layers
    assert all(g > 0 for g in window["g"])
    assert later["batches"][-1]["step"] > window["step"]
    assert len(running["filters"]["tiles"]) == _out_channels_of_first_conv()
    assert [len(m["tiles"]) for m in running["featuremaps"]["layers"]] == [6, 16]


def test_state_after_training_and_ctrl_c_while_lingering(finished_run):
    out, _, st, status, _, _ = finished_run
    assert status == 0
    history = json.loads((out / "history.json").read_text())
    assert st["status"] == "finished" and st["history"] == history["epochs"]
    assert len(st["history"]) == EPOCHS and st["test"]["test_samples"] == 1000
    view = st["epoch_view"]
    val = history["sizes"]["val"]
    assert view["epoch"] == EPOCHS and np.sum(view["confusion"]) == val
    wrong = view["misclassified"]
    assert wrong and all(w["image"].startswith("data:image/png;base64,") for w in wrong)
    assert [w["p"] for w in wrong] == sorted((w["p"] for w in wrong), reverse=True)
    assert all(w["label"] != w["pred"] for w in wrong)


def test_sse_sends_each_client_a_snapshot_then_deltas(finished_run):
    for events in finished_run[5]:
        assert events[0]["type"] == "snapshot" and "history" in events[0]["state"]
        # a snapshot again when the run replaces its lists (training begins), else deltas
        last = max(i for i, e in enumerate(events) if e["type"] == "snapshot")
        deltas = events[last + 1:]
        assert deltas and all(d["type"] == "delta" for d in deltas)
        steps = [b["step"] for e in [events[last]["state"], *deltas] for b in e["batches"]]
        assert len(steps) >= 2 and steps == sorted(set(steps))  # each window sent once
        history = [*events[last]["state"]["history"], *(h for d in deltas for h in d["history"])]
        assert [h["epoch"] for h in history] == list(range(1, EPOCHS + 1))
        assert any("filters" in d for d in deltas) and deltas[-1]["status"] == "finished"


def test_live_jsonl_records_the_run(finished_run):
    out = finished_run[0]
    records = [json.loads(line) for line in (out / "live.jsonl").read_text().splitlines()]
    kinds = [r["kind"] for r in records]
    assert kinds[0] == "start" and kinds.count("epoch") == EPOCHS == kinds.count("view")
    assert kinds[-2:] == ["end", "test"] and records[-2]["status"] == "finished"


@pytest.fixture
def server_of(finished_run):
    servers = []

    def start(*folders):
        s = serve(make_app([load_run(f) for f in folders]))
        servers.append(s)
        return s.url

    yield start
    for s in servers:
        s.close()


@pytest.mark.parametrize("path,method,status", [
    ("api/state?run=1", "GET", 400), ("api/state?run=x", "GET", 400),
    ("events?run=-1", "GET", 400), ("api/state", "POST", 405), ("api/nope", "GET", 404),
])
def test_bad_requests_get_4xx(server_of, finished_run, path, method, status):
    url = server_of(finished_run[0])
    got, _, body = http(url + path, data=b"{}" if method == "POST" else None, method=method)
    assert got == status and json.loads(body)["error"]


def test_dashboard_of_a_finished_run_folder(server_of, finished_run):
    out, _, live_state, _, _, _ = finished_run
    url = server_of(out)
    st = json.loads(http(url + "api/state")[2])
    assert st["status"] == "finished" and st["notes"] == []
    assert st["history"] == live_state["history"] and st["batches"] == live_state["batches"]
    assert st["epoch_view"]["confusion"] == live_state["epoch_view"]["confusion"]
    assert len(st["filters"]["tiles"]) == _out_channels_of_first_conv()
    assert len(st["featuremaps"]["layers"]) == 2
    status, _, body = http(url)
    assert status == 200 and b"/static/dashboard.js" in body and b"<script>" not in body


def test_several_runs_side_by_side(server_of, finished_run, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(finished_run[0], other)
    (other / "live.jsonl").unlink()
    st = json.loads(http(server_of(finished_run[0], other) + "api/state?run=1")[2])
    assert [r["name"] for r in st["runs"]] == ["run", "other"] and st["run"] == 1
    assert st["runs"][1]["history"] == st["history"] and st["batches"] == []
    assert any("no live.jsonl" in n for n in st["notes"])
    assert st["epoch_view"]["confusion"]  # recomputed from best.safetensors


def test_damaged_files_are_one_line_notes(finished_run, tmp_path):
    run = tmp_path / "damaged"
    shutil.copytree(finished_run[0], run)
    with open(run / "live.jsonl", "a") as fh:
        fh.write("{not json\n[1, 2]\n")
    (run / "history.json").write_text("{")
    (run / "best.safetensors").write_bytes(b"garbage")
    st = load_run(run, load_data=False).snapshot()
    assert "live.jsonl: 2 unreadable line(s) skipped" in st["notes"]
    assert "history.json is unreadable: curves from log.jsonl" in st["notes"]
    assert any(n.startswith("best.safetensors cannot be loaded") for n in st["notes"])
    assert all("\n" not in n for n in st["notes"])
    assert len(st["history"]) == EPOCHS and st["filters"] is None


def test_oversized_run_files_are_not_read(finished_run, monkeypatch):
    from convolve.live import dashboard_load

    monkeypatch.setattr(dashboard_load, "MAX_BYTES", 100)
    st = load_run(finished_run[0], load_data=False).snapshot()
    big = [n for n in st["notes"] if "over the 100-byte limit: not read" in n]
    assert [n.split()[0] for n in big] == ["history.json", "log.jsonl", "live.jsonl"]
    assert st["history"] == [] and st["batches"] == [] and st["filters"] is not None


def _cli(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "convolve.cli", *args], capture_output=True,
                          check=False, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                          env=env())


def test_dashboard_command_errors_in_one_line(tmp_path, finished_run):
    r = _cli("dashboard", str(tmp_path / "missing"))
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "is not a folder" in r.stderr
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        r = _cli("dashboard", str(finished_run[0]), "--port", str(port))
        assert r.returncode == 1 and r.stderr.count("\n") == 1
        assert f"cannot listen on 127.0.0.1:{port}" in r.stderr
        r = _cli("train", "--live", "--port", str(port), "--epochs", "1", "--limit", "100",
                 "--out", str(tmp_path / "t"))
        assert r.returncode == 1 and r.stderr.count("\n") == 1 and "cannot listen" in r.stderr
        assert not (tmp_path / "t").exists()  # refused before any training
    r = _cli("train", "--port", "0", "--epochs", "1")
    assert r.returncode == 1 and "go with --live" in r.stderr


def test_dashboard_command_serves_until_ctrl_c(finished_run):
    proc = subprocess.Popen([sys.executable, "-m", "convolve.cli", "dashboard",
                             str(finished_run[0]), "--port", "0"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env=env())
    try:
        line = proc.stderr.readline()
        assert line.startswith("convolve: dashboard at http://127.0.0.1:")
        st = json.loads(http(line.split(" at ", 1)[1].strip() + "api/state")[2])
        assert st["status"] == "finished" and st["name"] == "run"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(20) == 0
    finally:
        proc.kill()
        proc.wait()


def test_host_other_than_loopback_warns():
    stream = io.StringIO()
    from convolve.live.dashboard_state import RunState

    server = serve_dashboard([RunState("x")], "0.0.0.0", 0, stream=stream)
    try:
        warning, where = stream.getvalue().splitlines()
        assert warning.startswith("convolve: warning: --host 0.0.0.0:")
        assert "reachable from the network" in warning and where.endswith(server.url)
    finally:
        server.close()
    stream = io.StringIO()
    serve_dashboard([RunState("x")], "127.0.0.1", 0, stream=stream).close()
    assert "warning" not in stream.getvalue()


def test_ctrl_c_during_training_exits_130_and_records_it(tmp_path):
    run = LiveTrain(tmp_path / "run", epochs=50, limit=1000)
    try:
        run.wait_state(lambda s: s["history"])  # one epoch done: a checkpoint exists
        status = run.interrupt()
    finally:
        run.close()
    assert status == 130 and "convolve: interrupted" in run.lines
    last = json.loads((tmp_path / "run" / "live.jsonl").read_text().splitlines()[-1])
    assert last["kind"] == "end" and last["status"] == "interrupted"
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [
        "best.safetensors", "last.safetensors", "live.jsonl", "log.jsonl"]

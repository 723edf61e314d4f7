"""Hostile inputs for the data resolver (--data PATH) and the live web pages.

Each test feeds one crafted input or fault and checks the command line answers with one
clear error line (exit 1), in bounded memory and time, or that a server stays usable.
"""

from __future__ import annotations

import struct
import zipfile

import numpy as np
import pytest

from convolve.cli import main


def _error_line(capsys, argv) -> str:
    """Run the CLI expecting exit 1 and exactly one stderr line; return that line."""
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("convolve: error: ")
    assert "Traceback" not in err[0]
    return err[0]


def _npy_header_only(shape, dtype="<f4") -> bytes:
    """A .npy file whose header declares ``shape`` and which holds no data at all."""
    header = repr({"descr": dtype, "fortran_order": False, "shape": tuple(shape)})
    header = header.ljust(118) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode()


def _summary(path):
    return ["summary", "mlp", "--data", str(path)]


def test_npz_huge_declared_shape_is_refused_from_the_header(tmp_path, capsys):
    shape = (4_000_000, 1000, 1000)
    path = tmp_path / "huge.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("x_train.npy", _npy_header_only(shape))
        z.writestr("y_train.npy", _npy_header_only((4,), "<i8") + bytes(32))
    line = _error_line(capsys, _summary(path))
    assert f"{int(np.prod(shape)) * 4:,} bytes exceeds the limit" in line
    assert "x_train" in line and "data_bytes" in line


def test_npz_zip_bomb_with_mismatched_labels_fails_before_inflating(tmp_path, capsys):
    # a few KB of deflated zeros declaring 64 MiB of samples, with 3 labels: the header
    # says the lengths differ, so nothing need be decompressed
    n, path = 1 << 18, tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        with z.open("x_train.npy", "w") as f:
            f.write(_npy_header_only((n, 8, 8)))
            for _ in range(n * 8 * 8 * 4 // (1 << 20)):
                f.write(bytes(1 << 20))
        z.writestr("y_train.npy", _npy_header_only((3,), "<i8") + bytes(24))
    assert path.stat().st_size < (n * 256) // 100
    import tracemalloc

    tracemalloc.start()
    line = _error_line(capsys, _summary(path))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert f"x_train has {n} samples but y_train has 3 labels" in line
    assert peak < n * 8 * 8 * 4 // 4  # never held the inflated array


def test_npz_truncated_array_data_is_not_called_an_object_array(tmp_path, capsys):
    path = tmp_path / "trunc.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("x_train.npy", _npy_header_only((20, 8, 8)) + bytes(100))
        z.writestr("y_train.npy", _npy_header_only((20,), "<i8") + bytes(160))
    line = _error_line(capsys, _summary(path))
    assert "object array" not in line
    assert "x_train" in line and "truncated" in line


@pytest.mark.parametrize("part", ["train", "test"])
def test_npz_part_with_zero_samples_is_a_clear_error(tmp_path, capsys, part):
    x, y = np.zeros((10, 8, 8), np.float32), np.arange(10) % 2
    arrays = {"x_train": x, "y_train": y, "x_test": x, "y_test": y}
    arrays[f"x_{part}"], arrays[f"y_{part}"] = x[:0], y[:0]
    np.savez(tmp_path / "zero.npz", **arrays)
    line = _error_line(capsys, _summary(tmp_path / "zero.npz"))
    assert f"x_{part} holds no samples (shape {x[:0].shape})" in line


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_npz_non_finite_samples_are_refused_naming_the_index(tmp_path, capsys, bad):
    x = np.random.default_rng(0).random((10, 8, 8)).astype(np.float32)
    where = (7, 3, 5)
    x[where] = bad
    np.savez(tmp_path / "nf.npz", x_train=x, y_train=np.arange(10) % 2)
    line = _error_line(capsys, _summary(tmp_path / "nf.npz"))
    assert f"found {x[where]} at index {where}" in line


# ----------------------------------------------------------------------------- the servers
def _app():
    from convolve.live.server import App, EventStream

    app = App("hostile")
    app.route("GET", "/api/state")(lambda request: {"ok": True})
    app.route("POST", "/api/echo")(lambda request: {"n": len(request.body)})
    app.route("GET", "/events")(lambda request: EventStream(lambda: iter([{"a": 1}])))
    return app


def _exchange(server, data: bytes, wait: float = 5.0) -> list:
    """Send raw bytes on one connection; the status lines of every response received."""
    import socket

    with socket.create_connection((server.host, server.port), timeout=wait) as s:
        s.sendall(data)
        out = b""
        try:
            while chunk := s.recv(65536):
                out += chunk
        except TimeoutError:
            pass
    return [line for line in out.split(b"\r\n") if line.startswith(b"HTTP/1.1 ")]


def test_chunked_body_is_refused_not_parsed_as_a_second_request():
    from convolve.live.server import serve

    inner = b"GET /api/state HTTP/1.1\r\nHost: x\r\n\r\n"
    chunked = (b"POST /api/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               + f"{len(inner):x}\r\n".encode() + inner + b"\r\n0\r\n\r\n")
    with serve(_app()) as server:
        statuses = _exchange(server, chunked)
    assert len(statuses) == 1, statuses  # one request sent, one answer (no smuggled GET)
    assert statuses[0].startswith(b"HTTP/1.1 411")


def test_a_silent_client_is_dropped_after_the_handler_timeout(monkeypatch):
    import socket
    import time

    from convolve.live import server as srv

    assert 0 < (srv._Handler.timeout or 0) <= 300  # a default bound, not None (forever)
    monkeypatch.setattr(srv._Handler, "timeout", 0.3)
    server = srv.serve(_app())
    with server, socket.create_connection((server.host, server.port), timeout=10) as s:
        s.sendall(b"POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab")
        t0 = time.monotonic()
        try:
            while s.recv(65536):
                pass
        except TimeoutError:
            pass
        waited = time.monotonic() - t0
    assert waited < 5, waited  # the server closed it; without a timeout it waits forever


@pytest.mark.parametrize("path", ["/api/state", "/events", "/static/dashboard.html"])
def test_head_answers_like_get_without_a_body(path):
    import urllib.request

    from convolve.live.server import serve

    with serve(_app()) as server:
        req = urllib.request.Request(server.url.rstrip("/") + path, method="HEAD")
        with urllib.request.urlopen(req, timeout=5) as r:
            assert r.status == 200 and r.read() == b""


@pytest.mark.parametrize("run", ["\u00b2", "\u0663", "1\u00b2"])
def test_dashboard_run_query_with_unicode_digits_is_a_400_not_a_500(run):
    import json
    import urllib.error
    import urllib.parse
    import urllib.request

    from convolve.live.dashboard import make_app
    from convolve.live.dashboard_state import RunState
    from convolve.live.server import serve

    with serve(make_app([RunState("r")])) as server:
        url = f"{server.url}api/state?run={urllib.parse.quote(run)}"
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(url, timeout=5)
    assert info.value.code == 400
    assert repr(run) in json.loads(info.value.read())["error"]


# ------------------------------------------------------------------------------ downloads
@pytest.mark.parametrize("kind", ["file", "dangling link", "file above"])
def test_cache_that_is_not_a_folder_is_one_clear_line(tmp_path, capsys, kind):
    cache = tmp_path / "cache"
    if kind == "file":
        cache.write_text("not a folder")
    elif kind == "dangling link":
        cache.mkdir()
        (cache / "mnist").symlink_to(tmp_path / "nowhere")
    else:
        (tmp_path / "plain").write_text("x")
        cache = tmp_path / "plain" / "cache"
    line = _error_line(capsys, ["datasets", "--download", "mnist", "--mirror",
                                "http://127.0.0.1:9/", "--cache", str(cache), "-q"])
    assert "cannot be the cache folder" in line and str(cache) in line
    assert "Errno" not in line
    assert not (tmp_path / "nowhere").exists()

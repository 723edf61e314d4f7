"""Resumable, verified downloads (convolve.data.download) against file:// mirrors and a local
HTTP server on 127.0.0.1 (the standard library's http.server in a thread) that serves good,
truncated, wrong-hash, endless, slow, Range-ignoring and Range-honouring responses. Nothing
here touches the internet: every URL is file:// or http://127.0.0.1."""

from __future__ import annotations

import hashlib
import http.server
import os
import re
import stat
import threading
import time
import tracemalloc

import pytest

from convolve import limits
from convolve._fileio import UnsafeWriteError
from convolve.data import download
from convolve.data.download import (
    DownloadError,
    cache_dir,
    download_file,
    ensure_cache_dir,
    sha256_file,
)
from convolve.data.progress import format_bar, progress_reporter

DATA = os.urandom(100_000)
SHA = hashlib.sha256(DATA).hexdigest()
NAME = "blob.bin"


class _Handler(http.server.BaseHTTPRequestHandler):
    """GET /<mode>/<name>: the mode picks the server's behaviour (see ``_MODES``)."""

    def log_message(self, *args):  # keep the test output clean
        pass

    def do_GET(self):
        mode = self.path.strip("/").split("/")[0]
        rng = self.headers.get("Range")
        entry = {"mode": mode, "range": rng, "status": None, "sent": 0}
        self.server.log.append(entry)
        try:
            getattr(self, "_" + mode)(entry, rng)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _send(self, entry, status, body, headers=(), length=True):
        entry["status"] = status
        self.send_response(status)
        if length:
            self.send_header("Content-Length", str(len(body)))
        for key, value in headers:
            self.send_header(key, value)
        self.end_headers()
        entry["sent"] += len(body)  # before the write: the client may read the whole body
        try:  # and check the log before this thread runs again
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            entry["sent"] -= len(body)
            raise

    def _good(self, entry, rng):  # honours Range
        start = int(re.match(r"bytes=(\d+)-", rng)[1]) if rng else None
        if start is None:
            self._send(entry, 200, DATA)
        elif start >= len(DATA):
            self._send(entry, 416, b"", [("Content-Range", f"bytes */{len(DATA)}")])
        else:
            self._send(entry, 206, DATA[start:],
                       [("Content-Range", f"bytes {start}-{len(DATA) - 1}/{len(DATA)}")])

    def _norange(self, entry, rng):
        self._send(entry, 200, DATA)

    def _badrange(self, entry, rng):  # a 206 for bytes other than asked
        if rng:
            whole = f"bytes 0-{len(DATA) - 1}/{len(DATA)}"
            self._send(entry, 206, DATA, [("Content-Range", whole)])
        else:
            self._send(entry, 200, DATA)

    def _truncated(self, entry, rng):  # announces everything, sends 30,000 bytes, closes
        entry["status"] = 200
        self.send_response(200)
        self.send_header("Content-Length", str(len(DATA)))
        self.end_headers()
        self.wfile.write(DATA[:30_000])
        entry["sent"] = 30_000

    def _portal(self, entry, rng):  # a login page instead of the file
        self._send(entry, 200, b"<html>please log in</html>")

    def _wronghash(self, entry, rng):
        self._send(entry, 200, bytes(len(DATA)))

    def _endless(self, entry, rng):  # no Content-Length, streams until the client leaves
        entry["status"] = 200
        self.send_response(200)
        self.end_headers()
        chunk = b"\x00" * 65536
        while not self.server.stop.is_set() and entry["sent"] < 1 << 30:
            self.wfile.write(chunk)
            entry["sent"] += len(chunk)

    def _slow(self, entry, rng):  # answers after 5 s (or when the test ends)
        self.server.stop.wait(5)
        self._send(entry, 200, DATA)


@pytest.fixture
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.daemon_threads = True
    srv.log, srv.stop = [], threading.Event()
    thread = threading.Thread(target=srv.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    srv.url = lambda mode: f"http://127.0.0.1:{srv.server_address[1]}/{mode}/"
    yield srv
    srv.stop.set()
    srv.shutdown()
    srv.server_close()


def _interrupt_after(n: int):
    def progress(label, done, total):
        if done >= n:
            raise KeyboardInterrupt
    return progress


def test_good_file_over_http(server, tmp_path):
    path = download_file(NAME, [server.url("good")], tmp_path, SHA, size=len(DATA))
    assert path.read_bytes() == DATA
    assert sorted(os.listdir(tmp_path)) == [NAME]  # no .part left behind
    assert [e["range"] for e in server.log] == [None]


def test_resume_fetches_only_the_rest(server, tmp_path, monkeypatch):
    monkeypatch.setattr(download, "_CHUNK", 4096)
    with pytest.raises(KeyboardInterrupt):
        download_file(NAME, [server.url("good")], tmp_path, SHA, size=len(DATA),
                      progress=_interrupt_after(40_000))
    part = tmp_path / (NAME + ".part")
    kept = part.stat().st_size
    assert not (tmp_path / NAME).exists() and 40_000 <= kept < len(DATA)
    assert part.read_bytes() == DATA[:kept]
    path = download_file(NAME, [server.url("good")], tmp_path, SHA, size=len(DATA))
    assert path.read_bytes() == DATA and not part.exists()
    last = server.log[-1]
    assert last["range"] == f"bytes={kept}-" and last["status"] == 206
    assert last["sent"] == len(DATA) - kept


def test_server_ignoring_range_restarts_from_zero(server, tmp_path):
    (tmp_path / (NAME + ".part")).write_bytes(DATA[:12_345])
    path = download_file(NAME, [server.url("norange")], tmp_path, SHA, size=len(DATA))
    assert path.read_bytes() == DATA
    assert server.log == [{"mode": "norange", "range": "bytes=12345-", "status": 200,
                           "sent": len(DATA)}]


def test_wrong_announced_size_keeps_the_part(server, tmp_path):
    part = tmp_path / (NAME + ".part")
    part.write_bytes(DATA[:12_345])
    with pytest.raises(DownloadError, match="announces 26 bytes, expected 100,000"):
        download_file(NAME, [server.url("portal")], tmp_path, SHA, size=len(DATA))
    assert part.read_bytes() == DATA[:12_345]
    path = download_file(NAME, [server.url("portal"), server.url("good")], tmp_path, SHA,
                         size=len(DATA))
    assert path.read_bytes() == DATA and server.log[-1]["range"] == "bytes=12345-"


def test_bad_content_range_restarts(server, tmp_path):
    (tmp_path / (NAME + ".part")).write_bytes(DATA[:5000])
    path = download_file(NAME, [server.url("badrange")], tmp_path, SHA, size=len(DATA))
    assert path.read_bytes() == DATA
    assert [(e["range"], e["status"]) for e in server.log] == [("bytes=5000-", 206),
                                                                (None, 200)]


def test_416_restarts_and_a_wrong_part_is_replaced(server, tmp_path):
    (tmp_path / (NAME + ".part")).write_bytes(bytes(len(DATA)))  # full length, wrong bytes
    path = download_file(NAME, [server.url("good")], tmp_path, SHA, size=len(DATA))
    assert path.read_bytes() == DATA
    assert [(e["range"], e["status"]) for e in server.log] == [
        (f"bytes={len(DATA)}-", 416), (None, 200)]


def test_complete_part_is_renamed_without_a_request(server, tmp_path):
    (tmp_path / (NAME + ".part")).write_bytes(DATA)
    assert download_file(NAME, [server.url("good")], tmp_path, SHA).read_bytes() == DATA
    assert server.log == []


def test_truncated_response_is_resumed_from_the_next_mirror(server, tmp_path):
    path = download_file(NAME, [server.url("truncated"), server.url("good")], tmp_path, SHA,
                         size=len(DATA))
    assert path.read_bytes() == DATA
    assert server.log[-1]["range"] == "bytes=30000-"
    assert server.log[-1]["sent"] == len(DATA) - 30_000


def test_truncated_alone_keeps_the_part(server, tmp_path):
    with pytest.raises(DownloadError, match=r"closed after 30,000 of 100,000 bytes"):
        download_file(NAME, [server.url("truncated")], tmp_path, SHA)  # size from the header
    assert (tmp_path / (NAME + ".part")).stat().st_size == 30_000
    assert not (tmp_path / NAME).exists()


def test_wrong_hash_is_deleted_and_next_mirror_tried(server, tmp_path):
    with pytest.raises(DownloadError, match="SHA-256 mismatch") as info:
        download_file(NAME, [server.url("wronghash")], tmp_path, SHA)
    assert os.listdir(tmp_path) == []
    assert str(info.value).splitlines()[0].startswith(f"could not download {NAME} into")
    path = download_file(NAME, [server.url("wronghash"), server.url("good")], tmp_path, SHA)
    assert path.read_bytes() == DATA and os.listdir(tmp_path) == [NAME]


def test_endless_response_stopped_by_known_size(server, tmp_path):
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(DownloadError, match="more than the expected 100,000 bytes"):
            download_file(NAME, [server.url("endless")], tmp_path, SHA, size=len(DATA))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - start < 10
    assert peak < 4 << 20
    assert os.listdir(tmp_path) == []


def test_endless_response_stopped_by_limit(server, tmp_path):
    start = time.perf_counter()
    with limits.override(download_bytes=8 << 20), \
            pytest.raises(DownloadError, match="8,388,608"):
        download_file(NAME, [server.url("endless"), server.url("good")], tmp_path, SHA)
    assert time.perf_counter() - start < 10
    assert os.listdir(tmp_path) == []  # the limit stops everything: no other mirror tried
    assert len(server.log) == 1 and server.log[0]["sent"] < 1 << 30


def test_slow_server_times_out(server, tmp_path):
    start = time.perf_counter()
    with pytest.raises(DownloadError, match="timed out"):
        download_file(NAME, [server.url("slow")], tmp_path, SHA, timeout=0.3)
    assert time.perf_counter() - start < 3


def test_every_mirror_failure_is_listed(server, tmp_path):
    missing = (tmp_path / "nowhere").as_uri()
    with pytest.raises(DownloadError) as info:
        download_file(NAME, [missing, server.url("wronghash"), server.url("truncated")],
                      tmp_path / "d", SHA, size=len(DATA))
    lines = str(info.value).splitlines()
    assert lines[0] == f"could not download {NAME} into {tmp_path / 'd'}: 3 mirror(s) failed:"
    assert missing in lines[1] and "wronghash" in lines[2] and "truncated" in lines[3]


def test_symlinks_are_refused(tmp_path):
    mirror = tmp_path / "m"
    mirror.mkdir()
    (mirror / NAME).write_bytes(DATA)
    dest, target = tmp_path / "d", tmp_path / "target"
    dest.mkdir()
    target.write_bytes(b"keep")
    (dest / NAME).symlink_to(target)
    with pytest.raises(UnsafeWriteError, match="symbolic link"):
        download_file(NAME, [mirror.as_uri()], dest, SHA)
    (dest / NAME).unlink()
    (dest / (NAME + ".part")).symlink_to(target)
    with pytest.raises(UnsafeWriteError):
        download_file(NAME, [mirror.as_uri()], dest, SHA)
    assert target.read_bytes() == b"keep" and not (dest / NAME).exists()


def test_file_mirror_and_bad_filename(tmp_path):
    (tmp_path / NAME).write_bytes(DATA)
    path = download_file(NAME, [tmp_path.as_uri() + "/"], tmp_path / "d", SHA, size=len(DATA))
    assert sha256_file(path) == SHA
    with pytest.raises(ValueError, match="plain file name"):
        download_file("../x", [tmp_path.as_uri()], tmp_path / "d", SHA)


def test_cache_dir_rules(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVOLVE_CACHE", str(tmp_path / "c"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert cache_dir() == tmp_path / "c"
    monkeypatch.delenv("CONVOLVE_CACHE")
    assert cache_dir() == tmp_path / "x" / "convolve"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")  # invalid per the XDG spec
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "convolve"
    made = ensure_cache_dir(tmp_path / "new" / "convolve")
    assert stat.S_IMODE(made.stat().st_mode) == 0o700


def test_progress_bar(capsys):
    assert format_bar("f", 50, 100).startswith("f [" + "#" * 12 + "." * 12 + "]  50%")
    report = progress_reporter(True, "blob")
    report(40, 100)
    report(100, 100)
    report(None, None)
    err = capsys.readouterr().err
    assert err.startswith("\rblob [") and "100%" in err and err.endswith("\n")
    quiet = progress_reporter(None, "blob")  # stderr is not a terminal under pytest
    quiet(100, 100)
    quiet(None, None)
    assert capsys.readouterr().err == ""


def test_a_second_process_writing_the_part_is_refused(tmp_path):
    import fcntl

    (tmp_path / NAME).write_bytes(DATA)
    dest = tmp_path / "d"
    dest.mkdir()
    with open(dest / (NAME + ".part"), "wb") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        with pytest.raises(DownloadError, match="being written by another process"):
            download_file(NAME, [tmp_path.as_uri()], dest, SHA)
    assert download_file(NAME, [tmp_path.as_uri()], dest, SHA).read_bytes() == DATA

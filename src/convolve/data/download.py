"""Verified, resumable downloads and the on-disk cache folder.

A file is fetched from each mirror in turn into ``<name>.part`` beside its destination
(:func:`convolve._fileio.open_partial`: never through a symbolic link, locked against a
second process). An interrupted transfer (a dropped connection, a timeout, Ctrl-C) keeps
the ``.part``; the next attempt asks for the rest with an HTTP ``Range`` request (a server
that answers 200, 416 or a wrong ``Content-Range`` makes it start again from byte 0). The
SHA-256 of the whole file is checked before it is renamed into place
(:func:`convolve._fileio.finish_partial`), so the destination only ever holds a verified
file. A wrong hash or an over-long response deletes the ``.part`` and the next mirror is
tried; a response longer than the known size (or the ``download_bytes`` limit of
:mod:`convolve.limits`) is cut off after one extra byte, in bounded memory.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
from pathlib import Path

from .. import limits
from .._fileio import UnsafeWriteError, check_destination, finish_partial, open_partial
from ..errors import DownloadError, LimitError
from .progress import progress_reporter

__all__ = ["DownloadError", "cache_dir", "download_file", "ensure_cache_dir", "sha256_file"]

_CHUNK = 1 << 20
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)\s*\Z")


def cache_dir() -> Path:
    """``$CONVOLVE_CACHE``, else ``$XDG_CACHE_HOME/convolve`` (an absolute path only, as the
    XDG spec says), else ``~/.cache/convolve``. Not created here: :func:`ensure_cache_dir`."""
    env = os.environ.get("CONVOLVE_CACHE", "").strip()
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "convolve"
    return Path.home() / ".cache" / "convolve"


def ensure_cache_dir(path=None) -> Path:
    """``path`` (default :func:`cache_dir`) as a folder, created with mode 0700 if missing."""
    path = Path(path) if path is not None else cache_dir()
    if not path.is_dir():
        try:
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise DownloadError(f"{path}: cannot be the cache folder: it (or a folder above it) "
                                f"is a file or a broken symbolic link; remove it or choose "
                                f"another --cache") from None
    return path


def sha256_file(path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class _Corrupt(Exception):
    """The bytes are wrong (hash mismatch, too long): the ``.part`` is deleted."""


class _Incomplete(Exception):
    """The mirror stopped early or misbehaved: the ``.part`` is kept for a resume."""


class _Part:
    """The open ``.part`` file, its length and the running SHA-256 of its bytes."""

    def __init__(self, fh):
        self.fh, self.digest, self.have = fh, hashlib.sha256(), 0
        fh.seek(0)
        while chunk := fh.read(_CHUNK):
            self.digest.update(chunk)
            self.have += len(chunk)

    def reset(self) -> None:
        self.fh.seek(0)
        self.fh.truncate()
        self.digest, self.have = hashlib.sha256(), 0

    def append(self, chunk: bytes) -> None:
        self.fh.write(chunk)
        self.digest.update(chunk)
        self.have += len(chunk)


class _Target:
    """One file to fetch: where it goes, what it must hash to, its bounds and reporter."""

    def __init__(self, filename, dest_dir, sha256, size, timeout, progress):
        self.filename, self.sha256, self.size = filename, sha256.lower(), size
        self.dest = Path(dest_dir) / filename
        self.part = self.dest.with_name(filename + ".part")
        self.timeout, self.progress = timeout, progress
        limit = limits.get("download_bytes")
        bounds = [b for b in (size, limit if limit > 0 else None) if b is not None]
        self.bound = min(bounds) if bounds else None


def _urlopen(url: str, offset: int, timeout: float):
    import urllib.request  # on first use: it pulls in http and email (20 ms of import time)

    if not offset:
        return urllib.request.urlopen(url, timeout=timeout)
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"})
    return urllib.request.urlopen(request, timeout=timeout)


def _resumes(resp, part: _Part, size) -> bool | None:
    """True if ``resp`` continues the part; None for a 206 with a wrong Content-Range."""
    if getattr(resp, "status", None) != 206:
        return False
    match = _CONTENT_RANGE.match(resp.headers.get("Content-Range", ""))
    if not match or int(match[1]) != part.have:
        return None
    total = match[3]
    return None if size is not None and total != "*" and int(total) != size else True


def _open_stream(url: str, part: _Part, t: _Target):
    """(response, offset): the offset is where its body starts in the file: ``part.have``
    when the server continues the part, else 0 (a 200, a 416 or a 206 for other bytes)."""
    import urllib.error

    try:
        resp = _urlopen(url, part.have, t.timeout)
    except urllib.error.HTTPError as err:
        if err.code != 416 or not part.have:
            raise
        err.close()
        return _urlopen(url, 0, t.timeout), 0
    if not part.have:
        return resp, 0
    resumes = _resumes(resp, part, t.size)
    if resumes:
        return resp, part.have
    if resumes is None:  # a 206 for other bytes than asked: ask for the whole file
        resp.close()
        return _urlopen(url, 0, t.timeout), 0
    return resp, 0  # 200 (or a file:// URL): the whole file, from byte 0


def _announced(resp, offset: int, url: str, t: _Target) -> int | None:
    """The total size the response announces (its Content-Length + ``offset``)."""
    length = resp.headers.get("Content-Length") if hasattr(resp, "headers") else None
    if not (length and length.strip().isdigit()):
        return None
    total = offset + int(length)
    limits.check("download_bytes", total, f"{url}: announced size")
    if t.size is not None and total != t.size:
        raise _Incomplete(f"{url}: the server announces {total:,} bytes, expected {t.size:,}")
    return total


def _receive(url: str, part: _Part, t: _Target, report) -> None:
    """Append the rest of the file from ``url`` to the part, within the size bounds (the
    part is emptied first when the server sends the whole file)."""
    resp, offset = _open_stream(url, part, t)
    with resp:
        announced = _announced(resp, offset, url, t)
        if offset < part.have:
            part.reset()
        total = t.size if t.size is not None else announced
        while True:
            want = _CHUNK if t.bound is None else max(1, min(_CHUNK, t.bound + 1 - part.have))
            chunk = resp.read(want)
            if not chunk:
                break
            part.append(chunk)
            if t.size is not None and part.have > t.size:
                raise _Corrupt(f"{url}: sent more than the expected {t.size:,} bytes")
            limits.check("download_bytes", part.have, f"{url}: received")
            report(part.have, total)
    if total is not None and part.have < total:
        raise _Incomplete(f"{url}: the connection closed after {part.have:,} of {total:,} "
                          f"bytes ({t.part} is kept to resume)")


def _fetch(url: str, t: _Target) -> Path:
    """Complete the part from ``url``, check its SHA-256 and rename it into place."""
    with open_partial(t.part) as fh:
        _lock(fh, t.part)
        part = _Part(fh)
        if t.size is not None and part.have > t.size:
            part.reset()
        if part.digest.hexdigest() != t.sha256 or not part.have:
            report = progress_reporter(t.progress, t.filename)
            try:
                _receive(url, part, t, report)
            finally:
                report(None, None)
        if part.digest.hexdigest() != t.sha256:
            raise _Corrupt(f"{url}: SHA-256 mismatch, expected {t.sha256}, received "
                           f"{part.digest.hexdigest()} ({part.have:,} bytes)")
        return finish_partial(fh, t.part, t.dest)


def _lock(fh, path: Path) -> None:
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        return
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        raise DownloadError(f"{path} is being written by another process; wait for it to "
                            f"finish or remove the file") from None


def _discard(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def download_file(filename: str, mirrors, dest_dir, sha256: str, timeout: float = 60.0, *,
                  size: int | None = None, progress=False) -> Path:
    """Fetch ``mirror + filename`` from the first mirror whose bytes hash to ``sha256`` and
    store it as ``dest_dir/filename`` (see the module docstring). ``size``: the exact size
    in bytes when known (a longer response is cut off); ``timeout``: seconds without data
    before a mirror is given up; ``progress``: see :func:`progress_reporter`. Raises
    DownloadError whose first line names the file and the folder, then every mirror's
    failure."""
    if isinstance(mirrors, str) or not mirrors:
        raise ValueError(f"download_file: mirrors must be a non-empty list of base URLs, "
                         f"received mirrors={mirrors!r}")
    if not filename or "/" in filename or os.sep in filename or filename in (".", ".."):
        raise ValueError(f"download_file: filename must be a plain file name, received "
                         f"{filename!r}")
    Path(dest_dir).mkdir(parents=True, exist_ok=True)
    t = _Target(filename, dest_dir, sha256, size, timeout, progress)
    check_destination(t.dest)
    failures = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + filename
        try:
            return _fetch(url, t)
        except (UnsafeWriteError, DownloadError):
            raise
        except LimitError as exc:
            _discard(t.part)
            raise DownloadError(f"could not download {filename}: {exc}") from None
        except _Corrupt as exc:
            _discard(t.part)
            failures.append(str(exc))
        except (_Incomplete, OSError, ValueError, http.client.HTTPException) as exc:
            failures.append(_describe(url, exc))
    if t.part.is_file() and not t.part.is_symlink() and t.part.stat().st_size == 0:
        _discard(t.part)  # nothing received: no .part to resume
    raise DownloadError(f"could not download {filename} into {t.dest.parent}: "
                        f"{len(failures)} mirror(s) failed:\n  " + ";\n  ".join(failures))


def _describe(url: str, exc: BaseException) -> str:
    """``url: reason``, urllib's ``<urlopen error ...>`` wrapping removed."""
    reason = getattr(exc, "reason", None)
    text = str(reason) if reason is not None and not getattr(exc, "code", None) else str(exc)
    return text if url in text else f"{url}: {text or type(exc).__name__}"

"""Verified downloads and the on-disk cache directory.

A file is fetched from each mirror in turn into a temporary file beside its destination,
its SHA-256 is checked against the known value, and only then is it renamed into place
(``os.replace``, atomic on one filesystem). A mismatching file is deleted.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from .. import limits
from ..errors import DownloadError, LimitError

__all__ = ["DownloadError", "cache_dir", "download_file", "sha256_file"]

_CHUNK = 1 << 20


def cache_dir() -> Path:
    """``$CONVOLVE_CACHE`` if set, else ``~/.cache/convolve`` (not created here)."""
    env = os.environ.get("CONVOLVE_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "convolve"


def sha256_file(path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _fetch(url: str, dest: Path, timeout: float) -> tuple[str, str]:
    """Stream ``url`` into a temp file next to ``dest``; return (temp path, sha256). Stops
    with LimitError once more than limit ``download_bytes`` arrive (or are announced)."""
    import urllib.request  # on first use: it pulls in http and email (20 ms of import time)

    digest, total, cap = hashlib.sha256(), 0, limits.get("download_bytes")
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            announced = resp.headers.get("Content-Length") if hasattr(resp, "headers") else None
            if announced and announced.strip().isdigit():
                limits.check("download_bytes", int(announced), f"{url}: announced size")
            while chunk := resp.read(_CHUNK if cap <= 0 else min(_CHUNK, cap + 1 - total)):
                total += len(chunk)
                limits.check("download_bytes", total, f"{url}: received")
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        os.unlink(tmp)
        raise
    return tmp, digest.hexdigest()


def download_file(filename: str, mirrors, dest_dir, sha256: str, timeout: float = 60.0) -> Path:
    """Fetch ``mirror + filename`` from the first mirror whose bytes hash to ``sha256`` and
    store it as ``dest_dir/filename``. Raises DownloadError listing every failed attempt."""
    if isinstance(mirrors, str) or not mirrors:
        raise ValueError(f"download_file: mirrors must be a non-empty list of base URLs, "
                         f"received mirrors={mirrors!r}")
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / filename
    failures = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + filename
        try:
            tmp, got = _fetch(url, dest, timeout)
        except LimitError as exc:
            raise DownloadError(f"could not download {filename}: {exc}") from None
        except (OSError, ValueError) as exc:  # urllib's URLError is an OSError
            failures.append(f"{url}: {exc}")
            continue
        if got != sha256.lower():
            os.unlink(tmp)
            failures.append(f"{url}: SHA-256 mismatch, expected {sha256}, received {got}")
            continue
        os.replace(tmp, dest)
        return dest
    raise DownloadError(f"could not download {filename} into {dest_dir}:\n  "
                        + "\n  ".join(failures))

"""Verified downloads and the on-disk cache directory.

A file is fetched from each mirror in turn into a temporary file beside its destination
(:func:`convolve._fileio.atomic_write`), its SHA-256 is checked against the known value,
and only then is it renamed into place (``os.replace``, atomic on one filesystem). A
mismatching file is deleted; a symbolic link or special file at the destination is refused.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from .. import limits
from .._fileio import UnsafeWriteError, atomic_write
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


class _Mismatch(Exception):
    """The downloaded bytes do not hash to the expected SHA-256 (nothing is stored)."""


def _fetch(url: str, dest: Path, sha256: str, timeout: float) -> Path:
    """Stream ``url`` into ``dest`` through :func:`convolve._fileio.atomic_write`, which
    renames the temporary file into place only if the bytes hash to ``sha256``."""
    import urllib.request  # on first use: it pulls in http and email (20 ms of import time)

    def stream(out) -> None:
        digest, total, cap = hashlib.sha256(), 0, limits.get("download_bytes")
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            announced = resp.headers.get("Content-Length") if hasattr(resp, "headers") else None
            if announced and announced.strip().isdigit():
                limits.check("download_bytes", int(announced), f"{url}: announced size")
            while chunk := resp.read(_CHUNK if cap <= 0 else min(_CHUNK, cap + 1 - total)):
                total += len(chunk)
                limits.check("download_bytes", total, f"{url}: received")
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != sha256.lower():
            raise _Mismatch(f"SHA-256 mismatch, expected {sha256}, received {digest.hexdigest()}")

    return atomic_write(dest, writer=stream)


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
            return _fetch(url, dest, sha256, timeout)
        except UnsafeWriteError:
            raise
        except LimitError as exc:
            raise DownloadError(f"could not download {filename}: {exc}") from None
        except (OSError, ValueError, _Mismatch) as exc:  # urllib's URLError is an OSError
            failures.append(f"{url}: {exc}")
    raise DownloadError(f"could not download {filename} into {dest_dir}:\n  "
                        + "\n  ".join(failures))

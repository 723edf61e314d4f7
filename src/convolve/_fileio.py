"""Safe file writing: the one place where convolve creates or replaces a file.

Every file the project writes (checkpoints, logs, histories, ONNX models, lab reports and
figures, dataset caches and downloads) goes through :func:`atomic_write` or, for JSON-lines
logs, :func:`open_append`, or, for resumable downloads, :func:`open_partial` then
:func:`finish_partial`. The rules:

- The destination is never followed if it is a symbolic link, and never replaced if it is
  not a regular file (appending also refuses a file with several hard links) (a FIFO, a device, a socket, a directory): :class:`UnsafeWriteError`, a
  one-line message naming the path, and the thing at the path is left as it was.
- New files get the permissions a plain ``open(path, "w")`` gives (0666 minus the umask,
  so 0644 under the usual umask 022); replacing a regular file keeps that file's mode.
- The data goes to a temporary file ``.<name>.<random>.tmp`` in the same folder (created
  with ``O_EXCL | O_NOFOLLOW``), is fsynced, then renamed over the destination
  (``os.replace``, which replaces a link rather than following it); the folder is fsynced.
  A crash leaves the old file or the new one, never a mix. On every failure path (an
  exception from the writer, a full disk, KeyboardInterrupt) the temporary file is removed;
  only a process killed outright can leave one, and :func:`remove_stale_temps` cleans those.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import stat
from pathlib import Path

__all__ = ["UnsafeWriteError", "atomic_write", "check_destination", "finish_partial",
           "open_append", "open_partial", "remove_stale_temps"]

_KINDS = ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a directory"),
          (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


class UnsafeWriteError(OSError):
    """The destination of a write is a symbolic link or not a regular file."""


def _kind(mode: int) -> str | None:
    """None for a regular file, else what the path is (a symbolic link, a FIFO...)."""
    for test, name in _KINDS:
        if test(mode):
            return name
    return None if stat.S_ISREG(mode) else "not a regular file"


def check_destination(path) -> os.stat_result | None:
    """lstat of the destination (None if absent); refuses links and non-regular files
    (:class:`UnsafeWriteError`). Writers call it early to fail before expensive work."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    kind = _kind(st.st_mode)
    if kind is not None:
        raise UnsafeWriteError(f"refusing to write {path}: it is {kind}, not a regular file "
                               f"(remove it or choose another path)")
    return st


def _create_temp(path: Path):
    """A new file .<name>.<random>.tmp beside ``path``: (fd, temp path)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
        try:
            return os.open(tmp, flags, 0o666), tmp  # the kernel applies the umask
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, f"could not create a temporary file beside {path}")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def atomic_write(path, data=None, *, writer=None) -> Path:
    """Write ``data`` (bytes or str, UTF-8), or whatever ``writer(binary_file)`` writes, to
    ``path`` atomically and safely (see the module docstring); returns the path.

    The parent folder is created if needed. Raises :class:`UnsafeWriteError` when ``path``
    is a symbolic link or not a regular file, and re-raises any error of the write after
    removing the temporary file.
    """
    if (data is None) == (writer is None):
        raise TypeError("atomic_write: pass exactly one of data and writer")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    old = check_destination(path)
    fd, tmp = _create_temp(path)
    try:
        if old is not None:
            os.fchmod(fd, stat.S_IMODE(old.st_mode))
        if writer is None:
            _write_all(fd, data.encode("utf-8") if isinstance(data, str) else bytes(data))
        else:
            with os.fdopen(os.dup(fd), "wb") as fh:
                writer(fh)
        os.fsync(fd)
        os.close(fd)
        fd = -1
        check_destination(path)  # still not a link / special file just before the rename
        os.replace(tmp, path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        _unlink_quietly(tmp)
        raise
    _fsync_dir(path.parent)
    return path


def _unlink_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # some platforms cannot open directories
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _open_regular(path: Path, flags: int, verb: str) -> int:
    """A descriptor on ``path`` (created if absent) opened with ``flags`` plus O_CREAT and
    O_NOFOLLOW, refused (:class:`UnsafeWriteError`) when it is a symbolic link, not a regular
    file, or a file with several hard links. Race-free: O_NOFOLLOW, then fstat of the fd."""
    path.parent.mkdir(parents=True, exist_ok=True)
    check_destination(path)
    try:
        fd = os.open(path, flags | os.O_CREAT | _NOFOLLOW | _CLOEXEC | _NONBLOCK, 0o666)
    except OSError as err:
        if err.errno in (errno.ELOOP, errno.ENXIO, errno.EMLINK):
            raise UnsafeWriteError(f"refusing to write {path}: it is a symbolic link or not a "
                                   f"regular file") from None
        raise
    st = os.fstat(fd)
    kind = _kind(st.st_mode) or (f"a file with {st.st_nlink} hard links"
                                 if st.st_nlink > 1 else None)
    if kind is not None:
        os.close(fd)
        raise UnsafeWriteError(f"refusing to {verb} {path}: it is {kind}, not a plain "
                               f"regular file (remove it or choose another path)")
    if _NONBLOCK:
        os.set_blocking(fd, True)
    return fd


def open_append(path):
    """``path`` opened for appending text (created if absent), without following a symbolic
    link and refusing a FIFO, device or other non-regular file, or a file with more than one
    hard link (appending would change the other name's file too): :class:`UnsafeWriteError`.
    The check is race-free: O_NOFOLLOW, then fstat of the opened descriptor."""
    fd = _open_regular(Path(path), os.O_WRONLY | os.O_APPEND, "append to")
    return os.fdopen(fd, "a", encoding="utf-8")


def open_partial(path):
    """``path`` opened for reading and writing in binary (created if absent, never
    truncated), with the same refusals as :func:`open_append`: the ``.part`` file of a
    resumable download, which :func:`finish_partial` later renames into place."""
    fd = _open_regular(Path(path), os.O_RDWR, "write")
    return os.fdopen(fd, "r+b")


def finish_partial(fh, partial, path) -> Path:
    """Flush and fsync ``fh`` (the open :func:`open_partial` file ``partial``) and rename it
    over ``path`` (refused if ``path`` is a symbolic link or not a regular file); the folder
    is fsynced. Returns ``path``."""
    path = Path(path)
    fh.flush()
    os.fsync(fh.fileno())
    check_destination(path)
    os.replace(partial, path)
    _fsync_dir(path.parent)
    return path


def remove_stale_temps(directory, names) -> list:
    """Delete the temporary files ``.<name>.<random>.tmp`` that a killed write of one of
    ``names`` left in ``directory`` (regular files only); returns the removed paths.
    Call it only when no other process writes there (e.g. when resuming a run)."""
    directory = Path(directory)
    alternatives = "|".join(re.escape(n) for n in names)
    pattern = re.compile(rf"\.({alternatives})\.[0-9a-f]{{12}}\.tmp\Z")
    removed = []
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return removed
    for entry in entries:
        if pattern.match(entry.name) and entry.is_file(follow_symlinks=False):
            _unlink_quietly(Path(entry.path))
            removed.append(Path(entry.path))
    return removed

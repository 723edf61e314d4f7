"""How the ``convolve`` command reports errors: every exception as one line.

:class:`CLIError` marks a user mistake found by the command line itself; :func:`describe_error`
turns any exception (a user error, out of memory, a full disk, a bug) into the one line that
``convolve.cli.main`` prints after ``convolve: error:``.
"""

from __future__ import annotations

import errno

__all__ = ["USER_ERRORS", "CLIError", "describe_error"]

_MAX_MESSAGE = 1000


class CLIError(Exception):
    """A user mistake, reported as one line without a traceback."""


USER_ERRORS = (CLIError, ValueError, OSError, ImportError)


def _one_line(err: BaseException) -> str:
    text = str(err) if not isinstance(err, KeyError) else str(err.args[0] if err.args else err)
    text = " ".join(text.split()) or type(err).__name__
    return text if len(text) <= _MAX_MESSAGE else text[:_MAX_MESSAGE] + "..."


def describe_error(err: BaseException) -> str:
    """One line for any exception: the message of a user error, a plain account otherwise."""
    if isinstance(err, MemoryError):
        return (f"out of memory{': ' + _one_line(err) if str(err) else ''}; try a smaller "
                f"--batch-size, input or model (the memory budget is set by --memory-budget)")
    if isinstance(err, RecursionError):
        return "the input is nested too deeply to process (RecursionError)"
    if isinstance(err, OSError) and err.errno == errno.ENOSPC:
        where = f" writing {err.filename}" if err.filename else ""
        return f"no space left on device{where}; free some space or choose another --out"
    if isinstance(err, (*USER_ERRORS, KeyError)) or type(err).__module__.startswith("PIL"):
        return _one_line(err)
    return (f"unexpected {type(err).__name__}: {_one_line(err)} (set CONVOLVE_DEBUG=1 for the "
            f"traceback and please report it)")

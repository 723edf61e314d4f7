"""Global switch for gradient recording: ``no_grad``, ``enable_grad``, ``inference_mode``
and ``set_grad_enabled``, each a context manager and a decorator, as in PyTorch."""

from __future__ import annotations

import functools

_enabled = True


def is_grad_enabled() -> bool:
    return _enabled


def _set_enabled(mode: bool) -> None:
    global _enabled
    _enabled = bool(mode)


class _GradMode:
    mode = True

    def __new__(cls, *args, **kwargs):
        if cls is not set_grad_enabled and len(args) == 1 and callable(args[0]):
            return cls()(args[0])  # used bare as a decorator: @no_grad
        return super().__new__(cls)

    def __enter__(self):
        self._prev = is_grad_enabled()
        _set_enabled(self.mode)
        return self

    def __exit__(self, *exc):
        _set_enabled(self._prev)
        return False

    def _fresh(self):
        return self.__class__()

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self._fresh():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradMode):
    """Context manager / decorator: ops inside record no graph."""

    mode = False


class enable_grad(_GradMode):
    """Context manager / decorator: turn recording back on inside ``no_grad``."""

    mode = True


class inference_mode(_GradMode):
    """``no_grad`` under PyTorch's name; ``inference_mode(False)`` records, as PyTorch's does."""

    def __init__(self, mode: bool = True):
        self.mode = not mode

    def _fresh(self):
        return inference_mode(not self.mode)


class set_grad_enabled(_GradMode):
    """Turn recording on or off: at once when called (``set_grad_enabled(False)``), or for a
    block (``with set_grad_enabled(is_train):``), restoring the previous mode after it."""

    def __init__(self, mode: bool):
        self._prev = is_grad_enabled()
        self.mode = bool(mode)
        _set_enabled(self.mode)

    def __enter__(self):
        return self

    def __call__(self, fn):
        _set_enabled(self._prev)  # as a decorator it changes nothing until fn runs
        return super().__call__(fn)

    def _fresh(self):
        return _Switch(self.mode)


class _Switch(_GradMode):
    def __init__(self, mode: bool):
        self.mode = mode

"""The exception types convolve raises for bad input files, specs and exceeded limits.

Every type subclasses a built-in one (``ValueError`` or ``OSError``), so code written as
``except ValueError`` keeps working::

    ConvolveError                  base of everything below
    ├── InputError(ValueError)     a malformed file, description or argument value
    │   ├── SpecError              a model description (JSON/YAML layer list)
    │   │   └── SpecTypeError      ... of the wrong type (also a TypeError)
    │   ├── CheckpointError        a checkpoint file or its metadata
    │   ├── DataError              a dataset file: IDX, CIFAR, image, archive
    │   └── LimitError             a size, depth, count or memory limit was exceeded
    └── DownloadError(OSError)     no mirror delivered the expected bytes

Missing files raise the built-in ``FileNotFoundError``.
"""

from __future__ import annotations

__all__ = ["CheckpointError", "ConvolveError", "DataError", "DownloadError", "InputError",
           "LimitError", "SpecError", "SpecTypeError"]


class ConvolveError(Exception):
    """Base class of the errors convolve raises for its users' inputs."""


class InputError(ConvolveError, ValueError):
    """A malformed input: the message names the file or argument and what was expected."""


class SpecError(InputError):
    """A model description that cannot be parsed or built."""


class SpecTypeError(SpecError, TypeError):
    """A model description of the wrong type (e.g. ``layers`` not a list)."""


class CheckpointError(InputError):
    """A file that is missing parts, truncated, corrupted or not a convolve checkpoint."""


class DataError(InputError):
    """A dataset file (IDX, CIFAR, image, archive) that is malformed."""


class LimitError(InputError):
    """A size, depth, count or memory limit was exceeded (see :mod:`convolve.limits`)."""


class DownloadError(ConvolveError, OSError):
    """No mirror delivered a file with the expected SHA-256 (or within the size cap)."""

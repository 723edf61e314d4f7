"""TEST-ONLY stand-in for torchvision (not installed here, and not to be): just the
transforms the compat scripts use, so they run unmodified under PyTorch."""

from . import transforms  # noqa: F401

"""Resource limits applied to untrusted inputs, each raisable by an environment variable.

=================  ==============================  ===========================================
name               environment variable            what it bounds (default)
=================  ==============================  ===========================================
spec_bytes         CONVOLVE_MAX_SPEC_BYTES         size of a JSON/YAML model description (1M)
spec_nodes         CONVOLVE_MAX_SPEC_NODES         values in a description, aliases expanded
json_depth         CONVOLVE_MAX_JSON_DEPTH         nesting depth of specs and metadata (64)
yaml_aliases       CONVOLVE_MAX_YAML_ALIASES       YAML alias uses (*name) in a description
layers             CONVOLVE_MAX_LAYERS             layers in one model (10000)
layer_value        CONVOLVE_MAX_LAYER_VALUE        any int in a layer entry: channels, sizes
metadata_bytes     CONVOLVE_MAX_METADATA_BYTES     a checkpoint's JSON metadata (64M)
data_bytes         CONVOLVE_MAX_DATA_BYTES         one decompressed IDX / CIFAR file (4G)
image_pixels       CONVOLVE_MAX_IMAGE_PIXELS       pixels of one image (4096 x 4096)
eager_image_bytes  CONVOLVE_MAX_EAGER_IMAGE_BYTES  image folder decoded at once, above: lazy (1G)
download_bytes     CONVOLVE_MAX_DOWNLOAD_BYTES     one downloaded file (2G)
memory_budget      CONVOLVE_MEMORY_BUDGET          a model's estimated memory (physical RAM)
=================  ==============================  ===========================================

Values accept suffixes K, M, G, T (powers of 1024); 0 or a negative value means "no limit".
:func:`set_limit` changes one for this process (``convolve --memory-budget`` uses it).
"""

from __future__ import annotations

import contextlib
import os

from .errors import LimitError

__all__ = ["LIMITS", "check", "get", "override", "parse_size", "set_limit"]

_K = 1024
LIMITS = {  # name -> (default, environment variable, what it counts)
    "spec_bytes": (_K ** 2, "CONVOLVE_MAX_SPEC_BYTES", "bytes"),
    "spec_nodes": (200_000, "CONVOLVE_MAX_SPEC_NODES", "values"),
    "json_depth": (64, "CONVOLVE_MAX_JSON_DEPTH", "levels of nesting"),
    "yaml_aliases": (1_000, "CONVOLVE_MAX_YAML_ALIASES", "YAML aliases"),
    "layers": (10_000, "CONVOLVE_MAX_LAYERS", "layers"),
    "layer_value": (1 << 24, "CONVOLVE_MAX_LAYER_VALUE", ""),
    "metadata_bytes": (64 * _K ** 2, "CONVOLVE_MAX_METADATA_BYTES", "bytes"),
    "data_bytes": (4 * _K ** 3, "CONVOLVE_MAX_DATA_BYTES", "bytes"),
    "image_pixels": (4096 * 4096, "CONVOLVE_MAX_IMAGE_PIXELS", "pixels"),
    "eager_image_bytes": (_K ** 3, "CONVOLVE_MAX_EAGER_IMAGE_BYTES", "bytes"),
    "download_bytes": (2 * _K ** 3, "CONVOLVE_MAX_DOWNLOAD_BYTES", "bytes"),
    "memory_budget": (None, "CONVOLVE_MEMORY_BUDGET", "bytes"),
}
_overrides: dict = {}
_SUFFIXES = {"k": _K, "m": _K ** 2, "g": _K ** 3, "t": _K ** 4}


def parse_size(text, what: str = "size") -> int:
    """'512M', '8G', '1e9', '100000' -> an int number of bytes (or units)."""
    s = str(text).strip().lower().removesuffix("ib").removesuffix("b")
    scale = _SUFFIXES.get(s[-1:], 1) if s else 1
    if scale != 1:
        s = s[:-1]
    try:
        return int(float(s) * scale)
    except (ValueError, OverflowError):
        raise LimitError(f"{what}: expected a number of bytes such as 512M or 8G, "
                         f"received {text!r}") from None


def _physical_memory() -> int:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return 16 * _K ** 3


def get(name: str) -> int:
    """The limit in force: set_limit() > environment variable > default; <= 0: none."""
    if name not in LIMITS:
        raise KeyError(f"limits: unknown limit {name!r}; known: {', '.join(LIMITS)}")
    if name in _overrides:
        return _overrides[name]
    default, env, _ = LIMITS[name]
    if os.environ.get(env, "").strip():
        return parse_size(os.environ[env], env)
    return _physical_memory() if default is None else default


def set_limit(name: str, value) -> None:
    """Set limit ``name`` for this process (an int or a size string; None: back to default)."""
    get(name)  # validates the name
    if value is None:
        _overrides.pop(name, None)
    else:
        _overrides[name] = parse_size(value, name)


@contextlib.contextmanager
def override(**values):
    """``with limits.override(layers=10): ...`` sets limits for the block only."""
    saved = {k: _overrides.get(k) for k in values}
    for k, v in values.items():
        set_limit(k, v)
    try:
        yield
    finally:
        for k, v in saved.items():
            set_limit(k, v)


def check(name: str, value: int, where: str) -> None:
    """Raise LimitError naming ``where`` when ``value`` exceeds limit ``name``."""
    limit = get(name)
    if 0 < limit < value:
        _, env, unit = LIMITS[name]
        raise LimitError(f"{where}: {value:,}{' ' + unit if unit else ''} exceeds the limit of {limit:,} "
                         f"(limit {name!r}; raise it with the environment variable {env})")

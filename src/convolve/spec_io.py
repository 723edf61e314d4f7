"""Reading model descriptions (JSON/YAML) from untrusted sources, with bounded resources.

The text is capped in size, YAML is read by a safe loader that refuses more than a set
number of aliases (an "alias bomb" of nested anchors expands exponentially), and the parsed
structure is walked once, with aliases expanded, to bound its depth and number of values
before anything iterates over it. Limits live in :mod:`convolve.limits`.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

from . import limits
from .errors import LimitError, SpecError

__all__ = ["check_tree", "load_spec"]


def check_tree(obj, where: str, nodes: str | None = "spec_nodes") -> None:
    """Bound the depth (limit json_depth) and value count (limit ``nodes``, None: no count)
    of a parsed JSON/YAML structure, counting shared (aliased) values once per use."""
    max_depth, max_nodes = limits.get("json_depth"), limits.get(nodes) if nodes else 0
    stack, count = [(obj, 1)], 1
    while stack:
        item, depth = stack.pop()
        if not isinstance(item, (dict, list, tuple)):
            continue
        if 0 < max_depth < depth:
            limits.check("json_depth", depth, f"{where}: nested too deeply")
        children = list(item.values()) if isinstance(item, dict) else item
        count += len(children) * (2 if isinstance(item, dict) else 1)
        if 0 < max_nodes < count:
            limits.check(nodes, count, f"{where}: too many values")
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list, tuple)))


def _check_layers(spec, where: str) -> None:
    layers = spec.get("layers") if isinstance(spec, dict) else spec
    if isinstance(layers, list):
        limits.check("layers", len(layers), f"{where}: the description's layer count")


def _yaml_loader(path):
    import yaml

    class BoundedLoader(yaml.SafeLoader):
        """SafeLoader that refuses more than limits' yaml_aliases aliases."""

        aliases = 0

        def compose_node(self, parent, index):
            if self.check_event(yaml.AliasEvent):
                self.aliases += 1
                limits.check("yaml_aliases", self.aliases, f"load_spec: {path}")
            return super().compose_node(parent, index)

    return BoundedLoader


def _load_yaml(text: str, path) -> object:
    try:
        import yaml
    except ImportError:
        raise SpecError(f"load_spec: reading {path} needs PyYAML (pip install pyyaml)") from None
    try:
        return yaml.load(text, Loader=_yaml_loader(path))  # a SafeLoader subclass: no tags
    except yaml.YAMLError as err:
        raise SpecError(f"load_spec: {path} is not valid YAML: {' '.join(str(err).split())}") \
            from None


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except (OSError, ValueError) as err:  # a name too long, an embedded NUL...
        raise SpecError(f"load_spec: cannot use {str(path)[:80]!r} as a file name: "
                        f"{getattr(err, 'strerror', None) or err}") from None


def _read_text(path: Path) -> str:
    try:
        size = path.stat().st_size
    except OSError as err:
        raise SpecError(f"load_spec: cannot read {path}: {err.strerror or err}") from None
    limits.check("spec_bytes", size, f"load_spec: {path}")
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise SpecError(f"load_spec: {path} is not UTF-8 text ({err.reason} at byte "
                        f"{err.start})") from None


def _parse(text: str, where, yaml_file: bool):
    try:
        if yaml_file:
            return _load_yaml(text, where)
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise SpecError(f"load_spec: {where} is not valid JSON: {err}") from None
    except RecursionError:
        raise LimitError(f"load_spec: {where} is nested too deeply to parse") from None


def load_spec(source):
    """A description from a dict, a list of layers, a JSON string or a .json/.yaml file path.

    Raises FileNotFoundError for a missing file, SpecError for one that does not parse and
    LimitError for one over the size, depth, alias or value-count limits.
    """
    if isinstance(source, (dict, list)):
        _check_layers(source, "load_spec")
        check_tree(source, "load_spec")
        return copy.deepcopy(source)
    if not isinstance(source, (str, Path)):
        raise SpecError(f"load_spec: expected a dict, a list of layers, a JSON string or a "
                        f"path, received {type(source).__name__}")
    text = str(source)
    path, where, yaml_file = Path(text), "the JSON text", False
    if not text.lstrip().startswith(("{", "[")):
        if not _is_file(path):
            raise FileNotFoundError(f"load_spec: no such model description file: {text}")
        text, where = _read_text(path), path
        yaml_file = path.suffix.lower() in (".yaml", ".yml")
    limits.check("spec_bytes", len(text), f"load_spec: {where}")
    spec = _parse(text, where, yaml_file)
    check_tree(spec, f"load_spec: {where}")
    _check_layers(spec, f"load_spec: {where}")
    return spec

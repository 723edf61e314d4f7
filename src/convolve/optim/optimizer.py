"""Optimizer base class with PyTorch's param groups, per-parameter state and state dicts.

A subclass validates its options in ``_check_options(group)`` and updates one parameter in
``_update(param, grad, group)``, in place on ``param.data`` (other references stay valid).
Temporaries come from a few flat scratch buffers reused across steps (``_scratch``).
"""

from __future__ import annotations

import copy
import math
import numbers
from collections import defaultdict

import numpy as np

from ..grad_mode import enable_grad
from ..tensor import Tensor

__all__ = ["Optimizer", "optimizer_state_from_arrays", "optimizer_state_to_arrays"]

_FORMAT = "convolve.optim.state_dict/1"


# ------------------------------------------------------------------ validation
def check_real(owner: str, arg: str, value, low=None, high=None, high_open=False) -> None:
    """Raise TypeError unless ``value`` is a real number, ValueError unless in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{owner}: expected {arg} to be a real number, received {arg}={value!r}")
    if math.isnan(value):
        raise ValueError(f"{owner}: expected {arg} to be a number, received {arg}={value!r}")
    too_low = low is not None and value < low
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        lo = "-inf" if low is None else low
        hi = "inf" if high is None else high
        bracket = ")" if high_open or high is None else "]"
        raise ValueError(
            f"{owner}: expected {arg} in [{lo}, {hi}{bracket}, received {arg}={value!r}"
        )


def check_bool(owner: str, arg: str, value) -> None:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{owner}: expected {arg} to be a bool, received {arg}={value!r}")


def _to_state_value(value, where: str):
    """Array-likes (ndarray, torch tensor) to ndarray; 0-d arrays and NumPy scalars to numbers."""
    if isinstance(value, Tensor):  # convolve.load gives Tensors for a .pt file's tensors
        value = value.data
    elif hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor
        value = value.detach().cpu().numpy()
    if isinstance(value, (np.ndarray, np.generic)) and np.ndim(value) == 0:
        return value.item()
    if isinstance(value, (np.ndarray, numbers.Number, str, type(None))):
        return value
    raise TypeError(
        f"load_state_dict: state value {where} must be an array or a number, "
        f"received {type(value).__name__}"
    )


# ------------------------------------------------------------------ the base class
class Optimizer:
    """Base class: ``param_groups`` (list of dicts with 'params' and options), ``state``
    (dict param -> dict), ``step()``, ``zero_grad()``, ``state_dict()``/``load_state_dict()``."""

    def __init__(self, params, defaults: dict):
        self.defaults = dict(defaults)
        self._check_options(self.defaults)
        self.state: defaultdict = defaultdict(dict)
        self.param_groups: list[dict] = []
        self._scratch: dict = {}
        if isinstance(params, (Tensor, set, frozenset)):
            raise TypeError(
                f"{self._name}: params must be an ordered iterable of Tensors or of dicts, "
                f"received {type(params).__name__}"
            )
        try:
            groups = list(params)
        except TypeError:
            raise TypeError(
                f"{self._name}: params must be an iterable of Tensors or of dicts, "
                f"received {type(params).__name__}"
            ) from None
        if len(groups) == 0:
            raise ValueError(f"{self._name}: optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    @property
    def _name(self) -> str:
        return type(self).__name__

    def _check_options(self, group: dict) -> None:
        if "lr" in group:
            check_real(self._name, "lr", group["lr"], low=0.0)

    def __repr__(self) -> str:
        lines = [f"{self._name} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {group[k]}" for k in sorted(group) if k != "params"]
        return "\n".join(lines + [")"])

    # ------------------------------------------------------------ param groups
    def add_param_group(self, param_group: dict) -> None:
        """Add a dict with 'params' (Tensors) and optional per-group options to param_groups."""
        if not isinstance(param_group, dict):
            raise TypeError(
                f"{self._name}: param_group must be a dict, received {type(param_group).__name__}"
            )
        if "params" not in param_group:
            raise ValueError(f"{self._name}: param_group must have a 'params' entry")
        params = param_group["params"]
        if isinstance(params, (set, frozenset)):
            raise TypeError(f"{self._name}: params must be an ordered collection, received a set")
        params = [params] if isinstance(params, Tensor) else list(params)
        for i, p in enumerate(params):
            self._check_param(p, i)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if len({id(p) for p in params}) != len(params):
            raise ValueError(f"{self._name}: a parameter group contains a parameter twice")
        if any(id(p) in seen for p in params):
            raise ValueError(f"{self._name}: some parameters appear in more than one group")
        group = dict(param_group, params=params)
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self._check_options(group)
        self.param_groups.append(group)

    def _check_param(self, p, i: int) -> None:
        if not isinstance(p, Tensor):
            raise TypeError(
                f"{self._name}: can only optimize Tensors, but params[{i}] is {type(p).__name__}"
            )
        if not p.is_leaf:
            raise ValueError(f"{self._name}: can't optimize a non-leaf Tensor (params[{i}])")
        if p.data.dtype.kind != "f":
            raise TypeError(
                f"{self._name}: can only optimize floating Tensors, params[{i}] has dtype "
                f"{p.data.dtype}"
            )

    # ------------------------------------------------------------ stepping
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Set every parameter's grad to None, or (set_to_none=False) fill it with zeros in place."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad.fill(0)

    def step(self, closure=None):
        """Update every parameter that has a grad (params with grad None are skipped).

        ``closure`` (optional) re-evaluates the model and returns the loss, which step returns.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self._update(p, self._grad_of(p), group)
        return loss

    def _grad_of(self, p) -> np.ndarray:
        grad = np.asarray(p.grad)
        if grad.shape != p.data.shape:
            raise ValueError(
                f"{self._name}: gradient of shape {grad.shape} does not match its parameter "
                f"of shape {p.data.shape}"
            )
        if grad.dtype != p.data.dtype:
            grad = grad.astype(p.data.dtype)
        return grad

    def _update(self, p, grad: np.ndarray, group: dict) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _buffer(self, like: np.ndarray, slot: int) -> np.ndarray:
        """A scratch array shaped like ``like``: a view of a flat buffer reused across steps."""
        key = (slot, like.dtype.str)
        flat = self._scratch.get(key)
        if flat is None or flat.size < like.size:
            flat = self._scratch[key] = np.empty(like.size, like.dtype)
        return flat[: like.size].reshape(like.shape)

    def _direction(self, data: np.ndarray, grad: np.ndarray, weight_decay, maximize) -> np.ndarray:
        """grad (negated if maximize) + weight_decay * param; ``grad`` itself when nothing to do."""
        if weight_decay == 0:
            return np.negative(grad, out=self._buffer(data, 0)) if maximize else grad
        out = np.multiply(data, weight_decay, out=self._buffer(data, 0))
        return np.subtract(out, grad, out=out) if maximize else np.add(out, grad, out=out)

    # ------------------------------------------------------------ state dicts
    def state_dict(self) -> dict:
        """{'state': {index: {name: ndarray or number}}, 'param_groups': [{..., 'params': [index]}]}.

        Parameters are numbered in the order of ``param_groups``; arrays are copies.
        """
        index = {}
        groups = []
        for group in self.param_groups:
            packed = {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(packed)
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                if self.state.get(p):
                    state[index[id(p)]] = {
                        k: (v.copy() if isinstance(v, np.ndarray) else v)
                        for k, v in self.state[p].items()
                    }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Load a dict from ``state_dict()``; validates everything before changing anything.

        Raises ValueError on a different number of groups or of parameters per group, an
        unknown parameter index, or a state array whose shape differs from its parameter's.
        """
        name = f"{self._name}.load_state_dict"
        if not isinstance(state_dict, dict) or not {"state", "param_groups"} <= state_dict.keys():
            raise ValueError(f"{name}: expected a dict with 'state' and 'param_groups' entries")
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"{name}: loaded state dict has {len(saved_groups)} parameter groups, "
                f"the optimizer has {len(self.param_groups)}"
            )
        id_map = {}
        new_groups = []
        for i, (group, saved) in enumerate(zip(self.param_groups, saved_groups)):
            if not isinstance(saved, dict) or "params" not in saved:
                raise ValueError(f"{name}: param_groups[{i}] must be a dict with a 'params' list")
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(
                    f"{name}: parameter group {i} has {len(saved['params'])} parameters in the "
                    f"loaded state dict, {len(group['params'])} in the optimizer"
                )
            id_map.update(zip(saved["params"], group["params"]))
            new_group = {k: copy.deepcopy(v) for k, v in saved.items() if k != "params"}
            if isinstance(new_group.get("betas"), list):
                new_group["betas"] = tuple(new_group["betas"])
            for key, value in group.items():
                new_group.setdefault(key, value)
            new_group["params"] = group["params"]
            self._check_options(new_group)
            new_groups.append(new_group)
        new_state = defaultdict(dict)
        for key, entry in state_dict["state"].items():
            if key not in id_map:
                raise ValueError(f"{name}: state for unknown parameter index {key!r}")
            new_state[id_map[key]] = self._cast_state(id_map[key], entry, f"{name}: state[{key}]")
        self.param_groups = new_groups
        self.state = new_state

    @staticmethod
    def _cast_state(p, entry: dict, where: str) -> dict:
        out = {}
        for k, v in entry.items():
            v = _to_state_value(v, f"{where}[{k!r}]")
            if isinstance(v, np.ndarray):
                if v.shape != p.data.shape:
                    raise ValueError(
                        f"{where}[{k!r}] has shape {v.shape}, its parameter has shape "
                        f"{p.data.shape}"
                    )
                v = np.array(v, dtype=p.data.dtype, copy=True)
            out[k] = v
        return out


# ------------------------------------------------------------------ flat form for checkpoints
def optimizer_state_to_arrays(state_dict: dict) -> tuple[dict, dict]:
    """Split an optimizer state_dict into ({'state.<index>.<name>': ndarray}, JSON-able meta).

    The arrays can go to a safetensors file and the meta dict to its JSON metadata;
    ``optimizer_state_from_arrays(arrays, meta)`` rebuilds the state_dict.
    """
    arrays, scalars = {}, {}
    for index, entry in state_dict["state"].items():
        scalars[str(index)] = {}
        for k, v in entry.items():
            v = _to_state_value(v, f"state[{index}][{k!r}]")
            if isinstance(v, np.ndarray):
                arrays[f"state.{index}.{k}"] = np.ascontiguousarray(v)
            else:
                scalars[str(index)][k] = v
    groups = [copy.deepcopy(g) for g in state_dict["param_groups"]]
    return arrays, {"format": _FORMAT, "state": scalars, "param_groups": groups}


def optimizer_state_from_arrays(arrays: dict, meta: dict) -> dict:
    """Inverse of ``optimizer_state_to_arrays``: rebuild the state_dict (lists become tuples
    for 'betas'). Raises ValueError on an unknown format or a malformed array key."""
    if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
        raise ValueError(f"optimizer_state_from_arrays: meta is not in the {_FORMAT!r} format")
    state = {int(k): dict(v) for k, v in meta["state"].items()}
    for key, value in arrays.items():
        parts = key.split(".", 2)
        if len(parts) != 3 or parts[0] != "state" or not parts[1].isdigit():
            raise ValueError(
                f"optimizer_state_from_arrays: malformed key {key!r}, expected 'state.<index>.<name>'"
            )
        state.setdefault(int(parts[1]), {})[parts[2]] = np.array(value, copy=True)
    groups = []
    for group in meta["param_groups"]:
        group = copy.deepcopy(group)
        if isinstance(group.get("betas"), list):
            group["betas"] = tuple(group["betas"])
        groups.append(group)
    return {"state": state, "param_groups": groups}

"""Module, Parameter and containers, with PyTorch's state_dict keys and layouts."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from .. import device as _device
from ..tensor import Tensor


class Parameter(Tensor):
    """A Tensor that a Module registers as trainable (requires_grad=True by default)."""

    __slots__ = ()

    def __init__(self, data, requires_grad: bool = True, dtype=None):
        super().__init__(data, requires_grad=requires_grad, dtype=dtype)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


def _to_numpy(value, name: str) -> np.ndarray:
    """Array-like (ndarray, list, Tensor, torch tensor) to ndarray for load_state_dict."""
    if isinstance(value, Tensor):
        return value.data
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor
        return value.detach().cpu().numpy()
    try:
        return np.asarray(value)
    except Exception as err:  # noqa: BLE001 - report any conversion failure the same way
        raise TypeError(f"load_state_dict: value for {name!r} is not array-like: {err}") from None


def add_weight_and_bias(module, weight_shape: tuple, bias_shape, dtype) -> None:
    """Register uninitialised ``weight`` and ``bias`` Parameters on ``module``.

    ``bias_shape=None`` registers ``bias`` as None (PyTorch's ``bias=False``); the layer's
    ``reset_parameters()`` fills the values.
    """
    module.weight = Parameter(np.empty(weight_shape, dtype=dtype))
    if bias_shape is None:
        module.register_parameter("bias", None)
    else:
        module.bias = Parameter(np.empty(bias_shape, dtype=dtype))


class Module:
    """Base class of layers and models: holds parameters, buffers and submodules in order."""

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "training", True)

    # ------------------------------------------------------------ registration
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"{type(self).__name__}: call super().__init__() before assigning attributes"
            )
        keep = (self._parameters if isinstance(value, Parameter) else self._modules
                if isinstance(value, Module) else self._buffers
                if name in self.__dict__.get("_buffer_names", ()) else None)
        for store in (self._parameters, self._buffers, self._modules):
            if store is not keep:  # re-assigning keeps the entry's place, as in PyTorch
                store.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        elif name in self.__dict__.get("_buffer_names", ()):
            self._buffers[name] = value
            return
        object.__setattr__(self, name, value)
        if isinstance(value, (Parameter, Module)):
            self.__dict__.pop(name, None)

    def __getattr__(self, name):
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            if store in d and name in d[store]:
                return d[store][name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name):
        for store in (self._parameters, self._buffers, self._modules):
            if name in store:
                del store[name]
                return
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param) -> None:
        if param is None:
            self._parameters[name] = None
            self.__dict__.pop(name, None)
            return
        if not isinstance(param, Parameter):
            raise TypeError(f"register_parameter: {name!r} must be a Parameter or None, "
                            f"received {type(param).__name__}")
        setattr(self, name, param)

    def register_buffer(self, name: str, value, persistent: bool = True) -> None:
        """A non-trainable tensor that belongs to the state (e.g. BatchNorm's running mean)."""
        names = self.__dict__.setdefault("_buffer_names", set())
        names.add(name)
        if not persistent:
            self.__dict__.setdefault("_non_persistent", set()).add(name)
        if value is not None and not isinstance(value, Tensor):
            value = Tensor(np.asarray(value), dtype=np.asarray(value).dtype)
        self._buffers[name] = value

    def add_module(self, name: str, module) -> None:
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: {name!r} must be a Module, received {type(module).__name__}")
        self._modules[name] = module

    # ----------------------------------------------------------------- calling
    def forward(self, *args, **kwargs):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args, **kwargs):
        out = self.forward(*args, **kwargs)
        if self._forward_hooks:
            for hook in list(self._forward_hooks.values()):
                res = hook(self, args, out)
                if res is not None:
                    out = res
        return out

    def register_forward_hook(self, hook):
        """hook(module, inputs, output) runs after forward; returns a handle with .remove()."""
        key = id(hook), len(self._forward_hooks)
        self._forward_hooks[key] = hook
        hooks = self._forward_hooks

        class _Handle:
            def remove(self_inner):
                hooks.pop(key, None)

        return _Handle()

    # -------------------------------------------------------------- traversal
    def named_modules(self, prefix: str = "", memo=None):
        memo = set() if memo is None else memo
        if id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is not None:
                yield from m.named_modules(f"{prefix}.{name}" if prefix else name, memo)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        for name, m in self._modules.items():
            if m is not None:
                yield name, m

    def children(self):
        for _, m in self.named_children():
            yield m

    def named_parameters(self, prefix: str = "", recurse: bool = True):
        seen = set()
        mods = self.named_modules(prefix) if recurse else [(prefix, self)]
        for mp, m in mods:
            for name, p in m._parameters.items():
                if p is None or id(p) in seen:
                    continue
                seen.add(id(p))
                yield (f"{mp}.{name}" if mp else name), p

    def parameters(self, recurse: bool = True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True):
        mods = self.named_modules(prefix) if recurse else [(prefix, self)]
        for mp, m in mods:
            for name, b in m._buffers.items():
                if b is not None:
                    yield (f"{mp}.{name}" if mp else name), b

    def buffers(self, recurse: bool = True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self, fn):
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------------ modes
    def train(self, mode: bool = True):
        if not isinstance(mode, bool):
            raise TypeError(f"train: mode must be a bool, received {type(mode).__name__}")
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad[...] = 0

    def requires_grad_(self, requires_grad: bool = True):
        for p in self.parameters():
            p.requires_grad = requires_grad
        return self

    # ----------------------------------------------------------------- dtypes
    def to(self, *args, **kwargs):
        """to(dtype), to(device), to(device, dtype), to(tensor): cast every floating parameter
        and buffer to the dtype (in place; returns self). The CPU is the only device."""
        dtype, _ = _device.parse_to(f"{type(self).__name__}.to", args, kwargs)
        if dtype is None:
            return self
        if dtype.kind != "f":
            raise TypeError(f"to: expected a floating dtype, received {dtype}")
        for m in self.modules():
            for t in list(m._parameters.values()) + list(m._buffers.values()):
                if t is not None and t.data.dtype.kind == "f":
                    t.data = t.data.astype(dtype)
                    if t.grad is not None:
                        t.grad = t.grad.astype(dtype)
        return self

    def double(self):
        return self.to(np.float64)

    def cpu(self):
        return self

    def cuda(self, device=None):
        _device.check("cuda" if device is None else device, f"{type(self).__name__}.cuda")

    def float(self):
        return self.to(np.float32)

    # ------------------------------------------------------------ state dicts
    def state_dict(self) -> OrderedDict[str, np.ndarray]:
        """Parameters and persistent buffers by PyTorch's dotted names, as ndarrays (not copies)."""
        out = OrderedDict()
        for mp, m in self.named_modules():
            skip = m.__dict__.get("_non_persistent", set())
            for name, p in list(m._parameters.items()) + list(m._buffers.items()):
                if p is not None and name not in skip:
                    out[f"{mp}.{name}" if mp else name] = p.data
        return out

    def load_state_dict(self, state_dict, strict: bool = True):
        """Copy values into this module's tensors. Everything is checked before anything changes."""
        own = OrderedDict()
        for mp, m in self.named_modules():
            skip = m.__dict__.get("_non_persistent", set())
            for name, p in list(m._parameters.items()) + list(m._buffers.items()):
                if p is not None and name not in skip:
                    own[f"{mp}.{name}" if mp else name] = p
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        if strict and (missing or unexpected):
            raise KeyError(
                f"load_state_dict for {type(self).__name__}: missing keys {missing}, "
                f"unexpected keys {unexpected}"
            )
        staged = []
        for key, target in own.items():
            if key not in state_dict:
                continue
            arr = _to_numpy(state_dict[key], key)
            if arr.shape != target.data.shape:
                raise ValueError(
                    f"load_state_dict for {type(self).__name__}: {key!r} has shape "
                    f"{tuple(arr.shape)}, expected {tuple(target.data.shape)}"
                )
            staged.append((target, arr))
        for target, arr in staged:
            target.data[...] = arr.astype(target.data.dtype, copy=False)
        return missing, unexpected

    # ------------------------------------------------------------------- repr
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = []
        for name, m in self._modules.items():
            sub = repr(m).replace("\n", "\n  ")
            lines.append(f"({name}): {sub}")
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not lines:
            return head + ")"
        return head + "\n  " + "\n  ".join(lines) + "\n)"

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._modules)
                      | set(self._buffers))


class Sequential(Module):
    """Modules applied in order; indexable, sliceable and appendable like PyTorch's."""

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], (dict, OrderedDict)):
            for name, m in modules[0].items():
                self.add_module(str(name), m)
        else:
            for i, m in enumerate(modules):
                self.add_module(str(i), m)

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, idx):
        mods = list(self._modules.items())
        if isinstance(idx, slice):
            return Sequential(OrderedDict(mods[idx]))
        try:
            return mods[idx][1]
        except (IndexError, TypeError):
            raise IndexError(f"Sequential: index {idx!r} out of range for {len(mods)} modules") \
                from None

    def append(self, module):
        self.add_module(str(len(self._modules)), module)
        return self


class ModuleList(Module):
    """A list of submodules, registered so their parameters are found."""

    def __init__(self, modules=()):
        super().__init__()
        for m in modules:
            self.append(m)

    def append(self, module):
        self.add_module(str(len(self._modules)), module)
        return self

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, idx):
        return list(self._modules.values())[idx]

"""Model summary: per layer its output shape, parameters, mult-adds and receptive field.

``convolve.summary(model, (3, 32, 32))`` computes every layer's output shape from its
arguments (:mod:`convolve.shapes`; nothing is allocated, so any input size is fine; a module
with layers that have no shape rule gets one dry forward pass with hooks instead) and returns
a :class:`Summary` whose rows hold the numbers; ``print(summary)`` shows them as a table
(with rich when installed). A model description can be summarised without building it.

* mult-adds: multiply-accumulates of the weight layers (conv: output elements x
  in_channels/groups x prod(kernel); linear: output elements x in_features); 0 elsewhere.
* receptive field, per spatial dim, through the stack in call order (exact for sequential
  models): a layer with kernel k, stride s and dilation d maps (size r, jump j) to
  (r + d(k-1) j, j s). After a Flatten or Linear every unit sees the whole input ("all").
* dense: for each conv / locally-connected layer, the parameters a fully-connected layer
  between the same input and output would need: in_numel x out_numel weights (+ out_numel
  biases when the layer has a bias). E.g. 3x32x32 -> 6x28x28: 3072 x 4704 + 4704.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass

import numpy as np

from . import shapes
from .grad_mode import no_grad

__all__ = ["LayerRow", "Summary", "summary"]


@dataclass
class LayerRow:
    name: str
    type: str
    input_shape: tuple
    output_shape: tuple
    params: int
    mult_adds: int
    rf_size: tuple | None      # per spatial dim; None once every unit sees the whole input
    rf_jump: tuple | None
    dense_params: int | None   # fully-connected equivalent (conv / locally connected only)


def _numel(shape) -> int:
    return int(np.prod(shape, dtype=np.int64))


def _tuple(value, n: int) -> tuple:
    if isinstance(value, (tuple, list)):
        return tuple(int(v) for v in value)
    return (int(value),) * n


def _is_conv_like(a: dict) -> bool:
    return "in_channels" in a and "kernel_size" in a and a.get("has_weight", False)


def _mult_adds(a: dict, out_shape) -> int:
    if _is_conv_like(a):
        k = _tuple(a["kernel_size"], len(out_shape) - 1)
        per_out = int(a["in_channels"]) // int(a.get("groups", 1)) * _numel(k)
        return _numel(out_shape) * per_out
    if "in_features" in a and a.get("has_weight", False):
        return _numel(out_shape) * int(a["in_features"])
    return 0


def _dense_params(a: dict, in_shape, out_shape) -> int | None:
    if not _is_conv_like(a):
        return None
    return _numel(in_shape) * _numel(out_shape) + (_numel(out_shape) if a.get("bias") else 0)


def _kernel_geometry(a: dict, in_shape, out_shape):
    """(kernel, stride, dilation) per spatial dim, or None for a layer that keeps the grid."""
    n = len(in_shape) - 1
    if "output_size" in a and "kernel_size" not in a:  # adaptive pool
        stride = tuple(max(i // o, 1) for i, o in zip(in_shape[1:], out_shape[1:]))
        kernel = tuple(i - (o - 1) * s for i, o, s in zip(in_shape[1:], out_shape[1:], stride))
        return kernel, stride, (1,) * n
    if a.get("kernel_size") is None:
        return None
    kernel = _tuple(a["kernel_size"], n)
    stride = a.get("stride")
    stride = kernel if stride is None or stride == () else _tuple(stride, n)
    return kernel, stride, _tuple(a.get("dilation", 1), n)


def _receptive_field(a: dict, in_shape, out_shape, rf):
    """Next (size, jump) from the current one; None means "the whole input"."""
    if rf is None or len(out_shape) != len(in_shape) or len(in_shape) < 2:
        return None
    geom = _kernel_geometry(a, in_shape, out_shape)
    if geom is None:
        return rf
    size, jump = rf
    kernel, stride, dil = geom
    size = tuple(r + d * (k - 1) * j for r, k, d, j in zip(size, kernel, dil, jump))
    return size, tuple(j * s for j, s in zip(jump, stride))


def _args(module) -> dict:
    args = shapes.module_args(module)
    args["has_weight"] = module.__dict__.get("_parameters", {}).get("weight") is not None
    return args


def _own_params(module) -> int:
    return int(sum(p.data.size for p in module._parameters.values() if p is not None))


def _leaves(model):
    """[(name, leaf)] in call order when that order is known without running the model (nested
    Sequentials of layers with shape rules); None otherwise."""
    from .nn import Sequential

    leaves = []
    for name, m in model.named_modules():
        if next(m.children(), None) is None:
            if type(m).__name__ not in shapes.SHAPED:
                return None
            leaves.append((name, m))
        elif not isinstance(m, Sequential):
            return None
    return leaves


def _computed(model, input_shape):
    """[(name, type, args, in_shape, out_shape, own params)] from the shape rules alone."""
    calls, shape = [], tuple(input_shape)
    for name, m in _leaves(model):
        a, cls_name = _args(m), type(m).__name__
        out = shapes.output_shape(cls_name, a, shape)
        calls.append((name, cls_name, a, shape, out, _own_params(m)))
        shape = out
    return calls


def _planned(spec, input_shape):
    """The rows' inputs from a model description, without building it."""
    from .models import plan_model

    _, planned = plan_model(spec, input_shape)
    calls = []
    for i, p in enumerate(planned):
        a = dict(p["args"], has_weight=p["params"] > 0)
        calls.append((str(i), p["cls"].__name__, a, p["in_shape"], p["out_shape"], p["params"]))
    return calls


def _trace(model, input_shape):
    """Run one zero sample through ``model``: [(name, type, args, in, out, own params)]."""
    from .models import dry_input

    calls, handles = [], []
    for name, m in model.named_modules():
        if next(m.children(), None) is None:  # a leaf (the model itself if it has no children)
            def hook(mod, args, out, name=name):
                calls.append((name, type(mod).__name__, _args(mod), tuple(args[0].shape[1:]),
                              tuple(out.shape[1:]), _own_params(mod)))
            handles.append(m.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            model(dry_input(model, input_shape))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return calls


class Summary:
    """Rows (:class:`LayerRow`) and totals; ``str()`` renders the table."""

    def __init__(self, model, input_shape, rows):
        """``model``: the module summarised, or None for a description (all trainable)."""
        self.input_shape = tuple(input_shape)
        self.rows = rows
        self.output_shape = rows[-1].output_shape if rows else self.input_shape
        if model is None:
            self.total_params = self.trainable_params = sum(r.params for r in rows)
        else:
            params = list(model.parameters())
            self.total_params = sum(p.data.size for p in params)
            self.trainable_params = sum(p.data.size for p in params if p.requires_grad)
        self.total_mult_adds = sum(r.mult_adds for r in rows)

    def __getitem__(self, name_or_index):
        if isinstance(name_or_index, str):
            for r in self.rows:
                if r.name == name_or_index:
                    return r
            raise KeyError(f"Summary: no layer named {name_or_index!r}")
        return self.rows[name_or_index]

    def to_dict(self) -> dict:
        return {"input_shape": list(self.input_shape), "output_shape": list(self.output_shape),
                "total_params": self.total_params, "trainable_params": self.trainable_params,
                "total_mult_adds": self.total_mult_adds, "rows": [asdict(r) for r in self.rows]}

    def _cells(self):
        head = ["Layer", "Type", "Output shape", "Params", "Mult-adds", "RF size/jump",
                "Dense equiv."]
        body = []
        for r in self.rows:
            rf = "all" if r.rf_size is None else \
                f"{'x'.join(map(str, r.rf_size))} / {'x'.join(map(str, r.rf_jump))}"
            body.append([r.name, r.type, "x".join(map(str, r.output_shape)), f"{r.params:,}",
                         f"{r.mult_adds:,}", rf,
                         "" if r.dense_params is None else f"{r.dense_params:,}"])
        return head, body

    def _footer(self) -> str:
        return (f"Input {'x'.join(map(str, self.input_shape))} -> output "
                f"{'x'.join(map(str, self.output_shape))}\n"
                f"Total params: {self.total_params:,} (trainable {self.trainable_params:,})\n"
                f"Total mult-adds: {self.total_mult_adds:,}")

    def __str__(self) -> str:
        head, body = self._cells()
        try:
            from rich.console import Console
            from rich.table import Table
        except ImportError:
            return self._plain(head, body)
        table = Table(*head, title="convolve summary")
        for col in table.columns[3:]:
            col.justify = "right"
        for row in body:
            table.add_row(*row)
        buf = io.StringIO()
        Console(file=buf, width=max(100, sum(len(h) for h in head) + 60), color_system=None,
                force_terminal=False).print(table)
        return buf.getvalue() + self._footer()

    def _plain(self, head, body) -> str:
        widths = [max(len(x) for x in col) for col in zip(head, *body)]
        fmt = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths))
        lines = [fmt(head), "-" * (sum(widths) + 2 * len(widths))] + [fmt(b) for b in body]
        return "\n".join(lines) + "\n" + self._footer()

    __repr__ = __str__


def _zoo_built(source, input_shape):
    """(model, True) for a description of a :mod:`convolve.zoo` network (not a list of layers:
    it is built, then traced); (source, False) for any other description."""
    from .models import build_model, load_spec

    spec = load_spec(source)
    if isinstance(spec, dict) and "zoo" in spec:
        return build_model(spec, input_shape), True
    return spec, False


def summary(model, input_shape=None) -> Summary:
    """Summarise ``model`` for one sample of ``input_shape`` (e.g. (1, 28, 28); no batch dim).

    ``model`` is a module, or a model description (dict, list of layers, JSON text or a
    .json/.yaml path: see :func:`convolve.models.build_model`), which is summarised without
    being built. Shapes come from the layers' shape rules, so no activation is allocated
    (any input size is fine); a module with other layers is run once on a zero sample.
    """
    from .models import parse_shape

    is_module = hasattr(model, "named_modules")
    if not is_module:
        model, is_module = _zoo_built(model, input_shape)
    if input_shape is None:
        input_shape = model.spec["input_shape"] if is_module else None
    input_shape = None if input_shape is None else parse_shape(input_shape, "summary")
    if not is_module:
        calls = _planned(model, input_shape)
        input_shape = calls[0][3] if calls else input_shape
    elif _leaves(model) is not None:
        calls = _computed(model, input_shape)
    else:
        calls = _trace(model, input_shape)
    return Summary(model if is_module else None, input_shape, _rows(calls, input_shape))


def _rows(calls, input_shape) -> list:
    rows = []
    n = len(input_shape) - 1
    rf = ((1,) * n, (1,) * n) if n else None
    for name, cls_name, a, in_shape, out_shape, own in calls:
        rf = _receptive_field(a, in_shape, out_shape, rf)
        rows.append(LayerRow(name or cls_name, cls_name, in_shape, out_shape, int(own),
                             _mult_adds(a, out_shape), None if rf is None else rf[0],
                             None if rf is None else rf[1], _dense_params(a, in_shape, out_shape)))
    return rows


def conv_plans(model, input_shape, batch: int = 32) -> list:
    """[(layer name, ConvPlan)] for each Conv1d/Conv2d of ``model`` on a batch of ``batch``
    samples of ``input_shape``: the engine the conv planner picks for the layer."""
    from .functional.conv import conv_plans as plan_for
    from .models import parse_shape
    from .nn.conv import Conv1d, Conv2d

    shape = parse_shape(input_shape, "summary")
    calls = _computed(model, shape) if _leaves(model) is not None else _trace(model, shape)
    modules = dict(model.named_modules())
    plans = []
    for name, _, _, in_shape, _, _ in calls:
        m = modules[name]
        if isinstance(m, (Conv1d, Conv2d)):
            w = m.weight.data  # the input as a zero-strided view: shape and dtype only
            x = np.broadcast_to(np.zeros((), w.dtype), (int(batch),) + tuple(in_shape))
            plans.append((name, plan_for(x, w, m.stride, m.padding, m.dilation, m.groups,
                                         m.padding_mode)))
    return plans

"""Parameter sharing in numbers: the seed's dense-against-conv example and its growth with size.

The example: an RGB image of n x n pixels mapped to 6 feature maps of (n-4) x (n-4) by

* a dense layer: (3 n^2) x (6 (n-4)^2) weights + 6 (n-4)^2 biases,
* a locally connected 5x5 layer: 6 (n-4)^2 filters of 3 x 5 x 5 weights + one bias each,
* a 5x5 conv layer: 6 filters of 3 x 5 x 5 weights + 6 biases = 456 for every n.

Counts come from instantiated layers (``sum(p.size)``) where they fit in memory, and from
the formulas above beyond; :func:`parameter_growth` checks the two agree where both exist.
"""

from __future__ import annotations

import numpy as np

from .. import nn
from ..random import get_rng_state, set_rng_state


def count_parameters(model) -> int:
    """Number of scalar parameters of a Module."""
    return int(sum(p.data.size for p in model.parameters()))


def layer_formulas(n: int, c_in: int = 3, c_out: int = 6, k: int = 5) -> dict:
    """Closed-form parameter counts of the three layers for an n x n input (valid k x k)."""
    m = n - k + 1
    if m < 1:
        raise ValueError(f"layer_formulas: image size n={n} is smaller than the kernel k={k}")
    n_in, n_out = c_in * n * n, c_out * m * m
    return {"dense": n_in * n_out + n_out,
            "locally_connected": n_out * (c_in * k * k) + n_out,
            "conv": c_out * c_in * k * k + c_out}


def _instantiate(kind: str, n: int, c_in: int, c_out: int, k: int):
    m = n - k + 1
    if kind == "dense":
        return nn.Linear(c_in * n * n, c_out * m * m)
    if kind == "conv":
        return nn.Conv2d(c_in, c_out, k)
    return nn.LocallyConnected2d(c_in, c_out, (n, n), k)


def layer_counts(n: int, c_in: int = 3, c_out: int = 6, k: int = 5,
                 max_instantiate: int = 20_000_000) -> dict:
    """Per layer kind: the count from an instantiated layer (when its formula count is at most
    ``max_instantiate``), else from the formula; ``source`` says which."""
    formula = layer_formulas(n, c_in, c_out, k)
    out = {}
    state = get_rng_state()  # initialising these layers must not move the global generator
    for kind, expected in formula.items():
        has_cls = kind != "locally_connected" or hasattr(nn, "LocallyConnected2d")
        if expected <= max_instantiate and has_cls:
            layer = _instantiate(kind, n, c_in, c_out, k)
            out[kind] = {"params": count_parameters(layer), "source": "instantiated",
                         "formula": expected}
            del layer
        else:
            out[kind] = {"params": expected, "source": "formula", "formula": expected}
    set_rng_state(state)
    return out


def worked_example(n: int = 32, c_in: int = 3, c_out: int = 6, k: int = 5) -> dict:
    """The seed's example, computed: 32x32x3 -> 28x28x6 dense against 5x5 conv."""
    m = n - k + 1
    counts = layer_counts(n, c_in, c_out, k)
    dense, conv = counts["dense"]["params"], counts["conv"]["params"]
    return {"input": [c_in, n, n], "output": [c_out, m, m], "kernel": k,
            "dense": dense, "locally_connected": counts["locally_connected"]["params"],
            "conv": conv, "ratio": dense / conv, "counts": counts,
            "dense_formula": f"({c_in}*{n}*{n}) * ({c_out}*{m}*{m}) + {c_out}*{m}*{m}",
            "conv_formula": f"{c_out}*{c_in}*{k}*{k} + {c_out}"}


def parameter_growth(sizes=(8, 16, 32, 64, 128, 224, 512, 1024), c_in: int = 3,
                     c_out: int = 6, k: int = 5, max_instantiate: int = 2_000_000) -> dict:
    """Dense / locally-connected / conv parameter counts for n x n inputs, n in ``sizes``.

    Raises if an instantiated count ever differs from its formula (the formula extends
    the curve past what fits in memory only because it was checked on the smaller sizes).
    """
    rows = []
    for n in sizes:
        counts = layer_counts(int(n), c_in, c_out, k, max_instantiate)
        for kind, c in counts.items():
            if c["params"] != c["formula"]:
                raise RuntimeError(f"parameter_growth: {kind} at n={n}: instantiated layer has "
                                   f"{c['params']} parameters, formula says {c['formula']}")
        rows.append({"n": int(n), **{kind: c["params"] for kind, c in counts.items()},
                     "instantiated": [kind for kind, c in counts.items()
                                      if c["source"] == "instantiated"]})
    return {"sizes": [r["n"] for r in rows], "rows": rows,
            "setting": f"{c_in}xnxn -> {c_out}x(n-{k - 1})x(n-{k - 1}), kernel {k}x{k}"}


def growth_exponent(rows: list, kind: str) -> float:
    """Slope of log(params) against log(n) between the two largest sizes (4 for dense)."""
    a, b = rows[-2], rows[-1]
    return float(np.log(b[kind] / a[kind]) / np.log(b["n"] / a["n"]))

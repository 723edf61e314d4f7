"""The graph walk of reverse-mode autograd: toposort, backward, unbroadcast.

``Tensor.backward`` calls :func:`run_backward`. It orders the tensors that an op made
(those with a ``_ctx``) so that each comes after every tensor computed from it
(:func:`toposort`, iterative, so chains of any length work), then walks them once:
each node's ``Function.backward`` maps the node's gradient to one gradient per input,
which is summed into the input's pending gradient (or into a leaf's ``.grad``). A
gradient that the walk alone holds is summed into in place, and a leaf keeps such an
array as its ``.grad`` without a copy; every other array is copied first, so ``.grad``
never aliases an array that the graph, the user or another leaf holds.
"""

from __future__ import annotations

import sys

import numpy as np

from .tensor import Tensor

__all__ = ["run_backward", "toposort", "unbroadcast"]

FREED = object()  # ctx.saved after a backward without retain_graph
_getrefcount = sys.getrefcount


def toposort(root: Tensor) -> list:
    """Nodes (tensors with a ctx) reachable from root, in reverse topological order."""
    order = []
    visited = set()
    stack = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        ctx = node._ctx
        if ctx is not None:
            for p in ctx.parents:
                if isinstance(p, Tensor) and p.requires_grad and p._ctx is not None \
                        and id(p) not in visited:
                    stack.append((p, False))
    order.reverse()
    return order


def _sole(a: np.ndarray, refs: int) -> bool:
    """True when nothing but the ``refs`` references the caller counted holds ``a`` or its
    memory (no other variable, graph node or view): safe to keep or mutate. A view counts
    when nothing else holds its base (a reshaped GEMM result, say). (getrefcount also sees
    this function's argument and its own; a view's base sees the view, ``base`` and its own.)"""
    if not a.flags.writeable or _getrefcount(a) > refs + 2:
        return False
    if a.flags.owndata:
        return True
    base = a.base
    return type(base) is np.ndarray and base.flags.owndata and _getrefcount(base) <= 3


def accumulate_leaf(t: Tensor, g: np.ndarray, sole: bool) -> None:
    """t.grad += g; ``sole``: the walk alone holds ``g``, so it may become ``t.grad``."""
    if g.dtype != t.data.dtype:
        g, sole = g.astype(t.data.dtype), True
    if t.grad is None:
        t.grad = g if sole and g.flags.c_contiguous else g.copy()  # optimizers want C order
    else:
        t.grad = t.grad + g


def _backward_node(node: Tensor, g: np.ndarray, grads: dict) -> None:
    """Run one node's backward and hand each input its gradient."""
    ctx = node._ctx
    in_grads = ctx.fn.backward(ctx, g)
    in_grads = list(in_grads) if isinstance(in_grads, tuple) else [in_grads]
    del g
    for i, parent in enumerate(ctx.parents[:len(in_grads)]):
        pg, in_grads[i] = in_grads[i], None
        if pg is None or not isinstance(parent, Tensor) or not parent.requires_grad:
            continue
        if pg.shape != parent.data.shape:
            pg = unbroadcast(pg, parent.data.shape)
        if parent._ctx is None:
            sole = _sole(pg, 1)  # refs: pg (not inside the call below: its arguments count)
            accumulate_leaf(parent, pg, sole)
            continue
        prev = grads.get(id(parent))
        if prev is None:
            grads[id(parent)] = pg
        elif _sole(prev, 2):  # refs: grads, prev
            np.add(prev, pg, out=prev)
        else:
            grads[id(parent)] = prev + pg


def run_backward(root: Tensor, gradient: np.ndarray, retain_graph: bool) -> None:
    """Accumulate d(root)/d(leaf) (seeded with ``gradient``) into every leaf's ``.grad``."""
    if root._ctx is None:  # a leaf
        accumulate_leaf(root, gradient, False)
        return
    grads = {id(root): gradient}
    del gradient
    for node in toposort(root):
        g = grads.pop(id(node), None)
        ctx = node._ctx
        if g is None or ctx is None:
            continue
        if ctx.saved is FREED:
            raise RuntimeError(
                "backward: trying to backward through the graph a second time; its saved "
                "arrays were freed. Pass retain_graph=True to the first backward()."
            )
        _backward_node(node, g, grads)
        del g
        if not retain_graph:
            ctx.saved = FREED
            ctx.__dict__.clear()


def unbroadcast(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum ``grad`` over the axes that broadcasting added or stretched to reach it from ``shape``."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, s in enumerate(shape) if s == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)

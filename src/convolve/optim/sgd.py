"""Stochastic gradient descent with momentum, dampening, Nesterov and weight decay (PyTorch's)."""

from __future__ import annotations

import numpy as np

from ..functional import _fused, _fused_numpy
from .optimizer import Optimizer, check_bool, check_real

__all__ = ["SGD"]


def _one_pass(data, d, buf, group, backend=None) -> bool:
    """The momentum update below in one fused pass (``functional/_fused.py``), with the same
    float operations; False when the Numba loops are not in use or arrays not contiguous."""
    if any(not a.flags.c_contiguous or a.dtype != data.dtype for a in (d, buf)) \
            or not data.flags.c_contiguous or data.dtype not in (np.float32, np.float64):
        return False
    k = _fused.kernels(backend)
    if k is _fused_numpy and backend is None:
        return False
    f, damp = data.dtype.type, group["dampening"]
    k.sgd_momentum_update(data.reshape(-1), d.reshape(-1), buf.reshape(-1),
                          f(group["momentum"]), f(1 - damp), f(-group["lr"]),
                          bool(group["nesterov"]), damp != 0)
    return True


class SGD(Optimizer):
    """PyTorch's SGD. Per parameter with gradient g (negated if maximize):

        g <- g + weight_decay * p
        b <- g at the first step, else momentum * b + (1 - dampening) * g   (if momentum != 0)
        g <- g + momentum * b if nesterov else b
        p <- p - lr * g

    State per parameter: 'momentum_buffer' (only when momentum != 0).
    """

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
    ):
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
            "maximize": maximize,
        }
        super().__init__(params, defaults)

    def _check_options(self, group: dict) -> None:
        super()._check_options(group)
        check_real("SGD", "momentum", group["momentum"], low=0.0)
        check_real("SGD", "dampening", group["dampening"])
        check_real("SGD", "weight_decay", group["weight_decay"], low=0.0)
        check_bool("SGD", "nesterov", group["nesterov"])
        check_bool("SGD", "maximize", group["maximize"])
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(
                "SGD: nesterov=True requires momentum > 0 and dampening = 0, received "
                f"momentum={group['momentum']!r}, dampening={group['dampening']!r}"
            )

    def _update(self, p, grad: np.ndarray, group: dict) -> None:
        data = p.data
        momentum = group["momentum"]
        d = self._direction(data, grad, group["weight_decay"], group["maximize"])
        if momentum != 0:
            state = self.state[p]
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = d.copy()
            elif _one_pass(data, d, buf, group):
                return
            else:
                buf *= momentum
                if group["dampening"] == 0:
                    buf += d
                else:
                    buf += np.multiply(d, 1 - group["dampening"], out=self._buffer(data, 1))
            if group["nesterov"]:
                ahead = np.multiply(buf, momentum, out=self._buffer(data, 1))
                d = np.add(d, ahead, out=ahead)
            else:
                d = buf
        data += np.multiply(d, -group["lr"], out=self._buffer(data, 2))

"""RMSprop with optional momentum and centering, following PyTorch's update."""

from __future__ import annotations

import numpy as np

from .adam import ema_square_, lerp_
from .optimizer import Optimizer, check_bool, check_real

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """PyTorch's RMSprop. Per parameter with gradient g (negated if maximize):

        g <- g + weight_decay * p
        v <- alpha * v + (1 - alpha) * g^2
        a <- sqrt(v - gbar^2) + eps with gbar <- lerp(gbar, g, 1 - alpha)   if centered,
             sqrt(v) + eps                                                 otherwise
        b <- momentum * b + g / a;  p <- p - lr * b      if momentum > 0, else p <- p - lr * g / a

    State per parameter: 'step' (float), 'square_avg', 'momentum_buffer' (momentum > 0),
    'grad_avg' (centered).
    """

    def __init__(
        self,
        params,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
        *,
        maximize: bool = False,
    ):
        defaults = {
            "lr": lr,
            "alpha": alpha,
            "eps": eps,
            "weight_decay": weight_decay,
            "momentum": momentum,
            "centered": centered,
            "maximize": maximize,
        }
        super().__init__(params, defaults)

    def _check_options(self, group: dict) -> None:
        super()._check_options(group)
        for arg in ("alpha", "eps", "weight_decay", "momentum"):
            check_real("RMSprop", arg, group[arg], low=0.0)
        check_bool("RMSprop", "centered", group["centered"])
        check_bool("RMSprop", "maximize", group["maximize"])

    def _init_state(self, state: dict, data: np.ndarray, group: dict) -> None:
        state["step"] = 0.0
        state["square_avg"] = np.zeros_like(data)
        if group["momentum"] > 0:
            state["momentum_buffer"] = np.zeros_like(data)
        if group["centered"]:
            state["grad_avg"] = np.zeros_like(data)

    def _update(self, p, grad: np.ndarray, group: dict) -> None:
        data = p.data
        alpha, momentum = group["alpha"], group["momentum"]
        state = self.state[p]
        if not state:
            self._init_state(state, data, group)
        state["step"] += 1
        d = self._direction(data, grad, group["weight_decay"], group["maximize"])
        avg = self._buffer(data, 1)
        square_avg = state["square_avg"]
        ema_square_(square_avg, d, alpha, avg)
        if group["centered"]:
            grad_avg = state.get("grad_avg")
            if grad_avg is None:
                grad_avg = state["grad_avg"] = np.zeros_like(data)
            lerp_(grad_avg, d, 1 - alpha, avg)
            np.multiply(grad_avg, grad_avg, out=avg)
            np.subtract(square_avg, avg, out=avg)
            np.sqrt(avg, out=avg)
        else:
            np.sqrt(square_avg, out=avg)
        avg += group["eps"]
        step = self._buffer(data, 2)
        if momentum > 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = np.zeros_like(data)
            buf *= momentum
            buf += np.divide(d, avg, out=step)
            np.multiply(buf, -group["lr"], out=step)
        else:
            np.multiply(d, -group["lr"], out=step)
            step /= avg
        data += step

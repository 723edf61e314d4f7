"""Adagrad and Adadelta (per-coordinate step sizes from accumulated squared gradients),
following PyTorch's update formulas, options and state names."""

from __future__ import annotations

import numpy as np

from .adam import ema_square_
from .optimizer import Optimizer, check_bool, check_real

__all__ = ["Adadelta", "Adagrad"]


def _check_unsupported(name: str, differentiable, fused=None) -> None:
    """PyTorch's autograd-through-the-step and fused kernels have no NumPy counterpart."""
    if differentiable:
        raise ValueError(f"{name}: differentiable=True is not supported (convolve steps are not "
                         f"recorded by autograd), received differentiable={differentiable!r}")
    if fused:
        raise ValueError(f"{name}: fused=True is not supported (no fused kernels on NumPy); "
                         f"leave fused=None, received fused={fused!r}")


class Adagrad(Optimizer):
    """PyTorch's Adagrad. Per parameter at step t with gradient g (negated if maximize):

        g <- g + weight_decay * p
        clr <- lr / (1 + (t - 1) * lr_decay)
        sum <- sum + g^2;  p <- p - clr * g / (sqrt(sum) + eps)

    State per parameter, created for every parameter at construction as in PyTorch:
    'step' (float) and 'sum', filled with the constructor's initial_accumulator_value (as in
    PyTorch, a param group's own value of it does not change the fill).
    ``foreach`` is accepted and ignored (there is one NumPy implementation).
    """

    def __init__(
        self,
        params,
        lr: float = 1e-2,
        lr_decay: float = 0,
        weight_decay: float = 0,
        initial_accumulator_value: float = 0,
        eps: float = 1e-10,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ):
        _check_unsupported("Adagrad", differentiable, fused)
        defaults = {
            "lr": lr,
            "lr_decay": lr_decay,
            "eps": eps,
            "weight_decay": weight_decay,
            "initial_accumulator_value": initial_accumulator_value,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": False,
            "fused": None,
        }
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p)

    def _check_options(self, group: dict) -> None:
        super()._check_options(group)
        for arg in ("lr_decay", "eps", "weight_decay", "initial_accumulator_value"):
            check_real("Adagrad", arg, group[arg], low=0.0)
        check_bool("Adagrad", "maximize", group["maximize"])
        _check_unsupported("Adagrad", group.get("differentiable"), group.get("fused"))

    def _init_state(self, p) -> dict:
        state = self.state[p]
        if not state:
            state["step"] = 0.0
            state["sum"] = np.full_like(p.data, self.defaults["initial_accumulator_value"])
        return state

    def _update(self, p, grad: np.ndarray, group: dict) -> None:
        data = p.data
        state = self._init_state(p)
        state["step"] += 1
        d = self._direction(data, grad, group["weight_decay"], group["maximize"])
        clr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        total = state["sum"]
        tmp = self._buffer(data, 1)
        total += np.multiply(d, d, out=tmp)
        std = np.sqrt(total, out=tmp)
        std += group["eps"]
        update = np.multiply(d, -clr, out=self._buffer(data, 2))
        update /= std
        data += update


class Adadelta(Optimizer):
    """PyTorch's Adadelta. Per parameter with gradient g (negated if maximize):

        g <- g + weight_decay * p
        v <- rho * v + (1 - rho) * g^2
        delta <- sqrt(u + eps) / sqrt(v + eps) * g
        u <- rho * u + (1 - rho) * delta^2;  p <- p - lr * delta

    State per parameter: 'step' (float), 'square_avg' (v), 'acc_delta' (u).
    ``foreach`` and ``capturable`` are accepted and ignored (one NumPy implementation).
    """

    def __init__(
        self,
        params,
        lr: float = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0,
        foreach: bool | None = None,
        *,
        capturable: bool = False,
        maximize: bool = False,
        differentiable: bool = False,
    ):
        _check_unsupported("Adadelta", differentiable)
        defaults = {
            "lr": lr,
            "rho": rho,
            "eps": eps,
            "weight_decay": weight_decay,
            "maximize": maximize,
            "capturable": capturable,
            "foreach": foreach,
            "differentiable": False,
        }
        super().__init__(params, defaults)

    def _check_options(self, group: dict) -> None:
        super()._check_options(group)
        check_real("Adadelta", "rho", group["rho"], low=0.0, high=1.0)
        check_real("Adadelta", "eps", group["eps"], low=0.0)
        check_real("Adadelta", "weight_decay", group["weight_decay"], low=0.0)
        check_bool("Adadelta", "maximize", group["maximize"])
        _check_unsupported("Adadelta", group.get("differentiable"))

    def _update(self, p, grad: np.ndarray, group: dict) -> None:
        data = p.data
        rho, eps = group["rho"], group["eps"]
        state = self.state[p]
        if not state:
            state["step"] = 0.0
            state["square_avg"] = np.zeros_like(data)
            state["acc_delta"] = np.zeros_like(data)
        state["step"] += 1
        d = self._direction(data, grad, group["weight_decay"], group["maximize"])
        square_avg, acc_delta = state["square_avg"], state["acc_delta"]
        tmp = self._buffer(data, 1)
        ema_square_(square_avg, d, rho, tmp)
        std = np.add(square_avg, eps, out=tmp)
        np.sqrt(std, out=std)
        delta = np.add(acc_delta, eps, out=self._buffer(data, 2))
        np.sqrt(delta, out=delta)
        delta /= std
        delta *= d
        ema_square_(acc_delta, delta, rho, tmp)
        data -= np.multiply(delta, group["lr"], out=tmp)

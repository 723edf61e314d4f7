"""Adam and AdamW (decoupled weight decay), with AMSGrad, following PyTorch's update."""

from __future__ import annotations

import numpy as np

from ..functional._backend import load as _load_kernels
from .optimizer import Optimizer, check_bool, check_real

__all__ = ["Adam", "AdamW"]


def lerp_(start: np.ndarray, end: np.ndarray, weight: float, tmp: np.ndarray) -> np.ndarray:
    """start <- start + weight * (end - start), in place, with PyTorch's two-sided formula."""
    np.subtract(end, start, out=tmp)
    if abs(weight) < 0.5:
        tmp *= weight
        return np.add(start, tmp, out=start)
    one = start.dtype.type(1)
    tmp *= one - start.dtype.type(weight)
    return np.subtract(end, tmp, out=start)


def ema_square_(avg: np.ndarray, g: np.ndarray, beta: float, tmp: np.ndarray) -> None:
    """avg <- beta * avg + (1 - beta) * g * g, in place."""
    np.multiply(g, 1 - beta, out=tmp)
    tmp *= g
    avg *= beta
    avg += tmp


def _one_pass(data, d, m, v, beta1, beta2, neg_step, bc2, eps) -> bool:
    """The Adam update below in one compiled pass (``functional/_numba_loops.py``), with the
    same float operations; False when the loops are not loaded or arrays not contiguous."""
    arrays = (data, d, m, v)
    if any(not a.flags.c_contiguous or a.dtype != data.dtype for a in arrays):
        return False
    loops = _load_kernels("loops")
    if loops is None:
        return False
    f = data.dtype.type
    w = 1 - beta1
    loops.adam_update(*(a.reshape(-1) for a in arrays), f(w), f(1) - f(w), abs(w) < 0.5,
                      f(beta2), f(1 - beta2), f(neg_step), f(bc2), f(eps))
    return True


class Adam(Optimizer):
    """PyTorch's Adam. Per parameter at step t with gradient g (negated if maximize):

        p <- p * (1 - lr * weight_decay)      if decoupled_weight_decay (AdamW), else
        g <- g + weight_decay * p
        m <- lerp(m, g, 1 - beta1);  v <- beta2 * v + (1 - beta2) g^2;  v_max <- max(v_max, v)
        p <- p - lr / (1 - beta1^t) * m / (sqrt(v or v_max) / sqrt(1 - beta2^t) + eps)

    State per parameter: 'step' (float), 'exp_avg', 'exp_avg_sq', 'max_exp_avg_sq' (amsgrad).
    """

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas=(0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        decoupled_weight_decay: bool = False,
    ):
        betas = tuple(betas) if isinstance(betas, (list, tuple)) else betas
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "amsgrad": amsgrad,
            "maximize": maximize,
            "decoupled_weight_decay": decoupled_weight_decay,
        }
        super().__init__(params, defaults)

    def _check_options(self, group: dict) -> None:
        super()._check_options(group)
        name = self._name
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"{name}: expected betas to be a pair of floats, received {betas!r}")
        check_real(name, "betas[0]", betas[0], low=0.0, high=1.0, high_open=True)
        check_real(name, "betas[1]", betas[1], low=0.0, high=1.0, high_open=True)
        check_real(name, "eps", group["eps"], low=0.0)
        check_real(name, "weight_decay", group["weight_decay"], low=0.0)
        for flag in ("amsgrad", "maximize", "decoupled_weight_decay"):
            check_bool(name, flag, group[flag])

    def _update(self, p, grad: np.ndarray, group: dict) -> None:
        data = p.data
        lr, (beta1, beta2), wd = group["lr"], group["betas"], group["weight_decay"]
        state = self.state[p]
        if not state:
            state["step"] = 0.0
            state["exp_avg"] = np.zeros_like(data)
            state["exp_avg_sq"] = np.zeros_like(data)
        state["step"] += 1
        step = state["step"]
        decoupled = group["decoupled_weight_decay"]
        if wd != 0 and decoupled:
            data *= 1 - lr * wd
        d = self._direction(data, grad, 0 if decoupled else wd, group["maximize"])
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        step_size = lr / (1 - beta1**step)
        bias_correction2_sqrt = (1 - beta2**step) ** 0.5
        if not group["amsgrad"] and _one_pass(data, d, exp_avg, exp_avg_sq, beta1, beta2,
                                              -step_size, bias_correction2_sqrt, group["eps"]):
            return
        tmp = self._buffer(data, 1)
        lerp_(exp_avg, d, 1 - beta1, tmp)
        ema_square_(exp_avg_sq, d, beta2, tmp)
        second = exp_avg_sq
        if group["amsgrad"]:
            second = state.get("max_exp_avg_sq")
            if second is None:
                second = state["max_exp_avg_sq"] = np.zeros_like(data)
            np.maximum(second, exp_avg_sq, out=second)
        denom = np.sqrt(second, out=tmp)
        denom /= bias_correction2_sqrt
        denom += group["eps"]
        update = np.multiply(exp_avg, -step_size, out=self._buffer(data, 2))
        update /= denom
        data += update


class AdamW(Adam):
    """Adam with decoupled weight decay (PyTorch's AdamW): p <- p * (1 - lr * weight_decay)
    before the Adam step; weight_decay defaults to 1e-2."""

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas=(0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
    ):
        super().__init__(
            params,
            lr,
            betas,
            eps,
            weight_decay,
            amsgrad,
            maximize=maximize,
            decoupled_weight_decay=True,
        )

    def load_state_dict(self, state_dict: dict) -> None:
        super().load_state_dict(state_dict)
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True

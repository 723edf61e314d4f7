"""More learning-rate schedulers with PyTorch's semantics: LambdaLR, MultiplicativeLR,
ConstantLR, LinearLR, SequentialLR and ReduceLROnPlateau (exported by ``lr_scheduler``)."""

from __future__ import annotations

import bisect
import copy
import math
import types

import numpy as np

from ..tensor import Tensor
from .lr_scheduler import LRScheduler, _check_int
from .optimizer import Optimizer, check_real

__all__ = [
    "ConstantLR",
    "LambdaLR",
    "LinearLR",
    "MultiplicativeLR",
    "ReduceLROnPlateau",
    "SequentialLR",
]


class _LambdaScheduler(LRScheduler):
    """One callable ``lr_lambda(epoch)`` per param group (a single one is shared). State dicts
    hold each callable object's ``__dict__`` (None for plain functions and lambdas)."""

    def __init__(self, optimizer, lr_lambda, last_epoch: int = -1):
        name = type(self).__name__
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{name}: expected an Optimizer, received {type(optimizer).__name__}")
        n = len(optimizer.param_groups)
        lambdas = list(lr_lambda) if isinstance(lr_lambda, (list, tuple)) else [lr_lambda] * n
        if len(lambdas) != n:
            raise ValueError(f"{name}: expected {n} lr_lambdas (one per param group), "
                             f"received {len(lambdas)}")
        for fn in lambdas:
            if not callable(fn):
                raise TypeError(f"{name}: lr_lambda must be callable, received {fn!r}")
        self.lr_lambdas = lambdas
        super().__init__(optimizer, last_epoch)

    def state_dict(self) -> dict:
        state = {k: copy.deepcopy(v) for k, v in self.__dict__.items()
                 if k not in ("optimizer", "lr_lambdas")}
        state["lr_lambdas"] = [None if isinstance(fn, types.FunctionType) else dict(fn.__dict__)
                               for fn in self.lr_lambdas]
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        name = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, dict):
            raise TypeError(f"{name}: expected a dict, received {type(state_dict).__name__}")
        saved = state_dict.get("lr_lambdas", [None] * len(self.lr_lambdas))
        if len(saved) != len(self.lr_lambdas):
            raise ValueError(f"{name}: state has {len(saved)} lr_lambdas, this scheduler has "
                             f"{len(self.lr_lambdas)}")
        rest = {k: v for k, v in state_dict.items() if k != "lr_lambdas"}
        super().load_state_dict(rest)
        for fn, attrs in zip(self.lr_lambdas, saved):
            if attrs is not None:
                fn.__dict__.update(attrs)


class LambdaLR(_LambdaScheduler):
    """lr_e = base_lr * lr_lambda(e) for each param group."""

    def get_lr(self) -> list:
        return [base * fn(self.last_epoch) for fn, base in zip(self.lr_lambdas, self.base_lrs)]


class MultiplicativeLR(_LambdaScheduler):
    """lr_e = lr_{e-1} * lr_lambda(e) for each param group (lr_0 = base_lr)."""

    def get_lr(self) -> list:
        if self._is_initial:
            return self._group_lrs()
        return [lr * fn(self.last_epoch) for fn, lr in zip(self.lr_lambdas, self._group_lrs())]


class ConstantLR(LRScheduler):
    """lr = base_lr * factor for the first ``total_iters`` epochs, base_lr afterwards."""

    def __init__(self, optimizer, factor: float = 1.0 / 3, total_iters: int = 5,
                 last_epoch: int = -1):
        check_real("ConstantLR", "factor", factor, low=0.0, high=1.0)
        self.factor = factor
        self.total_iters = _check_int("ConstantLR", "total_iters", total_iters, 0)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        if self.last_epoch == 0:
            return [lr * self.factor for lr in self._group_lrs()]
        if self.last_epoch != self.total_iters:
            return self._group_lrs()
        return [lr * (1.0 / self.factor) for lr in self._group_lrs()]

    def _get_closed_form_lr(self) -> list:
        after = self.last_epoch >= self.total_iters
        return [base * (self.factor + after * (1 - self.factor)) for base in self.base_lrs]


class LinearLR(LRScheduler):
    """The lr factor moves linearly from start_factor to end_factor over ``total_iters``
    epochs, then stays: lr_e = base_lr * (s + (t - s) * min(e, total_iters) / total_iters)."""

    def __init__(self, optimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                 total_iters: int = 5, last_epoch: int = -1):
        check_real("LinearLR", "start_factor", start_factor, low=0.0, high=1.0)
        if start_factor == 0:
            raise ValueError("LinearLR: expected start_factor in (0, 1], received "
                             f"start_factor={start_factor!r}")
        check_real("LinearLR", "end_factor", end_factor, low=0.0, high=1.0)
        self.start_factor, self.end_factor = start_factor, end_factor
        self.total_iters = _check_int("LinearLR", "total_iters", total_iters, 1)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        e, s, t = self.last_epoch, self.start_factor, self.end_factor
        if e == 0:
            return [lr * s for lr in self._group_lrs()]
        if self._is_initial or e > self.total_iters:
            return self._group_lrs()
        ratio = 1.0 + (t - s) / (self.total_iters * s + (e - 1) * (t - s))
        return [lr * ratio for lr in self._group_lrs()]

    def _get_closed_form_lr(self) -> list:
        s, t, n = self.start_factor, self.end_factor, self.total_iters
        return [base * (s + (t - s) * min(n, self.last_epoch) / n) for base in self.base_lrs]


class SequentialLR(LRScheduler):
    """Run ``schedulers[i]`` from epoch ``milestones[i-1]`` on; at each milestone the next
    scheduler restarts from its epoch 0 (its closed form when it has one), as in PyTorch."""

    def __init__(self, optimizer, schedulers, milestones, last_epoch: int = -1):
        self._check(optimizer, schedulers, milestones)
        self._schedulers = list(schedulers)
        self._milestones = [int(m) for m in milestones]
        self.last_epoch = _check_int("SequentialLR", "last_epoch", last_epoch, -1) + 1
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"]
        self._undo(self)
        idx = bisect.bisect_right(self._milestones, 0)
        self._schedulers[idx]._initial_step()
        self._last_lr = self._schedulers[idx].get_last_lr()

    @staticmethod
    def _check(optimizer, schedulers, milestones) -> None:
        schedulers = list(schedulers)
        if not schedulers:
            raise ValueError("SequentialLR: expected at least one scheduler, received none")
        for i, s in enumerate(schedulers):
            if isinstance(s, ReduceLROnPlateau) or not isinstance(s, LRScheduler):
                raise TypeError(f"SequentialLR: schedulers[{i}] must be an epoch-based "
                                f"LRScheduler (not ReduceLROnPlateau), received "
                                f"{type(s).__name__}")
            if s.optimizer is not optimizer:
                raise ValueError(f"SequentialLR: schedulers[{i}] ({type(s).__name__}) belongs "
                                 f"to a different optimizer")
        milestones = list(milestones)
        for m in milestones:
            _check_int("SequentialLR", "milestones[i]", m, 0)
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(f"SequentialLR: expected len(milestones) == len(schedulers) - 1, "
                             f"received {len(milestones)} milestones for {len(schedulers)} "
                             f"schedulers")

    def _undo(self, sched) -> None:
        """Take back the construction step of every (nested) scheduler."""
        if hasattr(sched, "_schedulers"):
            for s in sched._schedulers:
                self._undo(s)
        elif hasattr(sched, "last_epoch"):
            sched.last_epoch -= 1

    def step(self) -> None:
        self.last_epoch += 1
        idx = bisect.bisect_right(self._milestones, self.last_epoch)
        scheduler = self._schedulers[idx]
        if idx > 0 and self._milestones[idx - 1] == self.last_epoch:
            scheduler._update_lr(0)
        else:
            scheduler.step()
        self._last_lr = scheduler.get_last_lr()

    def state_dict(self) -> dict:
        state = {k: copy.deepcopy(v) for k, v in self.__dict__.items()
                 if k not in ("optimizer", "_schedulers")}
        state["_schedulers"] = [s.state_dict() for s in self._schedulers]
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        name = "SequentialLR.load_state_dict"
        if not isinstance(state_dict, dict) or "_schedulers" not in state_dict:
            raise ValueError(f"{name}: expected a dict from SequentialLR.state_dict()")
        inner = state_dict["_schedulers"]
        if len(inner) != len(self._schedulers):
            raise ValueError(f"{name}: state has {len(inner)} schedulers, this one has "
                             f"{len(self._schedulers)}")
        for s, sd in zip(self._schedulers, inner):
            s.load_state_dict(sd)
        rest = {k: v for k, v in state_dict.items()
                if k not in ("_schedulers", "_get_lr_called_within_step")}
        self.__dict__.update(copy.deepcopy(rest))


def _metric_value(metrics) -> float:
    """A real number, or a one-element convolve/torch Tensor or array, as a float."""
    value = metrics.data if isinstance(metrics, Tensor) else metrics
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor
        value = value.detach().cpu().numpy()
    array = np.asarray(value)
    if isinstance(metrics, bool) or array.size != 1 or array.dtype.kind not in "iuf":
        raise TypeError(f"ReduceLROnPlateau.step: metrics must be a number or a one-element "
                        f"tensor, received {type(metrics).__name__} {metrics!r}")
    return float(array.reshape(()))


class ReduceLROnPlateau(LRScheduler):
    """Multiply every group's lr by ``factor`` (not below min_lr) once the metric passed to
    ``step(metrics)`` has not improved for more than ``patience`` epochs; then wait
    ``cooldown`` epochs. Improvement means a < best * (1 - threshold) ('min', 'rel'),
    a < best - threshold ('min', 'abs') or the mirror for 'max'. Changes smaller than eps
    are skipped."""

    def __init__(self, optimizer, mode: str = "min", factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0,
                 min_lr=0, eps: float = 1e-8):
        name = "ReduceLROnPlateau"
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{name}: expected an Optimizer, received {type(optimizer).__name__}")
        check_real(name, "factor", factor, low=0.0, high=1.0, high_open=True)
        self.factor, self.optimizer = factor, optimizer
        n = len(optimizer.param_groups)
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != n:
                raise ValueError(f"{name}: expected {n} min_lrs (one per param group), "
                                 f"received {len(min_lr)}")
            self.default_min_lr, self.min_lrs = None, list(min_lr)
        else:
            self.default_min_lr, self.min_lrs = min_lr, [min_lr] * n
        for v in self.min_lrs:
            check_real(name, "min_lr", v, low=0.0)
        self.patience = _check_int(name, "patience", patience, 0)
        self.cooldown = _check_int(name, "cooldown", cooldown, 0)
        check_real(name, "eps", eps, low=0.0)
        self.eps = eps
        self.last_epoch = 0
        self._last_lr = self._group_lrs()
        self._init_is_better(mode, threshold, threshold_mode)
        self._reset()

    def _init_is_better(self, mode: str, threshold, threshold_mode: str) -> None:
        if mode not in ("min", "max"):
            raise ValueError(f"ReduceLROnPlateau: mode must be 'min' or 'max', received "
                             f"mode={mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"ReduceLROnPlateau: threshold_mode must be 'rel' or 'abs', "
                             f"received threshold_mode={threshold_mode!r}")
        check_real("ReduceLROnPlateau", "threshold", threshold)
        self.mode_worse = math.inf if mode == "min" else -math.inf
        self.mode, self.threshold, self.threshold_mode = mode, threshold, threshold_mode

    def _reset(self) -> None:
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    @property
    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def _is_better(self, a: float, best: float) -> bool:
        rel = self.threshold_mode == "rel"
        if self.mode == "min":
            return a < best * (1.0 - self.threshold) if rel else a < best - self.threshold
        return a > best * (self.threshold + 1.0) if rel else a > best + self.threshold

    def step(self, metrics, epoch=None) -> None:
        """Record one epoch's metric (a number or a one-element Tensor)."""
        current = _metric_value(metrics)
        self.last_epoch = self.last_epoch + 1 if epoch is None else epoch
        if self._is_better(current, self.best):
            self.best, self.num_bad_epochs = current, 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        self._last_lr = self._group_lrs()

    def _reduce_lr(self) -> None:
        groups = self.optimizer.param_groups
        if len(groups) != len(self.min_lrs):
            if self.default_min_lr is None:
                raise ValueError(f"ReduceLROnPlateau: the optimizer has {len(groups)} param "
                                 f"groups but min_lr has {len(self.min_lrs)} entries")
            self.min_lrs = [self.default_min_lr] * len(groups)
        for group, min_lr in zip(groups, self.min_lrs):
            old = float(group["lr"])
            new = max(old * self.factor, min_lr)
            if old - new > self.eps:
                group["lr"] = new

    def load_state_dict(self, state_dict: dict) -> None:
        name = "ReduceLROnPlateau.load_state_dict"
        if not isinstance(state_dict, dict):
            raise TypeError(f"{name}: expected a dict, received {type(state_dict).__name__}")
        state = {k: v for k, v in state_dict.items()
                 if k not in ("optimizer", "_get_lr_called_within_step")}
        unknown = sorted(set(state) - set(self.__dict__))
        if unknown:
            raise ValueError(f"{name}: unknown entries {unknown} (a different scheduler?)")
        self.__dict__.update(copy.deepcopy(state))
        self._init_is_better(self.mode, self.threshold, self.threshold_mode)

"""Learning-rate schedulers with PyTorch's semantics (recursive/chainable forms, last_epoch).

Usage: after each ``optimizer.step()`` call ``scheduler.step()``; the scheduler writes
``group['lr']`` of every param group. Constructing a scheduler performs its step 0.
"""

from __future__ import annotations

import bisect
import copy
import math
import numbers
import warnings
from collections import Counter

from .optimizer import Optimizer, check_bool, check_real

__all__ = [
    "ConstantLR", "CosineAnnealingLR", "ExponentialLR", "LRScheduler", "LambdaLR", "LinearLR",
    "MultiStepLR", "MultiplicativeLR", "OneCycleLR", "ReduceLROnPlateau", "SequentialLR", "StepLR",
]


_EPOCH_DEPRECATED = "scheduler.step(epoch) is deprecated in PyTorch; call scheduler.step()"
# Entries that are not scheduler state: ours, and a flag that PyTorch's state dicts carry.
_NOT_STATE = {"optimizer", "_get_lr_called_within_step"}


def _check_int(owner: str, arg: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{owner}: expected {arg} to be an int, received {arg}={value!r}")
    if value < low:
        raise ValueError(f"{owner}: expected {arg} >= {low}, received {arg}={value!r}")
    return int(value)


class LRScheduler:
    """Base class: sets ``group['initial_lr']`` (when last_epoch == -1), keeps ``base_lrs``,
    ``last_epoch`` and ``get_last_lr()``. Subclasses implement ``get_lr()``."""

    def __init__(self, optimizer, last_epoch: int = -1):
        name = type(self).__name__
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{name}: expected an Optimizer, received {type(optimizer).__name__}")
        last_epoch = _check_int(name, "last_epoch", last_epoch, -1)
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise ValueError(
                        f"{name}: param_groups[{i}] has no 'initial_lr' although last_epoch="
                        f"{last_epoch}; load the optimizer's state before resuming a scheduler"
                    )
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._initial_step()

    def _initial_step(self) -> None:
        """Step 0: set the first lrs (``get_lr()`` sees ``_is_initial``); resets _step_count."""
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self) -> list:  # pragma: no cover - abstract
        raise NotImplementedError

    def get_last_lr(self) -> list:
        """The learning rates of the param groups after the last ``step()``."""
        return list(self._last_lr)

    def step(self, epoch: int | None = None) -> None:
        """Advance last_epoch by one (or, deprecated, jump to ``epoch``) and set the lrs."""
        self._step_count += 1
        if epoch is not None:
            warnings.warn(_EPOCH_DEPRECATED, UserWarning, stacklevel=2)
        self._update_lr(epoch)

    def _update_lr(self, epoch: int | None = None) -> None:
        """Next epoch's lrs from ``get_lr()``, or jump to ``epoch`` (closed form if any)."""
        self.last_epoch = self.last_epoch + 1 if epoch is None else epoch
        closed_form = None if epoch is None else getattr(self, "_get_closed_form_lr", None)
        values = closed_form() if closed_form else self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, values):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _group_lrs(self) -> list:
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict:
        """Every attribute except the optimizer (plain Python values, JSON-able)."""
        return {k: copy.deepcopy(v) for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore attributes from ``state_dict()``; raises ValueError on unknown keys or a
        different number of param groups, before changing anything."""
        name = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, dict):
            raise TypeError(f"{name}: expected a dict, received {type(state_dict).__name__}")
        state_dict = {k: v for k, v in state_dict.items() if k not in _NOT_STATE}
        unknown = sorted(set(state_dict) - set(self.__dict__))
        if unknown:
            raise ValueError(f"{name}: unknown entries {unknown} (a different scheduler?)")
        base_lrs = state_dict.get("base_lrs", self.base_lrs)
        if len(base_lrs) != len(self.optimizer.param_groups):
            raise ValueError(
                f"{name}: state has {len(base_lrs)} base_lrs, the optimizer has "
                f"{len(self.optimizer.param_groups)} param groups"
            )
        self.__dict__.update(copy.deepcopy(state_dict))


class StepLR(LRScheduler):
    """Multiply the lr by gamma every ``step_size`` epochs: lr_e = base_lr * gamma^(e // step_size)."""

    def __init__(self, optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1):
        self.step_size = _check_int("StepLR", "step_size", step_size, 1)
        check_real("StepLR", "gamma", gamma)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._group_lrs()
        return [lr * self.gamma for lr in self._group_lrs()]

    def _get_closed_form_lr(self) -> list:
        return [base * self.gamma ** (self.last_epoch // self.step_size) for base in self.base_lrs]


class MultiStepLR(LRScheduler):
    """Multiply the lr by gamma at each milestone epoch (by gamma^k for a milestone given k times)."""

    def __init__(self, optimizer, milestones, gamma: float = 0.1, last_epoch: int = -1):
        try:
            milestones = list(milestones)
        except TypeError:
            raise TypeError(
                f"MultiStepLR: expected milestones to be a list of ints, received {milestones!r}"
            ) from None
        for m in milestones:
            _check_int("MultiStepLR", "milestones[i]", m, 0)
        self.milestones = Counter(int(m) for m in milestones)
        check_real("MultiStepLR", "gamma", gamma)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        if self.last_epoch not in self.milestones:
            return self._group_lrs()
        factor = self.gamma ** self.milestones[self.last_epoch]
        return [lr * factor for lr in self._group_lrs()]

    def _get_closed_form_lr(self) -> list:
        k = bisect.bisect_right(sorted(self.milestones.elements()), self.last_epoch)
        return [base * self.gamma**k for base in self.base_lrs]

    def state_dict(self) -> dict:
        state = super().state_dict()
        state["milestones"] = sorted(self.milestones.elements())
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        saved = (
            state_dict.get("milestones", self.milestones) if isinstance(state_dict, dict) else ()
        )
        try:  # a list of milestones (ours) or a {milestone: count} dict (PyTorch's Counter)
            counts = Counter(saved)
            milestones = Counter({int(m): int(c) for m, c in counts.items()})
        except (TypeError, ValueError):
            raise ValueError(
                f"MultiStepLR.load_state_dict: malformed milestones {saved!r}"
            ) from None
        super().load_state_dict(state_dict)
        self.milestones = milestones


class ExponentialLR(LRScheduler):
    """Multiply the lr by gamma every epoch: lr_e = base_lr * gamma^e."""

    def __init__(self, optimizer, gamma: float, last_epoch: int = -1):
        check_real("ExponentialLR", "gamma", gamma)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        if self._is_initial:
            return self._group_lrs()
        return [lr * self.gamma for lr in self._group_lrs()]

    def _get_closed_form_lr(self) -> list:
        return [base * self.gamma**self.last_epoch for base in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing from base_lr to eta_min over T_max epochs, in PyTorch's recursive form:

        lr_e = eta_min + (lr_{e-1} - eta_min) * (1 + cos(pi e / T_max)) / (1 + cos(pi (e-1) / T_max))

    which equals eta_min + (base_lr - eta_min) (1 + cos(pi e / T_max)) / 2 when nothing else
    changes the lr. Past T_max it rises again (period 2 T_max).
    """

    def __init__(self, optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1):
        check_real("CosineAnnealingLR", "T_max", T_max)
        if T_max <= 0:
            raise ValueError(f"CosineAnnealingLR: expected T_max > 0, received T_max={T_max!r}")
        check_real("CosineAnnealingLR", "eta_min", eta_min)
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        e, t, eta_min = self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return self._group_lrs()
        if self._step_count == 1 and e > 0:
            return [
                eta_min + (base - eta_min) * (1 + math.cos(e * math.pi / t)) / 2
                for base in self.base_lrs
            ]
        if (e - 1 - t) % (2 * t) == 0:
            return [
                lr + (base - eta_min) * (1 - math.cos(math.pi / t)) / 2
                for base, lr in zip(self.base_lrs, self._group_lrs())
            ]
        ratio = (1 + math.cos(math.pi * e / t)) / (1 + math.cos(math.pi * (e - 1) / t))
        return [ratio * (lr - eta_min) + eta_min for lr in self._group_lrs()]

    def _get_closed_form_lr(self) -> list:
        cos = 1 + math.cos(math.pi * self.last_epoch / self.T_max)
        return [self.eta_min + (base - self.eta_min) * cos / 2 for base in self.base_lrs]


def _per_group(owner: str, arg: str, optimizer, value) -> list:
    """One value per param group: a list/tuple of that length, or one number repeated."""
    n = len(optimizer.param_groups)
    values = list(value) if isinstance(value, (list, tuple)) else [value] * n
    if len(values) != n:
        raise ValueError(
            f"{owner}: {arg} must have one value per param group ({n}), received {len(values)}"
        )
    for v in values:
        check_real(owner, arg, v)
    return values


class OneCycleLR(LRScheduler):
    """The 1cycle policy (Smith & Topin): lr rises from max_lr / div_factor to max_lr over the
    first pct_start of ``total_steps`` (= epochs * steps_per_epoch), then anneals to
    initial_lr / final_div_factor ('cos' or 'linear'). With three_phase, it first returns to
    initial_lr symmetrically, then anneals. With cycle_momentum, momentum (SGD, RMSprop) or
    betas[0] (Adam) moves inversely between max_momentum and base_momentum.
    Call ``step()`` once per batch; stepping past total_steps raises ValueError.
    """

    def __init__(
        self,
        optimizer,
        max_lr,
        total_steps: int | None = None,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
        pct_start: float = 0.3,
        anneal_strategy: str = "cos",
        cycle_momentum: bool = True,
        base_momentum=0.85,
        max_momentum=0.95,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
        last_epoch: int = -1,
    ):
        name = "OneCycleLR"
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{name}: expected an Optimizer, received {type(optimizer).__name__}")
        self.total_steps = self._resolve_total(total_steps, epochs, steps_per_epoch)
        check_real(name, "pct_start", pct_start, low=0.0, high=1.0)
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(
                f"{name}: anneal_strategy must be 'cos' or 'linear', received {anneal_strategy!r}"
            )
        check_real(name, "div_factor", div_factor)
        check_real(name, "final_div_factor", final_div_factor)
        check_bool(name, "cycle_momentum", cycle_momentum)
        check_bool(name, "three_phase", three_phase)
        self._anneal_func_type = anneal_strategy
        self._schedule_phases = self._phases(float(pct_start), three_phase)
        max_lrs = _per_group(name, "max_lr", optimizer, max_lr)
        if cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise ValueError(
                    f"{name}: cycle_momentum=True needs an optimizer with momentum or betas, "
                    f"received {type(optimizer).__name__}"
                )
            max_moms = _per_group(name, "max_momentum", optimizer, max_momentum)
            base_moms = _per_group(name, "base_momentum", optimizer, base_momentum)
        if last_epoch == -1:
            for group, lr in zip(optimizer.param_groups, max_lrs):
                group["initial_lr"] = lr / div_factor
                group["max_lr"] = lr
                group["min_lr"] = group["initial_lr"] / final_div_factor
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            self.use_beta1 = "betas" in optimizer.defaults
            if last_epoch == -1:
                for group, m_max, m_base in zip(optimizer.param_groups, max_moms, base_moms):
                    self._set_momentum(group, m_max)
                    group["max_momentum"] = m_max
                    group["base_momentum"] = m_base
        super().__init__(optimizer, last_epoch)

    @staticmethod
    def _resolve_total(total_steps, epochs, steps_per_epoch) -> int:
        if total_steps is not None:
            return _check_int("OneCycleLR", "total_steps", total_steps, 1)
        if epochs is None or steps_per_epoch is None:
            raise ValueError(
                "OneCycleLR: you must define either total_steps or (epochs and steps_per_epoch)"
            )
        epochs = _check_int("OneCycleLR", "epochs", epochs, 1)
        return epochs * _check_int("OneCycleLR", "steps_per_epoch", steps_per_epoch, 1)

    def _phases(self, pct_start: float, three_phase: bool) -> list:
        total = self.total_steps

        def phase(end_step, start_lr, end_lr, start_m, end_m):
            return {
                "end_step": end_step,
                "start_lr": start_lr,
                "end_lr": end_lr,
                "start_momentum": start_m,
                "end_momentum": end_m,
            }

        warm = phase(
            float(pct_start * total) - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"
        )
        if three_phase:
            return [
                warm,
                phase(
                    float(2 * pct_start * total) - 2,
                    "max_lr",
                    "initial_lr",
                    "base_momentum",
                    "max_momentum",
                ),
                phase(total - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum"),
            ]
        return [warm, phase(total - 1, "max_lr", "min_lr", "base_momentum", "max_momentum")]

    def _anneal(self, start, end, pct):
        if self._anneal_func_type == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def _set_momentum(self, group: dict, value) -> None:
        if self.use_beta1:
            group["betas"] = (value, *group["betas"][1:])
        else:
            group["momentum"] = value

    def get_lr(self) -> list:
        step = self.last_epoch
        if step > self.total_steps:
            raise ValueError(
                f"OneCycleLR: tried to step {step} times, but total_steps={self.total_steps}"
            )
        lrs = []
        for group in self.optimizer.param_groups:
            start = 0.0
            for i, phase in enumerate(self._schedule_phases):
                end = phase["end_step"]
                if step <= end or i == len(self._schedule_phases) - 1:
                    pct = (step - start) / (end - start)
                    lrs.append(self._anneal(group[phase["start_lr"]], group[phase["end_lr"]], pct))
                    if self.cycle_momentum:
                        self._set_momentum(
                            group,
                            self._anneal(
                                group[phase["start_momentum"]], group[phase["end_momentum"]], pct
                            ),
                        )
                    break
                start = end
        return lrs



# Imported last: these subclass LRScheduler above.
from ._schedulers import (  # noqa: I001
    ConstantLR, LambdaLR, LinearLR, MultiplicativeLR, ReduceLROnPlateau, SequentialLR,
)

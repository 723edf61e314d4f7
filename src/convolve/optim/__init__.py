"""Optimizers (SGD, Adam, AdamW, RMSprop, Adagrad, Adadelta) and learning-rate schedulers,
with PyTorch's names, defaults, update formulas and state-dict layout."""

from . import lr_scheduler
from .adagrad import Adadelta, Adagrad
from .adam import Adam, AdamW
from .optimizer import Optimizer, optimizer_state_from_arrays, optimizer_state_to_arrays
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = [
    "SGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "Optimizer",
    "RMSprop",
    "lr_scheduler",
    "optimizer_state_from_arrays",
    "optimizer_state_to_arrays",
]

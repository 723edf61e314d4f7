"""The lab: measures the seed's claims for convolutional over fully-connected layers.

``convolve.lab.compare(data="mnist5k")`` trains an MLP, a locally-connected net, a CNN and
an antialiased CNN alike and reports parameters, connections, receptive fields, accuracy,
overfitting, sample efficiency and shift robustness over several seeds (mean, 95% interval,
per-seed values), with a verdict per claim from paired differences over seeds; on MNIST-1D
it replicates Greydanus (2020). The measurement functions work on any layer or model.
"""

from .measure import (
    accuracy_under_shift,
    connections,
    consistency,
    equivariance_error,
    input_gradients,
    predict_proba,
    receptive_field_measured,
    top1_change,
)
from .params import count_parameters, layer_formulas, parameter_growth, worked_example
from .shifts import shift, shift_each


def __getattr__(name):  # compare pulls in training and matplotlib: import it on first use
    if name == "compare":
        from .comparison import compare

        return compare
    raise AttributeError(f"module 'convolve.lab' has no attribute {name!r}")


__all__ = [
    "accuracy_under_shift", "compare", "connections", "consistency", "count_parameters",
    "equivariance_error", "input_gradients", "layer_formulas", "parameter_growth",
    "predict_proba", "receptive_field_measured", "shift", "shift_each", "top1_change",
    "worked_example",
]

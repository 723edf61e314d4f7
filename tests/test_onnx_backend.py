"""ONNX's own conformance tests (``onnx.backend.test`` node tests) through convolve.onnx.backend.

The CNN-relevant operator families are included by name pattern; every included test that
convolve cannot run is excluded by an explicit pattern in EXCLUDED with its reason. Counts:
``PYTHONPATH=src python tests/test_onnx_backend.py`` prints passed / excluded by reason /
failed among the included node tests.
"""

import os
import re
import sys
import warnings

import numpy as np
import pytest

if not os.environ.get("CI"):  # under CI a missing onnx fails the import below
    pytest.importorskip("onnx")
import onnx.backend.test

from convolve.onnx import backend

FAMILIES = [
    "conv", "convtranspose", "maxpool", "averagepool", "globalaveragepool", "globalmaxpool",
    "lppool", "gemm", "matmul", "relu", "leakyrelu", "sigmoid", "tanh", "elu", "selu",
    "softplus", "softsign", "hardsigmoid", "hardswish", "prelu", "celu", "thresholdedrelu",
    "gelu", "erf", "softmax", "logsoftmax", "flatten", "reshape", "transpose", "concat",
    "squeeze", "unsqueeze", "add", "sub", "mul", "div", "neg", "abs", "sqrt", "exp", "log",
    "pow", "reciprocal", "batchnorm", "dropout", "training_dropout", "pad", "constant_pad",
    "edge_pad", "reflect_pad", "wrap_pad", "reduce_mean", "reduce_sum(?!_square)", "reduce_max",
    "reduce_min", "clip", "sce", "nllloss", "identity",
]
INCLUDED = [rf"^test_{f}(_.*)?_cpu$" for f in FAMILIES]

# pattern -> why convolve does not run these included tests
EXCLUDED = {
    r"^test_(averagepool|lppool)_3d": "3-D average and Lp pooling are not implemented",
    r"^test_(averagepool|lppool)_2d_dilations": "dilated average/Lp pooling has no PyTorch "
                                                "equivalent in convolve",
    r"^test_maxpool_with_argmax": "MaxPool's Indices output (ONNX flattens over N*C*H*W) is "
                                  "not supported",
    r"^test_maxpool_2d_uint8": "pooling of integer tensors is not supported (float only)",
    r"^test_batchnorm_.*_training_mode": "BatchNormalization with running statistics as "
                                         "graph outputs (training_mode=1) is not supported",
    r"^test_training_dropout(?!_zero_ratio)": "training-mode Dropout draws from ONNX's RNG; "
                                              "its outputs cannot be reproduced",
    r"^test_reduce_(max|min)_empty_set": "reductions over empty axes are not supported",
    r"^test_identity_(opt|sequence)": "optional and sequence types are not supported",
    r"^test_celu_bfloat16": "bfloat16 tensors are not supported",
}


def build(name):
    warnings.filterwarnings("ignore", category=RuntimeWarning)
    bt = onnx.backend.test.BackendTest(backend, name)
    for pattern in INCLUDED:
        bt.include(pattern)
    for pattern in EXCLUDED:
        bt.exclude(pattern)
    return bt


def _included_only(cases: dict) -> dict:
    """Drop the node tests outside INCLUDED (and other devices), so pytest lists only ours."""
    for case in cases.values():
        for name in [n for n in vars(case) if n.startswith("test_")]:
            if not any(re.search(p, name) for p in INCLUDED):
                delattr(case, name)
    return cases


backend_test = build(__name__)
TEST_CASES = _included_only(backend_test.test_cases)
globals().update(TEST_CASES)


def test_every_exclusion_matches_an_included_test():
    names = [n for case in TEST_CASES.values() for n in dir(case)
             if n.startswith("test_") and n.endswith("_cpu")]
    included = [n for n in names if any(re.search(p, n) for p in INCLUDED)]
    for pattern, reason in EXCLUDED.items():
        assert reason and any(re.search(pattern, n) for n in included), pattern


def count(stream=sys.stdout):
    """Run the included node tests; print passed / excluded by reason / failed."""
    import unittest

    bt = build("count")
    tests = [t for t in bt.test_suite if t.id().endswith("_cpu")]
    included = [t.id().split(".")[-1] for t in tests
                if any(re.search(p, t.id().split(".")[-1]) for p in INCLUDED)]
    with open(os.devnull, "w") as devnull:
        result = unittest.TextTestRunner(stream=devnull).run(unittest.TestSuite(tests))
    hits = [next((p for p in EXCLUDED if re.search(p, n)), None) for n in included]
    by_reason = {r: hits.count(p) for p, r in EXCLUDED.items()}
    excluded = sum(by_reason.values())
    failed = len(result.failures) + len(result.errors)
    print(f"included {len(included)}: passed {len(included) - excluded - failed}, "
          f"excluded {excluded}, failed {failed}", file=stream)
    for reason, n in by_reason.items():
        print(f"  excluded {n:3d}: {reason}", file=stream)
    for t, _ in result.failures + result.errors:
        print("  FAILED", t.id(), file=stream)


if __name__ == "__main__":
    count()


def test_backend_entry_points():
    from onnx import helper

    x = np.array([[-1.0, 2.0], [3.0, -4.0]], np.float32)
    (y,) = backend.run_node(helper.make_node("LeakyRelu", ["x"], ["y"], alpha=0.5), [x])
    np.testing.assert_array_equal(y, np.where(x > 0, x, 0.5 * x))
    assert backend.supports_device("CPU") and not backend.supports_device("CUDA")
    with pytest.raises(ValueError, match="device must be 'CPU'"):
        backend.prepare(helper.make_model(helper.make_graph([], "g", [], [])), "CUDA")

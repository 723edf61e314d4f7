"""What to use instead of the PyTorch attributes convolve deliberately does not provide:
``convolve.<name>`` for one of them raises an AttributeError that says so."""

from __future__ import annotations

_ALTERNATIVES = {
    "jit": "TorchScript is not provided; export a model with convolve.onnx.export",
    "compile": "torch.compile is not provided; convolve runs eagerly: call the model directly",
    "autocast": "mixed precision is not provided; train in float32 (or float64)",
    "amp": "mixed precision is not provided; train in float32 (or float64)",
    "hub": "torch.hub is not provided (no downloads of code); build models with convolve.nn "
           "or convolve.models and load weights with load_state_dict",
    "Generator": "there is one global generator: seed it with convolve.manual_seed",
    "set_default_dtype": "the default dtype is always float32; pass dtype= or call "
                         "model.double() / tensor.double()",
    "set_default_tensor_type": "the default dtype is always float32; pass dtype=",
    "linalg": "torch.linalg is not provided; use numpy.linalg on tensor.numpy()",
    "fft": "torch.fft is not provided; use numpy.fft on tensor.numpy()",
    "sparse": "sparse tensors are not provided; use dense tensors",
    "mps": "convolve computes on the CPU only: use device 'cpu'",
    "xpu": "convolve computes on the CPU only: use device 'cpu'",
    "FloatTensor": "use convolve.tensor(data, dtype=convolve.float32)",
    "DoubleTensor": "use convolve.tensor(data, dtype=convolve.float64)",
    "LongTensor": "use convolve.tensor(data, dtype=convolve.int64)",
    "IntTensor": "use convolve.tensor(data, dtype=convolve.int32)",
    "BoolTensor": "use convolve.tensor(data, dtype=convolve.bool)",
    "ByteTensor": "use convolve.tensor(data, dtype=convolve.uint8)",
    "set_num_threads": "BLAS threads are set by convolve.threads.blas_threads(n) (a context "
                       "manager) or the OMP_NUM_THREADS environment variable",
    "bfloat16": "bfloat16 is not provided (NumPy has no such dtype); use float32",
}


def module_getattr(name: str):
    """The package's ``__getattr__``: runs only for names convolve does not have."""
    hint = _ALTERNATIVES.get(name)
    if hint is None:
        raise AttributeError(f"module 'convolve' has no attribute {name!r}")
    raise AttributeError(f"convolve.{name}: not provided ({hint})")


def get_default_dtype():
    from .dtypes import DEFAULT_FLOAT

    return DEFAULT_FLOAT

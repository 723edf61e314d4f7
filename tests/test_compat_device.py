"""PyTorch compatibility of devices: convolve.device, cuda/accelerator/backends queries,
Tensor.to / Module.to call forms and the errors for devices convolve cannot use,
compared against torch 2.13 (a CPU build, as here)."""

import numpy as np
import pytest

import convolve as cv

SPECS = [("cpu",), ("cuda",), ("cuda:0",), ("cuda", 1), ("mps",), ("meta",), ("cpu", 0)]


@pytest.mark.parametrize("spec", SPECS, ids=repr)
def test_device_objects_match_torch(torch, spec):
    ours, theirs = cv.device(*spec), torch.device(*spec)
    assert (ours.type, ours.index) == (theirs.type, theirs.index)
    assert str(ours) == str(theirs) and repr(ours) == repr(theirs)
    assert (ours == cv.device(*spec)) and (ours == cv.device(str(ours)))
    assert (ours == str(ours)) == (theirs == str(theirs))  # no equality with strings in 2.13
    assert cv.device(ours) == ours and hash(ours) == hash(cv.device(str(ours)))


@pytest.mark.parametrize("bad", ["gpu", "cuda:x", "cpu:-1", ""])
def test_bad_device_strings_fail_like_torch(torch, bad):
    with pytest.raises(RuntimeError):
        torch.device(bad)
    with pytest.raises(RuntimeError, match=f"device: expected one of cpu, cuda.*{bad!r}"):
        cv.device(bad)


def test_a_bare_index_fails_like_torch_without_accelerator(torch):
    with pytest.raises(RuntimeError):
        torch.device(0)
    with pytest.raises(RuntimeError, match=r"device: an index alone \(0\) names an accelerator"):
        cv.device(0)
    with pytest.raises(RuntimeError, match="an index alone"):
        cv.ones(2).to(0)


QUERIES = [
    lambda lib: lib.cuda.is_available(),
    lambda lib: lib.cuda.device_count(),
    lambda lib: lib.accelerator.is_available(),
    lambda lib: lib.accelerator.current_accelerator(),
    lambda lib: lib.accelerator.device_count(),
    lambda lib: lib.backends.mps.is_available(),
    lambda lib: lib.backends.cudnn.benchmark,
    lambda lib: lib.backends.cudnn.deterministic,
    lambda lib: lib.backends.cudnn.enabled,
    lambda lib: lib.backends.cudnn.is_available(),
    lambda lib: str(lib.device("cuda" if lib.cuda.is_available() else "cpu")),
    lambda lib: lib.ones(2).device == lib.device("cpu"),
    lambda lib: lib.ones(2).is_cuda,
    lambda lib: str(lib.tensor([1, 2], device="cpu").device),
    lambda lib: str(lib.nn.Linear(2, 2).weight.device),
]


@pytest.mark.parametrize("query", QUERIES)
def test_queries_answer_as_a_cpu_build_of_torch(torch, query):
    assert query(cv) == query(torch)


def test_cudnn_switches_are_settable_no_ops():
    import convolve.backends.cudnn as cudnn  # noqa: PLR0402 - the import scripts write

    cudnn.benchmark, cudnn.deterministic = True, True
    try:
        assert cv.backends.cudnn.benchmark is True
        cv.manual_seed(0)
        a = cv.nn.Conv2d(1, 2, 3)(cv.ones(1, 1, 5, 5)).numpy()
        cv.manual_seed(0)
        cudnn.benchmark = False
        np.testing.assert_array_equal(a, cv.nn.Conv2d(1, 2, 3)(cv.ones(1, 1, 5, 5)).numpy())
    finally:
        cudnn.benchmark, cudnn.deterministic = False, False
    cv.cuda.manual_seed(1)
    cv.cuda.manual_seed_all(1)


TO_FORMS = {  # name -> call on a float32 tensor of the library
    "device-str": lambda lib, t: t.to("cpu"),
    "device-obj": lambda lib, t: t.to(lib.device("cpu")),
    "dtype": lambda lib, t: t.to(lib.float64),
    "dtype-long": lambda lib, t: t.to(lib.long),
    "tensor": lambda lib, t: t.to(lib.tensor([1, 2])),
    "device-dtype": lambda lib, t: t.to("cpu", lib.float64),
    "keywords": lambda lib, t: t.to(device="cpu", dtype=lib.int32),
    "keyword-dtype": lambda lib, t: t.to(dtype=lib.float64, non_blocking=True),
    "cpu": lambda lib, t: t.cpu(),
    "device-var": lambda lib, t: t.to(lib.device("cuda" if lib.cuda.is_available() else "cpu")),
    "copy": lambda lib, t: t.to("cpu", copy=True),
}


@pytest.mark.parametrize("form", list(TO_FORMS))
def test_tensor_to_matches_torch(torch, form):
    x = np.array([1.5, -2.0, 3.0], np.float32)
    t_ours, t_theirs = cv.tensor(x), torch.tensor(x)
    ours, theirs = TO_FORMS[form](cv, t_ours), TO_FORMS[form](torch, t_theirs)
    assert str(theirs.dtype) == f"torch.{ours.dtype}"
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    assert (ours is t_ours) == (theirs is t_theirs)


def test_to_keeps_the_graph_for_float_casts(torch):
    x = cv.tensor([1.0, 2.0], requires_grad=True)
    (x.to(cv.float64) * 2).sum().backward()
    assert x.grad.dtype == np.float32 and x.grad.tolist() == [2.0, 2.0]


@pytest.mark.parametrize("spec", ["cuda", "cuda:0", "mps", cv.device("cuda", 1), "xla"],
                         ids=str)
@pytest.mark.parametrize("call", ["to", "to-kw", "cuda", "module", "zeros", "as_tensor",
                                  "tensor"])
def test_unusable_devices_fail_at_use_naming_the_device(spec, call):
    calls = {
        "to": lambda: cv.ones(2).to(spec),
        "to-kw": lambda: cv.ones(2).to(device=spec, dtype=cv.float64),
        "cuda": lambda: cv.ones(2).cuda(spec),
        "module": lambda: cv.nn.Linear(2, 2).to(spec),
        "zeros": lambda: cv.zeros(2, device=spec),
        "as_tensor": lambda: cv.as_tensor([1.0], device=spec),
        "tensor": lambda: cv.tensor([1.0], device=spec),
    }
    with pytest.raises(RuntimeError, match=f"CPU only; device '{cv.device(spec)}' is not "
                                           r"available. Use 'cpu'") as err:
        calls[call]()
    assert isinstance(err.value, ValueError)


def test_cuda_without_argument_and_module_cuda_fail_like_torch(torch):
    for lib in (torch, cv):
        with pytest.raises((AssertionError, RuntimeError)):
            lib.ones(2).cuda()
        with pytest.raises((AssertionError, RuntimeError)):
            lib.nn.Linear(2, 2).cuda()
    with pytest.raises(RuntimeError, match=r"Linear.cuda: .*device 'cuda'"):
        cv.nn.Linear(2, 2).cuda()


MODULE_TO = {
    "device": lambda lib, m: m.to("cpu"),
    "device-obj": lambda lib, m: m.to(lib.device("cpu")),
    "dtype": lambda lib, m: m.to(lib.float64),
    "device-dtype": lambda lib, m: m.to("cpu", lib.float64),
    "keywords": lambda lib, m: m.to(device="cpu", dtype=lib.float64),
    "tensor": lambda lib, m: m.to(lib.zeros(1, dtype=lib.float64)),
    "cpu": lambda lib, m: m.cpu(),
    "double": lambda lib, m: m.double(),
}


@pytest.mark.parametrize("form", list(MODULE_TO))
def test_module_to_matches_torch(torch, form):
    ours = cv.nn.Sequential(cv.nn.Conv2d(1, 2, 3), cv.nn.BatchNorm2d(2))
    theirs = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2))
    assert MODULE_TO[form](cv, ours) is ours and MODULE_TO[form](torch, theirs) is theirs
    ours_dt = {k: str(v.dtype) for k, v in ours.state_dict().items()}
    theirs_dt = {k: str(v.dtype).removeprefix("torch.") for k, v in theirs.state_dict().items()}
    assert ours_dt == theirs_dt
    assert all(p.device == cv.device("cpu") for p in ours.parameters())


def test_module_to_an_integer_dtype_is_refused(torch):
    with pytest.raises(TypeError):
        torch.nn.Linear(2, 2).to(torch.int64)
    with pytest.raises(TypeError, match="to: expected a floating dtype, received int64"):
        cv.nn.Linear(2, 2).to(cv.int64)


def test_to_bad_arguments_name_them():
    with pytest.raises(TypeError, match=r"dtype must be a dtype such as convolve.float32"):
        cv.ones(2).to(3.5)
    with pytest.raises(TypeError, match=r"Tensor.to: expected to\(device\).*\['colour'\]"):
        cv.ones(2).to(colour="red")


@pytest.mark.parametrize("name", ["get_device_name", "current_device", "amp", "memory_allocated"])
def test_other_cuda_names_say_convolve_is_cpu_only(name):
    with pytest.raises(AttributeError, match=rf"convolve.cuda.{name}: not provided \(convolve "
                                             r"computes on the CPU only"):
        getattr(cv.cuda, name)

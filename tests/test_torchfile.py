"""PyTorch's own .pt/.pth files read by convolve.load without pickle: state dicts written by
torch 2.13 load equal (zip, protocol 4, legacy), and code payloads, damaged archives and lying
sizes are refused with one-line errors before anything runs or is allocated. The tests use
Python's pickle module to write hostile files; the library never imports it."""

import io
import os
import pickle
import tracemalloc
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

import convolve
from convolve.interop import from_torch
from convolve.serialization import UnsafeFileError

SAVE_MODES = {"zip": {}, "protocol4": {"pickle_protocol": 4},
              "legacy": {"_use_new_zipfile_serialization": False}}


def _same(ours, theirs, torch, path="obj"):
    if isinstance(theirs, torch.Tensor):
        assert isinstance(ours, convolve.Tensor), (path, type(ours))
        expected = (theirs.float() if theirs.dtype == torch.bfloat16 else theirs).detach().numpy()
        assert ours.dtype == expected.dtype and ours.shape == expected.shape, path
        np.testing.assert_array_equal(ours.data, expected)
        assert ours.requires_grad == theirs.requires_grad, path
    elif isinstance(theirs, dict):
        assert type(ours) is type(theirs) and list(ours) == list(theirs), path
        for k in theirs:
            _same(ours[k], theirs[k], torch, f"{path}[{k!r}]")
    elif isinstance(theirs, (list, tuple)):
        kind = convolve.Size if isinstance(theirs, torch.Size) else type(theirs)
        assert type(ours) is kind and len(ours) == len(theirs), path
        for i, (a, b) in enumerate(zip(ours, theirs)):
            _same(a, b, torch, f"{path}[{i}]")
    else:
        assert type(ours) is type(theirs) and ours == theirs, (path, ours, theirs)


def _torch_net(torch):
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3), torch.nn.BatchNorm2d(4),
                               torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(64, 3))


def _trained(torch):
    net = _torch_net(torch)
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    for _ in range(2):
        opt.zero_grad()
        net(torch.randn(5, 2, 6, 6)).square().mean().backward()
        opt.step()
    return net, opt


@pytest.mark.parametrize("mode", list(SAVE_MODES))
def test_checkpoint_saved_by_torch_loads_equal(torch, tmp_path, mode):
    net, opt = _trained(torch)
    base = torch.arange(24.0).reshape(4, 6)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[3, 5, 5])  # a Counter
    ckpt = {"net": net.state_dict(), "optimizer": opt.state_dict(), "acc": 87.5, "epoch": 7,
            "scheduler": sched.state_dict(),
            "best": None, "tag": "run-1", "flags": [True, False],
            "transposed": base.t(), "strided": base[::2, 1::3], "row": base[1],
            "same": base, "same_again": base,
            "dtypes": {str(d): torch.arange(4).to(d) for d in (
                torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.int8,
                torch.int16, torch.int32, torch.int64, torch.uint8, torch.bool)},
            "scalar": torch.tensor(2.5), "empty": torch.zeros(0, 3),
            "leaf": torch.ones(2, requires_grad=True), "shape": torch.Size([3, 4]),
            "raw": b"\x00\xffbytes", "labels": {3, 1}}
    torch.save(ckpt, tmp_path / "ck.pth", **SAVE_MODES[mode])
    # torch's own weights_only reader lacks protocol 4's FRAME; this file is our own
    theirs = torch.load(tmp_path / "ck.pth", weights_only=mode != "protocol4")
    ours = convolve.load(tmp_path / "ck.pth", map_location="cpu")
    _same(ours, theirs, torch)
    assert ours["net"]._metadata == theirs["net"]._metadata
    assert ours["same"] is ours["same_again"]


def test_torch_state_dict_drives_a_convolve_model(torch, tmp_path):
    net, _ = _trained(torch)
    net.eval()
    torch.save(net.state_dict(), tmp_path / "model.pt")
    model = from_torch(_torch_net(torch).eval())  # same layers, other weights
    model.load_state_dict(convolve.load(tmp_path / "model.pt"))
    x = np.random.default_rng(0).standard_normal((3, 2, 6, 6)).astype(np.float32)
    with torch.no_grad():
        expected = net(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(model(convolve.Tensor(x)).data, expected, rtol=1e-5, atol=1e-6)


def test_parameters_saved_with_keep_vars_load_as_parameters(torch, tmp_path):
    net = _torch_net(torch)
    torch.save(net.state_dict(keep_vars=True), tmp_path / "vars.pt")
    ours = convolve.load(tmp_path / "vars.pt")
    assert isinstance(ours["0.weight"], convolve.nn.Parameter) and ours["0.weight"].requires_grad
    assert not ours["1.running_mean"].requires_grad
    _same(ours, net.state_dict(keep_vars=True), torch)


class _Payload:
    """Runs ``touch <marker>`` when unpickled by Python's pickle."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _zip_archive(path, pkl: bytes, entries=None):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("archive/data.pkl", pkl)
        zf.writestr("archive/byteorder", "little")
        for name, data in (entries or {}).items():
            zf.writestr(f"archive/data/{name}", data)


@pytest.mark.parametrize("how", ["torch.save", "zip", "legacy", "inside_state_dict"])
def test_code_payload_is_refused_and_never_runs(torch, tmp_path, how):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    if how == "torch.save":
        torch.save({"w": torch.ones(2), "x": _Payload(marker)}, path)
    elif how == "zip":
        _zip_archive(path, pickle.dumps(_Payload(marker), protocol=2))
    elif how == "legacy":
        head = [0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}]
        path.write_bytes(b"".join(pickle.dumps(v, protocol=2) for v in head)
                         + pickle.dumps(_Payload(marker), protocol=2))
    else:
        torch.save(OrderedDict(w=torch.ones(2), hook=_Payload(marker)), path)
    with pytest.raises(UnsafeFileError, match=r"refusing to load the global '(posix|os)\.system'") \
            as err:
        convolve.load(path)
    assert "\n" not in str(err.value)
    assert not marker.exists()
    with pytest.raises(UnsafeFileError):
        convolve.load(path, weights_only=False)  # nothing ever runs, whatever the flag
    assert not marker.exists()


def test_other_globals_and_builds_are_refused(tmp_path):
    class Reduce:
        def __init__(self, fn, args):
            self.fn, self.args = fn, args

        def __reduce__(self):
            return self.fn, self.args

    for obj, name in [(Reduce(eval, ("1",)), "(builtins|__builtin__).eval"),
                      (Reduce(print, ("x",)), "(builtins|__builtin__).print"),
                      (np.float64(1.0), "numpy"), (Reduce(OrderedDict, ([("a", 1)],)), None)]:
        _zip_archive(tmp_path / "g.pt", pickle.dumps({"x": obj}, protocol=2))
        if name is None:  # OrderedDict from pairs is allowed
            assert convolve.load(tmp_path / "g.pt") == {"x": OrderedDict(a=1)}
            continue
        with pytest.raises(UnsafeFileError, match=f"global '{name}"):
            convolve.load(tmp_path / "g.pt")


def test_damaged_archives_give_one_line_errors(torch, tmp_path):
    net, opt = _trained(torch)
    torch.save({"net": net.state_dict(), "opt": opt.state_dict()}, tmp_path / "ok.pt")
    data = (tmp_path / "ok.pt").read_bytes()
    flipped = bytearray(data)
    flipped[data.index(b"data/0") + 200] ^= 0xFF  # inside the first storage's bytes
    cases = [data[:len(data) // 2], data[:-30], bytes(flipped), b"PK\x03\x04" + b"\0" * 40]
    for blob in cases:
        with pytest.raises(UnsafeFileError) as err:
            convolve.load(io.BytesIO(blob))
        assert "\n" not in str(err.value) and str(err.value).startswith("load: ")


class _Storage:
    pass


def _tensor_pickle(torch, numel, size, stride):
    """A data.pkl for one float tensor, with a storage record of ``numel`` elements."""
    class Rebuild:
        def __reduce__(self):
            return (torch._utils._rebuild_tensor_v2,
                    (_STORAGE, 0, size, stride, False, OrderedDict()))

    class P(pickle.Pickler):
        def persistent_id(self, obj):
            if obj is _STORAGE:
                return ("storage", torch.FloatStorage, "0", "cpu", numel)
            return None

    buf = io.BytesIO()
    P(buf, protocol=2).dump({"w": Rebuild()})
    return buf.getvalue()


_STORAGE = _Storage()


@pytest.mark.parametrize("numel,size,stride,match", [
    (2**40, (2**40,), (1,), "holds 8 bytes, its tensor record declares"),
    (2, (10**12,), (1,), "reaches element"),
    (2, (10**9, 10**9), (0, 0), "over the limit"),
    (2, (2,), (-1,), "corrupt tensor record"),
])
def test_lying_sizes_are_refused_with_bounded_memory(torch, tmp_path, numel, size, stride,
                                                     match):
    _zip_archive(tmp_path / "big.pt", _tensor_pickle(torch, numel, size, stride),
                 {"0": np.ones(2, np.float32).tobytes()})
    tracemalloc.start()
    try:
        with pytest.raises(UnsafeFileError, match=match):
            convolve.load(tmp_path / "big.pt")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20


def test_a_honest_handmade_archive_loads(torch, tmp_path):
    _zip_archive(tmp_path / "ok.pt", _tensor_pickle(torch, 2, (2,), (1,)),
                 {"0": np.array([1.5, -2.0], np.float32).tobytes()})
    np.testing.assert_array_equal(convolve.load(tmp_path / "ok.pt")["w"].data, [1.5, -2.0])


@pytest.mark.parametrize("make_opt", ["Adam", "SGD"])
def test_torch_checkpoint_resumes_on_torchs_trajectory(torch, tmp_path, make_opt):
    """Model + optimizer state saved by torch mid-run, resumed in convolve (float64): the
    next steps equal torch's own continuation."""
    torch.manual_seed(0)
    options = {"Adam": {"lr": 0.1}, "SGD": {"lr": 0.1, "momentum": 0.9}}[make_opt]
    net = torch.nn.Linear(3, 2).double()
    opt = getattr(torch.optim, make_opt)(net.parameters(), **options)
    xs = [torch.randn(4, 3, dtype=torch.float64) for _ in range(4)]

    def torch_step(x):
        opt.zero_grad()
        (net(x) * net(x)).sum().backward()
        opt.step()

    for x in xs[:2]:
        torch_step(x)
    torch.save({"net": net.state_dict(), "optimizer": opt.state_dict(), "epoch": 2},
               tmp_path / "ckpt.pth")
    for x in xs[2:]:
        torch_step(x)
    ckpt = convolve.load(tmp_path / "ckpt.pth")
    model = from_torch(torch.nn.Linear(3, 2).double())
    model.load_state_dict(ckpt["net"])
    ours = getattr(convolve.optim, make_opt)(model.parameters(), **options)
    ours.load_state_dict(ckpt["optimizer"])
    for x in xs[ckpt["epoch"]:]:
        ours.zero_grad()
        y = model(convolve.Tensor(x.numpy()))
        (y * y).sum().backward()
        ours.step()
    for name, value in net.state_dict().items():
        np.testing.assert_allclose(model.state_dict()[name], value.numpy(), rtol=1e-9,
                                   atol=1e-12, err_msg=name)


def test_big_endian_archive_is_byteswapped(torch, tmp_path):
    with zipfile.ZipFile(tmp_path / "be.pt", "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("archive/data.pkl", _tensor_pickle(torch, 2, (2,), (1,)))
        zf.writestr("archive/byteorder", "big")
        zf.writestr("archive/data/0", np.array([1.5, -2.0], ">f4").tobytes())
    w = convolve.load(tmp_path / "be.pt")["w"]
    assert w.dtype == np.float32 and w.data.tolist() == [1.5, -2.0]


def test_mutated_pickles_only_ever_raise_unsafe_file_error(torch, tmp_path):
    """Seeded fuzzing: random byte edits of a real data.pkl either load or raise the one
    documented error type, never another exception."""
    net, opt = _trained(torch)
    torch.save({"net": net.state_dict(), "opt": opt.state_dict(), "e": 1}, tmp_path / "ok.pt")
    with zipfile.ZipFile(tmp_path / "ok.pt") as zf:
        entries = {n.split("/", 1)[1]: zf.read(n) for n in zf.namelist()}
    pkl = entries.pop("data.pkl")
    storages = {k[len("data/"):]: v for k, v in entries.items() if k.startswith("data/")}
    rng = np.random.default_rng(0)
    outcomes = {"loaded": 0, "refused": 0}
    for _ in range(150):
        mutated = bytearray(pkl)
        for pos in rng.integers(0, len(pkl), rng.integers(1, 4)):
            mutated[pos] = rng.integers(0, 256)
        _zip_archive(tmp_path / "m.pt", bytes(mutated), storages)
        try:
            convolve.load(tmp_path / "m.pt")
            outcomes["loaded"] += 1
        except UnsafeFileError as err:
            assert "\n" not in str(err)
            outcomes["refused"] += 1
    assert outcomes["refused"] > 0


def test_unsupported_tensor_dtypes_are_named(torch, tmp_path):
    torch.save({"z": torch.ones(2, dtype=torch.complex64)}, tmp_path / "c.pt")
    with pytest.raises(UnsafeFileError, match="storage type torch.ComplexFloatStorage"):
        convolve.load(tmp_path / "c.pt")

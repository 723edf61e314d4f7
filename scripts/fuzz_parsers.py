"""Long fuzz run of convolve's parsers of untrusted input; reports unexpected exceptions.

    PYTHONPATH=src python scripts/fuzz_parsers.py --n 100000 [--seed 0] [--parsers idx,spec]

For each parser (idx, cifar, image, checkpoint, spec) it feeds ``--n`` inputs: random bytes
and seeded mutations (byte overwrites, truncation, extension, random header fields, random
JSON values) of valid files. An outcome is "ok" (a result), "documented" (an exception of
convolve.errors or FileNotFoundError) or "unexpected" (anything else: a bug). It prints, per
parser, the counts, the unexpected exception types with one reproducing input each (saved
under --out), the time taken and the process's peak RSS. Exit status 1 if anything was
unexpected.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import math
import resource
import struct
import sys
import tarfile
import tempfile
import time
import traceback
import warnings
from collections import Counter
from pathlib import Path

import numpy as np

from convolve import limits, models
from convolve.data.cifar import RECORD, read_cifar_bin, read_tar_members
from convolve.data.idx import load_idx
from convolve.data.images import read_image
from convolve.errors import ConvolveError
from convolve.io import load_checkpoint, load_model, save_checkpoint

ALLOWED = (ConvolveError, FileNotFoundError)


def mutate(rng, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(int(rng.integers(0, 9))):
        if buf:
            buf[int(rng.integers(len(buf)))] = int(rng.integers(256))
    r = rng.random()
    if r < 0.3 and buf:
        buf = buf[: int(rng.integers(len(buf) + 1))]
    elif r < 0.4:
        buf += rng.bytes(int(rng.integers(1, 64)))
    return bytes(buf)


def random_json(rng, depth: int = 0):
    r = rng.random()
    if depth > 3 or r < 0.5:
        return [None, True, int(rng.integers(-3, 12)), float(rng.normal()), "x", "same",
                10 ** 30, float("nan"), [], float("inf"), -1e300][int(rng.integers(11))]
    if r < 0.75:
        return [random_json(rng, depth + 1) for _ in range(int(rng.integers(0, 4)))]
    return {str(rng.integers(0, 5)): random_json(rng, depth + 1)
            for _ in range(int(rng.integers(0, 4)))}


# ------------------------------------------------------------------------------- targets
class Targets:
    """One ``make_<parser>(rng) -> (input bytes/object, callable)`` per parser."""

    def __init__(self, work: Path):
        self.work = work
        self.good = save_checkpoint(work / "good.safetensors",
                                    models.get_model("mlp", (4,), hidden=(3,)),
                                    extra={"data": {"name": "digits"}, "n": np.arange(3)})
        self.good_bytes = self.good.read_bytes()
        self.images = [self._image(*a) for a in [
            ("PNG", "L", np.uint8), ("PNG", "I;16", np.uint16), ("PNG", "RGB", np.uint8),
            ("TIFF", "F", np.float32), ("TIFF", "I", np.int32), ("BMP", "RGB", np.uint8),
            ("GIF", "L", np.uint8), ("JPEG", "RGB", np.uint8)]]

    @staticmethod
    def _image(fmt, mode, dtype) -> bytes:
        from PIL import Image

        shape = (6, 5, 3) if mode == "RGB" else (6, 5)
        a = (np.arange(np.prod(shape)) % 251).astype(dtype).reshape(shape)
        buf = io.BytesIO()
        Image.fromarray(a, mode=None if mode in ("L", "RGB", "I;16") else mode).save(buf, fmt)
        return buf.getvalue()

    def _file(self, name: str, data: bytes) -> Path:
        path = self.work / name
        path.write_bytes(data)
        return path

    def idx(self, rng):
        if rng.random() < 0.2:
            data = rng.bytes(int(rng.integers(0, 40)))
        else:
            code = int(rng.choice([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x00, 0xFF]))
            dims = [int(d) for d in rng.integers(0, 8, size=int(rng.integers(0, 4)))]
            if rng.random() < 0.05:
                dims = [int(d) for d in rng.integers(0, 2 ** 32, size=len(dims))]
            size = min(math.prod(dims) * 8, 4096)
            head = bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)
            data = mutate(rng, head + rng.bytes(size))
        data = gzip.compress(data) if rng.random() < 0.5 else data
        return data, lambda: load_idx(self._file("f.idx", data))

    def cifar(self, rng):
        n = int(rng.integers(0, 3))
        blob = bytearray(rng.bytes(n * RECORD))
        for i in range(n):
            blob[i * RECORD] %= 12
        name = str(rng.choice(["b/test_batch.bin", "../x", "/abs", "b/other", "b"]))
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(bytes(blob)))
        archive = mutate(rng, buf.getvalue())
        gz = rng.random() < 0.5
        data = gzip.compress(archive) if gz else archive

        def run():
            read_cifar_bin(mutate(rng, bytes(blob)), "x.bin")
            return read_tar_members(self._file("c.tar" + ".gz" * gz, data), ["b/test_batch.bin"])
        return data, run

    def image(self, rng):
        if rng.random() < 0.1:
            data = rng.bytes(int(rng.integers(0, 64)))
        else:
            data = mutate(rng, self.images[int(rng.integers(len(self.images)))])
        mode, size = str(rng.choice(["L", "RGB"])), [None, (3, 4)][int(rng.integers(2))]
        return data, lambda: read_image(self._file("i.img", data), mode, size)

    def checkpoint(self, rng):
        import safetensors.numpy as st
        from safetensors import safe_open

        if rng.random() < 0.5:
            data = mutate(rng, self.good_bytes)
        else:
            with safe_open(self.good, framework="numpy") as fh:
                meta = dict(fh.metadata())
            key = str(rng.choice(["epoch", "rng", "model_keys", "extra", "architecture",
                                  "optimizer", "format_version"]))
            meta[key] = json.dumps(random_json(rng))
            data = st.save(st.load_file(self.good), metadata=meta)

        def run():
            return load_model(load_checkpoint(self._file("c.safetensors", data)))
        return data, run

    def spec(self, rng):
        kinds = sorted(models.LAYER_TYPES) + ["dense", "bogus"]
        args = ["out_channels", "out_features", "kernel_size", "stride", "padding", "dilation",
                "groups", "bias", "p", "output_size", "start_dim", "end_dim", "in_features",
                "in_channels", "num_features", "ceil_mode", "dim", "in_size", "channels",
                "padding_mode", "affine"]
        layers = [dict({"type": str(rng.choice(kinds))},
                       **{str(rng.choice(args)): random_json(rng, 3)
                          for _ in range(int(rng.integers(0, 4)))})
                  for _ in range(int(rng.integers(0, 5)))]
        spec = {"layers": layers if rng.random() < 0.9 else random_json(rng),
                "input_shape": [int(v) for v in rng.integers(-1, 9, size=int(rng.integers(0, 4)))]
                if rng.random() < 0.8 else random_json(rng, 2)}
        text = json.dumps(spec)
        if rng.random() < 0.2:
            text = text[: int(rng.integers(len(text) + 1))]
        suffix = ".yaml" if rng.random() < 0.3 else ".json"
        return text.encode(), lambda: models.build_model(str(self._file("s" + suffix,
                                                                         text.encode())))


# ---------------------------------------------------------------------------------- driver
def fuzz(name: str, make, n: int, seed: int, out: Path) -> dict:
    rng = np.random.default_rng([seed, hash(name) % 2 ** 32])
    counts, unexpected, start = Counter(), {}, time.perf_counter()
    for _ in range(n):
        data, run = make(rng)
        try:
            run()
            counts["ok"] += 1
        except ALLOWED:
            counts["documented"] += 1
        except Exception as err:  # noqa: BLE001 - what the fuzzer is looking for
            counts["unexpected"] += 1
            kind = f"{type(err).__name__}: {str(err)[:120]}"
            key = type(err).__name__ + "@" + traceback.extract_tb(err.__traceback__)[-1].name
            if key not in unexpected:
                unexpected[key] = kind
                (out / f"{name}-{len(unexpected)}.bin").write_bytes(data)
    seconds = time.perf_counter() - start
    return {"parser": name, "inputs": n, **counts, "unexpected_types": unexpected,
            "seconds": round(seconds, 1),
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=10_000, help="inputs per parser (default 10000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--parsers", default="idx,cifar,image,checkpoint,spec")
    p.add_argument("--out", default=None, help="folder for reproducing inputs (default: temp)")
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="convolve-fuzz-"))
    out = Path(args.out) if args.out else work
    out.mkdir(parents=True, exist_ok=True)
    targets = Targets(work)
    warnings.simplefilter("ignore")
    failed = False
    with limits.override(memory_budget="64M"):
        for name in args.parsers.split(","):
            report = fuzz(name, getattr(targets, name), args.n, args.seed, out)
            failed |= bool(report["unexpected_types"])
            print(json.dumps(report), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

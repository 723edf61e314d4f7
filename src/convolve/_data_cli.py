"""How the commands use ``--data``: the data options of ``train``, loading a dataset with
a run's settings, what a checkpoint records about its data, and the model's inputs.

``train`` resolves ``--data`` (:func:`convolve.data.resolve`) with ``--image-size``,
``--channels``, ``--test-split`` and ``--seed``; all of them go into the checkpoint's
``extra['cli']``, so ``eval``, ``predict`` and ``compare``-style reloads rebuild the very
same inputs. Per-channel normalisation statistics (training part only, after the
validation hold-out) go into ``extra['data']['normalize']`` and are applied to every input
the model sees; a checkpoint without them is used without normalisation.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from .cli_errors import CLIError

__all__ = ["IMAGE_DEFAULTS", "add_data_options", "add_image_options", "data_info", "data_label", "data_record", "image_size",
           "inputs", "load", "normalize_stats", "run_options"]

IMAGE_DEFAULTS = {"image_size": None, "channels": None, "normalize": "channel",
                  "test_split": 0.2}


def image_size(text: str) -> list:
    """argparse type: 'N' or 'HxW' with positive sizes -> [H, W] (a usage error otherwise)."""
    parts = str(text).lower().split("x")
    try:
        size = [int(p) for p in parts]
    except ValueError:
        size = []
    if len(size) == 1:
        size *= 2
    if len(size) != 2 or min(size) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive size N or HxW such as 28 or "
                                         f"32x48, received {text!r}")
    return size


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a fraction in (0, 1), received {text!r}")
    return value


def add_data_options(p, download: bool = True) -> None:
    """``--image-size``, ``--channels``, ``--normalize``, ``--test-split`` (and
    ``--download``) on a subcommand whose ``--data`` is resolved for training."""
    add_image_options(p)
    p.add_argument("--normalize", choices=["channel", "none"],
                   help="channel (default): subtract the training part's per-channel mean "
                        "and divide by its std; none: feed the data as they are")
    p.add_argument("--test-split", type=_fraction,
                   help="for data without their own test split: the stratified fraction "
                        "(seeded with --seed) held out for testing (default 0.2)")
    if download:
        p.add_argument("--download", action="store_true",
                       help="fetch a missing downloadable dataset (mnist, fashion-mnist, "
                            "kmnist, cifar10, cifar100) without asking")


def add_image_options(p) -> None:
    """``--image-size`` and ``--channels``: how images are read."""
    p.add_argument("--image-size", type=image_size, metavar="N|HxW",
                   help="resize images to N x N or H x W (bilinear); needed when a folder's "
                        "images differ in size")
    p.add_argument("--channels", type=int, choices=[1, 3],
                   help="1 (grey) or 3 (RGB); default: as the data are (an image folder: "
                        "its first image's)")


def load(opts: dict, limit=None, download: bool = False, name: str | None = None):
    """The dataset ``name`` (default ``opts['data']``) resolved with a run's settings."""
    from .data import resolve

    return resolve(name or opts["data"], image_size=opts.get("image_size"),
                   channels=opts.get("channels"), test_split=opts.get("test_split", 0.2),
                   seed=opts.get("seed", 0), download=download, limit=limit)


def run_options(ckpt: dict) -> dict:
    """The data settings a checkpoint's run used (defaults for older checkpoints)."""
    extra = ckpt.get("extra") if isinstance(ckpt.get("extra"), dict) else {}
    cli = extra.get("cli") if isinstance(extra.get("cli"), dict) else {}
    opts = {"seed": cli.get("seed", 0) if isinstance(cli.get("seed", 0), int) else 0}
    for key, default in IMAGE_DEFAULTS.items():
        opts[key] = cli.get(key, default)
    size = opts["image_size"]
    if not (size is None or (isinstance(size, list) and len(size) == 2
                             and all(isinstance(v, int) and v > 0 for v in size))):
        opts["image_size"] = None
    if opts["channels"] not in (1, 3):
        opts["channels"] = None
    if not isinstance(opts["test_split"], float) or not 0 < opts["test_split"] < 1:
        opts["test_split"] = 0.2
    return opts


def data_info(ckpt: dict) -> dict:
    """The checkpoint's ``extra["data"]`` with only well-typed fields (name, classes,
    pixel_mean); a checkpoint from elsewhere may hold anything there."""
    extra = ckpt.get("extra") if isinstance(ckpt.get("extra"), dict) else {}
    data = extra.get("data") if isinstance(extra.get("data"), dict) else {}
    info = {}
    if isinstance(data.get("name"), str):
        info["name"] = data["name"]
    if isinstance(data.get("pixel_mean"), (int, float)) and not isinstance(data["pixel_mean"],
                                                                          bool):
        info["pixel_mean"] = float(data["pixel_mean"])
    classes = data.get("classes")
    if isinstance(classes, list) and all(isinstance(c, (str, int)) for c in classes):
        info["classes"] = [str(c) for c in classes]
    return info


def normalize_stats(ckpt: dict):
    """(mean, std) float arrays from ``extra['data']['normalize']``, or None (none stored,
    or not well-formed: such a checkpoint is used without normalisation)."""
    extra = ckpt.get("extra") if isinstance(ckpt.get("extra"), dict) else {}
    data = extra.get("data") if isinstance(extra.get("data"), dict) else {}
    norm = data.get("normalize")
    if not isinstance(norm, dict):
        return None
    mean, std = norm.get("mean"), norm.get("std")
    ok = all(isinstance(v, list) and v and len(v) == len(mean) and all(
        isinstance(f, (int, float)) and not isinstance(f, bool) for f in v) for v in (mean, std))
    return (np.asarray(mean, np.float64), np.asarray(std, np.float64)) if ok else None


def inputs(x, shape: tuple, where: str, stats=None):
    """Samples ``x`` as the model's inputs: normalised with ``stats`` = (mean, std) when
    given, reshaped to ``shape`` when only the layout differs (lazily, batch by batch)."""
    from .data.arrays import InputView

    if int(np.prod(x.shape[1:])) != int(np.prod(shape)):
        raise CLIError(f"{where}: the data's samples have shape {tuple(x.shape[1:])}, the model "
                       f"expects {tuple(shape)}")
    if stats is not None and len(stats[0]) != x.shape[1]:
        raise CLIError(f"{where}: the checkpoint's normalisation has {len(stats[0])} channels, "
                       f"the data {x.shape[1]}")
    mean, std = stats if stats is not None else (None, None)
    return InputView(x, mean, std, shape)


def data_record(res, shape: tuple, mean, std, normalize: bool) -> dict:
    """``extra['data']`` of a training run's checkpoints."""
    record = {"name": res.name, "format": res.format, "input_shape": list(shape),
              "num_classes": res.num_classes, "pixel_mean": float(np.mean(mean))}
    if res.classes:
        record["classes"] = [str(c) for c in res.classes]
    if normalize:
        record["normalize"] = {"mean": [float(v) for v in mean], "std": [float(v) for v in std]}
    return record


def data_label(data: str) -> str:
    """A short name for ``--data`` in run folder names: the name, or the path's last part."""
    from .data.resolve import BUNDLED, DOWNLOADABLE

    if data.lower().replace("_", "-") in BUNDLED + DOWNLOADABLE and not Path(data).exists():
        return data
    name = Path(data).name or "data"
    for suffix in (".tar.gz", ".tgz", ".npz", ".tar"):
        name = name.removesuffix(suffix)
    return name


def announce(res, sizes: dict, quiet: bool) -> None:
    """Print where the data came from and the split sizes; a made-up test split is always
    stated (on stderr), even with -q."""
    line = (f"data: {res.describe().split(': ', 1)[0]}: {sizes['train']} train / "
            f"{sizes['val']} val / {sizes['test']} test")
    if not quiet:
        print(line)
    if res.test_from == "stratified":
        print(f"convolve: note: {res.name} has no test split of its own: {sizes['test']} "
              f"samples ({res.test_split:.0%} of the data, stratified, seeded with --seed) are "
              f"held out for testing (--test-split)", file=sys.stderr)

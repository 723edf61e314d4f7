"""The ``convolve`` command line: train, eval, predict, summary, datasets (and plug-ins).

Each subcommand is one self-contained function decorated with :func:`subcommand`: it adds
its arguments to the parser it is given and returns the function that runs it, taking the
parsed args and returning an exit status. Another module adds a subcommand the same way and
lists itself in ``PLUGIN_MODULES`` (imported when the parser is built; a missing one is
skipped)::

    from convolve.cli import subcommand

    @subcommand("compare", "compare conv and dense layers")
    def compare(p):
        p.add_argument("--data", default="digits")
        return lambda args: print(args.data) or 0

A user mistake (bad path, bad shape, unknown model or dataset...) prints one line
``convolve: error: ...`` to stderr and exits with status 1 (argparse's own usage errors: 2);
so does every other exception (out of memory, a full disk, a bug: :func:`main` is the safety
net). Set CONVOLVE_DEBUG=1 to see the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from pathlib import Path

import numpy as np

from ._data_cli import data_info as _data_info
from .cli_errors import USER_ERRORS, CLIError, describe_error  # noqa: F401 - re-exported

PLUGIN_MODULES = ("convolve.lab.cli", "convolve.export_cli", "convolve.data_cli",
                  "convolve.live.dashboard", "convolve.live.lab_cli")
_SUBCOMMANDS: dict = {}  # name -> (help, setup(parser) -> run(args) -> int)


def subcommand(name: str, help: str):
    """Register ``setup(parser) -> run`` as the subcommand ``name``."""
    def deco(setup):
        _SUBCOMMANDS[name] = (help, setup)
        return setup
    return deco


# ----------------------------------------------------------------------------------- helpers
def parse_shape(text: str) -> tuple:
    """'1x28x28' (or '1,28,28') -> (1, 28, 28)."""
    from .models import parse_shape as _parse

    try:
        return _parse(text, "--input")
    except ValueError:
        raise CLIError(f"bad shape {text!r}: expected positive sizes like 1x28x28") from None


def _load_split(name: str, limit: int | None = None):
    """The dataset ``name`` (a name or a path: :func:`convolve.data.resolve`) as a Split,
    each part cut to its first ``limit`` samples if given."""
    from .data import resolve

    return resolve(name, limit=limit).split


def _build(args, input_shape, num_classes):
    from . import models

    if args.config:
        spec = models.load_spec(args.config)
        if isinstance(spec, dict) and "name" not in spec:
            spec["name"] = Path(args.config).stem
        return models.build_model(spec, input_shape)
    if args.model not in models.available_models():
        raise CLIError(f"unknown model {args.model!r}; available: "
                       f"{', '.join(models.available_models())}")
    return models.get_model(args.model, input_shape, num_classes)


def _threads_option(p) -> None:
    p.add_argument("--threads", type=int, default=1,
                   help="BLAS threads (default 1: the matrices are small, and extra threads "
                        "thrash when other processes share the cores; 0 leaves it as is)")


def _with_threads(run):
    """Wrap a subcommand's run(args) in the BLAS thread limit of its --threads option."""
    def wrapped(args, **kwargs):
        from .threads import blas_threads

        with blas_threads(args.threads or None):
            return run(args, **kwargs)
    return wrapped


def _checkpoint(path: str) -> dict:
    from .io import load_checkpoint

    p = Path(path)
    if p.is_dir():
        p = p / "best.safetensors" if (p / "best.safetensors").exists() else p / "last.safetensors"
    if not p.exists():
        raise CLIError(f"no such checkpoint: {path}")
    return load_checkpoint(p)


def _model_from(ckpt: dict):
    """The checkpoint's model, rebuilt from its architecture description (eval mode)."""
    from .io import load_model

    return load_model(ckpt)


# ------------------------------------------------------------------------------------- train
TRAIN_DEFAULTS = {"model": "lenet5", "config": None, "data": "mnist5k", "optimizer": "adam",
                  "lr": 1e-3, "batch_size": 64, "seed": 0, "scheduler": "none",
                  "weight_decay": 0.0, "limit": None, "epochs": 10, "translate": 0,
                  "val_split": 0.1, "patience": None, "image_size": None, "channels": None,
                  "normalize": "channel", "test_split": 0.2}


def _positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (a usage error, exit 2, otherwise)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, received {text!r}") \
            from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, received {value}")
    return value


@subcommand("train", "train a model on a dataset, writing checkpoints and a JSON-lines log")
def train_command(p):
    from .models import available_models

    p.add_argument("--model", help=f"named model: {', '.join(available_models())} "
                                   f"(default lenet5)")
    p.add_argument("--config", help="model description (.json or .yaml list of layers), "
                                    "instead of --model")
    p.add_argument("--data", help="dataset name (see `convolve datasets`; default mnist5k) or "
                                  "a path: a folder of class sub-folders of images, IDX "
                                  "files, CIFAR-10/100 binaries (or their .tar.gz), an .npz")
    from ._data_cli import add_data_options

    add_data_options(p)
    p.add_argument("--epochs", type=int, help="total epochs (default 10; on --resume the "
                                              "original run's)")
    p.add_argument("--optimizer", help="sgd, adam, adamw or rmsprop (default adam)")
    p.add_argument("--lr", type=float, help="learning rate (default 1e-3)")
    p.add_argument("--weight-decay", type=float, help="weight decay (default 0)")
    p.add_argument("--batch-size", type=int, help="batch size (default 64)")
    p.add_argument("--scheduler", choices=["none", "onecycle", "cosine", "step"],
                   help="learning-rate schedule (default none; onecycle steps per batch)")
    p.add_argument("--translate", type=int, help="augment with random shifts of up to N "
                                                 "pixels (default 0: none)")
    p.add_argument("--seed", type=int, help="seed for initialisation and shuffling (default 0)")
    p.add_argument("--patience", type=int, help="stop early after this many epochs without "
                                                "a lower val_loss")
    p.add_argument("--val-split", type=float,
                   help="fraction of the training data held out (stratified, seeded) for "
                        "choosing best.safetensors and early stopping (default 0.1); the test "
                        "split is evaluated once, at the end. 0: no held-out data, selection "
                        "then uses the training loss")
    p.add_argument("--out", help="run directory for checkpoints and logs "
                                 "(default runs/MODEL-DATA)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the run already in --out (without it, a new run into a "
                        "folder that holds one is refused)")
    p.add_argument("--resume", help="checkpoint file, or run directory (its last.safetensors), "
                                    "to continue from; its settings are reused: --epochs, --lr "
                                    "and --patience may change, other differing settings are "
                                    "refused")
    p.add_argument("--limit", type=_positive_int, help="use only the first N train and test "
                                                       "samples (quick smoke runs)")
    _threads_option(p)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    p.add_argument("--workers", type=int, help="train data-parallel on N MPI ranks (needs "
                                               "convolve[mpi]); under mpiexec/srun: the ranks given")
    p.add_argument("--live", action="store_true", help="serve a live dashboard of the run "
                   "(URL on stderr; see `convolve.live.monitor`)")
    p.add_argument("--port", type=int, help="--live: port (default: a free one)")
    p.add_argument("--host", help="--live: address to listen on (default 127.0.0.1)")
    p.add_argument("--live-linger", type=float, metavar="SECONDS", help="--live: keep the page "
                   "up this long after training (default: until Ctrl-C on a terminal, else 0)")
    from .distributed.launch import with_workers

    return with_workers(_with_threads(_run_train))


def _run_train(args, fit=None) -> int:
    from ._train_run import run_train

    if getattr(args, "live", False) or any(getattr(args, k, None) is not None
                                           for k in ("port", "host", "live_linger")):
        from .live.monitor import run_live

        return run_live(args, run_train, fit)
    return run_train(args, fit=fit)


# -------------------------------------------------------------------------------------- eval
@subcommand("eval", "evaluate a checkpoint on a dataset split")
def eval_command(p):
    p.add_argument("checkpoint", help="checkpoint file or run directory (uses best, else "
                                      "last), or an .onnx model")
    p.add_argument("--data", help="dataset name or path (default: the one it was trained on; "
                                  "read with the run's --image-size/--channels)")
    p.add_argument("--split", choices=["test", "val", "train"], default="test",
                   help="test (default); val: the training run's held-out part of the "
                        "training data (as recorded in the checkpoint); train: the whole "
                        "training split, val part included")
    p.add_argument("--batch-size", type=_positive_int, default=256)
    p.add_argument("--limit", type=_positive_int,
                   help="use only the first N samples of the split")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    _threads_option(p)
    return _with_threads(_run_eval)


def _onnx_model(path: str):
    """An imported ONNX model (eval mode); its spec's input_shape comes from the graph."""
    from .onnx import load

    model = load(path)
    if model.spec["input_shape"] is None:
        raise CLIError(f"{path}: the graph's first input has no static per-sample shape")
    return model


def _run_eval(args) -> int:
    from .train import evaluate

    if args.checkpoint.lower().endswith(".onnx"):
        ckpt = {"path": args.checkpoint, "extra": None}
        model = _onnx_model(args.checkpoint)
    else:
        ckpt = _checkpoint(args.checkpoint)
        model = _model_from(ckpt)
    name = args.data or _data_info(ckpt).get("name")
    if not name:
        raise CLIError(f"{ckpt['path']} does not say which data it was trained on; pass --data")
    from . import _data_cli as dcli

    if args.split == "val":
        from ._train_run import val_part

        x, y = val_part(ckpt, name, args.limit)
    else:
        res = dcli.load(dcli.run_options(ckpt), args.limit, name=name)
        x, y = (res.x_test, res.y_test) if args.split == "test" else (res.x_train, res.y_train)
    x = dcli.inputs(x, tuple(model.spec["input_shape"]), name, dcli.normalize_stats(ckpt))
    result = evaluate(model, (x, y), batch_size=args.batch_size)
    result.update({"checkpoint": ckpt["path"], "data": name, "split": args.split,
                   "samples": len(x)})
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{name} {args.split} ({len(x)} samples): accuracy {result['accuracy']:.2%}, "
              f"loss {result['loss']:.4f}")
    return 0


# ----------------------------------------------------------------------------------- predict
@subcommand("predict", "classify image files (PNG, JPEG...) with a checkpoint")
def predict_command(p):
    p.add_argument("checkpoint", help="checkpoint file or run directory")
    p.add_argument("images", nargs="+", help="image files")
    p.add_argument("--top", type=int, default=3, help="how many classes to show (default 3)")
    p.add_argument("--invert", choices=["auto", "yes", "no"], default="auto",
                   help="invert grey levels; auto does it for dark-background training data "
                        "(MNIST, digits) given a light image")
    p.add_argument("--json", action="store_true", help="print the predictions as JSON lines")
    _threads_option(p)
    return _with_threads(_run_predict)


def load_image(path, shape: tuple, invert: str = "no", pixel_mean: float | None = None):
    """An image file as the model's input (C, H, W): greyscale (C=1) or RGB (C=3), resized to
    H x W (bilinear), scaled to [0, 1] as the datasets are (16-bit and float images by their
    real range: see :func:`convolve.data.images.read_image`); optionally inverted."""
    from .data.images import read_image

    if len(shape) != 3 or shape[0] not in (1, 3):
        raise CLIError(f"this model takes inputs of shape {shape}, not 1- or 3-channel images")
    x = read_image(path, "L" if shape[0] == 1 else "RGB", (shape[1], shape[2]))
    x = x[None] if x.ndim == 2 else x.transpose(2, 0, 1)
    dark_data = pixel_mean is not None and pixel_mean < 0.35
    if invert == "yes" or (invert == "auto" and dark_data and x.mean() > 0.5):
        x = 1.0 - x
    return x


def _run_predict(args) -> int:
    from .train import predict

    if args.top < 1:
        raise CLIError(f"--top must be >= 1, received {args.top}")
    ckpt = _checkpoint(args.checkpoint)
    model = _model_from(ckpt)
    shape = tuple(model.spec["input_shape"])
    info = _data_info(ckpt)
    batch = np.stack([load_image(f, shape, args.invert, info.get("pixel_mean"))
                      for f in args.images])
    from ._data_cli import inputs, normalize_stats

    stats = normalize_stats(ckpt)
    if stats is not None:  # the training run's per-channel normalisation
        batch = inputs(batch, shape, args.checkpoint, stats)[np.arange(len(batch))]
    logits = predict(model, batch)
    z = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    names = info.get("classes", [])
    if len(names) != probs.shape[1]:
        names = [str(k) for k in range(probs.shape[1])]
    for f, pr in zip(args.images, probs):
        top = np.argsort(-pr)[:args.top]
        if args.json:
            print(json.dumps({"image": f, "top": [{"class": names[k], "probability":
                                                   float(pr[k])} for k in top]}))
        else:
            print(f"{f}: " + ", ".join(f"{names[k]} {pr[k]:.1%}" for k in top))
    return 0


# ----------------------------------------------------------------------------------- summary
@subcommand("summary", "show a model's layers, shapes, parameters and receptive fields")
def summary_command(p):
    p.add_argument("model", help="a named model, a .json/.yaml description, a checkpoint "
                                 "or an .onnx model")
    p.add_argument("--input", help="input shape per sample, e.g. 1x28x28 (default: the "
                                   "model's own)")
    p.add_argument("--classes", type=int, help="number of classes (default 10, or the "
                                                "--data's)")
    p.add_argument("--data", help="take --input and --classes from this dataset (a name or a "
                                  "path, as `convolve train --data`)")
    from ._data_cli import add_image_options

    add_image_options(p)
    p.add_argument("--json", action="store_true", help="print the numbers as JSON")
    p.add_argument("--plan", action="store_true",
                   help="print the conv engine planned for each conv layer instead")
    p.add_argument("--batch", type=int, default=32, help="batch size for --plan (default 32)")
    return _run_summary


def _summary_source(source: str, shape, classes: int):
    """A checkpoint's model, or a description (named model or file) that is not built."""
    from . import models

    if source.endswith(".safetensors") or Path(source).is_dir():
        return _model_from(_checkpoint(source))
    if source.lower().endswith(".onnx"):
        return _onnx_model(source)
    if source in models.available_models():
        return models.model_spec(source, shape, classes)
    if Path(source).suffix.lower() in (".json", ".yaml", ".yml"):
        return models.load_spec(source)
    raise CLIError(f"unknown model {source!r}: not one of {', '.join(models.available_models())}"
                   f", a .json/.yaml description or a checkpoint")


def _run_summary(args) -> int:
    from .summary import summary

    shape = parse_shape(args.input) if args.input else None
    classes = args.classes
    if args.data:
        from .data import resolve

        res = resolve(args.data, image_size=args.image_size, channels=args.channels)
        shape = shape or tuple(res.x_train.shape[1:])
        classes = classes or res.num_classes
    source = _summary_source(args.model, shape, classes or 10)
    if args.plan:
        from .models import build_model
        from .nn import Module

        model = source if isinstance(source, Module) else build_model(source, shape)
        spec = getattr(model, "spec", None) or {}
        if shape is None and "input_shape" not in spec:
            raise CLIError(f"{args.model}: pass --input to plan its convolutions")
        return _print_plans(model, shape or tuple(spec["input_shape"]), args.batch)
    s = summary(source, shape)
    print(json.dumps(s.to_dict()) if args.json else s)
    return 0


def _print_plans(model, shape, batch: int) -> int:
    from .summary import conv_plans

    if batch < 1:
        raise CLIError(f"--batch must be a positive int, received {batch}")
    for name, plan in conv_plans(model, shape, batch):
        print(f"{name}: {plan!r}")
    return 0


# -------------------------------------------------------------------------------------- main
_NO_MODEL = ("datasets",)  # subcommands without a --memory-budget option


def _load_plugins() -> None:
    for name in PLUGIN_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name != name:  # the plug-in exists but one of its imports is missing
                raise


def hidden_alias(p, flag: str, dest: str, **kw) -> None:
    """An old spelling ``flag`` of the option stored in ``dest``, accepted but not shown."""
    p.add_argument(flag, dest=dest, help=argparse.SUPPRESS, default=argparse.SUPPRESS, **kw)


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (exit 2): ``convolve train: error: ... (see
    `convolve train --help`)`` instead of the whole usage block first."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    _load_plugins()
    parser = _Parser(
        prog="convolve", description="Train, evaluate and inspect convolutional networks.")
    parser.add_argument("--version", action="version", version=f"convolve {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (help_text, setup) in _SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(run=setup(p))
        if name not in _NO_MODEL:
            p.add_argument("--memory-budget", metavar="SIZE",
                           help="refuse models estimated to need more memory than this, e.g. "
                                "8G (default: physical RAM, or $CONVOLVE_MEMORY_BUDGET; 0: no "
                                "check)")
    return parser


def _run(args) -> int:
    """The subcommand, under the memory budget given by --memory-budget (if any)."""
    from . import limits

    budget = getattr(args, "memory_budget", None)
    with limits.override(**({} if budget is None else {"memory_budget": budget})):
        return int(args.run(args) or 0)


def main(argv=None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 any error, 2 usage error).

    Every exception becomes one line ``convolve: error: ...`` on stderr (set CONVOLVE_DEBUG=1
    for the traceback instead).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "run", None) is None:
        parser.print_usage(sys.stderr)
        print("convolve: error: choose a command, e.g. `convolve train --help`", file=sys.stderr)
        return 2
    try:
        return _run(args)
    except KeyboardInterrupt:
        print("convolve: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # the safety net: MemoryError, RecursionError, bugs included
        if os.environ.get("CONVOLVE_DEBUG"):
            raise
        print(f"convolve: error: {describe_error(err)}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # `python -m convolve.cli`: use the importable module's registry
    from convolve.cli import main as _main

    sys.exit(_main())

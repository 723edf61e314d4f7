"""``convolve lab``: the interactive lab page over the lab's four image models (a plug-in of
:mod:`convolve.cli`), and the serving half of ``convolve compare --serve``.

``convolve lab [--data digits|mnist5k|PATH]`` loads the models saved in ``--out`` (default
``runs/lab-<data>``) by an earlier run, or trains them there (a few seconds, progress
printed; ``--retrain`` always trains), and serves the page on 127.0.0.1 (``--host`` to
listen elsewhere, with a warning; ``--port``, default a free one). The page is up while the
models train; Ctrl-C stops it. ``convolve compare --serve`` serves the first seed's models
of the comparison it just ran and saves them to ``<report folder>/lab/`` in the same form,
so ``convolve lab --out reports/compare-mnist5k/lab --data mnist5k`` serves them again.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..cli import subcommand
from .server import check_port, open_page


def add_serve_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=0, help="port (default: a free one)")


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default="digits",
                   help="digits (default, 8x8), mnist5k (28x28) or a folder of images "
                        "(see `convolve compare --help`)")
    p.add_argument("--epochs", type=int, default=None,
                   help="epochs per model (default: digits 10, mnist5k 4)")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--lr", type=float, default=None,
                   help="Adam learning rate (default: digits 3e-3, mnist5k 2e-3)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None,
                   help="folder the trained models are saved to and loaded from "
                        "(default runs/lab-<data>)")
    p.add_argument("--retrain", action="store_true",
                   help="train the models even when --out holds saved ones")
    p.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    add_serve_arguments(p)


def _check(args) -> None:
    for name in ("epochs", "batch_size", "threads"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise ValueError(f"lab: --{name.replace('_', '-')} must be >= 1, received {value}")
    if args.lr is not None and not args.lr > 0:
        raise ValueError(f"lab: --lr must be positive, received {args.lr}")
    if args.seed < 0:
        raise ValueError(f"lab: --seed must be >= 0, received {args.seed}")
    check_port(args.port)


def start(state, host: str, port: int):
    """Serve the page over ``state`` (a warning when not on loopback; the address on stdout)."""
    from .lab_app import MAX_BODY, make_app

    return open_page(make_app(state), host, port, "lab page", sys.stdout, MAX_BODY)


def hold(server) -> int:
    """Keep serving until Ctrl-C; then close the server and return 0."""
    print("convolve: serving; press Ctrl-C to stop", flush=True)
    try:
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    print("convolve: lab page stopped", flush=True)
    return 0


def _run(args: argparse.Namespace) -> int:
    from ..lab.comparison import Log
    from ..lab.data import load
    from ..threads import blas_threads
    from .lab import LabState, load_models, settings_for, train_models

    _check(args)
    log = Log(args.quiet)
    split, info = load(args.data, args.seed)
    state = LabState(split, info)
    out = Path(args.out) if args.out else Path("runs") / f"lab-{info['name']}"
    loaded, why = (False, "--retrain") if args.retrain else load_models(state, out)
    server = start(state, args.host, args.port)
    try:
        if loaded:
            log(f"{why}; --retrain trains them again")
        else:
            log(f"training the four models ({why})")
            settings = settings_for(info["name"], args.epochs, args.batch_size, args.lr,
                                    args.seed)
            with blas_threads(args.threads):
                train_models(state, settings, log, out)
    except BaseException as err:
        state.fail(f"{type(err).__name__}: {err}")
        server.close()
        raise
    return hold(server)


@subcommand("lab", "serve the interactive lab page: draw a digit, shift a test image, count "
                   "parameters (the MLP, locally-connected net, CNN and CNN + BlurPool)")
def _lab(p: argparse.ArgumentParser):
    _add_arguments(p)
    return _run


# ------------------------------------------------------------------- convolve compare --serve
class _Recorder:
    """An executor for :func:`convolve.lab.compare` that runs the trials as it would have
    (:func:`convolve.lab.sweep.run_trials`) and keeps their results (the first one holds
    the first seed's weights)."""

    def __init__(self, workers, n_trials: int):
        from ..lab import sweep

        self.workers, self.trials = workers, None
        self._max_workers = sweep.workers_for(workers, n_trials)  # what compare() reports

    def map(self, fn, specs):
        from ..lab import sweep

        self.trials = sweep.run_trials(list(specs), workers=self.workers, fn=fn)
        return self.trials


def serve_compare(args, compare, kwargs: dict) -> int:
    """``convolve compare --serve``: run ``compare(**kwargs)``, then serve the lab page over
    the first seed's trained models (saved to ``<report folder>/lab/``)."""
    from ..lab.data import load
    from ..lab.models import build_image_model
    from .lab import LabState, save_models

    check_port(args.port)
    if args.data == "mnist1d":
        raise ValueError("compare: --serve shows image models; --data mnist1d is sequence "
                         "data (drop --serve)")
    if kwargs.get("normalize", "none") != "none":
        raise ValueError("compare: --serve shows the models on the data as they are; drop "
                         "--normalize (or --serve)")
    recorder = _Recorder(kwargs.pop("workers", None), kwargs["seeds"])
    result = compare(**kwargs, executor=recorder)
    if result["kind"] != "compare":
        raise ValueError("compare: --serve shows image models, and this run was not one")
    first = recorder.trials[0]
    split, info = load(kwargs["data"], kwargs["seed"], kwargs.get("subset"),
                       kwargs.get("image_size"), kwargs.get("channels"))
    state = LabState(split, info)
    for name, weights in first["weights"].items():
        model = build_image_model(name, state.shape, state.num_classes)
        model.load_state_dict(weights)
        r = first["result"]["models"][name]
        state.publish(name, model, history=r["history"], test_accuracy=r["test_accuracy"],
                      epochs=len(r["history"]))
    state.finish(f"convolve compare, seed {first['seed']}")
    if result.get("files"):
        out = Path(result["files"]["json"]).parent / "lab"
        save_models(state, out, first["result"]["settings"])
        print(f"convolve: the models are saved to {out}/ (convolve lab --data {args.data} "
              f"--out {out})", flush=True)
    return hold(start(state, args.host, args.port))

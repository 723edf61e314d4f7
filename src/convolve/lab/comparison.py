"""``convolve compare``: MLP, locally-connected net, CNN and CNN + BlurPool trained alike on
the same images over several seeds, each measured for the seed's claims; verdicts computed
from paired differences over seeds (:mod:`convolve.lab.aggregate`, :mod:`convolve.lab.stats`).

One seed of one comparison is a *trial* (:func:`run_seed`); :mod:`convolve.lab.sweep` maps
the trials over worker processes. Sequence data (MNIST-1D) runs the paper replication
instead (:mod:`convolve.lab.paper`). Public as ``convolve.lab.compare``; the module has
another name so it never shadows it.
"""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

import numpy as np

from ..random import manual_seed
from ..threads import blas_thread_counts, blas_threads
from . import data as labdata
from . import experiment as ex
from .models import IMAGE_MODELS, LABELS, build_image_model

# Per dataset: epochs chosen so the default run (3 seeds) fits in 5 minutes on 2 cores.
DEFAULTS = {"mnist5k": {"epochs": 6, "batch_size": 32, "lr": 1e-3},
            "digits": {"epochs": 15, "batch_size": 32, "lr": 1e-3}}
SEEDS = 3  # the default number of seeds
FALLBACK = {"epochs": 6, "batch_size": 32, "lr": 1e-3}


class Log:
    """Progress lines prefixed with the elapsed wall time; silent when quiet."""

    def __init__(self, quiet: bool = False, stream=None, prefix: str = ""):
        self.t0, self.quiet, self.stream = time.perf_counter(), quiet, stream
        self.prefix = prefix

    def __call__(self, msg: str) -> None:
        if not self.quiet:
            print(f"[{time.perf_counter() - self.t0:6.1f}s] {self.prefix}{msg}", file=self.stream,
                  flush=True)

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.t0


def _settings(name: str, epochs, batch_size, lr, seed, sizes) -> ex.Settings:
    d = dict(DEFAULTS.get(name, FALLBACK))
    for key, val in (("epochs", epochs), ("batch_size", batch_size), ("lr", lr)):
        if val is not None:
            d[key] = val
    sizes = labdata.SIZES if sizes is None else tuple(int(n) for n in sizes)
    return ex.Settings(seed=int(seed), sizes=sizes, **d)


def _run_model(name, split, val, shape, classes, settings, log) -> tuple[dict, object]:
    manual_seed(settings.seed)
    model = build_image_model(name, shape, classes)
    r = {"label": LABELS[name], **ex.structure(model, shape, settings)}
    log(f"{name}: {r['params']:,} parameters, {r['mult_adds']:,} mult-adds; training")
    r["history"], r["train_seconds"] = ex.train(model, split.x_train, split.y_train, settings,
                                                val=val, report=log, label=name)
    r["train_accuracy"] = ex.accuracy(model, split.x_train, split.y_train)
    r["test_accuracy"] = ex.accuracy(model, split.x_test, split.y_test)
    r["gap"] = r["train_accuracy"] - r["test_accuracy"]
    log(f"{name}: measuring shift robustness and equivariance")
    r["shift"] = ex.robustness(model, split.x_test, split.y_test, settings)
    r["equivariance"] = ex.equivariance(model, split.x_test)
    return r, model


def _sample_efficiency(names, split, shape, classes, settings, results, log) -> None:
    n_full = len(split.y_train)
    for name in names:
        curve = {}
        for n in settings.sizes:
            if n > n_full:
                log(f"{name}: skipping {n} training samples (only {n_full} available)")
                continue
            if n == n_full:
                curve[n] = results[name]["test_accuracy"]
                continue
            idx = labdata.training_subset(split.y_train, n, settings.seed)
            manual_seed(settings.seed)
            model = build_image_model(name, shape, classes)
            epochs = ex.size_epochs(settings, n_full, n)
            ex.train(model, split.x_train[idx], split.y_train[idx], settings, epochs=epochs)
            curve[n] = ex.accuracy(model, split.x_test, split.y_test)
            log(f"{name}: {n} training samples, {epochs} epochs -> test acc "
                f"{100 * curve[n]:.1f}%")
        curve[n_full] = results[name]["test_accuracy"]  # the full run, already measured
        results[name]["sample_efficiency"] = curve


def image_seed(split, info, settings, models, log) -> tuple[dict, dict]:
    """One seed of the image comparison: (result, trained models). The validation part of
    the training data (``settings.val_fraction``) gives the learning curves; the test data
    is evaluated once per trained model, after training."""
    split, val = labdata.holdout(split, settings.val_fraction, settings.seed)
    if settings.normalize == "channel":
        split, val = labdata.normalized(split, val)
    info = dict(info, train_size=len(split.y_train), val_size=0 if val is None else len(val[1]))
    shape, classes = tuple(info["sample_shape"]), info["num_classes"]
    log(f"{info['train_size']} train / {info['val_size']} validation / "
        f"{info['test_size']} test, shape {shape}")
    results, trained = {}, {}
    for name in models:
        results[name], trained[name] = _run_model(name, split, val, shape, classes, settings,
                                                  log)
    if settings.sizes:
        _sample_efficiency(models, split, shape, classes, settings, results, log)
    return {"kind": "compare", "data": info, "settings": settings.to_dict(),
            "models": results}, trained


def _image(image_size, channels) -> dict:
    """labdata.load's image options, only those given."""
    return {k: v for k, v in (("image_size", image_size), ("channels", channels))
            if v is not None}


def run_seed(data, seed: int, *, data_seed: int = 0, subset=None, epochs=None,
             batch_size=None, lr=None, sizes=None, paper: bool = False, threads=1,
             models=IMAGE_MODELS, keep_weights: bool = False, quiet: bool = True,
             image_size=None, channels=None, normalize: str = "none") -> dict:
    """One trial: load ``data`` (subset drawn with ``data_seed``, the same for every seed),
    train and measure every model with ``seed``. Returns {"seed", "result", "weights"}:
    weights (state dicts as arrays, for the report's filter figures) only when asked."""
    log = Log(quiet, prefix=f"seed {seed}: ")
    split, info = labdata.load(data, data_seed, subset, **_image(image_size, channels))
    with blas_threads(threads):
        if split.x_train.ndim == 3:
            from .paper import replicate_seed

            result, trained = replicate_seed(split, info, epochs=epochs, batch_size=batch_size,
                                             lr=lr, seed=seed, paper=paper, log=log)
        else:
            settings = _settings(info["name"], epochs, batch_size, lr, seed, sizes)
            settings.normalize = normalize
            result, trained = image_seed(split, info, settings, tuple(models), log)
    weights = ({k: {n: np.array(v) for n, v in m.state_dict().items()}
                for k, m in trained.items()} if keep_weights else None)
    return {"seed": int(seed), "result": result, "weights": weights}


def _check(seeds, seed, paper, sequence, data) -> None:
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"compare: seeds must be an int >= 1, received {seeds!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"compare: seed must be an int >= 0, received {seed!r}")
    if paper and not sequence:
        raise ValueError(f"compare: --paper replicates the MNIST-1D paper and needs "
                         f"sequence data (--data mnist1d), received --data {data}")


def compare(data: str = "mnist5k", *, seeds: int = SEEDS, seed: int = 0, workers=None,
            executor=None, epochs=None, batch_size=None, lr=None, sizes=None, subset=None,
            out=None, paper: bool = False, write: bool = True, quiet: bool = False,
            threads: int | None = 1, models=IMAGE_MODELS, image_size=None,
            channels=None, normalize: str = "none") -> dict:
    """Train and measure the models on ``data`` for seeds ``seed .. seed + seeds - 1``;
    aggregate (mean, 95% t-interval, per-seed values), write the report to ``out``; return it.

    sizes: training-set sizes for the sample-efficiency curve (None: the default grid;
    empty: skip); each size gets the full run's optimizer steps. workers: processes the
    seeds run in (None: the number of cores; 1: serial, in this process); executor: any
    ``concurrent.futures.Executor`` to map the trials over instead (workers is then unused).
    threads: BLAS threads per trial (None: leave as is). For sequence data (MNIST-1D) this
    runs the paper replication (:mod:`convolve.lab.paper`) on every seed. image_size (H, W) and
    channels (1 or 3) read images as ``convolve train --image-size/--channels`` does;
    normalize="channel" feeds the models (x - mean) / std with the training part's
    per-channel statistics (images only; the default "none" keeps the data as they are).
    """
    from . import aggregate, sweep

    log = Log(quiet)
    split, info = labdata.load(data, seed, subset, **_image(image_size, channels))
    sequence = split.x_train.ndim == 3
    _check(seeds, seed, paper, sequence, data)
    if normalize not in ("none", "channel") or (sequence and normalize != "none"):
        raise ValueError(f"compare: normalize must be 'none' or 'channel' (images only), "
                         f"received {normalize!r} for {'sequence' if sequence else 'image'} "
                         f"data")
    if sequence:
        from .paper import check_settings

        check_settings(epochs, batch_size, lr, paper)
    out = Path(out) if out is not None else Path("reports") / f"compare-{info['name']}"
    base = {"data": data, "data_seed": seed, "subset": subset, "epochs": epochs,
            "batch_size": batch_size, "lr": lr, "sizes": sizes, "paper": paper,
            "threads": threads, "models": tuple(models), "quiet": quiet,
            "image_size": image_size, "channels": channels, "normalize": normalize}
    specs = [dict(base, seed=s, keep_weights=i == 0) for i, s in enumerate(range(seed,
                                                                                 seed + seeds))]
    n_workers = sweep.workers_for(workers, len(specs), executor)
    log(f"data {info['name']}: {seeds} seed(s) {seed}..{seed + seeds - 1} on {n_workers} "
        f"worker(s)")
    trials = sweep.run_trials(specs, workers=workers, executor=executor)
    log(f"all {seeds} seed(s) done; aggregating")
    result = aggregate.aggregate(trials, info, n_workers)
    result["environment"], result["wall_seconds"] = environment(), log.elapsed
    from . import seed_report

    seed_report.print_summary(result)
    if write:
        result["files"] = seed_report.write(result, trials[0], split, out)
        log(f"report written to {out}/report.html and {out}/report.json")
    return result


def environment() -> dict:
    """Versions, machine, cores and BLAS threads in effect (part of every report)."""
    env = {"python": platform.python_version(), "numpy": np.__version__,
           "machine": platform.machine(), "cpus": os.cpu_count()}
    env["blas_threads"] = blas_thread_counts()
    return env

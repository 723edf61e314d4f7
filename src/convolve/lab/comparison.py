"""``convolve compare``: MLP, locally-connected net, CNN and CNN + BlurPool trained alike on
the same images, each measured for the seed's claims; verdicts computed from the numbers.

Sequence data (MNIST-1D) runs the paper replication instead (:mod:`convolve.lab.paper`).
Public as ``convolve.lab.compare``; the module has another name so it never shadows it.
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
from . import report, verdicts
from .models import IMAGE_MODELS, LABELS, build_image_model
from .params import parameter_growth, worked_example

# Per dataset: epochs chosen so the default run fits in 5 minutes on 2 cores.
DEFAULTS = {"mnist5k": {"epochs": 6, "batch_size": 32, "lr": 1e-3},
            "digits": {"epochs": 15, "batch_size": 32, "lr": 1e-3}}
FALLBACK = {"epochs": 6, "batch_size": 32, "lr": 1e-3}


class Log:
    """Progress lines prefixed with the elapsed wall time; silent when quiet."""

    def __init__(self, quiet: bool = False, stream=None):
        self.t0, self.quiet, self.stream = time.perf_counter(), quiet, stream

    def __call__(self, msg: str) -> None:
        if not self.quiet:
            print(f"[{time.perf_counter() - self.t0:6.1f}s] {msg}", file=self.stream, flush=True)

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


def _run_model(name, split, shape, classes, settings, log) -> tuple[dict, object]:
    manual_seed(settings.seed)
    model = build_image_model(name, shape, classes)
    r = {"label": LABELS[name], **ex.structure(model, shape, settings)}
    log(f"{name}: {r['params']:,} parameters, {r['mult_adds']:,} mult-adds; training")
    r["history"], r["train_seconds"] = ex.train(
        model, split.x_train, split.y_train, settings, val=(split.x_test, split.y_test),
        report=log, label=name)
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
        results[name]["sample_efficiency"] = curve


def compare(data: str = "mnist5k", *, epochs=None, batch_size=None, lr=None, seed: int = 0,
            sizes=None, subset=None, out=None, paper: bool = False, write: bool = True,
            quiet: bool = False, threads: int | None = 1, models=IMAGE_MODELS) -> dict:
    """Train and measure the models on ``data``; write the report to ``out``; return it.

    sizes: training-set sizes for the sample-efficiency curve (None: 250, 500, 1000, 2000,
    4000; empty: skip); each size gets the full run's optimizer steps. threads: BLAS
    threads while it runs (None: leave as is). For sequence data (MNIST-1D) this runs
    :func:`convolve.lab.paper.replicate` instead.
    """
    log = Log(quiet)
    split, info = labdata.load(data, seed, subset)
    out = Path(out) if out is not None else Path("reports") / f"compare-{info['name']}"
    with blas_threads(threads):
        if split.x_train.ndim == 3:
            from .paper import replicate

            return replicate(split, info, epochs=epochs, batch_size=batch_size, lr=lr,
                             seed=seed, out=out, paper=paper, write=write, log=log)
        if paper:
            raise ValueError(f"compare: --paper replicates the MNIST-1D paper and needs "
                             f"sequence data (--data mnist1d), received --data {data}")
        settings = _settings(info["name"], epochs, batch_size, lr, seed, sizes)
        return _compare_images(split, info, settings, tuple(models), out if write else None,
                               log)


def _compare_images(split, info, settings, models, out, log) -> dict:
    shape, classes = tuple(info["sample_shape"]), info["num_classes"]
    log(f"data {info['name']}: {info['train_size']} train / {info['test_size']} test, "
        f"shape {shape}; settings {settings.to_dict()}")
    example, growth = worked_example(), parameter_growth()
    results, trained = {}, {}
    for name in models:
        results[name], trained[name] = _run_model(name, split, shape, classes, settings, log)
    if settings.sizes:
        _sample_efficiency(models, split, shape, classes, settings, results, log)
    claims = {"mlp", "lc", "cnn"} <= set(results)
    result = {"kind": "compare", "data": info, "settings": settings.to_dict(),
              "worked_example": example, "parameter_growth": growth, "models": results,
              "verdicts": verdicts.all_verdicts(results, example, info["test_size"], classes)
              if claims else [], "environment": environment(), "wall_seconds": log.elapsed}
    print_summary(result)
    if out is not None:
        result["files"] = write_report(result, trained, split, out)
        log(f"report written to {out}/report.html and {out}/report.json")
    return result


def environment() -> dict:
    """Versions, machine, cores and BLAS threads in effect (part of every report)."""
    env = {"python": platform.python_version(), "numpy": np.__version__,
           "machine": platform.machine(), "cpus": os.cpu_count()}
    env["blas_threads"] = blas_thread_counts()
    return env


# ------------------------------------------------------------------- output
def structure_rows(results: dict) -> tuple[list, list]:
    head = ["Model", "Params", "Mult-adds", "Conn./unit", "of inputs", "RF", "Train",
            "Test", "Gap (pts)"]
    rows = []
    for r in results.values():
        c = r["connections"]
        rows.append([r["label"], f"{r['params']:,}", f"{r['mult_adds']:,}", f"{c['mean']:.0f}",
                     report.pct(c["fraction"]), report.rf_text(r["receptive_field"]),
                     report.pct(r["train_accuracy"]), report.pct(r["test_accuracy"]),
                     f"{100 * r['gap']:.1f}"])
    return head, rows


def shift_rows(results: dict) -> tuple[list, list]:
    any_r = next(iter(results.values()))
    ks = sorted(any_r["shift"]["accuracy"])
    head = ["Model", *[f"{k} px" for k in ks], "Consist.", "P(chg 1px)", "MAC", "Equiv. err"]
    rows = []
    for r in results.values():
        s, eq = r["shift"], r["equivariance"]["error"]
        rows.append([r["label"], *[report.pct(s["accuracy"][k]) for k in ks],
                     report.pct(s["consistency"]), report.pct(s["top1_change"]["p_change"]),
                     f"{s['top1_change']['mac']:.3f}", "n/a" if eq is None else f"{eq:.1e}"])
    return head, rows


def print_summary(result: dict) -> None:
    name = result["data"]["name"]
    report.print_table(f"{name}: size, connectivity, accuracy", *structure_rows(result["models"]))
    report.print_table(f"{name}: test accuracy under shift, consistency, equivariance",
                       *shift_rows(result["models"]))
    for v in result["verdicts"]:
        print(v["text"])


def _figures(result: dict, trained: dict, split) -> dict:
    from . import plots

    res = result["models"]
    figs = {"learning_curves": plots.learning_curves({k: r["history"] for k, r in res.items()}),
            "shift_accuracy": plots.shift_accuracy(res),
            "parameter_growth": plots.parameter_growth(result["parameter_growth"]),
            "filters": plots.filters(trained),
            "feature_maps": plots.feature_maps(trained, split.x_test[0])}
    if any(r.get("sample_efficiency") for r in res.values()):
        figs["sample_efficiency"] = plots.size_accuracy(res)
    return figs


def write_report(result: dict, trained: dict, split, out: Path) -> dict:
    """report.json, report.html and figures/*.png under ``out``; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    figs = _figures(result, trained, split)
    (out / "figures").mkdir(exist_ok=True)
    for name, png in figs.items():
        report.atomic_write(out / "figures" / f"{name}.png", png)
    files = {"json": str(out / "report.json"), "html": str(out / "report.html"),
             "figures": sorted(str(out / "figures" / f"{n}.png") for n in figs)}
    result["figures"] = sorted(figs)
    report.write_json(result, out / "report.json")
    from .html_sections import compare_sections

    report.write_html(f"convolve compare: {result['data']['name']}",
                      compare_sections(result, figs), out / "report.html")
    return files

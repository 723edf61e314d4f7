"""Acceptance experiments for convolve.train: measured test accuracies, written as JSON.

    python examples/experiments.py [--only NAME ...] [--out runs/experiments.json] [-v]

* LeNet-5 + Adam on mnist5k (4,000 train / 1,000 test)   target >= 97.5 %
* LeNet-5 + Adam on digits (1,438 / 359)                  target >= 98 %
* the MNIST-1D paper's 1-D CNN + Adam on mnist1d (4,000 / 1,000)  target >= 90 %

mnist5k and mnist1d train with random translations of up to 1 pixel and 2 samples (4,000
training examples are few; without them the 1-D CNN overfits to 89-93 % depending on seed);
every run uses Adam with a OneCycle learning-rate schedule stepped per batch.
Each run is seeded; the figure reported is the test accuracy after the last epoch (no
selection of the best epoch on the test set). A few minutes on 2 cores.
"""

import argparse
import json
import platform
import time
from pathlib import Path

import convolve as cv
from convolve import data, models
from convolve.data import ArrayDataset, DataLoader
from convolve.data.transforms import RandomTranslate
from convolve.optim import Adam
from convolve.optim.lr_scheduler import OneCycleLR
from convolve.threads import blas_threads
from convolve.train import evaluate, fit

EXPERIMENTS = {
    "lenet5-mnist5k": {"model": "lenet5", "data": "mnist5k", "epochs": 30, "lr": 3e-3,
                       "batch_size": 64, "translate": 1, "target": 0.975},
    "lenet5-digits": {"model": "lenet5", "data": "digits", "epochs": 30, "lr": 3e-3,
                      "batch_size": 32, "target": 0.98},
    "cnn1d-mnist1d": {"model": "cnn1d", "data": "mnist1d", "epochs": 60, "lr": 1e-2,
                      "batch_size": 100, "translate": 2, "target": 0.90},
}


def run(name: str, cfg: dict, seed: int, verbose: int) -> dict:
    split = data.load_dataset(cfg["data"])
    cv.manual_seed(seed)
    model = models.get_model(cfg["model"], split.x_train.shape[1:], split.num_classes)
    shift = cfg.get("translate", 0)
    loader = DataLoader(ArrayDataset(split.x_train, split.y_train),
                        batch_size=cfg["batch_size"], shuffle=True, seed=seed,
                        transform=RandomTranslate(shift, split.x_train.ndim - 2) if shift else None)
    opt = Adam(model.parameters(), lr=cfg["lr"])
    sched = OneCycleLR(opt, max_lr=cfg["lr"], epochs=cfg["epochs"], steps_per_epoch=len(loader))
    t0 = time.perf_counter()
    hist = fit(model, loader, optimizer=opt, scheduler=sched, epochs=cfg["epochs"], seed=seed,
               verbose=verbose)  # no validation data: nothing is selected; test once below
    seconds = time.perf_counter() - t0
    test = evaluate(model, (split.x_test, split.y_test))
    result = {"name": name, **cfg, "translate": shift, "seed": seed, "scheduler": "OneCycleLR (per batch)",
              "train_size": len(split.y_train), "test_size": len(split.y_test),
              "test_accuracy": test["accuracy"], "test_loss": test["loss"],
              "train_accuracy_last_epoch": hist["accuracy"][-1],
              "passed": test["accuracy"] >= cfg["target"], "seconds": round(seconds, 1),
              "seconds_per_epoch": round(seconds / max(len(hist), 1), 2)}
    print(f"{name}: test accuracy {test['accuracy']:.2%} (target {cfg['target']:.1%}, "
          f"{'PASS' if result['passed'] else 'FAIL'}), {seconds:.0f} s")
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", choices=sorted(EXPERIMENTS), help="experiments to run")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="runs/experiments.json")
    ap.add_argument("--threads", type=int, default=1,
                    help="BLAS threads (default 1, fastest for these small matrices; 0: as is)")
    ap.add_argument("-v", "--verbose", action="count", default=0,
                    help="-v: a progress bar per epoch; -vv: one line per epoch")
    args = ap.parse_args()
    verbose = {0: 0, 1: 1}.get(args.verbose, 2)
    t0 = time.perf_counter()
    with blas_threads(args.threads or None):
        results = [run(n, EXPERIMENTS[n], args.seed, verbose) for n in (args.only or EXPERIMENTS)]
    report = {"results": results, "total_seconds": round(time.perf_counter() - t0, 1),
              "machine": platform.platform(), "python": platform.python_version(),
              "blas_threads": args.threads or "default"}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"wrote {out} ({report['total_seconds']:.0f} s in all)")


if __name__ == "__main__":
    main()

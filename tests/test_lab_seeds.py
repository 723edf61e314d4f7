"""The lab's sweep over seeds: parallel runs equal serial ones, any executor plugs in, the
default seed count, and no test-split number reaches training, validation or selection."""

import inspect
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

from convolve.lab import aggregate, comparison, stats, sweep
from convolve.lab import cli as labcli
from convolve.lab import data as labdata

TINY = {"data": "digits", "data_seed": 0, "subset": 60, "epochs": 1, "sizes": (), "threads": 1,
            "models": ("mlp", "cnn"), "keep_weights": False}


def _strip_times(obj):
    if isinstance(obj, dict):
        return {k: _strip_times(v) for k, v in obj.items() if k not in ("train_seconds",
                                                                       "seconds")}
    if isinstance(obj, list):
        return [_strip_times(v) for v in obj]
    return obj


@pytest.fixture(scope="module")
def serial():
    return sweep.run_trials([dict(TINY, seed=s) for s in (0, 1)], workers=1)


def test_parallel_workers_give_the_serial_results(serial):
    parallel = sweep.run_trials([dict(TINY, seed=s) for s in (0, 1)], workers=2)
    assert [t["seed"] for t in parallel] == [0, 1]
    assert _strip_times(parallel) == _strip_times(serial)
    a, b = (t["result"]["models"]["cnn"]["test_accuracy"] for t in serial)
    assert serial[0]["result"]["models"]["cnn"]["history"] != \
        serial[1]["result"]["models"]["cnn"]["history"] or a != b  # the seeds differ


def test_any_executor_plugs_into_the_seam(serial):
    calls = []

    class Recording(ProcessPoolExecutor):  # stands in for an MPI executor
        def map(self, fn, *iterables):
            calls.append(fn)
            return super().map(fn, *iterables)

    with Recording(max_workers=2) as ex:
        out = sweep.run_trials([dict(TINY, seed=s) for s in (0, 1)], executor=ex)
    assert calls == [sweep.run_trial]
    assert _strip_times(out) == _strip_times(serial)
    with ProcessPoolExecutor(max_workers=1) as ex:
        assert sweep.map_trials(abs, [-1, 2, -3], ex) == [1, 2, 3]
    assert sweep.map_trials(abs, [-1, 2]) == [1, 2]


def test_workers_default_to_the_cores_and_are_validated():
    assert sweep.workers_for(None, 100) == min(100, sweep.default_workers())
    assert sweep.workers_for(8, 3) == 3
    with pytest.raises(ValueError, match="workers must be an int >= 1, received 0"):
        sweep.workers_for(0, 3)


def test_default_run_uses_at_least_three_seeds():
    assert comparison.SEEDS >= 3 and labcli.SEEDS == comparison.SEEDS
    assert inspect.signature(comparison.compare).parameters["seeds"].default == comparison.SEEDS
    args = labcli.add_arguments(__import__("argparse").ArgumentParser()).parse_args([])
    assert args.seeds is None and args.workers is None  # run() fills in SEEDS and the cores


def test_no_test_split_number_feeds_training_validation_or_selection(monkeypatch):
    """Replace the test set by noise with shuffled labels: every weight, every training and
    validation number is unchanged; only the test figures move."""
    real = labdata.load

    def scrambled(source, seed=0, subset=None):
        split, info = real(source, seed, subset)
        rng = np.random.default_rng(99)
        return split._replace(x_test=rng.standard_normal(split.x_test.shape).astype(np.float32),
                              y_test=rng.permutation(split.y_test)), info

    spec = dict(TINY, seed=0, keep_weights=True, sizes=(20,))
    clean = comparison.run_seed(**spec)
    monkeypatch.setattr(labdata, "load", scrambled)
    noisy = comparison.run_seed(**spec)
    for name in ("mlp", "cnn"):
        a, b = clean["result"]["models"][name], noisy["result"]["models"][name]
        assert _strip_times(a["history"]) == _strip_times(b["history"])
        assert "val_accuracy" in a["history"][0] and a["train_accuracy"] == b["train_accuracy"]
        for k, w in clean["weights"][name].items():
            np.testing.assert_array_equal(w, noisy["weights"][name][k])
    assert any(clean["result"]["models"][n]["test_accuracy"]
               != noisy["result"]["models"][n]["test_accuracy"] for n in ("mlp", "cnn"))


def test_image_verdicts_on_synthetic_seeds():
    def model(label, test, cons):
        return {"label": label, "params": 1,
                "metrics": {"test_accuracy": stats.summary(test),
                            "consistency": stats.summary(cons)}}

    base = [0.90, 0.91, 0.89, 0.92, 0.90]
    models = {"cnn": model("CNN", [b + 0.05 for b in base], base),
              "mlp": model("MLP", base, [b + 0.04 for b in base]),
              "cnn_blur": model("Blur", [0.9] * 5, [b + d for b, d in
                                                    zip(base, (0.01, -0.01, 0.02, -0.02, 0))])}
    v = {x["claim"].split(" (")[0] + x.get("b", ""): x
         for x in aggregate.image_verdicts(models, 10)}
    assert v["Convolution vs densemlp"]["status"] == stats.SUPPORTED
    assert v["Translation invariancemlp"]["status"] == stats.CONTRADICTED
    blur = v["Antialiased pooling, Zhang 2019cnn"]
    assert blur["status"] == stats.INCONCLUSIVE and "minimum detectable effect" in blur["text"]
    assert not any(k.startswith("Sample efficiency") for k in v)  # no curve, no verdict
    models["cnn"]["metrics"]["sample_efficiency"] = {"250": stats.summary(base),
                                                     "1000": stats.summary(base)}
    models["mlp"]["metrics"]["sample_efficiency"] = {"250": stats.summary([0.95] * 5),
                                                     "1000": stats.summary(base)}
    v = {x["claim"]: x for x in aggregate.image_verdicts(models, 10)}
    assert v["Sample efficiency (CNN vs MLP: test accuracy with 250 training images)"][
        "status"] == stats.CONTRADICTED

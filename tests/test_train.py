"""fit / evaluate / predict, every callback, scheduler stepping and bit-identical resume."""

import json
import math

import numpy as np
import pytest

import convolve as cv
import convolve.functional as F
from convolve import io as cio
from convolve import models, optim
from convolve.callbacks import EarlyStopping, ModelCheckpoint, NaNGuard, ProgressBar
from convolve.data import ArrayDataset, DataLoader, load_digits
from convolve.optim import lr_scheduler
from convolve.train import History, evaluate, fit, make_optimizer, predict


@pytest.fixture(scope="module")
def digits():
    s = load_digits()
    return ArrayDataset(s.x_train[:320], s.y_train[:320]), ArrayDataset(s.x_test[:128],
                                                                        s.y_test[:128])


SPEC = {"input_shape": [1, 8, 8], "layers": [
    {"type": "flatten"}, {"type": "linear", "out_features": 24}, {"type": "relu"},
    {"type": "dropout", "p": 0.2}, {"type": "linear", "out_features": 10}]}


def _model(seed=0):
    cv.manual_seed(seed)
    return models.build_model(SPEC)


def _params(model):
    return {k: np.array(v) for k, v in model.state_dict().items()}


def _same(a: dict, b: dict) -> bool:
    return list(a) == list(b) and all(np.array_equal(a[k], b[k]) for k in a)


def test_fit_returns_history_and_learns(digits):
    train, val = digits
    model = _model()
    hist = fit(model, train, val, optimizer=optim.Adam(model.parameters(), lr=1e-2), epochs=4,
               batch_size=32, seed=0, verbose=0)
    assert isinstance(hist, History) and len(hist) == 4
    assert set(hist.epochs[0]) == {"epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr",
                                   "seconds"}
    assert hist["epoch"] == [1, 2, 3, 4] and hist["lr"] == [1e-2] * 4
    assert hist["loss"][-1] < hist["loss"][0] and hist["val_loss"][-1] < hist["val_loss"][0]
    assert hist["val_accuracy"][-1] > 0.5 and hist.stop_reason is None
    assert hist.history["val_loss"] == hist["val_loss"]
    with pytest.raises(KeyError, match="no metric"):
        hist["nope"]
    assert json.loads(hist.to_json())["epochs"] == hist.epochs


def test_evaluate_matches_direct_computation(digits):
    _, val = digits
    model = _model()
    model.train()
    res = evaluate(model, val, batch_size=50)  # uneven batches: the mean must be per sample
    model.eval()
    with cv.no_grad():
        logits = model(cv.tensor(val.x))
        loss = F.cross_entropy(logits, val.y).item()
    assert res["loss"] == pytest.approx(loss, rel=1e-5)
    assert res["accuracy"] == pytest.approx(float((logits.data.argmax(1) == val.y).mean()))
    model.train()
    evaluate(model, (val.x, val.y))
    assert model.training  # evaluate restores the mode it found
    with pytest.raises(ValueError, match="no samples"):
        evaluate(model, (val.x[:0], val.y[:0]))


def test_predict_is_batched_eval_mode_without_grad(digits):
    _, val = digits
    model = _model()
    model.train()
    out = predict(model, val.x, batch_size=7)
    assert model.training
    model.eval()
    with cv.no_grad():
        ref = model(cv.tensor(val.x)).data
    np.testing.assert_allclose(out, ref, rtol=1e-6, atol=1e-7)
    assert out.shape == (len(val), 10)
    with pytest.raises(ValueError, match="predict"):
        predict(model, np.zeros((0, 1, 8, 8)))


def test_make_optimizer_by_name():
    model = _model()
    assert isinstance(make_optimizer("SGD", model.parameters(), lr=0.1), optim.SGD)
    assert isinstance(make_optimizer("adamw", model.parameters()), optim.AdamW)
    with pytest.raises(ValueError, match="unknown optimizer 'lion'"):
        make_optimizer("lion", model.parameters())


def test_resume_is_bit_identical(digits, tmp_path):
    """4 epochs straight == 2 epochs, checkpoint, fresh objects, resume to 4 (Adam + StepLR
    + dropout + shuffling + a held-out val split: every piece of state must come back)."""
    train, val = digits

    def run(epochs, callbacks=(), resume=None, init_seed=0):
        model = _model(init_seed)
        opt = optim.Adam(model.parameters(), lr=1e-2)
        sched = lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
        hist = fit(model, train, test=val, val_split=0.25, optimizer=opt, scheduler=sched,
                   epochs=epochs, batch_size=32, seed=0, verbose=0, callbacks=callbacks,
                   resume=resume)
        return model, opt, hist

    straight, opt_a, hist_a = run(4)
    run(2, callbacks=[ModelCheckpoint(tmp_path, save_best=False)])
    assert cio.load_checkpoint(tmp_path / "last.safetensors")["epoch"] == 2
    stale = tmp_path / ".last.safetensors.00112233aabb.tmp"  # from a killed write
    stale.write_bytes(b"half a checkpoint")
    resumed, opt_b, hist_b = run(4, resume=tmp_path / "last.safetensors", init_seed=99,
                                 callbacks=[ModelCheckpoint(tmp_path, save_best=False)])
    assert not stale.exists()
    assert _same(_params(straight), _params(resumed))
    for a, b in zip(opt_a.state.values(), opt_b.state.values()):
        assert all(np.array_equal(a[k], b[k]) for k in a)
    strip = [{k: v for k, v in e.items() if k != "seconds"} for e in hist_a.epochs]
    assert strip == [{k: v for k, v in e.items() if k != "seconds"} for e in hist_b.epochs]
    assert hist_b["lr"] == [1e-2, 5e-3, 2.5e-3, 1.25e-3]
    assert hist_a.test == hist_b.test and hist_b.sizes == {"train": 240, "val": 80, "test": 128}


def test_onecycle_steps_per_batch_others_per_epoch(digits):
    train, _ = digits
    model = _model()
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loader = DataLoader(train, batch_size=64, shuffle=True, seed=0)
    sched = lr_scheduler.OneCycleLR(opt, max_lr=0.1, epochs=2, steps_per_epoch=len(loader))
    fit(model, loader, optimizer=opt, scheduler=sched, epochs=2, verbose=0)
    assert sched.last_epoch == 2 * len(loader)

    model = _model()
    opt = optim.SGD(model.parameters(), lr=0.1)
    sched = lr_scheduler.StepLR(opt, step_size=2, gamma=0.1)
    hist = fit(model, train, optimizer=opt, scheduler=sched, epochs=3, verbose=0, seed=0)
    assert hist["lr"] == pytest.approx([0.1, 0.1, 0.01])
    assert sched.last_epoch == 3


class _Scripted:
    """A minimal TrainState stand-in for driving a callback with chosen logs."""

    def __init__(self, model=None, has_val=True):
        self.model, self.has_val, self.epoch = model, has_val, 0
        self.stop_training = self.abort_epoch = False
        self.stop_reason, self.saved = None, []
        self.history = History()

    def save(self, path):
        self.saved.append((path.name, self.epoch))


def _drive(cb, values, key="val_loss", state=None):
    state = state or _Scripted()
    cb.on_train_begin(state)
    for i, v in enumerate(values):
        state.epoch = i + 1
        cb.on_epoch_end(state, {"epoch": i + 1, key: v})
        if state.stop_training:
            break
    return state


@pytest.mark.parametrize("values, patience, min_delta, stop_at", [
    ([1.0, 0.9, 0.95, 0.93, 0.92, 0.5], 3, 0.0, 5),
    ([1.0, 0.9, 0.95, 0.93, 0.92, 0.5], 4, 0.0, None),
    ([1.0, 0.99, 0.98, 0.97], 2, 0.05, 3),   # improvements smaller than min_delta don't count
    ([1.0, 1.0], 1, 0.0, 2),                 # equal is not better
])
def test_early_stopping_patience_and_min_delta(values, patience, min_delta, stop_at):
    cb = EarlyStopping(patience=patience, min_delta=min_delta)
    state = _drive(cb, values)
    assert state.stop_training == (stop_at is not None)
    if stop_at is not None:
        assert cb.stopped_epoch == stop_at and "early stopping" in state.stop_reason


def test_early_stopping_mode_for_accuracy_and_missing_metric():
    state = _drive(EarlyStopping(monitor="val_accuracy", patience=1), [0.5, 0.6, 0.55],
                   key="val_accuracy")
    assert state.stop_training and state.epoch == 3
    with pytest.raises(ValueError, match="needs validation data"):
        EarlyStopping().on_train_begin(_Scripted(has_val=False))
    with pytest.raises(ValueError, match="'val_loss' is not logged"):
        _drive(EarlyStopping(), [1.0], key="loss")
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(patience=-1)


def test_early_stopping_restore_best_in_fit(digits):
    train, val = digits
    # min_delta so large that nothing after epoch 1 counts: stop after 1 + patience epochs,
    # and restore_best puts back the weights of epoch 1.
    model = _model()
    hist = fit(model, train, val, epochs=5, batch_size=32, seed=0, verbose=0,
               callbacks=[EarlyStopping(patience=2, min_delta=1e9, restore_best=True)])
    assert len(hist) == 3 and "early stopping" in hist.stop_reason
    one = _model()
    fit(one, train, val, epochs=1, batch_size=32, seed=0, verbose=0)
    assert _same(_params(model), _params(one))


def test_model_checkpoint_saves_last_every_epoch_and_best_on_improvement():
    cb = ModelCheckpoint("ck", monitor="val_loss")
    state = _drive(cb, [1.0, 0.8, 0.9, 0.7])
    assert state.saved == [("last.safetensors", 1), ("best.safetensors", 1),
                           ("last.safetensors", 2), ("best.safetensors", 2),
                           ("last.safetensors", 3),
                           ("last.safetensors", 4), ("best.safetensors", 4)]
    only_best = _drive(ModelCheckpoint("ck", save_last=False), [1.0, 2.0])
    assert only_best.saved == [("best.safetensors", 1)]
    with pytest.raises(ValueError, match="needs validation data"):
        ModelCheckpoint("ck").on_train_begin(_Scripted(has_val=False))


def test_callbacks_pick_up_the_history_of_a_resumed_run():
    def resumed():
        state = _Scripted()
        state.history = History([{"epoch": i + 1, "val_loss": v}
                                 for i, v in enumerate([1.0, 0.8, 0.9])])
        return state

    ck = _drive(ModelCheckpoint("ck"), [0.85, 0.7], state=resumed())
    assert [name for name, _ in ck.saved] == ["last.safetensors"] * 2 + ["best.safetensors"]
    stop = EarlyStopping(patience=2)
    assert _drive(stop, [0.95, 0.5], state=resumed()).stop_training
    assert stop.best_epoch == 2


def test_model_checkpoint_in_fit(digits, tmp_path):
    train, val = digits
    model = _model()
    hist = fit(model, train, val, epochs=3, batch_size=32, seed=0, verbose=0,
               callbacks=[ModelCheckpoint(tmp_path, monitor="val_accuracy")])
    best_epoch = int(np.argmax(hist["val_accuracy"])) + 1
    best = cio.load_checkpoint(tmp_path / "best.safetensors")
    last = cio.load_checkpoint(tmp_path / "last.safetensors")
    assert best["epoch"] == best_epoch and last["epoch"] == 3
    assert _same(dict(last["model"]), _params(model))
    assert last["extra"]["history"] == hist.epochs
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.safetensors", "last.safetensors"]


def test_nan_guard_stops_and_keeps_last_good_checkpoint(digits, tmp_path):
    train, val = digits
    calls = {"n": 0}
    batches = math.ceil(len(train) / 32)

    def poisoned(out, y):  # finite for 1.5 epochs, then NaN
        calls["n"] += 1
        loss = F.cross_entropy(out, y)
        return loss * float("nan") if calls["n"] > batches + batches // 2 else loss

    model = _model()
    with pytest.warns(RuntimeWarning, match="non-finite loss"):
        hist = fit(model, train, val, loss=poisoned, epochs=4, batch_size=32, seed=0,
                   verbose=0, callbacks=[ModelCheckpoint(tmp_path, save_best=False)])
    assert len(hist) == 1 and "non-finite loss" in hist.stop_reason
    assert "epoch 2" in hist.stop_reason
    ckpt = cio.load_checkpoint(tmp_path / "last.safetensors")
    assert ckpt["epoch"] == 1
    assert _same(dict(ckpt["model"]), _params(model))  # model == last good checkpoint
    assert all(np.isfinite(v).all() for v in _params(model).values())


def test_nan_guard_is_always_on_and_restores_optimizer(digits):
    train, _ = digits
    model = _model()
    opt = optim.Adam(model.parameters(), lr=1e-3)
    first = fit(model, train, optimizer=opt, epochs=1, seed=0, verbose=0)
    state_before = {k: np.array(v) for k, v in opt.state[next(iter(opt.state))].items()
                    if isinstance(v, np.ndarray)}
    with pytest.warns(RuntimeWarning):
        hist = fit(model, train, optimizer=opt, epochs=2, seed=0, verbose=0,
                   loss=lambda o, y: F.cross_entropy(o, y) * float("inf"))
    assert len(first) == 1 and len(hist) == 0 and hist.stop_reason
    after = opt.state[next(iter(opt.state))]
    assert all(np.array_equal(after[k], v) for k, v in state_before.items())
    assert isinstance(NaNGuard(), NaNGuard)


def test_json_log_lines(digits, tmp_path):
    train, val = digits
    log = tmp_path / "sub" / "log.jsonl"
    log.parent.mkdir()
    log.write_text("stale\n")
    hist = fit(_model(), train, val, test=val, epochs=2, batch_size=64, seed=0, verbose=0,
               log_path=log)
    lines = [json.loads(s) for s in log.read_text().splitlines()]
    assert lines[0] == {"event": "start", "epoch": 0,
                        "sizes": {"train": len(train), "val": len(val), "test": len(val)}}
    assert lines[1:-1] == hist.epochs
    assert lines[-1] == {"event": "test", **hist.test}


def test_progress_output_plain_and_silent(digits, capsys):
    train, val = digits
    fit(_model(), train, val, epochs=1, batch_size=64, seed=0, verbose=0)
    assert capsys.readouterr().out == ""
    fit(_model(), train, val, epochs=2, batch_size=64, seed=0, verbose=1)
    out = capsys.readouterr().out  # not a terminal: the plain carriage-return bar
    assert "samples/s" in out and "\r" in out
    assert "Epoch 2/2: loss" in out and "val_acc" in out
    fit(_model(), train, val, epochs=1, batch_size=64, seed=0, verbose=2)
    out = capsys.readouterr().out
    assert "samples/s" not in out and out.count("\n") == 1


def test_rich_progress_on_a_terminal(digits):
    import io

    import rich  # noqa: F401 - a test dependency (convolve[cli]); without it this must fail

    class Tty(io.StringIO):
        def isatty(self):
            return True

    stream = Tty()
    bar = ProgressBar(1, stream=stream)
    assert bar._rich is not None
    fit(_model(), digits[0], epochs=1, batch_size=64, seed=0, verbose=0, callbacks=[bar])
    out = stream.getvalue()
    assert "Epoch 1/1: loss" in out and "5/5" in out and "samples/s" in out


def test_fit_argument_errors(digits):
    train, _ = digits
    with pytest.raises(ValueError, match="epochs"):
        fit(_model(), train, epochs=-1, verbose=0)
    with pytest.raises(TypeError, match="callbacks"):
        fit(_model(), train, epochs=1, verbose=0, callbacks=[object()])
    with pytest.raises(TypeError, match="data must be"):
        fit(_model(), 42, epochs=1, verbose=0)
    with pytest.raises(TypeError, match="split.train"):
        fit(_model(), load_digits(), epochs=1, verbose=0)


# ------------------------------------------------------------------ honest evaluation
def test_val_split_is_stratified_seeded_and_disjoint(digits):
    from convolve.train import _holdout

    train, _ = digits
    keep, held = _holdout(train, None, 0.25, seed=3)
    assert len(held) == round(0.25 * len(train)) and len(keep) + len(held) == len(train)
    assert not set(keep.indices) & set(held.indices)
    counts = np.bincount(train.y, minlength=10)
    held_counts = np.bincount(train.y[held.indices], minlength=10)
    assert np.all(np.abs(held_counts - 0.25 * counts) < 1)  # every class in proportion
    again = _holdout((train.x, train.y), None, 0.25, seed=3)[1]
    assert np.array_equal(again.indices, held.indices)
    assert not np.array_equal(_holdout(train, None, 0.25, seed=4)[1].indices, held.indices)
    assert _holdout(train, "v", 0.0, seed=0) == (train, "v")
    with pytest.raises(ValueError, match="val_split must be"):
        _holdout(train, None, 1.0, seed=0)
    with pytest.raises(ValueError, match="not both"):
        _holdout(train, digits[1], 0.1, seed=0)
    with pytest.raises(TypeError, match="val_split needs"):
        _holdout(DataLoader(train, batch_size=8), None, 0.1, seed=0)


def _select(train, test, tmp_path, name):
    """A run with checkpointing on val, early stopping and a final test evaluation."""
    out = tmp_path / name
    model = _model()
    hist = fit(model, train, test=test, val_split=0.2, epochs=8, batch_size=32, seed=0,
               verbose=0, optimizer=optim.Adam(model.parameters(), lr=3e-2),
               callbacks=[ModelCheckpoint(out, restore_best=True),
                          EarlyStopping(patience=2, min_delta=0.02)], log_path=out / "log")
    return hist, cio.load_checkpoint(out / "best.safetensors"), _params(model)


def test_poisoned_test_labels_change_nothing_but_the_test_numbers(digits, tmp_path):
    """Model selection (best checkpoint, early stopping) sees only the held-out part of the
    training data: scrambling every test label leaves all of it bit-identical."""
    train, test = digits
    poisoned = ArrayDataset(test.x, (test.y + 1 + np.arange(len(test)) % 9) % 10)
    assert not np.any(poisoned.y == test.y)
    clean_hist, clean_best, clean_model = _select(train, test, tmp_path, "clean")
    bad_hist, bad_best, bad_model = _select(train, poisoned, tmp_path, "poisoned")
    strip = [{k: v for k, v in e.items() if k != "seconds"} for e in clean_hist.epochs]
    assert strip == [{k: v for k, v in e.items() if k != "seconds"} for e in bad_hist.epochs]
    assert clean_hist.stop_reason == bad_hist.stop_reason
    assert clean_best["epoch"] == bad_best["epoch"] == clean_hist.test["model_epoch"]
    assert _same(dict(clean_best["model"]), dict(bad_best["model"]))
    assert _same(clean_model, bad_model) and _same(clean_model, dict(clean_best["model"]))
    # ... while the test numbers do see the poison, and are reported apart from val_*
    assert clean_hist.test["test_accuracy"] > 0.5 > bad_hist.test["test_accuracy"]
    assert clean_hist.sizes == {"train": 256, "val": 64, "test": len(test)}
    best_val = min(e["val_loss"] for e in clean_hist.epochs)
    assert clean_hist.epochs[clean_best["epoch"] - 1]["val_loss"] == best_val
    assert clean_best["extra"]["sizes"] == clean_hist.sizes


def test_test_data_is_evaluated_once_after_training(digits, monkeypatch):
    import convolve.train as T

    train, test = digits
    seen = []
    real = T.evaluate

    def spy(model, data, **kw):
        seen.append(data)
        return real(model, data, **kw)

    monkeypatch.setattr(T, "evaluate", spy)
    model = _model()
    hist = fit(model, train, test=test, val_split=0.1, epochs=3, seed=0, verbose=0)
    assert sum(d is test for d in seen) == 1 and seen[-1] is test and len(seen) == 4
    assert hist.test["model_epoch"] == 3
    ref = real(model, test, batch_size=32)
    assert hist.test["test_loss"] == ref["loss"] and hist.test["test_accuracy"] == ref["accuracy"]
    assert json.loads(hist.to_json())["test"] == hist.test


def test_nan_guard_message_names_epoch_step_and_parameter(digits):
    train, _ = digits
    model = _model()
    first = dict(model.named_parameters())["1.weight"]
    calls = {"n": 0}

    def poisoned(out, y):  # the 3rd batch's loss is fine, but its gradient for 1.weight is not
        calls["n"] += 1
        loss = F.cross_entropy(out, y)
        if calls["n"] == 3:
            first.data[0, 0] = np.inf
        return loss

    with pytest.warns(RuntimeWarning) as rec, np.errstate(all="ignore"):
        hist = fit(model, train, loss=poisoned, epochs=1, batch_size=32, seed=0, verbose=0)
    msg = next(str(r.message) for r in rec if "non-finite loss" in str(r.message))
    assert "epoch 1, batch 4 of 10 (optimizer step 4)" in msg, msg
    assert "first non-finite gradient: 1.weight" in msg
    assert "first non-finite parameter after the step: 1.weight" in msg
    assert hist.stop_reason == msg

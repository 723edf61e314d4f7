"""The dashboard's pieces without a server: PNG encoding, confusion matrix and mistakes
(against naive references), the bounded run state and its deltas, and LiveMonitor inside
`fit` (it sees what a second validation pass would, and changes nothing in training)."""

import io
import json

import numpy as np
import pytest
from PIL import Image

from convolve import models
from convolve.live import dashboard_images as images
from convolve.live.dashboard_state import RunState, clean
from convolve.live.monitor import LiveMonitor
from convolve.train import fit, predict


@pytest.mark.parametrize("shape", [(7, 5), (4, 9, 3), (1, 1)])
def test_png_decodes_to_the_same_pixels(rng, shape):
    img = rng.integers(0, 256, size=shape, dtype=np.uint8)
    back = np.asarray(Image.open(io.BytesIO(images.png(img))))
    assert back.shape == img.shape and np.array_equal(back, img)


def test_png_refuses_other_shapes():
    with pytest.raises(ValueError, match=r"expected an \(H, W\) or \(H, W, 3\) image"):
        images.png(np.zeros((2, 2, 4), np.uint8))


def test_filter_tiles_one_per_output_channel(rng):
    w = rng.standard_normal((6, 1, 5, 5))
    tiles = images.filter_tiles(w)
    assert len(tiles) == 6
    first = np.asarray(Image.open(io.BytesIO(_decode(tiles[0]))))
    # the largest positive weight is the reddest pixel, the most negative the bluest
    f = w[0, 0]
    assert np.unravel_index(np.argmax(first[..., 0].astype(int) - first[..., 2]), f.shape) == \
        np.unravel_index(np.argmax(f), f.shape)
    assert np.unravel_index(np.argmax(first[..., 2].astype(int) - first[..., 0]), f.shape) == \
        np.unravel_index(np.argmin(f), f.shape)


def _decode(url: str) -> bytes:
    import base64

    return base64.b64decode(url.split(",", 1)[1])


def test_confusion_and_mistakes_match_naive_references(rng):
    labels = rng.integers(0, 4, size=200)
    logits = rng.standard_normal((200, 4)) * 3
    view = images.epoch_view(logits, labels)
    naive = np.zeros((4, 4), int)
    for t, p in zip(labels, logits.argmax(axis=1)):
        naive[t, p] += 1
    assert view["confusion"] == naive.tolist()
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs = e / e.sum(axis=1, keepdims=True)
    wrong = sorted((i for i in range(200) if probs[i].argmax() != labels[i]),
                   key=lambda i: -probs[i].max())[:images.MAX_WRONG]
    assert [w["index"] for w in view["misclassified"]] == wrong
    assert [w["p"] for w in view["misclassified"]] == pytest.approx(
        [probs[i].max() for i in wrong], rel=1e-12)


def test_clean_makes_strict_json():
    value = clean({"a": float("nan"), "b": [np.float32(1.5), float("inf")], "c": np.int64(3)})
    assert json.dumps(value, allow_nan=False) == '{"a": null, "b": [1.5, null], "c": 3}'


def test_run_state_stays_bounded_and_sends_deltas():
    run = RunState("r", max_points=100)
    msg, cursor = run.since(None)
    assert msg["type"] == "snapshot"
    run.add_batch({"step": 1, "loss": 1.0})
    msg, cursor = run.since(cursor)
    assert msg["type"] == "delta" and msg["batches"] == [{"step": 1, "loss": 1.0}]
    assert run.since(cursor) == (None, cursor)
    for step in range(2, 5001):
        run.add_batch({"step": step, "loss": 1.0})
    assert len(run.batches) <= 100 and run.stride == 64
    steps = [b["step"] for b in run.batches]
    assert steps == sorted(steps) and steps[-1] > 4900  # the whole run, thinned
    assert run.since(cursor)[0]["type"] == "snapshot"  # thinned: the client starts afresh


def _data(rng, n):
    x = rng.standard_normal((n, 1, 12, 12)).astype(np.float32)
    y = (x[:, 0, :6].mean(axis=(1, 2)) > 0).astype(np.int64)
    return x, y


def test_monitor_sees_what_validation_saw_and_changes_nothing(rng, tmp_path):
    train, val = _data(rng, 96), _data(rng, 40)

    def model():
        from convolve import random as crandom

        crandom.manual_seed(0)
        return models.get_model("lenet5", (1, 12, 12), 2)

    plain = fit(model(), train, val, epochs=2, batch_size=16, verbose=0, seed=1)
    run, net = RunState("t"), model()
    monitor = LiveMonitor(run, val=val, log_path=tmp_path / "live.jsonl", interval=1e-6)
    live = fit(net, train, val, epochs=2, batch_size=16, verbose=0, seed=1,
               callbacks=[monitor])
    assert live.epochs[-1]["loss"] == plain.epochs[-1]["loss"]  # bit for bit
    assert [h["val_loss"] for h in live.epochs] == [h["val_loss"] for h in plain.epochs]
    st = run.snapshot()
    assert st["status"] == "finished" and len(st["batches"]) == 2 * 6  # one window per batch
    assert st["epoch_view"]["confusion"] == images.epoch_view(predict(net, val[0]),
                                                              val[1])["confusion"]
    assert len(st["filters"]["tiles"]) == 6 and net.training
    kinds = [json.loads(line)["kind"]
             for line in (tmp_path / "live.jsonl").read_text().splitlines()]
    assert kinds.count("batch") == 12 and kinds[-1] == "end"


def test_monitor_interval_must_be_positive():
    with pytest.raises(ValueError, match="interval must be > 0 seconds, received 0"):
        LiveMonitor(RunState("r"), interval=0)

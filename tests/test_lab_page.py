"""The lab page in a real headless Chromium (the ``page`` fixture): drawing yields every
model's probabilities, shifting a test image moves the predictions and the feature maps,
the calculator matches the server; no console errors, no request leaves 127.0.0.1.

The README's screenshots come from here (on the models ``convolve lab --data mnist5k`` trains):
``CONVOLVE_SCREENSHOTS=docs/img CONVOLVE_LAB_DATA=mnist5k python -m pytest tests/test_lab_page.py``
"""

import json
import threading

import numpy as np
import pytest

from convolve.lab.models import IMAGE_MODELS
from convolve.lab.params import layer_formulas
from convolve.live.lab import LabState, settings_for, train_models
from convolve.live.lab_app import serve_lab
from lab_page_support import get_json, trained_state

# a "7": along the top, then down to the bottom left (pad coordinates, 280 x 280)
SEVEN = [(70, 55), (130, 55), (205, 55), (175, 130), (145, 200), (125, 240)]
PAD = 16  # pixels of margin around a screenshot of a section


@pytest.fixture(scope="module")
def lab_url():
    with serve_lab(trained_state()) as server:
        yield server.url


def _open(page, url):
    page.goto(url)
    page.wait_for_selector('body[data-ready="1"][data-status="finished"]', timeout=15000)


def _shown(page, section: str) -> dict:
    """Per model, as displayed: predicted class and the ten percentages."""
    return page.evaluate("""(section) => {
        const out = {};
        document.querySelectorAll(`#${section} .model`).forEach((p) => {
            out[p.dataset.model] = {pred: p.dataset.pred || null,
                text: p.querySelector('.pred').textContent,
                pct: Array.from(p.querySelectorAll('.pct')).map((e) => e.textContent)};
        });
        return out;
    }""", section)


def _check_matches(shown: dict, api: dict) -> None:
    assert set(shown) == set(IMAGE_MODELS) == set(api["models"])
    for name, s in shown.items():
        probs = np.asarray(api["models"][name]["probs"])
        assert s["pred"] == str(int(probs.argmax())), (name, s)
        assert s["pct"] == [f"{100 * p:.1f}%" for p in probs], name
        assert s["text"] == f"predicts {probs.argmax()} ({100 * probs.max():.1f}%)"


def _clean(page) -> None:
    assert page.console_errors == []
    assert page.external_requests == []


def test_drawing_a_digit_gets_predictions_from_all_four_models(page, lab_url, screenshots_dir):
    sent = []
    page.on("request", lambda r: "/api/predict" in r.url and "pixels" in (r.post_data or "")
            and sent.append(r.post_data))
    _open(page, lab_url)
    box = page.locator("#pad").bounding_box()
    page.mouse.move(box["x"] + SEVEN[0][0], box["y"] + SEVEN[0][1])
    page.mouse.down()
    for x, y in SEVEN[1:]:
        page.mouse.move(box["x"] + x, box["y"] + y, steps=6)
    page.mouse.up()
    page.wait_for_function("""() => {
        const d = document.getElementById('draw-results').dataset;
        return d.sent && d.sent !== 'pending' && d.sent === d.shown; }""", timeout=10000)
    body = json.loads(sent[-1])
    pixels = np.asarray(body["pixels"])
    assert pixels.shape == trained_state().shape[1:] and pixels.max() == 1.0 and pixels.min() == 0.0
    rows = np.flatnonzero(pixels.sum(1) > 0)
    assert pixels[rows[0]].sum() > pixels[rows[-1]].sum()  # the 7's bar is at the top
    shown = _shown(page, "draw-results")
    _check_matches(shown, get_json(lab_url + "api/predict", body))
    # the training panel: one line per model, one point per epoch
    lines = page.locator("#curves polyline")
    assert lines.count() == 4
    n_epochs = len(trained_state().history["cnn"])
    assert all(len(lines.nth(i).get_attribute("points").split()) == n_epochs for i in range(4))
    _shot(page, "#draw-section", screenshots_dir / "lab-draw.png", top=0)
    page.click("#clear")
    assert all(s["pred"] is None for s in _shown(page, "draw-results").values())
    _clean(page)


def _shot(page, selector, path, top=None):
    """A screenshot of one section (from the top of the page when top=0), with a margin."""
    box = page.locator(selector).bounding_box()
    y = box["y"] - PAD if top is None else top
    page.screenshot(path=str(path), full_page=True,
                    clip={"x": 0, "y": y, "width": 1280,
                          "height": box["y"] + box["height"] + PAD - y})


def _wait_shift(page, index, dx, dy):
    page.wait_for_selector(f'#shift-results[data-index="{index}"][data-dx="{dx}"]'
                           f'[data-dy="{dy}"]', timeout=10000)


def test_shifting_a_test_image_moves_the_predictions(page, lab_url, screenshots_dir):
    _open(page, lab_url)
    _wait_shift(page, 0, 0, 0)
    before = _shown(page, "shift-results")
    _check_matches(before, get_json(lab_url + "api/predict", {"index": 0}))
    page.locator("body").focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    _wait_shift(page, 0, 2, 0)
    after = _shown(page, "shift-results")
    _check_matches(after, get_json(lab_url + "api/predict", {"index": 0, "dx": 2}))
    assert any(after[n]["pct"] != before[n]["pct"] for n in IMAGE_MODELS)
    assert page.locator("#dx-value").text_content() == "2"
    # the label's probability against the shift: one line per model, a point per shift
    m = trained_state().max_shift
    for axis in ("dx", "dy"):
        page.wait_for_selector(f'#curve-{axis}[data-index="0"]', timeout=10000)
        lines = page.locator(f"#curve-{axis} polyline")
        assert lines.count() == 4
        assert all(len(lines.nth(i).get_attribute("points").split()) == 2 * m + 1
                   for i in range(4))
    _shot(page, "#shift-section", screenshots_dir / "lab-shift.png")
    page.keyboard.press("ArrowUp")
    _wait_shift(page, 0, 2, -1)
    _check_matches(_shown(page, "shift-results"),
                   get_json(lab_url + "api/predict", {"index": 0, "dx": 2, "dy": -1}))
    # the slider: focused, its own arrow keys move it (the page's keys leave it alone)
    page.focus("#dy")
    page.keyboard.press("ArrowRight")
    _wait_shift(page, 0, 2, 0)
    # feature maps: six H x W maps for each model with a spatial first layer, none for the MLP
    _, h, w = trained_state().shape
    for name in ("lc", "cnn", "cnn_blur"):
        maps = page.locator(f'#feature-maps [data-model="{name}"] canvas')
        assert maps.count() == 6
        assert maps.first.evaluate("(c) => [c.width, c.height]") == [w, h]
    assert page.locator('#feature-maps [data-model="mlp"]').count() == 0
    page.click("#next")
    _wait_shift(page, 1, 2, 0)
    page.wait_for_selector('#curve-dx[data-index="1"]', timeout=10000)
    label = int(trained_state().split.y_test[1])
    page.wait_for_function(f"""() => document.getElementById('image-info').textContent
        .endsWith('label {label}')""", timeout=5000)
    _clean(page)


# n, c_in, c_out, k: the seed's example, small untuned sizes, and counts far beyond 2**53
CALC = [(32, 3, 6, 5), (17, 2, 9, 4), (7, 1, 1, 7), (4096, 64, 512, 3)]


def test_the_calculator_matches_the_server(page, lab_url):
    _open(page, lab_url)
    for n, c_in, c_out, k in CALC:
        for name, value in (("n", n), ("c_in", c_in), ("c_out", c_out), ("k", k)):
            page.fill(f"#calc-{name}", str(value))
        shown = {kind: int(page.locator(f"#calc-{kind}").get_attribute("data-value"))
                 for kind in ("dense", "locally_connected", "conv")}
        server = get_json(lab_url + f"api/params?n={n}&c_in={c_in}&c_out={c_out}&k={k}")
        assert shown == {kind: server[kind] for kind in shown}
        assert shown == layer_formulas(n, c_in, c_out, k)
        count = page.locator("#calc-dense .count").text_content()
        assert count == f"{server['dense']:,}"
    assert max(shown.values()) > 2 ** 53  # exact, not rounded to a float
    page.fill("#calc-n", "4")
    page.fill("#calc-k", "5")
    assert "larger than the image" in page.locator("#calc-message").text_content()
    assert page.locator("#calc-conv").get_attribute("data-value") == ""
    _clean(page)


def test_the_page_follows_training_then_predicts(page):
    base = trained_state()
    state = LabState(base.split, base.info)
    with serve_lab(state) as server:
        page.goto(server.url)
        page.wait_for_selector('body[data-status="running"]', timeout=10000)
        assert page.locator("#status").text_content().startswith("training")
        assert all(s["pred"] is None for s in _shown(page, "shift-results").values())
        worker = threading.Thread(target=train_models, args=(
            state, settings_for(base.info["name"], epochs=1), lambda msg: None))
        worker.start()
        page.wait_for_selector('body[data-ready="1"][data-status="finished"]', timeout=60000)
        worker.join()
        page.wait_for_function("""() => Array.from(document.querySelectorAll(
            '#shift-results .model')).every((p) => p.dataset.pred)""", timeout=10000)
        _check_matches(_shown(page, "shift-results"),
                       get_json(server.url + "api/predict", {"index": 0}))
        rows = page.locator("#model-table tbody tr")
        assert rows.count() == 4 and rows.first.locator("td").nth(2).text_content() == "1"
        # close the tab before the server: Server.close() stops accepting, but a handler
        # thread on a kept-alive connection would go on serving the page's requests
        page.close()
    _clean(page)

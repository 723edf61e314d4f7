"""The training dashboard in a real (headless) Chromium: a live `convolve train --live` run
whose curves grow and whose filter grid shows one tile per filter, and `convolve dashboard`
comparing two finished runs. Screenshots go to the screenshots folder (with
CONVOLVE_SCREENSHOTS=docs/img these are the README's pictures; see scripts/screenshots.py).
"""

import os
import shutil
import time

import pytest

from convolve import models
from convolve.live.dashboard import make_app
from convolve.live.dashboard_images import conv_layers
from convolve.live.dashboard_load import load_run
from convolve.live.server import serve
from live_train_helpers import LiveTrain

# The README picture is taken from a longer run (the whole of mnist5k); the test's own run
# is a quick slice of it.
README_RUN = bool(os.environ.get("CONVOLVE_SCREENSHOTS"))
EPOCHS, LIMIT = (6, None) if README_RUN else (4, 2000)


def _wait(page, expression: str, timeout: float = 30) -> None:
    """Poll a JS expression until true (page.wait_for_function evaluates strings with eval,
    which the page's CSP rightly forbids; page.evaluate is not subject to it)."""
    end = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > end:
            raise AssertionError(f"not true after {timeout} s: {expression}")
        page.wait_for_timeout(100)


def _js_number(page, selector: str, attr: str) -> int:
    return int(page.get_attribute(selector, f"data-{attr}") or 0)


@pytest.fixture(scope="module")
def live_run(tmp_path_factory):
    run = LiveTrain(tmp_path_factory.mktemp("browser") / "lenet5-mnist5k", epochs=EPOCHS,
                    limit=LIMIT)
    yield run
    run.close()


def test_live_page_grows_while_training(live_run, page, screenshots_dir):
    layers = conv_layers(models.get_model("lenet5", (1, 28, 28), 10))
    page.goto(live_run.url)
    _wait(page, "document.getElementById('status').textContent === 'running' && "
                           "+document.getElementById('chart-loss').dataset.points >= 2",
                           timeout=60)
    first = _js_number(page, "#chart-loss", "points")
    _wait(page, f"+document.getElementById('chart-loss').dataset.points > {first}",
                           timeout=20)
    assert _js_number(page, "#chart-gnorm", "points") > 0
    assert page.locator("#filters img.tile").count() == layers[0][1].weight.shape[0]
    assert page.locator("#featuremaps .layer").count() == 1 + len(layers)
    _wait(page, "document.getElementById('status').textContent === 'finished' && "
                           "document.querySelectorAll('#wrong img').length > 0",
                           timeout=120)
    assert _js_number(page, "#confusion", "cells") == 100
    page.wait_for_timeout(300)
    page.screenshot(path=str(screenshots_dir / "live-dashboard.png"), full_page=True)
    assert page.console_errors == [] and page.external_requests == []


def test_dashboard_compares_finished_runs(live_run, page, screenshots_dir, tmp_path):
    live_run.wait_state(lambda s: s["status"] == "finished" and s["test"])
    other = tmp_path / "copy-without-live-log"
    shutil.copytree(live_run.out, other)
    (other / "live.jsonl").unlink()
    server = serve(make_app([load_run(live_run.out), load_run(other)]))
    try:
        page.goto(server.url)
        _wait(page, "+document.getElementById('cmp-loss').dataset.points > 0")
        assert page.locator("#compare").is_visible()
        assert _js_number(page, "#cmp-loss", "points") == 2 * EPOCHS
        page.select_option("#run-select", "1")
        _wait(page, "document.getElementById('run-name').textContent === "
                               "'copy-without-live-log'")
        assert "no live.jsonl" in page.inner_text("#notes")
        if not README_RUN:  # two copies of one run: a test picture, not the README's
            page.screenshot(path=str(screenshots_dir / "dashboard-compare.png"), full_page=True)
        assert page.console_errors == [] and page.external_requests == []
    finally:
        server.close()

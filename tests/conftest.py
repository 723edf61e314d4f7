"""Shared fixtures. Tests that need PyTorch use the ``torch`` fixture: it skips on a
developer machine without torch, but FAILS when CI is set, so CI never silently skips."""

import os
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))


def _import_torch():
    try:
        import torch
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("PyTorch is required in CI (pip install torch==2.13.0) but is missing")
        pytest.skip("PyTorch not installed")
    torch.set_num_threads(1)
    return torch


@pytest.fixture(scope="session")
def torch():
    return _import_torch()


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def _find_mpiexec():
    """mpiexec next to this Python (the one the convolve[mpi] extra installs), with mpi4py."""
    exe = Path(sys.executable).with_name("mpiexec")
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        exe = None
    if exe is None or not exe.exists():
        if os.environ.get("CI"):
            pytest.fail("mpi4py and mpiexec are required in CI (pip install convolve[mpi]) "
                        "but are missing")
        pytest.skip("mpi4py / mpiexec not installed (pip install convolve[mpi])")
    return str(exe)


@pytest.fixture(scope="session")
def mpiexec():
    return _find_mpiexec()


# ------------------------------------------------------------------------- the browser
def _chromium_path():
    """Debian's chromium (``apt-get install chromium``), or $CONVOLVE_CHROMIUM."""
    import shutil

    for candidate in (os.environ.get("CONVOLVE_CHROMIUM"), "/usr/bin/chromium",
                      shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


@pytest.fixture(scope="session")
def browser():
    """A headless Chromium driven by Playwright (never downloaded: the system's browser).
    Skips on a developer machine without it; FAILS when CI is set."""
    exe = _chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    if exe is None or sync_playwright is None:
        missing = "playwright (pip install playwright)" if sync_playwright is None else \
            "chromium (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(f"browser tests need {missing} in CI, and it is missing")
        pytest.skip(f"browser tests need {missing}")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        yield b
        b.close()


@pytest.fixture
def page(browser):
    """A fresh page; ``page.console_errors`` collects console errors and page exceptions
    (a test asserts it is empty). External requests are blocked and recorded in
    ``page.external_requests``: every page must work from 127.0.0.1 alone."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    pg.console_errors, pg.external_requests = [], []
    pg.on("console", lambda m: m.type == "error" and pg.console_errors.append(m.text))
    pg.on("pageerror", lambda e: pg.console_errors.append(str(e)))

    def _route(route):
        url = route.request.url
        if url.startswith(("http://127.0.0.1", "data:", "blob:")):
            return route.continue_()
        pg.external_requests.append(url)
        return route.abort()

    pg.route("**/*", _route)
    yield pg
    context.close()


@pytest.fixture(scope="session")
def screenshots_dir():
    """Where browser tests save screenshots: $CONVOLVE_SCREENSHOTS or build/screenshots."""
    d = Path(os.environ.get("CONVOLVE_SCREENSHOTS") or Path(__file__).parents[1] / "build" /
             "screenshots")
    d.mkdir(parents=True, exist_ok=True)
    return d

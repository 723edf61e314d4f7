"""Make the README's screenshots through the browser tests' own code path.

Runs the browser tests with ``CONVOLVE_SCREENSHOTS=docs/img`` (the ``screenshots_dir``
fixture then saves there, and the dashboard test trains on the whole of mnist5k for a
fuller picture; the lab page's models train on mnist5k, ``CONVOLVE_LAB_DATA``)::

    PYTHONPATH=src python scripts/screenshots.py                  # the default test files
    PYTHONPATH=src python scripts/screenshots.py tests/test_x.py  # others

Needs what the browser tests need: Playwright and the system's Chromium.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = ["tests/test_live_browser.py", "tests/test_lab_page.py"]


def main() -> int:
    out = ROOT / "docs" / "img"
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, CONVOLVE_SCREENSHOTS=str(out))
    env.setdefault("CONVOLVE_LAB_DATA", "mnist5k")
    status = subprocess.call([sys.executable, "-m", "pytest", "-q", *(sys.argv[1:] or TESTS)],
                             cwd=ROOT, env=env)
    print("\n".join(sorted(str(p.relative_to(ROOT)) for p in out.glob("*.png"))))
    return status


if __name__ == "__main__":
    sys.exit(main())

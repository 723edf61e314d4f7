"""``python -m convolve ARGS``: the same as the ``convolve`` command."""

import sys

from convolve.cli import main

sys.exit(main())

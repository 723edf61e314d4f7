"""The ``convolve`` command line (filled in by the CLI work)."""

import sys


def main(argv=None) -> int:
    print("usage: convolve {train,eval,predict,summary,datasets,compare,export} ...")
    return 0


if __name__ == "__main__":
    sys.exit(main())

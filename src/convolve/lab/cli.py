"""The ``compare`` subcommand, registered with ``convolve.cli`` (which imports this module as
a plug-in); ``python -m convolve.lab ...`` runs the same thing. Kept light: the lab itself
is imported only when the command runs."""

from __future__ import annotations

import argparse

from ..cli import subcommand
from .data import SIZES

SEEDS = 3  # the default number of seeds (= comparison.SEEDS; kept here so --help stays light)


def _sizes(text: str) -> tuple:
    if text in ("default", "all"):
        return SIZES
    if text in ("none", "off", "0"):
        return ()
    try:
        sizes = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated ints such as 250,500,1000 "
                                         f"or 'default', received {text!r}") from None
    if not sizes or min(sizes) < 10:
        raise argparse.ArgumentTypeError(f"every size must be >= 10, received {text!r}")
    return sizes


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--data", default="mnist5k",
                   help="digits, mnist5k (default), mnist1d (runs the MNIST-1D paper "
                        "replication, with the paper's settings unless overridden), or a "
                        "path as `convolve train --data` takes it: class sub-folders of "
                        "images, IDX files, CIFAR-10/100 binaries or tarball, an .npz")
    p.add_argument("--epochs", type=int, default=None, help="epochs per model (default: per data)")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--lr", type=float, default=None, help="Adam learning rate")
    p.add_argument("--seed", type=int, default=0,
                   help="first seed (default 0); the run uses seeds SEED .. SEED+SEEDS-1")
    p.add_argument("--seeds", type=int, default=None,
                   help="number of seeds every model is trained on (default 3; --seeds 10 "
                        "for tighter intervals; MNIST-1D replication: at least 5 recommended)")
    p.add_argument("--workers", type=int, default=None,
                   help="worker processes the seeds run in (default: the number of cores; "
                        "1: serial, in this process)")
    p.add_argument("--subset", type=int, default=None,
                   help="keep at most this many train and test samples (stratified)")
    p.add_argument("--sizes", type=_sizes, default=SIZES, metavar="N,N,...|none",
                   help="training-set sizes for the sample-efficiency curve (default "
                        "250,1000,2000, plus the full training set; each run gets the full "
                        "run's optimizer steps); 'none' skips it")
    p.add_argument("--paper", action="store_true",
                   help="MNIST-1D: the paper's exact settings (lr 1e-2, batch 100, 6000 steps)")
    p.add_argument("--out", default=None, help="output folder (default reports/compare-<data>)")
    p.add_argument("--threads", type=int, default=1,
                   help="BLAS threads while training (default 1: the matrices are small, and "
                        "extra threads thrash when other processes share the cores)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    from .._data_cli import add_image_options

    add_image_options(p)
    p.add_argument("--normalize", choices=["none", "channel"], default="none",
                   help="none (default: the lab's figures are measured on the data as they "
                        "are; shifts fill the border with 0) or channel: the training part's "
                        "per-channel mean and std")
    p.add_argument("--serve", action="store_true",
                   help="then serve the interactive lab page over the first seed's models "
                        "(see `convolve lab`; --host, --port)")
    from ..live.lab_cli import add_serve_arguments

    add_serve_arguments(p)
    return p


def run(args: argparse.Namespace) -> int:
    from .comparison import compare

    for name in ("epochs", "batch_size", "subset", "threads", "seeds", "workers"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise ValueError(f"compare: --{name.replace('_', '-')} must be >= 1, "
                             f"received {value}")
    if args.lr is not None and args.lr <= 0:
        raise ValueError(f"compare: --lr must be positive, received {args.lr}")
    if args.seed < 0:
        raise ValueError(f"compare: --seed must be >= 0, received {args.seed}")
    seeds = args.seeds if args.seeds is not None else SEEDS
    kwargs = {"data": args.data, "epochs": args.epochs, "batch_size": args.batch_size,
              "lr": args.lr, "seed": args.seed, "seeds": seeds, "workers": args.workers,
              "sizes": args.sizes, "subset": args.subset, "out": args.out,
              "paper": args.paper, "quiet": args.quiet, "threads": args.threads,
              "image_size": args.image_size, "channels": args.channels,
              "normalize": args.normalize}
    if args.serve:
        from ..live.lab_cli import serve_compare

        return serve_compare(args, compare, kwargs)
    compare(**kwargs)
    return 0


@subcommand("compare", "train an MLP, a locally-connected net, a CNN and an antialiased CNN "
                       "alike and measure the claims for convolutions (report.html/json)")
def _compare(p: argparse.ArgumentParser):
    add_arguments(p)
    return run


def main(argv=None) -> int:
    """``python -m convolve.lab ARGS`` = ``convolve compare ARGS``."""
    from ..cli import main as cli_main

    return cli_main(["compare", *(argv if argv is not None else __import__("sys").argv[1:])])

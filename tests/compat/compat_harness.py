"""Run a PyTorch training script under convolve (imports rewritten) or under PyTorch.

``rewrite_imports`` changes ONLY import statements, found with ``ast`` (so strings, comments
and code that mention ``torch`` are left alone), by one prefix table:

  import torch                       -> import convolve as torch
  import torch.nn as nn              -> import convolve.nn as nn        (any torch.X.Y likewise:
  from torch.optim.lr_scheduler ...  -> from convolve.optim.lr_scheduler ...   nn.functional,
  from torch.utils.data import ...   -> from convolve.utils.data import ...    optim, utils.data,
  import torch.backends.cudnn as c   -> import convolve.backends.cudnn as c    backends.cudnn)
  from torchvision import transforms -> from convolve import transforms
  import torchvision.transforms as T -> import convolve.transforms as T

Under PyTorch the script runs unmodified; torchvision is not installed here, so the test-only
package in ``_shim/`` (torchvision's transforms written with torch ops) goes on its path.
Each run is a fresh interpreter in its own working directory; the script's last line
``final test accuracy: 0.xxxx`` is the figure compared. ``python compat_harness.py`` prints
the accuracy of each script over several seeds (how the tolerance was chosen).
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = HERE / "scripts"
SHIM = HERE / "_shim"
SRC = HERE.parents[1] / "src"
PREFIXES = {"torchvision.transforms": "convolve.transforms", "torch": "convolve"}
ACCURACY = re.compile(r"^final test accuracy: ([0-9.]+)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Script:
    """A script, its data, the argv of each successive run, and the accuracy it must reach.

    ``cross`` is one more run under convolve in a copy of the PyTorch run's directory, so it
    reads the files PyTorch wrote (``torch.save``); ``expect`` holds regexes that the output
    of the last run under convolve must match."""

    name: str
    data: str
    min_accuracy: float
    runs: tuple = ((),)
    cross: tuple | None = None
    expect: tuple = field(default=())


RESUMED = r"==> Resuming from checkpoint\.\. \(epoch [0-9]+, acc ([0-9.]+)\)"
SCRIPT_TABLE = (
    Script("mnist_example.py", "mnist", 0.90, cross=("mnist_evaluate.py",)),
    Script("cifar_tutorial.py", "colour", 0.80),
    Script("lenet_d2l.py", "mnist", 0.80),
    Script("resnet_cifar.py", "colour", 0.50, runs=(("--epochs", "3"), ("--resume", "--epochs", "1")),
           cross=("resnet_cifar.py", "--resume", "--epochs", "1"), expect=(RESUMED,)),
)


def _map_module(name: str) -> str | None:
    for old, new in PREFIXES.items():
        if name == old or name.startswith(old + "."):
            return new + name[len(old):]
    return None


def _rewrite_node(node: ast.stmt) -> ast.stmt | None:
    """The convolve twin of one import statement, or None when it imports nothing of torch's."""
    if isinstance(node, ast.ImportFrom):
        if node.level or node.module is None:
            return None
        if node.module == "torchvision":
            if any(a.name != "transforms" for a in node.names):
                return None
            return ast.ImportFrom("convolve", node.names, 0)
        new = _map_module(node.module)
        return None if new is None else ast.ImportFrom(new, node.names, 0)
    names, changed = [], False
    for alias in node.names:
        new = _map_module(alias.name)
        if new is None:
            names.append(alias)
        elif alias.asname is not None:
            names.append(ast.alias(new, alias.asname))
        elif "." in alias.name:  # `import torch.nn` binds `torch`: bind it to convolve as well
            names += [ast.alias(new), ast.alias("convolve", alias.name.split(".")[0])]
        else:
            names.append(ast.alias(new, alias.name))
        changed |= new is not None
    return ast.Import(names) if changed else None


def rewrite_imports(source: str) -> str:
    """``source`` with its torch/torchvision import statements pointed at convolve."""
    lines = source.splitlines(keepends=True)
    nodes = [n for n in ast.walk(ast.parse(source)) if isinstance(n, (ast.Import, ast.ImportFrom))]
    for node in sorted(nodes, key=lambda n: n.lineno, reverse=True):
        new = _rewrite_node(node)
        if new is None:
            continue
        first, last = node.lineno - 1, node.end_lineno - 1
        if lines[first][:node.col_offset].strip() or lines[last][node.end_col_offset:].strip():
            raise ValueError(f"rewrite_imports: line {node.lineno} holds more than one "
                             f"statement; put the import on its own line")
        ending = "\n" if lines[last].endswith("\n") else ""
        text = lines[first][:node.col_offset] + ast.unparse(new) + ending
        lines[first:last + 1] = [text]
    return "".join(lines)


def _env(backend: str, seed: int) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    path = [str(SRC)] if backend == "convolve" else [str(SHIM)]
    env.update(PYTHONPATH=os.pathsep.join(path), SEED=str(seed), PYTHONHASHSEED="0",
               OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return env


def _run(argv: tuple, backend: str, workdir: Path, seed: int, timeout: float) -> tuple:
    """Run ``python *argv`` in ``workdir``; return (final accuracy, output)."""
    proc = subprocess.run([sys.executable, *argv], check=False, cwd=workdir,
                          env=_env(backend, seed), capture_output=True, text=True,
                          timeout=timeout)
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed under {backend} (exit "
                             f"{proc.returncode}):\n{out[-4000:]}")
    found = ACCURACY.findall(proc.stdout)
    if not found:
        raise AssertionError(f"{argv[0]}: no 'final test accuracy' line under {backend}:\n"
                             f"{out[-2000:]}")
    return float(found[-1]), out


def _write_scripts(backend: str, workdir: Path) -> None:
    for path in SCRIPTS.glob("*.py"):
        source = path.read_text()
        (workdir / path.name).write_text(rewrite_imports(source) if backend == "convolve"
                                         else source)


def run_script(script: Script, backend: str, workdir: Path, seed: int = 1,
               timeout: float = 600) -> tuple[float, str]:
    """Run ``script`` (every argv of ``script.runs``, in order) in ``workdir`` under ``backend``
    ('convolve' or 'torch'); return (final accuracy, output of the last run)."""
    import compat_data

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    compat_data.write(script.data, workdir)
    _write_scripts(backend, workdir)
    for argv in script.runs:
        accuracy, out = _run((script.name, *argv), backend, workdir, seed, timeout)
    return accuracy, out


def run_cross(script: Script, torch_workdir: Path, workdir: Path, seed: int = 1,
              timeout: float = 600) -> tuple[float, str]:
    """Run ``script.cross`` under convolve in a copy of ``torch_workdir`` (what PyTorch saved
    there included), the scripts rewritten; return (final accuracy, output)."""
    shutil.copytree(torch_workdir, workdir)
    _write_scripts("convolve", Path(workdir))
    return _run(script.cross, "convolve", Path(workdir), seed, timeout)


def _main(argv: list[str]) -> None:
    """python compat_harness.py BACKEND SEEDS [NAME...]: accuracy per script and seed."""
    import time

    backend, seeds = argv[0], [int(s) for s in argv[1].split(",")]
    wanted = set(argv[2:])
    for script in SCRIPT_TABLE:
        if wanted and script.name not in wanted:
            continue
        for seed in seeds:
            with tempfile.TemporaryDirectory() as tmp:
                start = time.perf_counter()
                acc, _ = run_script(script, backend, Path(tmp), seed)
                print(f"{backend} {script.name} seed {seed}: accuracy {acc:.4f} "
                      f"({time.perf_counter() - start:.1f} s)", flush=True)


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    _main(sys.argv[1:])

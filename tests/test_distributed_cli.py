"""``convolve train --workers N``: relaunch under mpiexec, resume with another N, errors."""

import json
import subprocess
import sys

import numpy as np

from convolve import cli
from convolve.distributed import launch
from convolve.io import load_checkpoint
from test_distributed import ROOT, _env

COMMON = ["--model", "lenet5", "--data", "digits", "--limit", "60", "--batch-size", "16", "-q"]


def test_workers_checkpoint_resumes_with_another_world_size(mpiexec, tmp_path):
    """2 ranks for epoch 1, then 1 process for epoch 2 == 1 process for both epochs."""
    a, b = tmp_path / "a", tmp_path / "b"
    first = [sys.executable, "-m", "convolve.cli", "train", *COMMON, "--epochs", "1",
             "--workers", "2", "--out", str(a)]  # relaunches itself under mpiexec -n 2
    run = subprocess.run(first, capture_output=True, text=True, env=_env(), cwd=ROOT,
                         timeout=120, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    assert load_checkpoint(a / "last.safetensors")["extra"]["workers"] == 2
    # resume with 1 worker in this process (the relaunched ranks above ran under mpiexec)
    assert cli.main(["train", "--resume", str(a), "--epochs", "2", "-q"]) == 0
    assert cli.main(["train", *COMMON, "--epochs", "2", "--out", str(b)]) == 0  # uninterrupted
    got, ref = load_checkpoint(a / "last.safetensors"), load_checkpoint(b / "last.safetensors")
    assert got["epoch"] == 2 and "workers" not in got["extra"]
    for key, value in ref["model"].items():
        np.testing.assert_allclose(got["model"][key], value, rtol=1e-4, atol=1e-6, err_msg=key)
    logs = [json.loads(line) for line in (a / "log.jsonl").read_text().splitlines()]
    logs = [e for e in logs if "epoch" in e and "loss" in e]
    assert [e["epoch"] for e in logs] == [1, 2]  # rank 0 alone logs: no duplicate lines
    expected = [json.loads(line) for line in (b / "log.jsonl").read_text().splitlines()]
    expected = [e for e in expected if "epoch" in e and "loss" in e]
    np.testing.assert_allclose([e["loss"] for e in logs], [e["loss"] for e in expected],
                               rtol=1e-5)


def test_workers_without_the_extra_is_a_one_line_error(monkeypatch, capsys):
    monkeypatch.setattr(launch, "find_mpiexec", lambda: None)
    assert cli.main(["train", *COMMON, "--workers", "2"]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "pip install convolve[mpi]" in err and "--workers 2" in err


def test_workers_below_one_is_a_one_line_error(capsys):
    assert cli.main(["train", *COMMON, "--workers", "0"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == "convolve: error: --workers must be >= 1, received 0"


def test_relaunch_command_repeats_the_options():
    args = cli.build_parser().parse_args(["train", "--lr", "0.01", "--workers", "4", "-q"])
    cmd = launch.relaunch_command("/x/mpiexec", 4, args)
    assert cmd[:6] == ["/x/mpiexec", "-n", "4", sys.executable, "-m", "convolve.cli"]
    assert cmd[6] == "train" and "--workers" not in cmd
    assert cmd[cmd.index("--lr") + 1] == "0.01" and "--quiet" in cmd


def test_workers_must_match_the_ranks_of_a_launcher(monkeypatch, capsys):
    monkeypatch.setattr(launch._comm, "launched_under_mpi", lambda: True)
    monkeypatch.setattr(launch._comm, "init", lambda use_mpi=None: 3)
    assert cli.main(["train", *COMMON, "--workers", "2"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == ("convolve: error: --workers 2 but the MPI launcher started 3 ranks; "
                   "drop --workers or make them match")

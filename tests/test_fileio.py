"""Safe writes, tried as an attacker would: links and FIFOs planted at output paths, a full
disk, writers that crash, and processes killed with SIGKILL in the middle of a checkpoint."""

import errno
import os
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from convolve import _fileio
from convolve import io as cio
from convolve._fileio import UnsafeWriteError, atomic_write, open_append, remove_stale_temps
from convolve.cli import main


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _snapshot(folder) -> dict:
    """Every entry under ``folder`` with its kind, mode and bytes (links not followed)."""
    out = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            p = os.path.join(root, name)
            st = os.lstat(p)
            data = Path(p).read_bytes() if stat.S_ISREG(st.st_mode) else os.readlink(p) \
                if stat.S_ISLNK(st.st_mode) else None
            out[os.path.relpath(p, folder)] = (stat.S_IFMT(st.st_mode), st.st_mode & 0o777, data)
    return out


@pytest.fixture
def outside(tmp_path):
    """A sibling folder holding a file an attacker would like overwritten."""
    d = tmp_path / "outside"
    d.mkdir()
    (d / "precious.txt").write_text("do not touch\n")
    return d


def _temps(folder) -> list:
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


# ------------------------------------------------------------------------ the helper itself
def test_new_files_get_the_umask_mode_and_replacing_keeps_the_mode(tmp_path):
    path = atomic_write(tmp_path / "sub" / "a.bin", b"one")
    assert path.read_bytes() == b"one"
    assert path.stat().st_mode & 0o777 == 0o666 & ~_umask()  # 0644 under umask 022
    path.chmod(0o600)
    atomic_write(path, "two")
    assert path.read_text() == "two" and path.stat().st_mode & 0o777 == 0o600
    atomic_write(path, writer=lambda fh: fh.write(b"three"))
    assert path.read_bytes() == b"three" and _temps(path.parent) == []
    with pytest.raises(TypeError, match="exactly one"):
        atomic_write(path)


@pytest.mark.parametrize("kind", ["symlink", "dangling", "directory", "fifo"])
def test_refuses_links_and_special_files(tmp_path, outside, kind):
    path = tmp_path / "out.bin"
    if kind == "symlink":
        path.symlink_to(outside / "precious.txt")
    elif kind == "dangling":
        path.symlink_to(outside / "new.txt")
    elif kind == "directory":
        path.mkdir()
    else:
        os.mkfifo(path)
    before, mode = _snapshot(outside), os.lstat(path).st_mode
    for write in (lambda: atomic_write(path, b"evil"), lambda: open_append(path)):
        with pytest.raises(UnsafeWriteError) as info:
            write()
        msg = str(info.value)
        assert str(path) in msg and "\n" not in msg and "not a regular file" in msg
        assert isinstance(info.value, OSError)
    assert os.lstat(path).st_mode == mode  # the link / FIFO / folder is still there
    assert _snapshot(outside) == before and _temps(tmp_path) == []


def test_open_append_refuses_a_fifo_that_has_a_reader(tmp_path):
    """With a reader the FIFO opens without blocking; fstat then refuses it."""
    path = tmp_path / "log.jsonl"
    os.mkfifo(path)
    reader = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        with pytest.raises(UnsafeWriteError, match="FIFO"):
            open_append(path)
    finally:
        os.close(reader)


def test_open_append_is_race_free_against_a_link(tmp_path, outside, monkeypatch):
    """A link swapped in after the check is still not followed (O_NOFOLLOW)."""
    path = tmp_path / "log.jsonl"
    monkeypatch.setattr(_fileio, "check_destination", lambda p: None)
    path.symlink_to(outside / "precious.txt")
    with pytest.raises(UnsafeWriteError, match="symbolic link"):
        open_append(path)
    assert (outside / "precious.txt").read_text() == "do not touch\n"
    regular = tmp_path / "ok.jsonl"
    for line in ("a\n", "b\n"):
        with open_append(regular) as fh:
            fh.write(line)
    assert regular.read_text() == "a\nb\n"
    hard = tmp_path / "hard.jsonl"
    os.link(outside / "precious.txt", hard)  # a hard link: appending would change the target
    with pytest.raises(UnsafeWriteError, match="2 hard links"):
        open_append(hard)
    atomic_write(hard, b"replaced")  # a rename gives the name a new file; the target stays
    assert (outside / "precious.txt").read_text() == "do not touch\n"


def test_full_disk_removes_the_temp_file_and_keeps_the_old_file(tmp_path, monkeypatch):
    path = atomic_write(tmp_path / "c.bin", b"old")
    real = os.write

    def full(fd, data):
        real(fd, bytes(data[:3]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(OSError, match="No space left"):
        atomic_write(path, b"new and longer")
    monkeypatch.undo()
    assert path.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["c.bin"]


@pytest.mark.parametrize("error", [ValueError("bad data"), KeyboardInterrupt()])
def test_failing_writer_removes_the_temp_file(tmp_path, error):
    path = tmp_path / "c.bin"

    def writer(fh):
        fh.write(b"partial")
        raise error

    with pytest.raises(type(error)):
        atomic_write(path, writer=writer)
    assert list(tmp_path.iterdir()) == []


def test_remove_stale_temps_only_touches_our_temp_names(tmp_path, outside):
    stale = tmp_path / ".last.safetensors.0123456789ab.tmp"
    stale.write_bytes(b"half")
    keep = [tmp_path / ".last.safetensors.tmp", tmp_path / ".other.0123456789ab.tmp",
            tmp_path / "last.safetensors"]
    for k in keep:
        k.write_bytes(b"x")
    link = tmp_path / ".best.safetensors.0123456789ab.tmp"
    link.symlink_to(outside / "precious.txt")
    removed = remove_stale_temps(tmp_path, ["last.safetensors", "best.safetensors"])
    assert removed == [stale] and all(k.exists() for k in keep) and link.is_symlink()
    assert remove_stale_temps(tmp_path / "missing", ["x"]) == []


# ------------------------------------------------------------------ the command line, attacked
TRAIN = ["train", "--model", "mlp", "--data", "digits", "--limit", "120", "--epochs", "1",
         "--seed", "0", "-q"]


@pytest.mark.parametrize("planted", ["log.jsonl", "last.safetensors", "history.json"])
def test_symlink_planted_in_the_run_folder_is_refused(tmp_path, outside, capsys, planted):
    run = tmp_path / "run"
    run.mkdir()
    (run / planted).symlink_to(outside / "precious.txt")
    before = _snapshot(outside)
    assert main(TRAIN + ["--out", str(run)]) == 1  # a folder that seems to hold a run
    err = capsys.readouterr().err
    assert "already holds a run" in err and err.count("\n") == 1, err
    assert main(TRAIN + ["--out", str(run), "--overwrite"]) == 1  # and replacing it
    err = capsys.readouterr().err
    assert err.startswith("convolve: error: refusing to write") and err.count("\n") == 1, err
    assert str(run / planted) in err and "Traceback" not in err
    assert _snapshot(outside) == before
    assert (run / planted).is_symlink() and _temps(run) == []


def test_export_to_a_fifo_is_refused_without_hanging(tmp_path, outside):
    run = tmp_path / "run"
    assert main(TRAIN + ["--out", str(run)]) == 0
    fifo = tmp_path / "model.onnx"
    os.mkfifo(fifo)
    before = _snapshot(outside)
    res = subprocess.run([sys.executable, "-m", "convolve.cli", "export", str(run), str(fifo)],
                         capture_output=True, text=True, timeout=120, check=False,
                         env=dict(os.environ, PYTHONWARNINGS="ignore"))
    assert res.returncode == 1, res.stderr
    assert res.stderr.startswith("convolve: error: refusing to write") and \
        res.stderr.count("\n") == 1, res.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and _snapshot(outside) == before


KILLED_WRITER = textwrap.dedent("""
    import sys
    import numpy as np
    import convolve as cv
    from convolve import io as cio
    cv.manual_seed(0)
    model = cv.nn.Sequential(cv.nn.Linear(512, 1024), cv.nn.Linear(1024, 512))  # ~4 MB
    path, epoch = sys.argv[1], int(sys.argv[2])
    while True:
        epoch += 1
        for p in model.parameters():
            p.data[...] = epoch
        cio.save_checkpoint(path, model, epoch=epoch)
        print(epoch, flush=True)
""")


def test_kill_9_during_checkpoint_writes_keeps_a_loadable_checkpoint(tmp_path, outside):
    """SIGKILL at random moments of a checkpoint-writing loop: the file is always a whole
    checkpoint (old or new); resuming removes the temp files the killed writes left."""
    run = tmp_path / "run"
    path = run / "last.safetensors"
    before = _snapshot(outside)
    rng = np.random.default_rng(0)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    epoch = 0
    for _ in range(4):
        proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(path), str(epoch)],
                                stdout=subprocess.PIPE, text=True, env=env)
        assert proc.stdout.readline().strip()  # at least one checkpoint was completed
        time.sleep(float(rng.uniform(0.0, 0.15)))
        proc.kill()
        proc.wait(timeout=60)
        proc.stdout.close()
        ckpt = cio.load_checkpoint(path)
        assert ckpt["epoch"] > epoch
        epoch = ckpt["epoch"]
        assert all(np.all(v == epoch) for v in ckpt["model"].values())
        assert path.stat().st_mode & 0o777 == 0o666 & ~_umask()
    from convolve._train_run import resume_checkpoint

    assert resume_checkpoint(run)["epoch"] == epoch  # what `convolve train --resume` loads
    assert sorted(p.name for p in run.iterdir()) == ["last.safetensors"]
    assert _snapshot(outside) == before

"""The download catalog, locate() and `convolve datasets --download`. Entries used for
fetching are made from files the test writes (their hashes computed here) and served from
file:// mirrors: nothing touches the internet."""

from __future__ import annotations

import hashlib
import json
import os
import re

import pytest

from convolve.cli import main
from convolve.data import catalog
from convolve.data.catalog import Entry, FileSpec, locate
from convolve.data.cifar import CIFAR10
from convolve.data.idx import MNIST
from convolve.errors import DataError


def test_every_entry_is_well_formed():
    assert catalog.names() == ["mnist", "fashion-mnist", "kmnist", "cifar10", "cifar100"]
    for entry in catalog.CATALOG.values():
        assert entry.name == entry.name.lower() and entry.files and entry.mirrors
        names = [f.filename for f in entry.files]
        assert len(set(names)) == len(names)
        for spec in entry.files:
            assert re.fullmatch(r"[0-9a-f]{64}", spec.sha256), spec
            assert spec.size > 0 and "/" not in spec.filename
        for url in entry.mirrors:
            assert url.startswith("https://") and url.endswith("/"), url
        assert entry.homepage.startswith("https://") and entry.license and entry.description
        assert entry.train_size > 0 and entry.test_size > 0 and entry.num_classes > 1


def test_catalog_lookup_and_the_readers_use_its_hashes():
    mnist = {f.filename: f.sha256 for f in catalog.get("mnist").files}
    assert mnist == MNIST.resources
    assert catalog.get("cifar10").files[0].sha256 == CIFAR10.sha256
    assert catalog.get("CIFAR10") is catalog.get("cifar10")
    with pytest.raises(DataError, match="unknown downloadable dataset 'imagenet'; known: mnist"):
        catalog.get("imagenet")


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """A two-file dataset 'tiny' in the catalog, served from the folder tmp_path/mirror."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    blobs = {"a.gz": os.urandom(3000), "b.tar.gz": os.urandom(5000)}
    for name, data in blobs.items():
        (mirror / name).write_bytes(data)
    files = tuple(FileSpec(n, len(d), hashlib.sha256(d).hexdigest()) for n, d in blobs.items())
    entry = Entry("tiny", files, ("https://example.invalid/tiny/",), "a test dataset", "MIT",
                  "https://example.invalid/", (1, 2, 2), 2, 10, 5)
    monkeypatch.setitem(catalog.CATALOG, "tiny", entry)
    return mirror, blobs


def test_offline_error_names_files_folder_and_command(tmp_path, tiny, monkeypatch):
    monkeypatch.setenv("CONVOLVE_CACHE", str(tmp_path / "cache"))
    with pytest.raises(DataError) as info:
        locate("tiny")
    msg = str(info.value)
    assert "\n" not in msg
    assert "a.gz (3,000 bytes)" in msg and "b.tar.gz (5,000 bytes)" in msg
    assert str(tmp_path / "cache" / "tiny") in msg
    assert "`convolve datasets --download tiny`" in msg
    assert not (tmp_path / "cache").exists()  # looking creates nothing


def test_locate_downloads_then_finds_offline(tmp_path, tiny):
    mirror, blobs = tiny
    root = tmp_path / "cache"
    folder = locate("tiny", download=True, root=root, mirrors=[mirror.as_uri()],
                    progress=False)
    assert folder == root / "tiny"
    assert (root.stat().st_mode & 0o777) == 0o700 and (folder.stat().st_mode & 0o777) == 0o700
    for name, data in blobs.items():
        assert (folder / name).read_bytes() == data
    assert locate("tiny", root=root) == folder  # offline now
    with pytest.raises(DataError, match=re.escape("--cache " + str(tmp_path / "other"))):
        locate("tiny", root=tmp_path / "other")


def test_placed_files_are_hashed_once_and_checked(tmp_path, tiny):
    mirror, blobs = tiny
    folder = tmp_path / "cache" / "tiny"
    folder.mkdir(parents=True)
    for name, data in blobs.items():
        (folder / name).write_bytes(data)
    assert locate("tiny", root=tmp_path / "cache") == folder
    marker = json.loads((folder / ".verified.json").read_text())
    assert set(marker) == set(blobs)
    bad = bytearray(blobs["a.gz"])
    bad[0] ^= 1
    (folder / "a.gz").write_bytes(bytes(bad))
    os.utime(folder / "a.gz", ns=(1, 1))  # a new mtime: hashed again
    with pytest.raises(DataError, match=r"a\.gz \(3,000 bytes; the one there: wrong hash\)"):
        locate("tiny", root=tmp_path / "cache")
    locate("tiny", download=True, root=tmp_path / "cache", mirrors=[mirror.as_uri()])
    assert (folder / "a.gz").read_bytes() == blobs["a.gz"]  # replaced by a verified copy


def test_cli_download_then_locate(tmp_path, tiny, capsys):
    mirror, blobs = tiny
    cache = tmp_path / "cache"
    assert main(["datasets", "--download", "tiny", "--mirror", mirror.as_uri(),
                 "--cache", str(cache), "-q"]) == 0
    out = capsys.readouterr().out
    assert f"tiny: 2 file(s), 8,000 bytes, verified in {cache / 'tiny'}" in out
    assert locate("tiny", root=cache) == cache / "tiny"
    assert main(["datasets", "--json", "--cache", str(cache)]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    files = rows["tiny"]["download"]["files"]
    assert [(f["filename"], f["status"]) for f in files] == [("a.gz", "ok"), ("b.tar.gz", "ok")]
    assert files[0]["sha256"] == hashlib.sha256(blobs["a.gz"]).hexdigest()
    assert rows["tiny"]["available"] is True and rows["mnist"]["download"]["files"]
    assert main(["datasets", "--verify", "--cache", str(cache)]) == 0
    (cache / "tiny" / "b.tar.gz").write_bytes(bytes(5000))
    assert main(["datasets", "--verify", "--cache", str(cache)]) == 1
    assert re.search(r"tiny\s+2\s+8,000\s+1 wrong hash", capsys.readouterr().out)


def test_cli_download_failure_is_one_line(tmp_path, tiny, capsys):
    missing = (tmp_path / "nowhere").as_uri()
    assert main(["datasets", "--download", "tiny", "--mirror", missing,
                 "--cache", str(tmp_path / "c")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("convolve: error: could not download a.gz")
    assert missing in err
    assert os.listdir(tmp_path / "c" / "tiny") == []  # nothing received: no .part kept
    assert main(["datasets", "--download", "nope", "--cache", str(tmp_path / "c")]) == 1
    assert "unknown downloadable dataset 'nope'" in capsys.readouterr().err


def test_readme_download_table_matches_the_catalog():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| ([\w-]*) \| `([\w.-]+)` \| ([\d,]+) \| `([0-9a-f]{16})` \|$",
                      readme, flags=re.MULTILINE)
    expected, name = [], None
    for entry in catalog.CATALOG.values():
        for spec in entry.files:
            expected.append((entry.name, spec.filename, spec.size, spec.sha256[:16]))
    for dataset, filename, size, prefix in rows:
        name = dataset or name
        assert (name, filename, int(size.replace(",", "")), prefix) in expected
    assert len(rows) == len(expected)

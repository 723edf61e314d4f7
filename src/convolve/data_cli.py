"""``convolve datasets``: list the datasets, show what is in the cache, download and verify.

A plug-in of :mod:`convolve.cli` (listed in its ``PLUGIN_MODULES``)::

    convolve datasets                       # every dataset, then the downloads and their state
    convolve datasets --json                # the same as JSON, with every file's SHA-256
    convolve datasets --download mnist cifar10 [--mirror URL ...] [--cache DIR] [-q]
    convolve datasets --verify              # re-hash the files in the cache (status 1 if
                                            # one has the wrong size or hash)

``--mirror`` replaces the catalog's mirrors (tried in the order given, e.g. a ``file://``
folder on a machine without internet); ``--cache`` replaces the cache folder
(``$CONVOLVE_CACHE``, else ``$XDG_CACHE_HOME/convolve``, else ``~/.cache/convolve``).
"""

from __future__ import annotations

import json

from .cli import subcommand


@subcommand("datasets", "list the datasets convolve knows, what is downloaded, and download more")
def datasets_command(p):
    p.add_argument("--json", action="store_true", help="print the list as JSON")
    p.add_argument("--download", nargs="+", metavar="NAME",
                   help="fetch and verify these datasets into the cache (resumes a partial "
                        "download)")
    p.add_argument("--mirror", action="append", metavar="URL",
                   help="base URL to fetch from instead of the catalog's mirrors (repeatable; "
                        "https://, http:// or file://)")
    p.add_argument("--cache", metavar="DIR",
                   help="cache folder (default $CONVOLVE_CACHE, else $XDG_CACHE_HOME/convolve, "
                        "else ~/.cache/convolve)")
    p.add_argument("--verify", action="store_true",
                   help="re-hash the downloaded files instead of trusting the remembered hashes")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    return _run_datasets


def _run_datasets(args) -> int:
    from .data import catalog

    for name in args.download or ():
        folder = catalog.locate(name, download=True, root=args.cache, mirrors=args.mirror,
                                progress=False if args.quiet else None)
        entry = catalog.get(name)
        if not args.json:
            print(f"{entry.name}: {len(entry.files)} file(s), {entry.total_bytes:,} bytes, "
                  f"verified in {folder}")
    if args.download and not args.json and not args.verify:
        return 0
    rows = _rows(args.cache, args.verify)
    if args.json:
        print(json.dumps(rows))
    else:
        _print_table(rows, args.cache)
    return 1 if args.verify and _damaged(rows) else 0


def _damaged(rows) -> bool:
    """Whether a file is in the cache with the wrong size or hash (missing ones are not)."""
    return any(f["status"].startswith("wrong") for r in rows if "download" in r
               for f in r["download"]["files"])


def _download_info(entry, root, verify: bool) -> dict:
    from .data import catalog

    folder = catalog.dataset_folder(entry, root)
    files = [{"filename": f.filename, "size": f.size, "sha256": f.sha256,
              "status": catalog.file_status(folder, f, verify)} for f in entry.files]
    return {"folder": str(folder), "files": files, "mirrors": list(entry.mirrors),
            "license": entry.license, "homepage": entry.homepage}


def _rows(root, verify: bool) -> list:
    """One dict per dataset: the loadable ones, then the downloadable ones not among them."""
    from .data import available_datasets, catalog

    rows = [{"name": i.name, "shape": "x".join(map(str, i.sample_shape)),
             "classes": i.num_classes, "train": i.train_size, "test": i.test_size,
             "available": i.available, "source": i.source} for i in available_datasets()]
    known = {r["name"] for r in rows}
    for entry in catalog.CATALOG.values():
        if entry.name not in known:
            rows.append({"name": entry.name, "shape": "x".join(map(str, entry.sample_shape)),
                         "classes": entry.num_classes, "train": entry.train_size,
                         "test": entry.test_size, "available": False,
                         "source": _source(entry)})
    for row in rows:
        if row["name"] in catalog.CATALOG:
            row["download"] = _download_info(catalog.CATALOG[row["name"]], root, verify)
            row["available"] = _state(row) == "ok"
    return rows


def _source(entry) -> str:
    if len(entry.files) == 1:
        what = entry.files[0].filename
    elif all("-idx" in f.filename for f in entry.files):
        what = "IDX files"
    else:
        what = f"{len(entry.files)} files"
    return f"{what} (--download fetches)"


def _state(row) -> str:
    """'ok', '-' (not downloadable) or a summary like '2 missing, 1 wrong hash'."""
    if "download" not in row:
        return "-"
    counts: dict = {}
    for f in row["download"]["files"]:
        counts[f["status"]] = counts.get(f["status"], 0) + 1
    bad = {k: v for k, v in counts.items() if k != "ok"}
    return "ok" if not bad else ", ".join(f"{v} {k}" for k, v in sorted(bad.items()))


def _print_table(rows, root) -> None:
    from .data.download import cache_dir

    print(f"{'name':<15}{'shape':<10}{'classes':>8}{'train':>8}{'test':>7}  {'offline':<8}source")
    for r in rows:
        print(f"{r['name']:<15}{r['shape']:<10}{r['classes']:>8}{r['train']:>8}{r['test']:>7}  "
              f"{'yes' if r['available'] else 'no':<8}{r['source']}")
    print(f"\ndownloads (cache {root if root is not None else cache_dir()}; fetch with "
          f"`convolve datasets --download NAME`):")
    print(f"{'name':<15}{'files':>6}{'bytes':>14}  {'state':<28}folder")
    for r in rows:
        if "download" in r:
            info = r["download"]
            size = sum(f["size"] for f in info["files"])
            print(f"{r['name']:<15}{len(info['files']):>6}{size:>14,}  {_state(r):<27} "
                  f"{info['folder']}")
            for f in info["files"]:  # name each damaged file: what --verify exits 1 for
                if f["status"].startswith("wrong"):
                    print(f"{'':<15}  {f['filename']}: {f['status']}")

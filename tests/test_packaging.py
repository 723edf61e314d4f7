"""Packaging truths: LICENSE, py.typed, CHANGELOG, `python -m convolve`, the README's
dependency list against pyproject.toml, and one spelling per CLI flag across subcommands."""

import argparse
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from convolve import cli

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_license_matches_pyproject():
    assert PYPROJECT["project"]["license"]["text"] == "MIT"
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")


def test_py_typed_is_shipped():
    assert (ROOT / "src" / "convolve" / "py.typed").is_file()
    assert "py.typed" in PYPROJECT["tool"]["setuptools"]["package-data"]["convolve"]


def test_changelog_has_unreleased_and_first_release():
    text = (ROOT / "CHANGELOG.md").read_text()
    assert "## [Unreleased]" in text
    assert f"## [{PYPROJECT['project']['version']}]" in text


def test_python_dash_m_convolve():
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src") + os.pathsep
               + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-m", "convolve", "--version"], capture_output=True,
                         text=True, env=env, timeout=120, check=False)
    assert out.returncode == 0 and out.stdout.strip() == \
        f"convolve {PYPROJECT['project']['version']}"
    bad = subprocess.run([sys.executable, "-m", "convolve", "summary", "nope"],
                         capture_output=True, text=True, env=env, timeout=120, check=False)
    assert bad.returncode == 1 and bad.stderr.startswith("convolve: error: unknown model")


def _name(requirement: str) -> str:
    return re.split(r"[<>=\[ ]", requirement, maxsplit=1)[0].lower()


def test_readme_dependency_list_matches_pyproject():
    readme = (ROOT / "README.md").read_text()
    setup = readme[readme.index("## Set up"):readme.index("## LeNet-5")].lower()
    setup = " ".join(setup.split())
    aliases = {"pyyaml": "pyyaml", "scikit-learn": "scikit-learn", "torch": "torch==2.13.0"}
    for req in PYPROJECT["project"]["dependencies"]:
        assert _name(req) in setup, req
    for extra, reqs in PYPROJECT["project"]["optional-dependencies"].items():
        assert f"`{extra}`" in setup, extra
        for req in reqs:
            name = _name(req)
            if name == "convolve":
                continue
            assert aliases.get(name, name) in setup, (extra, req)


def _subcommands():
    parser = cli.build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices


def _visible_flags(sub) -> dict:
    return {s: a for a in sub._actions if a.help != argparse.SUPPRESS for s in a.option_strings}


@pytest.mark.parametrize("flag,commands", [
    ("--json", ["eval", "predict", "summary", "datasets"]),
    ("--threads", ["train", "eval", "predict", "compare"]),
    ("-q", ["train", "compare"]),
    ("--input", ["summary", "export"]),
    ("--memory-budget", ["train", "eval", "predict", "summary", "export", "compare"]),
])
def test_flags_are_consistent(flag, commands):
    subs = _subcommands()
    for name in commands:
        assert flag in _visible_flags(subs[name]), (name, flag)


def test_one_spelling_per_flag():
    seen = {}
    for name, sub in _subcommands().items():
        flags = _visible_flags(sub)
        assert "--input-shape" not in flags and "--shape" not in flags, name
        if "--quiet" in flags:
            assert "-q" in flags, name
        for flag, action in flags.items():
            seen.setdefault(action.dest, set()).add(flag if flag.startswith("--") else "")
    assert seen["input"] == {"--input"}


def test_old_spelling_still_accepted(tmp_path):
    parser = cli.build_parser()
    args = parser.parse_args(["export", "ckpt", "out.onnx", "--input-shape", "1x8x8"])
    assert args.input == "1x8x8"

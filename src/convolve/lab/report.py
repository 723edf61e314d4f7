"""Writing results: report.json, a self-contained report.html, and the terminal table.

Files go through :func:`convolve._fileio.atomic_write` (atomic, never through a link).
"""

from __future__ import annotations

import base64
import html
import json
import math
from pathlib import Path

import numpy as np

from .._fileio import atomic_write


# ------------------------------------------------------------------- JSON
def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return None if not math.isfinite(float(obj)) else float(obj)
    return obj


def write_json(result: dict, path) -> Path:
    return atomic_write(path, json.dumps(_jsonable(result), indent=2))


# ------------------------------------------------------------------- HTML
_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.8em}
table{border-collapse:collapse;margin:.8em 0;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f3f3f3}
img{max-width:100%;display:block;margin:.6em 0}
.v{padding:.3em .6em;margin:.3em 0;border-left:4px solid #999;background:#fafafa}
.supported,.replicated{border-color:#2a8a2a}.partly{border-color:#c8a000}
.not,.mixed,.contradicted{border-color:#c03030}.inconclusive{border-color:#888}
code{background:#f3f3f3;padding:0 .2em}small{color:#666}
"""


def esc(text) -> str:
    return html.escape(str(text))


def img(png: bytes, alt: str) -> str:
    """An <img> with the PNG embedded as a base64 data URI."""
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{esc(alt)}" src="data:image/png;base64,{data}">'


def table(head: list, rows: list) -> str:
    out = ["<table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in head) + "</tr>"]
    for r in rows:
        out.append("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>")
    return "".join(out) + "</table>"


def verdict_list(verdicts: list) -> str:
    parts = []
    for v in verdicts:
        cls = v["status"].split()[0]
        parts.append(f'<div class="v {esc(cls)}">{esc(v["text"])}</div>')
    return "".join(parts)


def paragraph(text: str) -> str:
    return f"<p>{esc(text)}</p>"


def html_page(title: str, sections: list) -> str:
    """A complete HTML document: a title, then one <h2> per (heading, body_html) section."""
    body = "".join(f'<section><h2>{esc(h)}</h2>{content}</section>' for h, content in sections)
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f"<title>{esc(title)}</title><style>{_CSS}</style></head>"
            f"<body><h1>{esc(title)}</h1>{body}</body></html>")


def write_html(title: str, sections: list, path) -> Path:
    return atomic_write(path, html_page(title, sections))


# ------------------------------------------------------------ formatting
def pct(p, digits: int = 1) -> str:
    return "n/a" if p is None else f"{100 * p:.{digits}f}%"


def rf_text(rf) -> str:
    return "n/a" if rf is None else "x".join(map(str, rf))


def print_table(title: str, head: list, rows: list, console=None) -> str:
    """Print a table with rich (plain text when rich is missing); return the text."""
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        widths = [max(len(str(c)) for c in col) for col in zip(head, *rows)]
        lines = [title] + ["  ".join(str(c).rjust(w) for c, w in zip(r, widths))
                           for r in [head] + rows]
        text = "\n".join(lines)
        print(text)
        return text
    t = Table(*head, title=title)
    for col in t.columns[1:]:
        col.justify = "right"
    for r in rows:
        t.add_row(*[str(c) for c in r])
    if console is None:
        console = Console()
        if not console.is_terminal:  # a pipe or a file: do not squeeze into 80 columns
            console = Console(width=140)
    with console.capture() as cap:
        console.print(t)
    text = cap.get()
    print(text, end="")
    return text

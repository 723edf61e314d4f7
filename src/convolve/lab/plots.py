"""The report's figures (matplotlib, Agg backend), each returned as PNG bytes."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from .. import grad_mode
from ..tensor import Tensor
from .models import LABELS, first_layer


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _label(name: str) -> str:
    return LABELS.get(name, name)


def learning_curves(histories: dict) -> bytes:
    """Training loss and validation accuracy per epoch (one seed), one line per model."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    for name, hist in histories.items():
        ep = [h["epoch"] for h in hist]
        a.plot(ep, [h["loss"] for h in hist], marker="o", ms=3, label=_label(name))
        has_val = bool(hist) and hist[0].get("val_accuracy") is not None
        b.plot(ep, [100 * h["accuracy"] for h in hist], ls="--", lw=1, alpha=0.6,
               label=None if has_val else _label(name))
        if has_val:
            b.plot(ep, [100 * h["val_accuracy"] for h in hist], marker="o", ms=3,
                   label=_label(name), color=b.lines[-1].get_color())
    a.set(xlabel="epoch", ylabel="training loss", yscale="log", title="Training loss")
    b.set(xlabel="epoch", ylabel="accuracy (%)",
          title="Validation accuracy (solid); running train accuracy (dashed)")
    a.legend(fontsize=8)
    b.legend(fontsize=8)
    return _png(fig)


def _err(summaries: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Means and the 95% interval's low/high, in percent (NaN where there is no interval)."""
    mean = np.array([100 * s["mean"] for s in summaries])
    lo = np.array([100 * (s["ci95"][0] if s["ci95"][0] is not None else np.nan)
                   for s in summaries])
    hi = np.array([100 * (s["ci95"][1] if s["ci95"][1] is not None else np.nan)
                   for s in summaries])
    return mean, lo, hi


def _curve(ax, xs, summaries, name) -> None:
    mean, lo, hi = _err(summaries)
    line, = ax.plot(xs, mean, marker="o", label=_label(name))
    if np.all(np.isfinite(lo)):
        ax.fill_between(xs, lo, hi, color=line.get_color(), alpha=0.2, lw=0)
        ax.errorbar(xs, mean, yerr=[mean - lo, hi - mean], fmt="none",
                    ecolor=line.get_color(), capsize=3, lw=1)


def shift_accuracy(models: dict) -> bytes:
    """Test accuracy against the shift in pixels: mean over seeds, band = 95% interval."""
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for name, m in models.items():
        acc = m["metrics"]["shift_accuracy"]
        ks = sorted(acc, key=int)
        _curve(ax, [int(k) for k in ks], [acc[k] for k in ks], name)
    ax.set(xlabel="shift (pixels, zero fill, mean of the directions)",
           ylabel="test accuracy (%)",
           title="Accuracy under translation (mean, 95% CI over seeds)")
    ax.set_xticks([int(k) for k in ks])
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _png(fig)


def size_accuracy(models: dict) -> bytes:
    """Test accuracy against the number of training samples (log x), with 95% bands."""
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    sizes = set()
    for name, m in models.items():
        se = m["metrics"].get("sample_efficiency") or {}
        ns = sorted(se, key=int)
        sizes |= {int(n) for n in ns}
        _curve(ax, [int(n) for n in ns], [se[n] for n in ns], name)
    ax.set(xscale="log", xlabel="training samples", ylabel="test accuracy (%)",
           title="Sample efficiency (mean, 95% CI over seeds)")
    ax.set_xticks(sorted(sizes), [str(n) for n in sorted(sizes)])
    ax.minorticks_off()
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    return _png(fig)


def parameter_growth(growth: dict) -> bytes:
    """Dense, locally-connected and conv parameter counts against image size (log-log)."""
    rows = growth["rows"]
    n = [r["n"] for r in rows]
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for key, label in (("dense", "dense"), ("locally_connected", "locally connected 5x5"),
                       ("conv", "conv 5x5")):
        ax.plot(n, [r[key] for r in rows], marker="o", label=label)
    ax.set(xscale="log", yscale="log", xlabel="image side n (input 3 x n x n)",
           ylabel="parameters", title=f"Parameters of one layer: {growth['setting']}")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    return _png(fig)


def _weight_images(model) -> tuple[list[np.ndarray], str]:
    """2-D (or 1-D) pictures of a model's first-layer weights, and a caption."""
    layer = next(m for m in first_layer(model) if "weight" in m._parameters)
    w = np.asarray(layer.weight.data)
    kind = type(layer).__name__
    if kind == "Linear":
        shape = getattr(model, "spec", {}).get("input_shape")
        imgs = [w[i].reshape(shape)[0] if shape and len(shape) == 3 else w[i]
                for i in range(min(8, len(w)))]  # colour input: its channel 0
        return imgs, "first-layer weights of 8 units, laid out like the input (channel 0)"
    if w.ndim == 6:  # locally connected (OH, OW, O, C, kH, kW): one output channel, 8 positions
        oh, ow = w.shape[:2]
        pos = [(i, j) for i in np.linspace(0, oh - 1, 3).astype(int)
               for j in np.linspace(0, ow - 1, 3).astype(int)][:8]
        return [w[i, j, 0, 0] for i, j in pos], \
            f"channel 0's 5x5 filter at {len(pos)} positions (unshared: all differ)"
    return [w[o, 0] for o in range(min(8, w.shape[0]))], "the filters (input channel 0)"


def filters(models: dict) -> bytes:
    """Each model's first-layer filters in one row."""
    rows = {name: _weight_images(m) for name, m in models.items()}
    cols = max(len(imgs) for imgs, _ in rows.values())
    fig, axes = plt.subplots(len(rows), cols, figsize=(1.3 * cols, 1.6 * len(rows)),
                             squeeze=False)
    for r, (name, (imgs, caption)) in enumerate(rows.items()):
        for c in range(cols):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c >= len(imgs):
                ax.axis("off")
                continue
            img = imgs[c]
            if img.ndim == 1:
                ax.plot(img)
            else:
                ax.imshow(img, cmap="RdBu_r", vmin=-abs(img).max(), vmax=abs(img).max())
        axes[r, 0].set_title(f"{_label(name)}: {caption}", fontsize=8, loc="left")
    fig.subplots_adjust(hspace=0.5)
    return _png(fig)


def feature_maps(models: dict, x: np.ndarray) -> bytes:
    """One input and each spatial model's first-layer feature maps for it."""
    spatial = {n: m for n, m in models.items()
               if type(list(first_layer(m))[-1]).__name__ != "Linear"}
    cols = 7  # the input, then up to 6 maps
    fig, axes = plt.subplots(1 + len(spatial), cols,
                             figsize=(1.4 * cols, 1.6 * (1 + len(spatial))), squeeze=False)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
        ax.axis("off")
    _show(axes[0, 0], x[0])
    axes[0, 0].set_title("input", fontsize=8)
    for r, (name, m) in enumerate(spatial.items(), start=1):
        m.eval()
        with grad_mode.no_grad():
            fmap = np.asarray(first_layer(m)(Tensor(x[None].astype(np.float32))).data)[0]
        for c in range(min(cols - 1, fmap.shape[0])):
            _show(axes[r, c + 1], fmap[c])
        axes[r, 1].set_title(f"{_label(name)}: first-layer maps", fontsize=8, loc="left")
    fig.subplots_adjust(hspace=0.5)
    return _png(fig)


def _show(ax, img: np.ndarray) -> None:
    ax.axis("on")
    if img.ndim == 1:
        ax.plot(img)
    else:
        ax.imshow(img, cmap="gray" if img.min() >= 0 else "RdBu_r")


def paper_bars(ours: dict, paper: dict) -> bytes:
    """MNIST-1D: our accuracies (mean, 95% CI over seeds) next to the paper's."""
    keys = [k for k in paper if k in ours]
    x = np.arange(len(keys))
    mean, lo, hi = _err([ours[k] for k in keys])
    fig, ax = plt.subplots(figsize=(7, 3.6))
    ax.bar(x - 0.2, [100 * paper[k] for k in keys], 0.4, label="paper (Greydanus 2020)")
    yerr = None if not np.all(np.isfinite(lo)) else [mean - lo, hi - mean]
    ax.bar(x + 0.2, mean, 0.4, yerr=yerr, capsize=3,
           label="convolve (mean, 95% CI over seeds)")
    ax.set_xticks(x, [k.replace(" ", "\n", 1) for k in keys], fontsize=8)
    ax.set(ylabel="test accuracy (%)", title="MNIST-1D", ylim=(0, 100))
    ax.legend(fontsize=8)
    return _png(fig)

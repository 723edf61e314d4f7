"""The pictures and tables of the training dashboard, computed with NumPy alone.

Small images become PNG data URLs (``data:image/png;base64,...``, encoded here with zlib:
no Pillow, and the page's CSP allows ``data:`` images): the first conv layer's filters
(blue-white-red around zero), the feature maps of every conv layer for one pinned input
(grey, one scale per layer), input images (grey or RGB). Also: which layers are conv
layers, per-layer weight and gradient norms, the confusion matrix and the most confidently
misclassified samples.
"""

from __future__ import annotations

import base64
import struct
import zlib

import numpy as np

__all__ = ["confusion", "conv_layers", "data_url", "feature_maps", "filter_tiles",
           "image_tile", "misclassified", "norms", "param_layers", "png"]

MAX_MAPS = 32      # feature maps shown per conv layer
MAX_WRONG = 8      # misclassified samples shown per epoch


def png(img: np.ndarray) -> bytes:
    """A PNG file of a uint8 image, (H, W) grey or (H, W, 3) RGB."""
    img = np.ascontiguousarray(img, dtype=np.uint8)
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] != 3):
        raise ValueError(f"png: expected an (H, W) or (H, W, 3) image, received {img.shape}")
    h, w = img.shape[:2]
    rows = img.reshape(h, -1)
    raw = np.concatenate([np.zeros((h, 1), np.uint8), rows], axis=1).tobytes()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    head = struct.pack(">IIBBBBB", w, h, 8, 2 if img.ndim == 3 else 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", head) + chunk(b"IDAT", zlib.compress(raw, 6))
            + chunk(b"IEND", b""))


def data_url(img: np.ndarray) -> str:
    return "data:image/png;base64," + base64.b64encode(png(img)).decode("ascii")


def _as_2d(a: np.ndarray) -> np.ndarray:
    """A 1-D signal as a one-row image; 2-D as is."""
    return a[None, :] if a.ndim == 1 else a


def _grey(a: np.ndarray, lo: float, hi: float) -> np.ndarray:
    scale = 255.0 / (hi - lo) if hi > lo else 0.0
    return np.clip((a - lo) * scale, 0, 255).astype(np.uint8)


def _diverging(a: np.ndarray) -> np.ndarray:
    """Blue (negative), white (0), red (positive), scaled by the largest magnitude."""
    m = float(np.abs(a).max()) or 1.0
    v = np.clip(a / m, -1.0, 1.0)[..., None]
    red, blue, white = (np.array(c, np.float64) for c in ((178, 24, 43), (33, 102, 172),
                                                          (247, 247, 247)))
    rgb = np.where(v >= 0, white + v * (red - white), white - v * (blue - white))
    return rgb.astype(np.uint8)


def image_tile(x: np.ndarray) -> str:
    """One input sample (C, H, W) or (C, L) as a data URL: grey for C=1, RGB for C=3."""
    x = np.asarray(x, np.float64)
    lo, hi = float(x.min()), float(x.max())
    if x.ndim == 3 and x.shape[0] == 3:
        return data_url(_grey(x.transpose(1, 2, 0), lo, hi))
    return data_url(_grey(_as_2d(x.mean(axis=0)), lo, hi))


def filter_tiles(weight: np.ndarray) -> list:
    """One data URL per output channel of a conv weight (O, C, kH, kW) or (O, C, k): RGB
    when C=3 (scaled together), else the mean over input channels, blue-white-red."""
    w = np.asarray(weight, np.float64)
    if w.ndim == 4 and w.shape[1] == 3:
        lo, hi = float(w.min()), float(w.max())
        return [data_url(_grey(f.transpose(1, 2, 0), lo, hi)) for f in w]
    return [data_url(_diverging(_as_2d(f.mean(axis=0)))) for f in w]


def feature_maps(maps: np.ndarray) -> list:
    """One grey data URL per channel of one layer's output (C, H, W) or (C, L) (the first
    MAX_MAPS), all on the layer's common scale so weak maps look weak."""
    maps = np.asarray(maps, np.float64)[:MAX_MAPS]
    lo, hi = float(maps.min()), float(maps.max())
    return [data_url(_grey(_as_2d(m), lo, hi)) for m in maps]


def conv_layers(model) -> list:
    """(name, module) of every convolution layer, in the order of ``named_modules``."""
    return [(f"{n} {type(m).__name__}".strip(), m) for n, m in model.named_modules()
            if type(m).__name__.startswith("Conv") and "weight" in m._parameters
            and m._parameters["weight"] is not None and m._parameters["weight"].data.ndim >= 3]


def param_layers(model) -> list:
    """(name, [parameters]) of every module that holds parameters itself."""
    out = []
    for n, m in model.named_modules():
        ps = [p for p in m._parameters.values() if p is not None]
        if ps:
            out.append((f"{n} {type(m).__name__}".strip(), ps))
    return out


def norms(layers: list) -> tuple:
    """Per layer: the L2 norm of its parameters and of their gradients (None when a
    layer has no gradient yet)."""
    weights, grads = [], []
    for _, ps in layers:
        weights.append(float(np.sqrt(sum(float(np.vdot(p.data, p.data)) for p in ps))))
        gs = [getattr(p.grad, "data", p.grad) for p in ps if p.grad is not None]
        grads.append(float(np.sqrt(sum(float(np.vdot(g, g)) for g in gs))) if gs else None)
    return weights, grads


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def confusion(labels: np.ndarray, preds: np.ndarray, classes: int) -> list:
    """rows: true class, columns: predicted class (counts)."""
    idx = labels.astype(np.int64) * classes + preds.astype(np.int64)
    return np.bincount(idx, minlength=classes * classes).reshape(classes, classes).tolist()


def misclassified(labels: np.ndarray, probs: np.ndarray, k: int = MAX_WRONG) -> list:
    """The ``k`` wrong predictions made with the highest probability, most confident first:
    [{"index", "label", "pred", "p"}]."""
    preds = probs.argmax(axis=1)
    wrong = np.flatnonzero(preds != labels)
    conf = probs[wrong, preds[wrong]]
    order = wrong[np.argsort(-conf, kind="stable")[:k]]
    return [{"index": int(i), "label": int(labels[i]), "pred": int(preds[i]),
             "p": float(probs[i, preds[i]])} for i in order]


def epoch_view(logits: np.ndarray, labels: np.ndarray) -> dict:
    """Confusion matrix and most confident mistakes of one evaluation."""
    logits = np.asarray(logits, np.float64)
    labels = np.asarray(labels)
    if labels.ndim == 2:
        labels = labels.argmax(axis=1)
    classes = max(int(logits.shape[1]), int(labels.max()) + 1 if len(labels) else 0)
    probs = softmax(logits)
    return {"confusion": confusion(labels, probs.argmax(axis=1), classes),
            "misclassified": misclassified(labels, probs)}

"""The verdicts on properties of the layers themselves (the same on every seed): sparsity
of connections and shift equivariance. Claims that compare trained models are decided by
paired differences over seeds (:mod:`convolve.lab.aggregate`, :mod:`convolve.lab.stats`).
Each verdict is a dict: claim, status ("supported" or "not supported"), text (one line).
"""

from __future__ import annotations


def _pct(p) -> str:
    return f"{100 * p:.1f}%"


def _verdict(claim: str, status: str, text: str) -> dict:
    return {"claim": claim, "status": status, "text": f"{claim}: {status} — {text}"}


def sparsity(models: dict) -> dict:
    """Sparsity: measured connections per first-layer output unit, CNN/LC against MLP."""
    c, m, lc = (models[k]["connections"] for k in ("cnn", "mlp", "lc"))
    text = (f"a first-layer unit of the CNN depends on {c['mean']:.0f} of {c['inputs']} inputs "
            f"({_pct(c['fraction'])}), the locally-connected net's on {lc['mean']:.0f}, the "
            f"MLP's on {m['mean']:.0f} ({_pct(m['fraction'])}) (measured by backward)")
    ok = c["mean"] < m["mean"] and lc["mean"] < m["mean"]
    return _verdict("Sparsity of connections", "supported" if ok else "not supported", text)


def equivariance(models: dict) -> dict:
    """The mechanism: the first conv layer commutes with shifts, the LC layer does not."""
    c, lc = models["cnn"]["equivariance"]["error"], models["lc"]["equivariance"]["error"]
    text = (f"first-layer equivariance error (shift 1 px, interior) CNN {c:.2e} vs locally "
            f"connected {lc:.2f}; the MLP's first layer has no spatial map (n/a)")
    return _verdict("Shift equivariance of the conv layer", "supported" if c < 1e-4 < lc
                    else "not supported", text)

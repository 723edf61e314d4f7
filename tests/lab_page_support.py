"""Shared by the lab page tests: a lab trained once per test process (digits, 2 epochs, a
few seconds; the models ``convolve lab`` trains, 10 epochs, when CONVOLVE_SCREENSHOTS is
set, so that the README's screenshots show the page as users see it), and small HTTP
helpers."""

import functools
import json
import os
import urllib.error
import urllib.request


@functools.lru_cache(maxsize=1)
def trained_state():
    from convolve.lab.data import load
    from convolve.live.lab import LabState, settings_for, train_models

    split, info = load("digits", 0)
    state = LabState(split, info)
    epochs = None if os.environ.get("CONVOLVE_SCREENSHOTS") else 2
    train_models(state, settings_for("digits", epochs=epochs), log=lambda msg: None)
    return state


def http(url, data=None, method=None, headers=None):
    """(status, headers, body bytes) of one request; errors are returned, not raised."""
    if isinstance(data, (dict, list)):
        data = json.dumps(data).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def get_json(url, data=None):
    status, _, body = http(url, data)
    assert status == 200, (status, body[:300])
    return json.loads(body)

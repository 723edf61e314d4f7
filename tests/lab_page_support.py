"""Shared by the lab page tests: a lab trained once per test process (digits, 2 epochs, a
few seconds), and small HTTP helpers.

CONVOLVE_LAB_DATA=mnist5k trains on that data instead, as ``convolve lab --data mnist5k``
does (its default epochs): the README's screenshots are made so, by the browser tests
(which do not depend on the data; the HTTP tests assume digits)."""

import functools
import json
import os
import urllib.error
import urllib.request


@functools.lru_cache(maxsize=1)
def trained_state():
    from convolve.lab.data import load
    from convolve.live.lab import LabState, settings_for, train_models

    data = os.environ.get("CONVOLVE_LAB_DATA") or "digits"
    split, info = load(data, 0)
    state = LabState(split, info)
    epochs = 2 if data == "digits" else None
    train_models(state, settings_for(data, epochs=epochs), log=lambda msg: None)
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

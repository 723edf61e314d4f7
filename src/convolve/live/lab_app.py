"""The lab page's HTTP routes (an :class:`~convolve.live.server.App` over a
:class:`~convolve.live.lab.LabState`), with strict input checks.

Endpoints (all JSON):

* ``GET /`` the page (``static/lab.html``; its script and style are ``/static/lab*``).
* ``GET /api/state`` ``status`` ("running", "finished" or "failed"), ``message``, ``ready``
  (models available), ``history`` (per model, one entry per epoch: epoch, loss, accuracy,
  val_loss, val_accuracy, lr, seconds; a non-finite value is null), ``models`` (label, params, epochs, test_accuracy).
* ``GET /api/models`` input shape, classes, test-set size, ``max_shift``, per-model facts.
* ``GET /api/test-image?index=N`` test image N (``pixels``, H x W lists, or C x H x W) and label.
* ``GET /api/shift-curve?index=N`` per model, the probability of test image N's label with
  the image shifted by each of -max_shift..max_shift pixels along x (``dx``) and y (``dy``).
* ``GET /api/params?n=32&c_in=3&c_out=6&k=5`` dense / locally-connected / conv parameter
  counts of the seed's example (:func:`convolve.lab.params.layer_formulas`).
* ``POST /api/predict`` ``{"pixels": [[...]]}`` or ``{"index": N}``, plus optional ``dx``,
  ``dy`` (ints, at most ``max_shift`` in size) and ``maps`` (bool): every ready model's
  class probabilities for the image shifted by (dy, dx) pixels (zero fill), and with
  ``maps`` the first-layer feature maps.

Bad input gets a JSON ``{"error": ...}``: 400 for a body that is not JSON or a query value
that is not an integer, 413 for a body over :data:`MAX_BODY` bytes, 422 for JSON of the wrong
shape, type or range, 503 while no model is trained yet.
"""

from __future__ import annotations

import json

import numpy as np

from ..lab.params import layer_formulas
from .lab import LabState
from .server import App, HTTPError, serve, static_file

MAX_BODY = 256 * 1024  # a 3 x 32 x 32 image as JSON is ~60 KiB
PREDICT_KEYS = {"pixels", "index", "dx", "dy", "maps"}
# /api/params bounds: (default, smallest, largest)
PARAM_BOUNDS = {"n": (32, 1, 100_000), "c_in": (3, 1, 4096), "c_out": (6, 1, 4096),
                "k": (5, 1, 1000)}


def _query_int(query: dict, key: str, default=None, low=None, high=None) -> int:
    text = query.get(key)
    if text is None:
        if default is None:
            raise HTTPError(400, f"missing query parameter {key!r}")
        return default
    try:
        value = int(text, 10)
    except ValueError:
        raise HTTPError(400, f"query parameter {key} must be an integer, received "
                             f"{text[:40]!r}") from None
    if (low is not None and value < low) or (high is not None and value > high):
        raise HTTPError(422, f"query parameter {key} must be in {low}..{high}, received {value}")
    return value


def _body(request) -> dict:
    try:
        value = json.loads(request.body.decode("utf-8"))
    except RecursionError:
        raise HTTPError(400, "request body is nested too deeply") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise HTTPError(400, f"request body is not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise HTTPError(422, f"expected a JSON object, received {type(value).__name__}")
    unknown = sorted(set(value) - PREDICT_KEYS)
    if unknown:
        raise HTTPError(422, f"unknown field(s) {', '.join(map(repr, unknown))}; expected "
                             f"{', '.join(sorted(PREDICT_KEYS))}")
    return value


def _int_field(body: dict, key: str, low: int, high: int, default=None) -> int:
    value = body.get(key, default)
    if value is None:
        raise HTTPError(422, f"missing field {key!r}")
    if isinstance(value, bool) or not isinstance(value, int):
        raise HTTPError(422, f"{key} must be an integer, received {json.dumps(value)[:40]}")
    if not low <= value <= high:
        raise HTTPError(422, f"{key} must be in {low}..{high}, received {value}")
    return value


def _pixels(value, shape: tuple) -> np.ndarray:
    """The posted image as (C, H, W) float32: H x W lists (one channel) or C x H x W,
    numbers only, finite and in [0, 1]."""
    c, h, w = shape
    wanted = f"{h} x {w} lists" + (f" or {c} x {h} x {w}" if c == 1 else f" ({c} x {h} x {w})")
    if not isinstance(value, list):
        raise HTTPError(422, f"pixels must be {wanted} of numbers, received "
                             f"{type(value).__name__}")
    try:
        x = np.array(value)
    except ValueError:  # ragged
        raise HTTPError(422, f"pixels must be {wanted} of numbers; the rows have different "
                             f"lengths") from None
    if x.dtype.kind not in "iuf":
        raise HTTPError(422, f"pixels must be {wanted} of numbers, received other values "
                             f"(dtype {x.dtype})")
    if x.shape == (h, w) and c == 1:
        x = x[None]
    if x.shape != (c, h, w):
        raise HTTPError(422, f"pixels must be {wanted}, received shape "
                             f"{' x '.join(map(str, x.shape)) or 'scalar'}")
    x = x.astype(np.float64)
    if not np.isfinite(x).all() or x.min() < 0.0 or x.max() > 1.0:
        raise HTTPError(422, f"pixels must be finite values in [0, 1], received values in "
                             f"[{x.min()}, {x.max()}]")
    return x.astype(np.float32)


def parse_predict(body: dict, state: LabState) -> dict:
    """The checked arguments of :meth:`LabState.predict` from a request body."""
    if ("pixels" in body) == ("index" in body):
        raise HTTPError(422, "give exactly one of 'pixels' (an image) and 'index' (a test "
                             "image)")
    n = len(state.y_test)
    if "index" in body:
        image = state.x_test[_int_field(body, "index", 0, n - 1)]
    else:
        image = _pixels(body["pixels"], state.shape)
    m = state.max_shift
    maps = body.get("maps", False)
    if not isinstance(maps, bool):
        raise HTTPError(422, f"maps must be true or false, received {json.dumps(maps)[:40]}")
    return {"image": image, "dx": _int_field(body, "dx", -m, m, 0),
            "dy": _int_field(body, "dy", -m, m, 0), "maps": maps}


def params_counts(query: dict) -> dict:
    """``/api/params``: the three layers' parameter counts for the query's sizes."""
    v = {k: _query_int(query, k, d, lo, hi) for k, (d, lo, hi) in PARAM_BOUNDS.items()}
    n, c_in, c_out, k = v["n"], v["c_in"], v["c_out"], v["k"]
    if k > n:
        raise HTTPError(422, f"kernel size k={k} is larger than the image size n={n}")
    counts = layer_formulas(n, c_in, c_out, k)
    m = n - k + 1
    return {**v, "input": [c_in, n, n], "output": [c_out, m, m], **counts,
            "ratio_dense_conv": counts["dense"] / counts["conv"],
            "formulas": {"dense": f"({c_in}*{n}*{n}) * ({c_out}*{m}*{m}) + {c_out}*{m}*{m}",
                         "locally_connected": f"({c_out}*{m}*{m}) * ({c_in}*{k}*{k}) + "
                                              f"{c_out}*{m}*{m}",
                         "conv": f"{c_out}*{c_in}*{k}*{k} + {c_out}"}}


def make_app(state: LabState) -> App:
    """The lab page's routes over ``state``."""
    app = App("convolve-lab")

    @app.route("GET", "/")
    def index(request):
        return static_file("lab.html")

    @app.route("GET", "/api/state")
    def api_state(request):
        return state.snapshot()

    @app.route("GET", "/api/models")
    def api_models(request):
        return state.describe()

    @app.route("GET", "/api/test-image")
    def api_test_image(request):
        return state.test_image(_query_int(request.query, "index", None, 0,
                                           len(state.y_test) - 1))

    @app.route("GET", "/api/shift-curve")
    def api_shift_curve(request):
        index = _query_int(request.query, "index", None, 0, len(state.y_test) - 1)
        if not state.models:
            raise HTTPError(503, f"no model is trained yet ({state.message})")
        return state.shift_curve(index)

    @app.route("GET", "/api/params")
    def api_params(request):
        return params_counts(request.query)

    @app.route("POST", "/api/predict")
    def api_predict(request):
        args = parse_predict(_body(request), state)
        if not state.models:
            raise HTTPError(503, f"no model is trained yet ({state.message}); try again "
                                 f"in a few seconds")
        return state.predict(**args)

    return app


def serve_lab(state: LabState, host: str = "127.0.0.1", port: int = 0):
    """Start the lab page over ``state``; returns the running :class:`Server`."""
    return serve(make_app(state), host, port, max_body=MAX_BODY)  # tests; the command: open_page

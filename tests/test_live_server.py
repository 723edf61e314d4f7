"""The HTTP server behind the live pages: routes, errors, limits, headers, SSE, shutdown."""

import json
import socket
import urllib.error
import urllib.request

import pytest

from convolve.live import App, EventStream, HTTPError, serve
from convolve.live.server import CSP


def _get(url, data=None, method=None):
    req = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


@pytest.fixture
def server():
    app = App("test")

    @app.route("GET", "/api/state")
    def state(req):
        return {"status": "running", "q": req.query}

    @app.route("POST", "/api/echo")
    def echo(req):
        value = req.json()
        if not isinstance(value, dict):
            raise HTTPError(422, f"expected a JSON object, received {type(value).__name__}")
        return value

    @app.route("GET", "/api/bug")
    def bug(req):
        raise ZeroDivisionError("division by zero\nsecond line")

    @app.route("GET", "/events")
    def events(req):
        return EventStream(lambda: iter([{"n": 1}, None, {"n": 2}]))

    with serve(app, max_body=1000) as s:
        yield s


def test_binds_loopback_on_a_free_port(server):
    assert server.host == "127.0.0.1" and server.port > 0
    assert server.url == f"http://127.0.0.1:{server.port}/"


def test_json_route_and_security_headers(server):
    status, headers, body = _get(server.url + "api/state?x=1")
    assert status == 200 and json.loads(body) == {"status": "running", "q": {"x": "1"}}
    assert headers["Content-Security-Policy"] == CSP
    assert "script-src 'self'" in CSP and "unsafe-inline" not in CSP
    assert headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("path,method,data,status", [
    ("nope", "GET", None, 404),
    ("api/state", "POST", b"{}", 405),
    ("api/echo", "POST", b"{not json", 400),
    ("api/echo", "POST", b"[1, 2]", 422),
    ("api/echo", "POST", b"x" * 1001, 413),
    ("static/../server.py", "GET", None, 404),
    ("static/.hidden", "GET", None, 404),
    ("api/bug", "GET", None, 500),
])
def test_bad_requests_get_a_json_error(server, path, method, data, status):
    got, _headers, body = _get(server.url + path, data, method)
    assert got == status
    message = json.loads(body)["error"]
    assert isinstance(message, str) and message and "\n" not in message


def test_server_sent_events(server):
    status, headers, body = _get(server.url + "events")
    assert status == 200 and headers["Content-Type"] == "text/event-stream"
    assert body == b'data: {"n": 1}\n\n: keep-alive\n\ndata: {"n": 2}\n\n'


def test_close_frees_the_port():
    app = App()
    s = serve(app)
    port = s.port
    s.close()
    s.close()  # idempotent
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_bad_port_is_refused():
    with pytest.raises(ValueError, match="port must be in 0..65535"):
        serve(App(), port=70000)


def test_a_kept_alive_connection_is_not_served_after_close():
    import http.client

    app = App()
    app.route("GET", "/x")(lambda req: {"ok": True})
    s = serve(app)
    conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=5)
    conn.request("GET", "/x")
    first = conn.getresponse()
    assert first.status == 200 and json.loads(first.read()) == {"ok": True}
    s.close()
    try:
        conn.request("GET", "/x")
        second = conn.getresponse()
        status = second.status
    except (ConnectionError, http.client.HTTPException, OSError):
        status = None  # the connection was closed: also not served
    assert status in (None, 503)
    conn.close()

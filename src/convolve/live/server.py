"""The one HTTP server behind convolve's pages, on the standard library only.

An :class:`App` maps ``(method, path)`` to a handler ``handler(request) -> Response``
(or any JSON-serialisable value, or an :class:`EventStream` for Server-Sent Events).
:func:`serve` starts it on a daemon thread and returns a :class:`Server` with its ``url``;
port 0 picks a free port. Every response carries a strict Content-Security-Policy (scripts,
styles and connections from this origin only: pages load their JavaScript from
``/static/``, never inline) and ``X-Content-Type-Options: nosniff``. Request bodies are
bounded (``max_body``, 413 beyond it); a handler reports bad input by raising
:class:`HTTPError`, which becomes a JSON ``{"error": "..."}`` with that status. Any other
exception in a handler is a 500 with a one-line message (no traceback leaks to the page).
"""

from __future__ import annotations

import json
import mimetypes
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import parse_qs, urlsplit

__all__ = [
    "CSP",
    "LOOPBACK",
    "App",
    "EventStream",
    "HTTPError",
    "Request",
    "Response",
    "Server",
    "check_port",
    "open_page",
    "serve",
    "static_file",
]

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
       "form-action 'self'")
MAX_BODY = 1 << 20  # 1 MiB: the largest request body any page sends
LOOPBACK = ("127.0.0.1", "localhost", "::1")


class HTTPError(Exception):
    """Raised by a handler: answered as ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = int(status)


@dataclass
class Request:
    """What a handler sees: method, path, query (first value per key), raw body bytes."""

    method: str
    path: str
    query: dict
    body: bytes = b""
    headers: dict = field(default_factory=dict)

    def json(self):
        """The body parsed as JSON; HTTPError 400 when it is not."""
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise HTTPError(400, f"request body is not valid JSON ({exc})") from None


@dataclass
class Response:
    body: bytes
    content_type: str = "application/json"
    status: int = 200
    headers: dict = field(default_factory=dict)

    @classmethod
    def json(cls, value, status: int = 200) -> Response:
        return cls(json.dumps(value, allow_nan=False).encode(), "application/json", status)


@dataclass
class EventStream:
    """Server-Sent Events: ``events()`` yields JSON-serialisable values (each sent as one
    ``data:`` line) or None (a keep-alive comment); the stream ends with the generator, when
    the client goes away, or when the server stops."""

    events: object  # callable () -> iterator


def static_file(name: str) -> Response:
    """A file shipped in ``convolve/live/static``; 404 for anything else (no path walking)."""
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise HTTPError(404, f"no such file: {name!r}")
    ref = resources.files("convolve.live").joinpath("static", name)
    if not ref.is_file():
        raise HTTPError(404, f"no such file: {name!r}")
    kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if kind.startswith("text/") or kind.endswith("javascript"):
        kind += "; charset=utf-8"
    return Response(ref.read_bytes(), kind)


class App:
    """Routes: ``app.route("GET", "/api/state")(handler)``; ``/static/<name>`` is built in."""

    def __init__(self, name: str = "convolve"):
        self.name = name
        self.routes: dict = {}
        self.stopping = threading.Event()

    def route(self, method: str, path: str):
        def deco(handler):
            self.routes[(method.upper(), path)] = handler
            return handler
        return deco

    def dispatch(self, request: Request):
        get = request.method in ("GET", "HEAD")  # HEAD: GET's headers, no body
        if get and request.path.startswith("/static/"):
            return static_file(request.path[len("/static/"):])
        handler = self.routes.get((request.method, request.path)) or (
            self.routes.get(("GET", request.path)) if request.method == "HEAD" else None)
        if handler is None:
            if any(p == request.path for _, p in self.routes):
                raise HTTPError(405, f"{request.method} is not allowed on {request.path}")
            raise HTTPError(404, f"no such page: {request.path}")
        return handler(request)


class _Handler(BaseHTTPRequestHandler):
    server_version = "convolve"
    protocol_version = "HTTP/1.1"
    timeout = 60  # seconds a socket read or write may stall: a silent client's thread ends

    def log_message(self, fmt, *args):  # quiet: the terminal belongs to the training
        pass

    def _headers(self, status: int, content_type: str, length=None, extra=None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cache-Control", "no-store")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        if length is not None:
            self.send_header("Content-Length", str(length))
        self.end_headers()

    def _send(self, response: Response) -> None:
        if self.server.app.stopping.is_set() or self.close_connection:
            response.headers = {**response.headers, "Connection": "close"}
            self.close_connection = True
        self._headers(response.status, response.content_type, len(response.body),
                      response.headers)
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def _request(self) -> Request:
        parts = urlsplit(self.path)
        length = self.headers.get("Content-Length", "0") or "0"
        if self.headers.get("Transfer-Encoding") is not None:
            self.close_connection = True  # the body is left unread: never parse it as a request
            raise HTTPError(411, "Transfer-Encoding is not supported; send a Content-Length")
        if not (length.isascii() and length.isdigit()):
            self.close_connection = True
            raise HTTPError(400, f"bad Content-Length {length!r}")
        if int(length) > self.server.max_body:
            self.close_connection = True
            raise HTTPError(413, f"request body of {int(length)} bytes is over the limit of "
                                 f"{self.server.max_body} bytes")
        body = self.rfile.read(int(length)) if int(length) else b""
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        return Request(self.command, parts.path, query, body, dict(self.headers))

    def _handle(self) -> None:
        if self.server.app.stopping.is_set():  # a kept-alive connection after close()
            self.close_connection = True
            return self._send(Response.json({"error": "the server is shutting down"}, 503))
        try:
            result = self.server.app.dispatch(self._request())
        except HTTPError as exc:
            result = Response.json({"error": str(exc)}, exc.status)
        except Exception as exc:  # noqa: BLE001 - a handler bug: one line, no traceback leaks
            msg = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
            result = Response.json({"error": f"internal error: {msg}"}, 500)
        if isinstance(result, EventStream):
            if self.command == "HEAD":
                self.close_connection = True
                return self._headers(200, "text/event-stream", extra={"Connection": "close"})
            return self._stream(result)
        if not isinstance(result, Response):
            result = Response.json(result)
        self._send(result)

    def _stream(self, stream: EventStream) -> None:
        self._headers(200, "text/event-stream", extra={"Connection": "close"})
        self.close_connection = True
        try:
            for item in stream.events():
                if self.server.app.stopping.is_set():
                    break
                line = ": keep-alive" if item is None else \
                    "data: " + json.dumps(item, allow_nan=False)
                self.wfile.write(line.encode() + b"\n\n")
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            pass

    do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = _handle


class Server:
    """A running app: ``url``, ``port``, ``host``; :meth:`close` stops it (idempotent)."""

    def __init__(self, app: App, httpd: ThreadingHTTPServer, thread: threading.Thread):
        self.app, self._httpd, self._thread = app, httpd, thread
        self.host, self.port = httpd.server_address[:2]
        shown = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        self.url = f"http://{shown}:{self.port}/"

    def close(self, timeout: float = 5.0) -> None:
        if self.app.stopping.is_set():
            return
        self.app.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout)

    def wait(self) -> None:
        """Block until Ctrl-C (KeyboardInterrupt), then close."""
        try:
            while self._thread.is_alive():
                time.sleep(0.2)
        finally:
            self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def serve(app: App, host: str = "127.0.0.1", port: int = 0, max_body: int = MAX_BODY) -> Server:
    """Start ``app`` on ``host:port`` (0: a free port) in a daemon thread."""
    if not 0 <= int(port) <= 65535:
        raise ValueError(f"port must be in 0..65535, received {port}")
    try:
        httpd = ThreadingHTTPServer((host, int(port)), _Handler)
    except OSError as exc:
        raise OSError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    httpd.daemon_threads = True
    httpd.app, httpd.max_body = app, int(max_body)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              name=f"{app.name}-http", daemon=True)
    thread.start()
    return Server(app, httpd, thread)


def check_port(port: int, who: str = "--port") -> None:
    """A ValueError naming ``who`` unless ``port`` is in 0..65535 (0: a free one)."""
    if not 0 <= int(port) <= 65535:
        raise ValueError(f"{who} must be in 0..65535, received {port}")


def open_page(app: App, host: str, port: int, what: str, stream=None,
              max_body: int = MAX_BODY) -> Server:
    """Serve ``app`` and say where, the one way every page does, on ``stream`` (stderr): a
    warning when ``host`` is not a loopback address, then ``convolve: WHAT at URL``."""
    import sys

    check_port(port)
    stream = stream or sys.stderr
    if host not in LOOPBACK:
        print(f"convolve: warning: --host {host}: the {what} is reachable from the network, "
              f"without any authentication (anyone who can reach this machine can use it); "
              f"use 127.0.0.1 to keep it local", file=stream, flush=True)
    server = serve(app, host, port, max_body)
    print(f"convolve: {what} at {server.url}", file=stream, flush=True)
    return server

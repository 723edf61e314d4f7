"""Local web pages for convolve: the live training dashboard and the interactive lab.

Everything here runs on the standard library's HTTP server (:mod:`convolve.live.server`),
binds 127.0.0.1 unless told otherwise, and serves only files shipped in the package
(``convolve/live/static``): no CDN, no third-party JavaScript.
"""

from .server import App, EventStream, HTTPError, Request, Response, Server, serve

__all__ = ["App", "EventStream", "HTTPError", "Request", "Response", "Server", "serve"]

"""A misbehaving HTTP server on 127.0.0.1: each path is a fault an outlet can commit."""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

Route = Callable[[BaseHTTPRequestHandler], None]


def send(h: BaseHTTPRequestHandler, status: int, body: bytes = b"",
         ctype: str = "text/html; charset=utf-8", headers: dict[str, str] | None = None) -> None:
    h.send_response(status)
    h.send_header("Content-Type", ctype)
    h.send_header("Content-Length", str(len(body)))
    for k, v in (headers or {}).items():
        h.send_header(k, v)
    h.end_headers()
    if body:
        h.wfile.write(body)


class FaultServer:
    def __init__(self, routes: dict[str, Route]) -> None:
        self.routes = routes
        self.hits: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()   # most requests in flight at once, per Host
        self._inflight: Counter[str] = Counter()
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            # A request counts as in flight from its arrival until its status line is sent:
            # the client cannot have finished before that, so the count never overstates
            # what the client had open (counting until the handler returns would).
            _host: str | None = None

            def _arrived(self) -> None:
                self._host = self.headers.get("Host", "")
                with server._lock:
                    server._inflight[self._host] += 1
                    server.peak[self._host] = max(server.peak[self._host],
                                                  server._inflight[self._host])

            def _answered(self) -> None:
                if self._host is not None:
                    with server._lock:
                        server._inflight[self._host] -= 1
                    self._host = None

            def send_response(self, code: int, message: str | None = None) -> None:
                self._answered()
                super().send_response(code, message)

            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                server.hits[path] += 1
                self._arrived()
                try:
                    route = server.routes.get(path)
                    if route is None:
                        send(self, 404, b"not found")
                    else:
                        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                            route(self)
                finally:
                    self._answered()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def __enter__(self) -> FaultServer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def slow(seconds: float) -> Route:
    def route(h: BaseHTTPRequestHandler) -> None:
        time.sleep(seconds)
        send(h, 200, b"<html>late</html>")
    return route

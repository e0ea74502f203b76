"""A static replica of news outlets on 127.0.0.1, for the demo and the tests.

Files under `site/` are served as they are, except that `{{BASE}}` becomes the server's base
URL, so feeds can carry absolute links. Query strings are ignored (as many real sites do),
which lets a feed announce one article at URLs differing only by tracking parameters. Every
file carries an ETag and a matching If-None-Match is answered 304, as real outlets do.
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

SITE = Path(__file__).resolve().parent / "site"
TYPES = {".html": "text/html; charset=utf-8", ".xml": "application/xml; charset=utf-8",
         ".txt": "text/plain; charset=utf-8"}


class ReplicaServer:
    """`with ReplicaServer() as srv:` serves SITE at `srv.base_url`; `srv.hits` counts paths."""

    def __init__(self, site: Path = SITE, host: str = "127.0.0.1", port: int = 0) -> None:
        self.site = site
        self.hits: Counter[str] = Counter()
        replica = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = urlsplit(self.path).path
                replica.hits[path] += 1
                target = (replica.site / path.lstrip("/")).resolve()
                if not target.is_file() or replica.site.resolve() not in target.parents:
                    self.send_error(404, "Not Found")
                    return
                body = target.read_bytes().replace(b"{{BASE}}", replica.base_url.encode())
                etag = f'"{hashlib.sha1(body).hexdigest()[:16]}"'
                if self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("ETag", etag)
                self.send_header("Content-Type",
                                 TYPES.get(target.suffix, "application/octet-stream"))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.base_url = f"http://{host}:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> ReplicaServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> ReplicaServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def article_hits(self) -> int:
        """Requests for article pages (not feeds)."""
        return sum(n for path, n in self.hits.items() if path.endswith(".html"))


def demo_config(base_url: str) -> str:
    """A sources.toml for the replica's outlets."""
    template = (Path(__file__).resolve().parent / "demo_sources.toml").read_text("utf-8")
    return template.replace("{{BASE}}", base_url)

"""A static replica of news outlets on 127.0.0.1, for the demo and the tests.

Files under `site/` are served as they are, except that `{{BASE}}` becomes the server's base
URL, so feeds can carry absolute links. Query strings are ignored (as many real sites do),
which lets a feed announce one article at URLs differing only by tracking parameters. Every
file carries an ETag and a Last-Modified date (its mtime); a matching If-None-Match, or
failing that an If-Modified-Since not older than the file, is answered 304, as real outlets
do (RFC 9110 13.2.2). `validators` chooses which of the two headers the server sends, to
stand for outlets that give only one.

The replica's pages and feeds state dates up to AS_OF. The tests serve them as written; the
demo serves every date `shift_days` later (`days_to_today()`), so that AS_OF is yesterday
whatever day the demo runs, and the outlets do not look as if they had "gone quiet"
(`outlet_activity`) only because the replica has aged.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime, formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

SITE = Path(__file__).resolve().parent / "site"
TYPES = {".html": "text/html; charset=utf-8", ".xml": "application/xml; charset=utf-8",
         ".txt": "text/plain; charset=utf-8"}
AS_OF = date(2026, 11, 24)   # the newest date the replica states (a reader's comment)
_RFC822_DATE = re.compile(
    rb"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov"
    rb"|Dec) \d{4} \d{2}:\d{2}:\d{2} [+-]\d{4}")
_ISO_DATE = re.compile(rb"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")


def days_to_today(today: date | None = None) -> int:
    """How many days later the replica's dates must be served for AS_OF to be yesterday."""
    return max(0, ((today or datetime.now(UTC).date()) - AS_OF).days - 1)


def shift_dates(body: bytes, days: int) -> bytes:
    """The body with every RFC 822 date (RSS) and ISO 8601 date (Atom, sitemaps, meta tags,
    JSON-LD) `days` later; times and UTC offsets are kept."""
    if not days:
        return body

    def rfc822(m: re.Match[bytes]) -> bytes:
        moved = parsedate_to_datetime(m.group().decode()) + timedelta(days=days)
        return format_datetime(moved).encode()

    def iso(m: re.Match[bytes]) -> bytes:
        try:
            day = date(*(int(g) for g in m.groups()))
        except ValueError:   # not a date (a number that looks like one)
            return m.group()
        return (day + timedelta(days=days)).isoformat().encode()

    return _ISO_DATE.sub(iso, _RFC822_DATE.sub(rfc822, body))


class ReplicaServer:
    """`with ReplicaServer() as srv:` serves SITE at `srv.base_url`; `srv.hits` counts paths,
    `srv.not_modified` the 304s answered per path."""

    def __init__(self, site: Path = SITE, host: str = "127.0.0.1", port: int = 0,
                 validators: tuple[str, ...] = ("etag", "last-modified"),
                 shift_days: int = 0) -> None:
        self.site = site
        self.hits: Counter[str] = Counter()
        self.not_modified: Counter[str] = Counter()
        replica = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = urlsplit(self.path).path
                replica.hits[path] += 1
                target = (replica.site / path.lstrip("/")).resolve()
                if not target.is_file() or replica.site.resolve() not in target.parents:
                    self.send_error(404, "Not Found")
                    return
                body = shift_dates(target.read_bytes(), shift_days).replace(
                    b"{{BASE}}", replica.base_url.encode())
                etag = f'"{hashlib.sha1(body).hexdigest()[:16]}"'
                mtime = int(target.stat().st_mtime)
                headers = {}
                if "etag" in validators:
                    headers["ETag"] = etag
                if "last-modified" in validators:
                    headers["Last-Modified"] = formatdate(mtime, usegmt=True)
                if self._not_modified(etag if "etag" in validators else None,
                                      mtime if "last-modified" in validators else None):
                    replica.not_modified[path] += 1
                    self.send_response(304)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    return
                self.send_response(200)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type",
                                 TYPES.get(target.suffix, "application/octet-stream"))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _not_modified(self, etag: str | None, mtime: int | None) -> bool:
                if "If-None-Match" in self.headers:   # takes precedence when sent
                    return etag is not None and self.headers["If-None-Match"] == etag
                since = self.headers.get("If-Modified-Since")
                if since is None or mtime is None:
                    return False
                try:
                    return mtime <= parsedate_to_datetime(since).timestamp()
                except (TypeError, ValueError):
                    return False

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

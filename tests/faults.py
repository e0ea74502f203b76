"""The faults an outlet can commit, as routes of a FaultServer, plus small servers for the
faults a route cannot express (a port that never accepts)."""

from __future__ import annotations

import gzip
import re
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler

from flows.replica.server import SITE
from tests.faultserver import Route, send

RU_PAGE = (SITE / "asiaplus-ru" / "news" /
           "patent-dlya-migrantov-v-moskve-podorozhaet-do-9800-rubley.html").read_text("utf-8")
TG_PAGE = (SITE / "ozodi" / "a" / "dar-khujand-markazi-omuzishi-kasbii-muhojiron-kushoda-shud.html"
           ).read_text("utf-8")
RU_PHRASE = "Стоимость патента"
TG_PHRASE = "муҳоҷирон"
BOMB = gzip.compress(b"\0" * 30_000_000, compresslevel=9)


def article_html(template: str, charset: str = "utf-8") -> str:
    """A replica article without its own canonical URL (so each fault page is its own URL),
    its <meta charset> set to `charset`."""
    html = re.sub(r'<link rel="canonical"[^>]*>|<meta property="og:url"[^>]*>', "", template)
    return html.replace('<meta charset="utf-8" />', f'<meta charset="{charset}" />')


def rss(base: str, *links: str) -> bytes:
    items = "".join(f"<item><title>{link}</title><link>{base}{link}</link></item>"
                    for link in links)
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>t</title>{items}</channel></rss>").encode()


def etag_feed(body: bytes, not_modified: list[str], etag: str = '"feed-v1"') -> Route:
    """A feed with an ETag that answers 304 to a request carrying it (noted in
    `not_modified`)."""
    def route(h: BaseHTTPRequestHandler) -> None:
        if h.headers.get("If-None-Match") == etag:
            not_modified.append(h.path)
            send(h, 304, headers={"ETag": etag})
        else:
            send(h, 200, body, "application/rss+xml", headers={"ETag": etag})
    return route


def drip(h: BaseHTTPRequestHandler) -> None:
    """Headers at once, then one byte every 0.2 s for ever: only a deadline stops it."""
    h.send_response(200)
    h.send_header("Content-Type", "text/html")
    h.end_headers()
    for _ in range(600):
        h.wfile.write(b"x")
        h.wfile.flush()
        time.sleep(0.2)


def endless(h: BaseHTTPRequestHandler) -> None:
    h.send_response(200)
    h.send_header("Content-Type", "text/html")
    h.end_headers()
    chunk = b"<p>" + b"y" * 65_533
    for _ in range(100_000):
        h.wfile.write(chunk)


def fifty_mb(h: BaseHTTPRequestHandler) -> None:
    h.send_response(200)
    h.send_header("Content-Type", "text/html")
    h.send_header("Content-Length", str(50 * 1024 * 1024))
    h.end_headers()
    chunk = b"z" * 1_048_576
    for _ in range(50):
        h.wfile.write(chunk)


def bomb(h: BaseHTTPRequestHandler) -> None:
    send(h, 200, BOMB, headers={"Content-Encoding": "gzip"})


def sleepy(seconds: float) -> Route:
    def route(h: BaseHTTPRequestHandler) -> None:
        time.sleep(seconds)
        send(h, 200, article_html(RU_PAGE).encode())
    return route


def redirect(location: str) -> Route:
    return lambda h: send(h, 302, headers={"Location": location})


def encoded(template: str, charset: str, declare: str) -> Route:
    """An article in `charset`, declared in the header, in <meta>, or nowhere."""
    html = article_html(template, charset)
    if declare != "meta":
        html = html.replace(f'<meta charset="{charset}" />', "")
    body = html.encode(charset, errors="xmlcharrefreplace")  # as legacy CMSes do
    ctype = f"text/html; charset={charset}" if declare == "header" else "text/html"
    return lambda h: send(h, 200, body, ctype=ctype)


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<rss version="2.0"><channel><title>&xxe;</title>
<item><title>x</title><link>http://example.org/&xxe;</link></item></channel></rss>"""
LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>
<rss version="2.0"><channel><title>&lol4;</title>
<item><title>&lol4;</title><link>http://example.org/a</link></item></channel></rss>"""
MALFORMED = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>broken</title>
<item><title>unclosed <link>http://example.org/a</wrong></channel>"""


@contextmanager
def blackhole() -> Iterator[int]:
    """A port whose accept queue is full: connecting to it hangs until the connect timeout."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    for _ in range(4):
        c = socket.socket()
        c.setblocking(False)
        with suppress(BlockingIOError):
            c.connect(("127.0.0.1", port))
        fillers.append(c)
    try:
        yield port
    finally:
        for c in fillers:
            c.close()
        server.close()

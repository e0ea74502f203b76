"""The faults an outlet can commit, as routes of a FaultServer, plus small servers for the
faults a route cannot express (a port that never accepts)."""

from __future__ import annotations

import gzip
import re
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator
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


def header_drip(h: BaseHTTPRequestHandler) -> None:
    """The status line and headers one byte every 0.2 s (a minute of them), then a page: each
    byte restarts a read timeout, so only a deadline over the whole request stops it."""
    for byte in drip_head():
        h.wfile.write(bytes([byte]))
        h.wfile.flush()
        time.sleep(0.2)
    h.wfile.write(article_html(RU_PAGE).encode())


def drip_head(pad: int = 260) -> bytes:
    """A response head, the body's length unsaid (the connection's end ends it)."""
    return (b"HTTP/1.0 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
            b"X-Pad: " + b"a" * pad + b"\r\n\r\n")


def raw_deflate(data: bytes, level: int = 6) -> bytes:
    """`data` as deflate without the zlib header and trailer, as many servers send it."""
    packer = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


def encoded_body(body: bytes, encoding: str, cut: bool = False, first: int = 0) -> Route:
    """`body` (already encoded) sent with Content-Encoding `encoding` and a Content-Length
    matching what is sent: only its first half if `cut`; its `first` bytes alone, the rest
    0.2 s later, if given."""
    sent = body[:len(body) // 2] if cut else body

    def route(h: BaseHTTPRequestHandler) -> None:
        if not first:
            send(h, 200, sent, headers={"Content-Encoding": encoding})
            return
        h.send_response(200)
        h.send_header("Content-Type", "text/html; charset=utf-8")
        h.send_header("Content-Length", str(len(sent)))
        h.send_header("Content-Encoding", encoding)
        h.end_headers()
        h.wfile.write(sent[:first])
        h.wfile.flush()
        time.sleep(0.2)
        h.wfile.write(sent[first:])
    return route


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


def _read_request(conn: socket.socket) -> bool:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65_536)
        if not chunk:
            return False
        data += chunk
    return True


@contextmanager
def _raw_server(handle: Callable[[socket.socket, threading.Event], None]) -> Iterator[int]:
    """A port on loopback whose connections `handle` gets, each in its thread, with an event
    set when the server stops (the accept loop polls it, so no thread outlives the block)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.1)
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with suppress(OSError), conn:
            handle(conn, stop)

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(30)
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        acceptor.join()
        server.close()


@contextmanager
def keepalive_then_drip(body: bytes) -> Iterator[tuple[int, list[int]]]:
    """A port whose connections answer their first request at once (HTTP/1.1, kept alive)
    and drip the head of the next one a byte every 0.2 s. Yields the port and, per accepted
    connection, the number of requests it got."""
    requests: list[int] = []

    def handle(conn: socket.socket, stop: threading.Event) -> None:
        requests.append(0)
        n = len(requests) - 1
        while not stop.is_set() and _read_request(conn):
            requests[n] += 1
            if requests[n] == 1:
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
                             b"Content-Length: %d\r\n\r\n" % len(body) + body)
                continue
            for byte in drip_head():
                if stop.is_set():
                    return
                conn.sendall(bytes([byte]))
                time.sleep(0.2)

    with _raw_server(handle) as port:
        yield port, requests


@contextmanager
def tls_handshake_drip() -> Iterator[int]:
    """A port that takes the TLS ClientHello, then announces a 16 KiB handshake record and
    sends it a byte every 0.2 s: the handshake never ends, and no read waits long."""
    def handle(conn: socket.socket, stop: threading.Event) -> None:
        conn.recv(65_536)
        conn.sendall(b"\x16\x03\x03\x40\x00")          # handshake record, 16384 bytes
        while not stop.is_set():
            conn.sendall(b"\x00")
            time.sleep(0.2)

    with _raw_server(handle) as port:
        yield port

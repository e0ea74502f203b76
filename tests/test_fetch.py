"""The fetch stage against a real misbehaving server on loopback."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from flows.settings import FetchSettings
from flows.stages.fetch import address_refusal, decode, fetch, make_client, tls_context
from tests.digest_helpers import tls_files
from tests.faultserver import FaultServer, send, slow

HTML = "<html><head><meta charset='utf-8'></head><body><p>Мигранты</p></body></html>"
SETTINGS = FetchSettings(allow_private_addresses=True, timeout=1.0, max_bytes=50_000,
                         max_redirects=3)


@pytest.fixture(scope="module")
def server() -> Iterator[FaultServer]:
    routes = {
        "/ok": lambda h: send(h, 200, HTML.encode()),
        "/missing": lambda h: send(h, 404, b"gone"),
        "/error": lambda h: send(h, 500, b"oops"),
        "/busy": lambda h: send(h, 429, b"slow down", headers={"Retry-After": "1"}),
        "/pdf": lambda h: send(h, 200, b"%PDF-1.4", ctype="application/pdf"),
        "/huge": lambda h: send(h, 200, b"<html>" + b"x" * 200_000),
        "/loop": lambda h: send(h, 302, headers={"Location": "/loop2"}),
        "/loop2": lambda h: send(h, 302, headers={"Location": "/loop"}),
        "/to-file": lambda h: send(h, 302, headers={"Location": "file:///etc/passwd"}),
        "/slow": slow(3),
        "/cp1251": lambda h: send(h, 200, "<html><p>Трудовые мигранты</p></html>".encode(
            "cp1251"), ctype="text/html; charset=windows-1251"),
    }
    with FaultServer(routes) as srv:
        yield srv


@pytest.mark.parametrize(("path", "outcome", "reason"), [
    ("/ok", "ok", None),
    ("/missing", "hard", "HTTP 404"),
    ("/error", "soft", "HTTP 500"),
    ("/busy", "soft", "HTTP 429"),
    ("/pdf", "hard", "unexpected content-type 'application/pdf'"),
    ("/huge", "hard", "body larger than 50000 bytes"),
    ("/loop", "hard", "more than 3 redirects"),
    ("/to-file", "hard", "scheme 'file' is not allowed"),
    ("/slow", "soft", "timeout"),
])
def test_every_outcome_is_a_value_with_a_reason(server: FaultServer, path: str, outcome: str,
                                                reason: str | None) -> None:
    with make_client(SETTINGS) as client:
        res = fetch(client, server.base + path, SETTINGS)
    assert res.outcome == outcome, res
    if reason:
        assert res.reason and reason in res.reason


def test_private_addresses_are_refused_unless_allowed(server: FaultServer) -> None:
    strict = replace(SETTINGS, allow_private_addresses=False)
    before = server.hits["/ok"]
    with make_client(strict) as client:
        res = fetch(client, server.base + "/ok", strict)
    assert res.outcome == "hard" and "127.0.0.1" in (res.reason or "")
    assert server.hits["/ok"] == before
    assert "169.254.169.254" in (address_refusal("http://169.254.169.254/x", False) or "")


def test_charset_from_the_header(server: FaultServer) -> None:
    with make_client(SETTINGS) as client:
        res = fetch(client, server.base + "/cp1251", SETTINGS)
    assert "Трудовые мигранты" in decode(res.body, res.content_type)


def test_decode_fallbacks() -> None:
    assert decode("<meta charset='koi8-r'>Мигранты".encode("koi8-r"), None).endswith("Мигранты")
    assert decode("Мигранты".encode("cp1251"), "text/html") == "Мигранты"
    assert decode(b"\xef\xbb\xbfok", None) == "ok"


def test_outlets_starting_at_once_build_one_tls_context() -> None:
    """A run starts every outlet's client at the same moment, each in its own thread: they
    must wait for one context, not each build their own (~15 ms of CPU apiece)."""
    import flows.stages.fetch as fetch_module

    getattr(fetch_module, "_built_tls_context", tls_context).cache_clear()  # type: ignore[union-attr]
    start = threading.Barrier(16)
    got: list[ssl.SSLContext] = []

    def client_start() -> None:
        start.wait()
        got.append(tls_context())

    threads = [threading.Thread(target=client_start) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 16 and len({id(c) for c in got}) == 1


def test_clients_share_one_tls_context_that_still_verifies(tmp_path: Path) -> None:
    """Every outlet's client uses the same context (building one costs ~15 ms of CPU), and it
    refuses a certificate no CA in the bundle signed; trusting it makes the fetch work."""
    cert, key = tls_files(tmp_path)
    with FaultServer({"/ok": lambda h: send(h, 200, HTML.encode())}) as srv:
        server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_ctx.load_cert_chain(cert, key)
        srv.httpd.socket = server_ctx.wrap_socket(srv.httpd.socket, server_side=True)
        url = srv.base.replace("http://", "https://") + "/ok"
        results = []
        for _ in range(2):
            with make_client(SETTINGS) as client:
                results.append(fetch(client, url, replace(SETTINGS, retries=0)))
        assert [r.outcome for r in results] == ["soft", "soft"]
        assert all("CERTIFICATE_VERIFY_FAILED" in (r.reason or "") for r in results)
        assert tls_context() is tls_context()
        trusting = ssl.create_default_context(cafile=str(cert))
        with httpx.Client(verify=trusting, trust_env=False) as client:
            assert fetch(client, url, replace(SETTINGS, retries=0)).outcome == "ok"

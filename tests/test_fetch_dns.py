"""Host lookups within the fetch deadline, and connections to the addresses checked.

A DNS server that never answers cannot be run here (the system resolver's servers are not
ours to choose), so the hanging lookup is a resolver function that sleeps: fetch() takes its
resolver as a parameter for this. Everything else is real: the client, its sockets and a
server on loopback."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from flows.settings import FetchSettings
from flows.stages.fetch import (
    _WATCH,
    Resolver,
    ResolveTimeout,
    _Watch,
    fetch,
    make_client,
    resolve_within,
)
from tests.faultserver import FaultServer, send

HTML = b"<html><head><meta charset='utf-8'></head><body><p>ok</p></body></html>"


@pytest.fixture(scope="module")
def server() -> Iterator[FaultServer]:
    with FaultServer({"/ok": lambda h: send(h, 200, HTML)}) as srv:
        yield srv


def hanging(seconds: float) -> tuple[threading.Event, Resolver]:
    """A resolver that answers after `seconds` (a DNS server that does not answer in time)."""
    asked = threading.Event()

    def resolver(host: str, port: int) -> list[str]:
        asked.set()
        time.sleep(seconds)
        return ["192.0.2.1"]   # TEST-NET-1: refused, never reached
    return asked, resolver


def test_a_lookup_that_hangs_ends_the_fetch_at_its_deadline() -> None:
    settings = FetchSettings(deadline=1.0, retries=2, backoff=0.1)
    asked, resolver = hanging(30)
    started = time.monotonic()
    with make_client(settings) as client:
        res = fetch(client, "http://news.hangs.example/article", settings,
                    resolver=resolver)
    took = time.monotonic() - started
    assert asked.is_set()
    assert res.outcome == "soft", res
    assert res.reason == "deadline of 1s exceeded while resolving the host", res
    assert took < 2.5, took     # not the 30 s the lookup takes


def test_resolve_within_returns_the_answer_or_the_resolvers_error_or_gives_up() -> None:
    assert resolve_within("fast.example", 80, 1.0, lambda h, p: ["192.0.2.7"]) == ["192.0.2.7"]

    def fails(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")
    with pytest.raises(OSError, match="not known"):
        resolve_within("nxdomain.example", 80, 1.0, fails)
    _asked, slow = hanging(5)
    started = time.monotonic()
    with pytest.raises(ResolveTimeout, match=r"slow\.example"):
        resolve_within("slow.example", 80, 0.3, slow)
    assert time.monotonic() - started < 1.5
    # An IP literal is no lookup: answered in this thread, however slow the resolver would be.
    before = threading.active_count()
    assert resolve_within("127.0.0.1", 80, 0.0) == ["127.0.0.1"]
    assert threading.active_count() == before


def test_the_connection_goes_to_the_addresses_that_were_checked(server: FaultServer) -> None:
    """What address_refusal checked is what is connected to: `pinned.invalid` resolves
    nowhere (RFC 6761), so the page can only be reached through the checked address. A DNS
    answer that changes after the check (DNS rebinding) is never asked for."""
    settings = FetchSettings(allow_private_addresses=True)
    port = int(server.base.rsplit(":", 1)[1])
    watch = _Watch(time.monotonic() + 5)
    watch.pinned[("pinned.invalid", port)] = ["127.0.0.1"]
    token = _WATCH.set(watch)
    try:
        with make_client(settings) as client:
            resp = client.get(f"http://pinned.invalid:{port}/ok")
    finally:
        _WATCH.reset(token)
    assert resp.status_code == 200 and resp.content == HTML

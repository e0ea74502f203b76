"""One test per fault an outlet can commit, all from one real ingest run.

The replica's six outlets and one outlet per fault (feeds and pages on a misbehaving server
on loopback) are ingested together by the real Prefect flow. For each fault: the run
completed, the fault is in the fetch log with a readable reason, the faulty outlet stored no
row, and the replica's articles were all stored. A page that will not change by asking again
(a dead link: gone, not HTML, too large...) is remembered in `rejected_url` with that reason
and leaves its outlet ok; any other failure is not remembered (the page is asked again next
run) and is the outlet's error in its health. Limits are small so the slow faults stay short.
"""

from __future__ import annotations

import gzip
import json
import re
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import duckdb
import pytest

from flows.ingest import IngestReport, ingest_flow
from flows.replica.server import ReplicaServer, demo_config
from flows.settings import FetchSettings
from flows.stages.fetch import fetch, make_client
from tests import faults as f
from tests.conftest import dead_port
from tests.faultserver import FaultServer, Route, send, slow

EXPECTED = json.loads((Path(__file__).resolve().parent.parent / "flows" / "replica" /
                       "expected.json").read_text("utf-8"))
REPLICA_KEYS = ("asiaplus_en", "asiaplus_ru", "ozodi", "cabar", "eurasianet", "fergana")


@dataclass(frozen=True)
class Fault:
    outcome: str            # in the fetch log
    reason: str             # a readable part of the reason
    kind: str = "page"      # the request that fails: feed or page
    dead: bool = False      # remembered, not fetched again; the outlet stays ok


# Of each URL of the run below, across its attempts: it cuts the drips (they would take a
# minute), and leaves room for two attempts of a timeout or a Retry-After (~1 s apiece) on a
# loaded machine running tests in parallel (at 2 s, a read timeout was once cut as a deadline).
RUN_DEADLINE = 4

PAGE_FAULTS = {
    "http_500": Fault("soft", "HTTP 500"),
    "http_503_retry_after": Fault("soft", "HTTP 503"),
    "http_429": Fault("soft", "HTTP 429"),
    "connect_timeout": Fault("soft", "timeout: ConnectTimeout"),
    "read_timeout": Fault("soft", "timeout: ReadTimeout"),
    "one_byte_per_second": Fault("soft", f"deadline of {RUN_DEADLINE}s exceeded"),
    "headers_one_byte_per_second": Fault("soft", f"deadline of {RUN_DEADLINE}s exceeded while "
                                                 "waiting for the response headers"),
    "truncated_gzip": Fault("soft", "truncated gzip body"),
    "endless_body": Fault("hard", "body larger than 300000 bytes", dead=True),
    "body_50mb": Fault("hard", "Content-Length 52428800", dead=True),
    "gzip_bomb": Fault("hard", "decompression bomb", dead=True),
    "redirect_loop": Fault("hard", "more than 3 redirects", dead=True),
    "redirect_to_file": Fault("hard", "scheme 'file' is not allowed", dead=True),
    # What a host resolves to can change: an address refused is asked again.
    "redirect_to_loopback": Fault("hard", "address 127.0.0.1 of '127.0.0.1' is private"),
    "redirect_to_metadata": Fault("hard", "address 169.254.169.254"),
    "pdf": Fault("hard", "unexpected content-type 'application/pdf'", dead=True),
    "image": Fault("hard", "unexpected content-type 'image/png'", dead=True),
    "http_404": Fault("hard", "HTTP 404 Not Found", dead=True),
    "http_410": Fault("hard", "HTTP 410 Gone", dead=True),
    # "Not you" or "not now": a block lifts, so the page is asked again.
    "http_403": Fault("hard", "HTTP 403 Forbidden"),
    "http_401": Fault("hard", "HTTP 401 Unauthorized"),
    # Links no request can be sent to (the feed lists them as they are, below).
    "invalid_url_too_long": Fault("hard", "invalid URL: URL too long", dead=True),
    "invalid_url_idna": Fault("hard", "invalid URL: Codepoint U+0080", dead=True),
}
INVALID_LINKS = {"invalid_url_too_long": "http://example.org/" + "a" * 70_000,
                 "invalid_url_idna": "http://xn--a.example.org/a"}
FEED_FAULTS = {
    "malformed_feed": Fault("hard", "malformed feed", "feed"),
    "external_entity": Fault("hard", "refused: the XML declares entities", "feed"),
    "billion_laughs": Fault("hard", "refused: the XML declares entities", "feed"),
}
# Pages that must come out right: (route, phrase the stored text must contain)
GOOD_PAGES = {
    "ru_cp1251_header": (f.encoded(f.RU_PAGE, "cp1251", "header"), f.RU_PHRASE),
    "ru_cp1251_undeclared": (f.encoded(f.RU_PAGE, "cp1251", "none"), f.RU_PHRASE),
    "ru_koi8r_meta": (f.encoded(f.RU_PAGE, "koi8-r", "meta"), f.RU_PHRASE),
    "ru_koi8r_undeclared": (f.encoded(f.RU_PAGE, "koi8-r", "none"), f.RU_PHRASE),
    "tg_cp1251_meta": (f.encoded(f.TG_PAGE, "cp1251", "meta"), f.TG_PHRASE),
    "tg_utf8_undeclared": (f.encoded(f.TG_PAGE, "utf-8", "none"), f.TG_PHRASE),
    "invalid_utf8": (lambda h: send(h, 200, f.article_html(f.RU_PAGE).encode().replace(
        "Сейчас".encode(), b"\xff\xfe\xc3(") ), f.RU_PHRASE),
    # Content-Encoding: deflate without the zlib header, as many servers send it.
    "raw_deflate": (f.encoded_body(f.raw_deflate(f.article_html(f.RU_PAGE).encode()),
                                   "deflate"), f.RU_PHRASE),
}


def _serve_feed(body: bytes) -> Route:
    return lambda h: send(h, 200, body, "application/rss+xml")


@dataclass(frozen=True)
class Run:
    report: IngestReport
    db: Path
    server: FaultServer


def _routes(blackhole: int) -> dict:
    r: dict = {
        "/robots.txt": lambda h: send(h, 200, b"User-agent: *\nDisallow: /private/\n",
                                      ctype="text/plain"),
        "/private/page": lambda h: send(h, 200, f.article_html(f.RU_PAGE).encode()),
        "/page/http_500": lambda h: send(h, 500, b"oops"),
        "/page/http_503_retry_after": lambda h: send(h, 503, b"busy",
                                                     headers={"Retry-After": "1"}),
        "/page/http_429": lambda h: send(h, 429, b"slow down", headers={"Retry-After": "1"}),
        "/page/read_timeout": f.sleepy(3),
        "/page/one_byte_per_second": f.drip,
        "/page/headers_one_byte_per_second": f.header_drip,
        "/page/truncated_gzip": f.encoded_body(gzip.compress(f.article_html(f.RU_PAGE).encode()),
                                               "gzip", cut=True),
        "/page/endless_body": f.endless,
        "/page/body_50mb": f.fifty_mb,
        "/page/gzip_bomb": f.bomb,
        "/page/redirect_loop": f.redirect("/page/redirect_loop_2"),
        "/page/redirect_loop_2": f.redirect("/page/redirect_loop"),
        "/page/redirect_to_file": f.redirect("file:///etc/passwd"),
        "/page/redirect_to_loopback": f.redirect(f"http://127.0.0.1:{dead_port()}/admin"),
        "/page/redirect_to_metadata": f.redirect("http://169.254.169.254/latest/meta-data/"),
        "/page/pdf": lambda h: send(h, 200, b"%PDF-1.4 ...", ctype="application/pdf"),
        "/page/image": lambda h: send(h, 200, b"\x89PNG\r\n", ctype="image/png"),
        "/page/http_404": lambda h: send(h, 404, b"not found"),
        "/page/http_410": lambda h: send(h, 410, b"gone"),
        "/page/http_403": lambda h: send(h, 403, b"forbidden"),
        "/page/http_401": lambda h: send(h, 401, b"who are you?"),
        "/feed/malformed_feed.xml": lambda h: send(h, 200, f.MALFORMED, "application/rss+xml"),
        "/feed/external_entity.xml": lambda h: send(h, 200, f.XXE, "application/rss+xml"),
        "/feed/billion_laughs.xml": lambda h: send(h, 200, f.LAUGHS, "application/rss+xml"),
    }
    for name, (route, _phrase) in GOOD_PAGES.items():
        r[f"/page/{name}"] = route
    return r


@pytest.fixture(scope="module")
def run(prefect_harness: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    tmp = tmp_path_factory.mktemp("faults")
    with f.blackhole() as hole, FaultServer({}) as srv, ReplicaServer() as replica:
        base = srv.base
        srv.routes.update(_routes(hole))
        feeds = {name: f"/page/{name}" for name in [*PAGE_FAULTS, *GOOD_PAGES]}
        feeds["connect_timeout"] = f"http://127.0.0.1:{hole}/page/connect_timeout"
        feeds["robots_disallowed"] = "/private/page"
        feeds.update(INVALID_LINKS)
        for name, link in feeds.items():
            body = f.rss("" if link.startswith("http") else base, link)
            srv.routes[f"/feed/{name}.xml"] = _serve_feed(body)
        names = [*feeds, *FEED_FAULTS]
        allowed = [f"127.0.0.1:{hole}", base.removeprefix("http://"),
                   replica.base_url.removeprefix("http://")]
        fetch = ("[fetch]\nallow_private_addresses = false\n"
                 f"allowed_private_hosts = {json.dumps(allowed)}\n"
                 "timeout = 0.5\nconnect_timeout = 0.5\n"
                 f"deadline = {RUN_DEADLINE}\nretries = 1\n"
                 "backoff = 0.05\nretry_after_cap = 1\nmax_bytes = 300_000\n"
                 "max_redirects = 3\nhost_delay = 0\nper_host = 4\n\n")
        config = re.sub(r"\[fetch\]\n.*?\n\n", fetch, demo_config(replica.base_url),
                        count=1, flags=re.S)
        config += "".join(f'\n[[sources]]\nkey = "f_{n}"\nname = "Fault {n}"\n'
                          f'feeds = ["{base}/feed/{n}.xml"]\n' for n in names)
        cfg = tmp / "sources.toml"
        cfg.write_text(config, encoding="utf-8")
        db = tmp / "w.duckdb"
        report = ingest_flow(str(cfg), str(db))
        yield Run(report, db, srv)


def _con(run: Run) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(run.db), read_only=True)


def test_the_run_completes_and_every_replica_article_is_stored(run: Run) -> None:
    assert run.report.status == "partial" and run.report.exit_code == 3
    with _con(run) as con:
        stored = con.execute("SELECT count(*) FROM articles WHERE source IN "
                             f"{REPLICA_KEYS!r}").fetchone()
        healthy = con.execute("SELECT count(*) FROM outlet_health WHERE last_ok AND source IN "
                              f"{REPLICA_KEYS!r}").fetchone()
    assert stored == (len(EXPECTED),) and healthy == (6,)


@pytest.mark.parametrize("name", [*PAGE_FAULTS, *FEED_FAULTS])
def test_fault_is_recorded_with_its_reason_and_leaves_no_row(run: Run, name: str) -> None:
    fault = {**PAGE_FAULTS, **FEED_FAULTS}[name]
    source = f"f_{name}"
    with _con(run) as con:
        events = con.execute("SELECT outcome, reason FROM fetches WHERE source = ? AND kind = ?",
                             [source, fault.kind]).fetchall()
        health = con.execute("SELECT last_ok, last_error FROM outlet_health WHERE source = ?",
                             [source]).fetchone()
        rows = con.execute("SELECT count(*) FROM articles WHERE source = ?", [source]).fetchone()
        remembered = con.execute("SELECT reason FROM rejected_url WHERE source = ?",
                                 [source]).fetchall()
    assert any(o == fault.outcome and fault.reason in (r or "") for o, r in events), events
    assert rows == (0,)
    assert health is not None
    if fault.dead:    # a dead link is remembered and is not the outlet's failure
        assert health == (True, None)
        assert len(remembered) == 1 and fault.reason in remembered[0][0]
    else:
        assert health[0] is False and fault.reason in health[1]
        assert remembered == []


def test_retries_back_off_and_stop(run: Run) -> None:
    """Soft failures are tried retries + 1 = 2 times; Retry-After within the cap is waited."""
    for path in ("/page/http_500", "/page/http_503_retry_after", "/page/http_429",
                 "/page/read_timeout"):
        assert run.server.hits[path] == 2, path
    assert run.server.hits["/page/pdf"] == 1   # a hard failure is not retried


def test_robots_txt_disallowing_a_path_is_honoured(run: Run) -> None:
    assert run.server.hits["/private/page"] == 0
    assert run.server.hits["/robots.txt"] == 1   # once per host and run, for every outlet
    with _con(run) as con:
        row = con.execute("SELECT outcome, reason FROM fetches WHERE source = "
                          "'f_robots_disallowed' AND kind = 'page'").fetchone()
        stored = con.execute("SELECT count(*) FROM articles WHERE source = "
                             "'f_robots_disallowed'").fetchone()
    assert row == ("skipped", "disallowed by robots.txt") and stored == (0,)


@pytest.mark.parametrize("name", list(GOOD_PAGES))
def test_encodings_come_out_as_correct_text(run: Run, name: str) -> None:
    phrase = GOOD_PAGES[name][1]
    with _con(run) as con:
        row = con.execute("SELECT text FROM articles WHERE source = ?", [f"f_{name}"]).fetchone()
    assert row is not None and phrase in row[0]
    if name == "invalid_utf8":
        assert "\ufffd" in row[0]     # the broken bytes are marked, the rest is intact


def test_retry_after_is_waited_up_to_the_cap() -> None:
    """The waits a fetch asks for, recorded instead of slept: Retry-After first, then capped."""
    routes = {"/soon": lambda h: send(h, 503, b"", headers={"Retry-After": "7"}),
              "/later": lambda h: send(h, 429, b"", headers={"Retry-After": "3600"}),
              "/gone": lambda h: send(h, 410, b"")}
    with FaultServer(routes) as srv:
        settings = FetchSettings(allowed_private_hosts=(srv.base.removeprefix("http://"),),
                                 retries=2, retry_after_cap=10, deadline=30)
        waits: list[float] = []
        with make_client(settings) as client:
            soon = fetch(client, srv.base + "/soon", settings, sleep=waits.append)
            later = fetch(client, srv.base + "/later", settings, sleep=waits.append)
            gone = fetch(client, srv.base + "/gone", settings, sleep=waits.append)
    assert waits == [7.0, 7.0] and soon.attempts == 3 and "after 3 attempts" in (soon.reason or "")
    assert later.attempts == 1 and "exceeds the cap of 10s" in (later.reason or "")
    assert gone.outcome == "hard" and gone.attempts == 1 and srv.hits["/gone"] == 1


# The deadline bounds a whole attempt, whatever it is waiting for. The drips below would take
# a minute and each byte restarts the 1 s read timeout: only the 2 s deadline stops them
# (pytest-timeout fails a test that waits for the drip to end).
DRIP = FetchSettings(allow_private_addresses=True, timeout=1, connect_timeout=1, deadline=2,
                     retries=2, backoff=0.05)
HEADERS_LATE = "deadline of 2s exceeded while waiting for the response headers"


@pytest.mark.timeout(40)
def test_a_drip_in_the_status_line_and_headers_is_cut_at_the_deadline() -> None:
    """As soft, naming the phase, not retried (the deadline is the URL's, across attempts);
    robots.txt is fetched by the same function."""
    with FaultServer({"/drip": f.header_drip}) as srv, make_client(DRIP) as client:
        page = fetch(client, srv.base + "/drip", DRIP)
        robots = fetch(client, srv.base + "/drip", replace(DRIP, retries=0), "robots")
    assert (page.outcome, page.reason, page.attempts, page.permanent) == \
        ("soft", HEADERS_LATE, 1, False)
    assert (robots.outcome, robots.reason) == ("soft", HEADERS_LATE)
    assert srv.hits["/drip"] == 2


@pytest.mark.timeout(40)
def test_the_deadline_holds_on_a_kept_alive_connection_which_is_then_dropped() -> None:
    """The second request on a reused connection (no connect, no TLS: the head is its first
    read) drips its head; the connection it was cut on is not handed to the next request."""
    body = f.article_html(f.RU_PAGE).encode()
    with f.keepalive_then_drip(body) as (port, requests), make_client(DRIP) as client:
        first = fetch(client, f"http://127.0.0.1:{port}/a", DRIP)
        second = fetch(client, f"http://127.0.0.1:{port}/b", DRIP)
        third = fetch(client, f"http://127.0.0.1:{port}/c", DRIP)
    assert first.outcome == "ok" and third.outcome == "ok"
    assert (second.outcome, second.reason) == ("soft", HEADERS_LATE)
    assert requests == [2, 1]     # /a and /b on one connection, /c on a new one


@pytest.mark.timeout(40)
def test_one_fetchs_deadline_cuts_no_other_request_on_the_shared_client() -> None:
    """An outlet's pages are fetched by threads sharing its client: a drip cut at its 2 s
    deadline leaves alone the request of another thread, a 3 s answer within its own."""
    patient = replace(DRIP, timeout=5, deadline=30)
    with FaultServer({"/drip": f.header_drip, "/slow": slow(3)}) as srv, \
            make_client(DRIP) as client, ThreadPoolExecutor(2) as pool:
        dripping = pool.submit(fetch, client, srv.base + "/drip", DRIP)
        slower = pool.submit(fetch, client, srv.base + "/slow", patient)
        cut, answered = dripping.result(), slower.result()
    assert (cut.outcome, cut.reason) == ("soft", HEADERS_LATE)
    assert answered.outcome == "ok" and answered.body == b"<html>late</html>"


@pytest.mark.timeout(40)
def test_a_drip_in_the_tls_handshake_is_cut_at_the_deadline() -> None:
    """A 10 s connect timeout, a handshake record a byte every 0.2 s: the deadline ends it."""
    settings = replace(DRIP, connect_timeout=10)
    with f.tls_handshake_drip() as port, make_client(settings) as client:
        res = fetch(client, f"https://127.0.0.1:{port}/", settings)
    assert (res.outcome, res.reason) == ("soft", "deadline of 2s exceeded while negotiating TLS")


INVALID_URLS = {
    "over 65,536 characters": ("http://example.org/" + "a" * 70_000, "URL too long"),
    "an xn-- label that is no IDNA": ("http://xn--a.example.org/a", "Codepoint U+0080"),
    "a broken IPv6 literal": ("http://[oops/x", "Invalid IPv6 URL"),
    "a port out of range": ("http://127.0.0.1:99999/x", "Port out of range"),
    "a control character": ("http://exa\tmple.org/a", "non-printable ASCII character"),
    "an empty host label": ("http://a..example.org/a", "label empty or too long"),
}


@pytest.mark.parametrize("name", list(INVALID_URLS))
def test_an_invalid_url_is_a_dead_link_not_an_exception(name: str) -> None:
    """Linked from a feed or redirected to: `hard` and permanent (it will never work), with
    the reason, never an exception."""
    link, detail = INVALID_URLS[name]
    with FaultServer({"/to": f.redirect(link)}) as srv, make_client(DRIP) as client:
        linked = fetch(client, link, DRIP)
        redirected = fetch(client, srv.base + "/to", DRIP)
    for res in (linked, redirected):
        assert (res.outcome, res.permanent, res.attempts) == ("hard", True, 1), res.reason
        assert (res.reason or "").startswith("invalid URL: ") and detail in (res.reason or "")


def test_validators_and_retry_after_httpx_cannot_take_are_no_exception() -> None:
    """An ETag not in ASCII (stored from the last run) is not sent back: the answer is a full
    200; a Retry-After of '²' is no number of seconds: the usual backoff."""
    feed = f.rss("http://example.org", "/a")
    routes = {"/feed": lambda h: send(h, 200, feed, "application/rss+xml",
                                      headers={"ETag": '"café"'}),
              "/busy": lambda h: send(h, 503, b"", headers={"Retry-After": "\u00b2"})}
    with FaultServer(routes) as srv, make_client(DRIP) as client:
        first = fetch(client, srv.base + "/feed", DRIP, "feed")
        again = fetch(client, srv.base + "/feed", DRIP, "feed", validators=(first.etag, None))
        busy = fetch(client, srv.base + "/busy", replace(DRIP, retries=1), sleep=lambda _: None)
    assert first.etag == '"café"' and again.outcome == "ok" and again.body == feed
    assert busy.outcome == "soft" and busy.attempts == 2


PAGE = f.article_html(f.RU_PAGE).encode()
GZIPPED = gzip.compress(PAGE)
BOMB = zlib.compress(b"\0" * 30_000_000, 9)
# route, outcome, a part of the reason (None: the page comes out whole)
ENCODED_BODIES = {
    "gzip": (f.encoded_body(GZIPPED, "gzip"), "ok", None),
    "zlib deflate": (f.encoded_body(zlib.compress(PAGE), "deflate"), "ok", None),
    "raw deflate": (f.encoded_body(f.raw_deflate(PAGE), "deflate"), "ok", None),
    "raw deflate, its first byte alone": (f.encoded_body(f.raw_deflate(PAGE), "deflate",
                                                         first=1), "ok", None),
    "truncated gzip": (f.encoded_body(GZIPPED, "gzip", cut=True), "soft",
                       "truncated gzip body"),
    "truncated zlib deflate": (f.encoded_body(zlib.compress(PAGE), "deflate", cut=True),
                               "soft", "truncated deflate body"),
    "truncated raw deflate": (f.encoded_body(f.raw_deflate(PAGE), "deflate", cut=True),
                              "soft", "truncated deflate body"),
    "raw deflate bomb": (f.encoded_body(f.raw_deflate(b"\0" * 30_000_000, 9), "deflate"),
                         "hard", "decompression bomb"),
    "zlib deflate bomb": (f.encoded_body(BOMB, "deflate"), "hard", "decompression bomb"),
    "corrupt gzip": (f.encoded_body(GZIPPED[:20] + b"\xff" * 200, "gzip"), "hard",
                     "corrupt gzip body"),
}


@pytest.mark.parametrize("name", list(ENCODED_BODIES))
def test_compressed_bodies_raw_deflate_and_truncation(name: str) -> None:
    """deflate is read with or without its zlib header (the bomb check holds for both); a
    compressed stream that stops before its end is `soft` (complete next time, perhaps),
    never stored cut short; a corrupt one or a bomb is a dead link."""
    route, outcome, reason = ENCODED_BODIES[name]
    settings = replace(DRIP, max_bytes=5_000_000, retries=0)
    with FaultServer({"/p": route}) as srv, make_client(settings) as client:
        res = fetch(client, srv.base + "/p", settings)
    assert res.outcome == outcome, res.reason
    if reason is None:
        assert res.body == PAGE
    else:
        assert reason in (res.reason or "") and res.permanent == (outcome == "hard")

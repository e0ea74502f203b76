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

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from flows.ingest import IngestReport, ingest_flow
from flows.replica.server import ReplicaServer, demo_config
from flows.settings import FetchSettings
from flows.stages.fetch import fetch, make_client
from tests import faults as f
from tests.conftest import dead_port
from tests.faultserver import FaultServer, Route, send

EXPECTED = json.loads((Path(__file__).resolve().parent.parent / "flows" / "replica" /
                       "expected.json").read_text("utf-8"))
REPLICA_KEYS = ("asiaplus_en", "asiaplus_ru", "ozodi", "cabar", "eurasianet", "fergana")


@dataclass(frozen=True)
class Fault:
    outcome: str            # in the fetch log
    reason: str             # a readable part of the reason
    kind: str = "page"      # the request that fails: feed or page
    dead: bool = False      # remembered, not fetched again; the outlet stays ok


PAGE_FAULTS = {
    "http_500": Fault("soft", "HTTP 500"),
    "http_503_retry_after": Fault("soft", "HTTP 503"),
    "http_429": Fault("soft", "HTTP 429"),
    "connect_timeout": Fault("soft", "timeout: ConnectTimeout"),
    "read_timeout": Fault("soft", "timeout: ReadTimeout"),
    "one_byte_per_second": Fault("soft", "deadline of 2s exceeded"),
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
}
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
        for name, link in feeds.items():
            body = f.rss("" if link.startswith("http") else base, link)
            srv.routes[f"/feed/{name}.xml"] = _serve_feed(body)
        names = [*feeds, *FEED_FAULTS]
        allowed = [f"127.0.0.1:{hole}", base.removeprefix("http://"),
                   replica.base_url.removeprefix("http://")]
        fetch = ("[fetch]\nallow_private_addresses = false\n"
                 f"allowed_private_hosts = {json.dumps(allowed)}\n"
                 "timeout = 0.5\nconnect_timeout = 0.5\ndeadline = 2\nretries = 1\n"
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

"""Dead links are remembered, transient failures are not: several real ingest runs.

A healthy outlet whose feed also links a PDF, a deleted page (404) and a removed one (410)
must stay ok run after run (it used to be flagged FAILED from the second run on, once its
good page was stored and only the dead ones were left as "new", and its operator alerted
after three). Each dead link is fetched once and remembered in `rejected_url` with its
reason, written with the outlet's batch. A page answering 500 is retried next run, and an
outlet whose only page tried fails that way is still failed.

Real Prefect flow, real DuckDB file, a real HTTP server on 127.0.0.1 counting requests;
the last test drives the harvest and the writer without Prefect.
"""

from __future__ import annotations

from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import duckdb
import pytest

from flows.harvest import harvest_source
from flows.ingest import ingest_flow
from flows.settings import load_settings
from flows.stages.fetch import make_client
from tests import faults as f
from tests.faultserver import FaultServer, Route, send
from tests.helpers import rows
from warehouse import store
from warehouse.db import connect


def _fails_then_works(times: int, html: str) -> Route:
    """HTTP 500 to the first `times` requests, then the article."""
    asked: list[int] = []

    def route(h: BaseHTTPRequestHandler) -> None:
        asked.append(1)
        if len(asked) <= times:
            send(h, 500, b"oops")
        else:
            send(h, 200, html.encode())
    return route


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer({}) as srv:
        yield srv


def _config(tmp_path: Path, srv: FaultServer, key: str) -> Path:
    cfg = tmp_path / "sources.toml"
    cfg.write_text(f'[fetch]\nallowed_private_hosts = ["{srv.base.removeprefix("http://")}"]\n'
                   "retries = 0\nhost_delay = 0\ntimeout = 2\n\n"
                   f'[digest]\noutbox = "{tmp_path / "outbox"}"\n\n'
                   f'[[sources]]\nkey = "{key}"\nname = "Outlet {key}"\n'
                   f'feeds = ["{srv.base}/{key}/feed.xml"]\n', "utf-8")
    return cfg


@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.slow
def test_an_outlet_linking_dead_pages_stays_ok_and_asks_each_once(
        server: FaultServer, tmp_path: Path) -> None:
    not_modified: list[str] = []
    server.routes.update({
        "/mixed/feed.xml": f.etag_feed(f.rss(server.base, "/mixed/story", "/mixed/report.pdf",
                                       "/mixed/deleted", "/mixed/removed"), not_modified),
        "/mixed/story": lambda h: send(h, 200, f.article_html(f.RU_PAGE).encode()),
        "/mixed/report.pdf": lambda h: send(h, 200, b"%PDF-1.4 ...", ctype="application/pdf"),
        "/mixed/deleted": lambda h: send(h, 404, b"not found"),
        "/mixed/removed": lambda h: send(h, 410, b"gone"),
    })
    cfg, db = _config(tmp_path, server, "mixed"), tmp_path / "w.duckdb"
    # Four runs: [fetch] failing_after is 3, so the old behaviour would have opened an
    # incident (and alerted the operator) at the fourth.
    reports = [ingest_flow(str(cfg), str(db)) for _ in range(4)]

    assert [(r.status, r.exit_code) for r in reports] == [("ok", 0)] * 4
    assert [r.new_articles for r in reports] == [1, 0, 0, 0]
    assert [s.error for r in reports for s in r.sources] == [None] * 4
    for path in ("/mixed/story", "/mixed/report.pdf", "/mixed/deleted", "/mixed/removed"):
        assert server.hits[path] == 1, path
    # Only dead links failed: the feed's validators were kept, so later runs cost a 304.
    assert server.hits["/mixed/feed.xml"] == 4 and len(not_modified) == 3

    remembered = dict(rows(db, "SELECT canonical_url, reason FROM rejected_url "
                                "WHERE source = 'mixed'"))
    by_path = {url.rsplit("/", 1)[1]: reason for url, reason in remembered.items()}
    assert by_path.keys() == {"report.pdf", "deleted", "removed"}
    assert "application/pdf" in by_path["report.pdf"]
    assert by_path["deleted"].startswith("HTTP 404") and by_path["removed"].startswith("HTTP 410")
    assert rows(db, "SELECT last_ok, consecutive_failures, last_error FROM outlet_health "
                     "WHERE source = 'mixed'") == [(True, 0, None)]
    assert rows(db, "SELECT count(*) FROM failing_outlets") == [(0,)]
    assert rows(db, "SELECT count(*) FROM operator_incident") == [(0,)]
    # The fetch log shows each dead link once, as the hard failure it was.
    assert sorted(rows(db, "SELECT url, outcome FROM fetches WHERE kind = 'page' "
                            "AND outcome <> 'ok'")) == sorted(
        (f"{server.base}{p}", "hard")
        for p in ("/mixed/report.pdf", "/mixed/deleted", "/mixed/removed"))


@pytest.mark.usefixtures("prefect_harness")
def test_a_transient_failure_is_retried_next_run_and_is_not_remembered(
        server: FaultServer, tmp_path: Path) -> None:
    not_modified: list[str] = []
    server.routes.update({
        "/flaky/feed.xml": f.etag_feed(f.rss(server.base, "/flaky/story", "/flaky/report.pdf",
                                       "/flaky/later"), not_modified),
        "/flaky/story": lambda h: send(h, 200, f.article_html(f.RU_PAGE).encode()),
        "/flaky/report.pdf": lambda h: send(h, 200, b"%PDF-1.4 ...", ctype="application/pdf"),
        "/flaky/later": _fails_then_works(2, f.article_html(f.TG_PAGE)),
    })
    cfg, db = _config(tmp_path, server, "flaky"), tmp_path / "w.duckdb"

    first = ingest_flow(str(cfg), str(db))       # story stored; PDF dead; later: HTTP 500
    assert (first.status, first.new_articles) == ("ok", 1)
    # A page that may work next time keeps the validators from being saved: the feed is
    # read in full next run, so the page is asked again.
    second = ingest_flow(str(cfg), str(db))      # later fails again, and is all it tried
    assert (second.status, second.exit_code, second.new_articles) == ("failed", 4, 0)
    [summary] = second.sources
    assert summary.error is not None and "all 1 new pages failed" in summary.error
    assert "/flaky/later: HTTP 500" in summary.error
    third = ingest_flow(str(cfg), str(db))       # later answers at last
    assert (third.status, third.exit_code, third.new_articles) == ("ok", 0, 1)

    assert not_modified == []
    assert server.hits["/flaky/later"] == 3
    assert server.hits["/flaky/report.pdf"] == 1 and server.hits["/flaky/story"] == 1
    assert [u.rsplit("/", 1)[1] for (u,) in rows(db, "SELECT canonical_url FROM rejected_url")
            ] == ["report.pdf"]
    assert sorted(u.rsplit("/", 1)[1] for (u,) in rows(db, "SELECT url FROM articles "
                                                            "WHERE NOT is_seed")) == [
        "later", "story"]


def test_dead_links_are_remembered_with_the_batch_or_not_at_all(
        server: FaultServer, tmp_path: Path) -> None:
    """The memory is written in the outlet's transaction: a batch that fails to store
    leaves no dead link remembered (the next run asks again), one that is stored does."""
    server.routes.update({
        "/crash/feed.xml": lambda h: send(h, 200, f.rss(server.base, "/crash/story",
                                                        "/crash/gone"), "application/rss+xml"),
        "/crash/story": lambda h: send(h, 200, f.article_html(f.RU_PAGE).encode()),
        "/crash/gone": lambda h: send(h, 404, b"not found"),
    })
    settings = load_settings(_config(tmp_path, server, "crash"))
    con = connect(tmp_path / "w.duckdb")
    with make_client(settings.fetch) as client:
        harvest = harvest_source(client, settings.sources[0], settings,
                                 lambda urls: store.known_urls(con, urls))
    assert harvest.error is None and len(harvest.articles) == 1 and harvest.pages_failed == 1
    assert [reason for _url, reason in harvest.rejected] == ["HTTP 404 Not Found"]
    gone = harvest.rejected[0][0]
    run_id = store.start_run(con, "ingest")
    dedup = settings.dedup
    with pytest.raises(duckdb.ConstraintException):   # the outlet's second health row
        store.store_harvests(con, [harvest, harvest], run_id, dedup.threshold,
                             dedup.shingle_size)
    assert con.execute("SELECT count(*) FROM rejected_url").fetchall() == [(0,)]
    assert con.execute("SELECT count(*) FROM doc WHERE NOT is_seed").fetchall() == [(0,)]
    assert store.known_urls(con, [gone]) == set()

    store.store_harvests(con, [harvest], run_id, dedup.threshold, dedup.shingle_size)
    assert con.execute("SELECT source, reason FROM rejected_url").fetchall() == [
        ("crash", "HTTP 404 Not Found")]
    assert store.known_urls(con, [gone]) == {gone}
    con.close()


def _published_later(html: str) -> Route:
    """404 until `published` is set, then the article (a feed listing a page before it is
    live)."""
    def route(h: BaseHTTPRequestHandler) -> None:
        if getattr(route, "published", False):
            send(h, 200, html.encode())
        else:
            send(h, 404, b"not found")
    return route


@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.parametrize("retry_days", [7, 0])
def test_a_remembered_page_is_asked_again_after_retry_rejected_days(
        server: FaultServer, tmp_path: Path, retry_days: int) -> None:
    late = _published_later(f.article_html(f.RU_PAGE))
    server.routes.update({   # no validators: the feed is read in full every run
        "/late/feed.xml": lambda h: send(h, 200, f.rss(server.base, "/late/story"),
                                         "application/rss+xml"),
        "/late/story": late,
    })
    cfg, db = _config(tmp_path, server, "late"), tmp_path / "w.duckdb"
    cfg.write_text(cfg.read_text("utf-8").replace(
        "[fetch]\n", f"[fetch]\nretry_rejected_days = {retry_days}\n"), "utf-8")

    assert ingest_flow(str(cfg), str(db)).new_articles == 0    # 404: remembered
    late.published = True   # type: ignore[attr-defined]
    assert ingest_flow(str(cfg), str(db)).new_articles == 0    # remembered: not asked
    assert server.hits["/late/story"] == 1
    with duckdb.connect(str(db)) as con:   # a week and a day later
        con.execute("UPDATE rejected_url SET rejected_at = rejected_at - INTERVAL 8 DAY")
    again = ingest_flow(str(cfg), str(db))

    if retry_days:
        assert (again.status, again.new_articles) == ("ok", 1)
        assert server.hits["/late/story"] == 2
        assert rows(db, "SELECT count(*) FROM rejected_url") == [(0,)]
    else:    # 0: never asked again
        assert (again.status, again.new_articles) == ("ok", 0)
        assert server.hits["/late/story"] == 1
        assert rows(db, "SELECT count(*) FROM rejected_url") == [(1,)]


def test_a_page_rejected_again_waits_as_long_again(server: FaultServer, tmp_path: Path) -> None:
    """Asked again and still dead: its time (and reason) are the newest, so the next retry is
    `retry_rejected_days` after this one, not at every run."""
    server.routes.update({
        "/gone/feed.xml": lambda h: send(h, 200, f.rss(server.base, "/gone/story"),
                                         "application/rss+xml"),
        "/gone/story": lambda h: send(h, 410, b"gone"),
    })
    settings = load_settings(_config(tmp_path, server, "gone"))
    con = connect(tmp_path / "w.duckdb")
    run_id = store.start_run(con, "ingest")
    dedup = settings.dedup

    def run() -> None:
        with make_client(settings.fetch) as client:
            harvest = harvest_source(
                client, settings.sources[0], settings,
                lambda urls: store.known_urls(con, urls, retry_rejected_days=7))
        store.store_harvests(con, [harvest], run_id, dedup.threshold, dedup.shingle_size)
        con.execute("DELETE FROM source_run")   # one health row per outlet and run

    run()
    con.execute("UPDATE rejected_url SET rejected_at = rejected_at - INTERVAL 8 DAY, "
                "reason = 'HTTP 404 Not Found'")
    run()    # asked again, gone for good now
    run()    # remembered again: not asked
    assert server.hits["/gone/story"] == 2
    [(reason, age)] = con.execute("SELECT reason, now() - rejected_at FROM rejected_url").fetchall()
    assert reason == "HTTP 410 Gone" and age.total_seconds() < 600
    con.close()

"""Links robots.txt disallows are remembered, so they do not hold the cap's places for ever.

An outlet's feed may list article links its robots.txt disallows. They are not fetched
(`skipped`, "disallowed by robots.txt"), and they used to be forgotten as well: every run took
them for new links, `[fetch] max_articles_per_source` counted them among the newest N, and an
outlet whose newest links were disallowed never had its other links fetched. A link a rule of
robots.txt disallows is now remembered in `rejected_url` with that reason, shown as skipped
once, in the run that met it, and asked again after `[fetch] retry_rejected_days`, when a
lifted rule gives its article (and the link leaves `rejected_url`). A robots.txt that answers
5xx disallows everything for now (RFC 9309, flows/stages/robots.py): those links are not
remembered, and the next run asks robots.txt and them again.

Real Prefect flow, real DuckDB file, real HTTP servers on 127.0.0.1 counting requests.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import duckdb
import pytest

from flows.ingest import ingest_flow
from flows.stages.dedup import canonical_url
from tests import faults as f
from tests.faultserver import FaultServer, Route, send
from tests.helpers import rows

T0 = datetime(2025, 3, 1, tzinfo=UTC)
RULES = b"User-agent: *\nDisallow: /rb/members/\n"
NO_RULES = b"User-agent: *\nAllow: /\n"


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer({}) as srv:
        yield srv


def _config(tmp_path: Path, servers: Sequence[FaultServer], key: str, feed: str,
            cap: int = 200) -> Path:
    cfg = tmp_path / "sources.toml"
    hosts = ", ".join(f'"{s.base.removeprefix("http://")}"' for s in servers)
    cfg.write_text(f"[fetch]\nallowed_private_hosts = [{hosts}]\nretries = 0\nhost_delay = 0\n"
                   f"timeout = 5\nmax_articles_per_source = {cap}\nretry_rejected_days = 7\n\n"
                   '[runner]\nkind = "threads"\n\n'
                   f'[digest]\noutbox = "{tmp_path / "outbox"}"\n\n'
                   f'[[sources]]\nkey = "{key}"\nname = "Outlet {key}"\nfeeds = ["{feed}"]\n',
                   "utf-8")
    return cfg


def _dated_rss(base: str, links: Sequence[tuple[str, datetime]]) -> bytes:
    items = "".join(f"<item><title>{link}</title><link>{base}{link}</link>"
                    f"<pubDate>{format_datetime(when)}</pubDate></item>" for link, when in links)
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>t</title>{items}</channel></rss>").encode()


def _robots(text: list[bytes]) -> Route:
    """robots.txt answering `text[0]`, which the test may change."""
    return lambda h: send(h, 200, text[0], "text/plain")


def _skipped(db: Path, source: str) -> list[tuple]:
    """The page rows logged as skipped: (run_id, url, reason)."""
    return sorted(rows(db, "SELECT run_id, url, reason FROM fetches WHERE kind = 'page' AND "
                           f"outcome = 'skipped' AND source = '{source}'"))


@pytest.mark.usefixtures("prefect_harness")
def test_links_robots_txt_disallows_are_remembered_so_the_cap_moves_on_to_the_others(
        server: FaultServer, tmp_path: Path) -> None:
    """Eight links, a cap of 3: the three newest are disallowed. The first run meets them
    (skipped, logged once, remembered); the next runs fetch the five allowed links, 3 then 2,
    newest first, and ask neither robots.txt nor the disallowed links again."""
    blocked = [(f"/rb/members/m{k}", T0 + timedelta(days=10, hours=-k)) for k in range(3)]
    allowed = [(f"/rb/news/n{k}", T0 + timedelta(hours=k)) for k in range(5)]
    page = f.article_html(f.RU_PAGE).encode()
    server.routes.update({
        "/robots.txt": _robots([RULES]),
        "/rb/feed.xml": lambda h: send(h, 200, _dated_rss(server.base, blocked + allowed),
                                       "application/rss+xml"),
        **{p: (lambda h: send(h, 200, page)) for p, _ in blocked + allowed}})
    cfg = _config(tmp_path, [server], "rb", f"{server.base}/rb/feed.xml", cap=3)
    db = tmp_path / "w.duckdb"

    reports, fetched = [], []
    for _ in range(4):
        before = {p: server.hits[p] for p, _ in allowed}
        reports.append(ingest_flow(str(cfg), str(db)))
        fetched.append({p.rsplit("/", 1)[1] for p, _ in allowed if server.hits[p] > before[p]})

    assert [r.status for r in reports] == ["ok"] * 4
    assert [r.new_articles for r in reports] == [0, 3, 2, 0]
    assert fetched == [set(), {"n4", "n3", "n2"}, {"n1", "n0"}, set()]
    assert all(server.hits[p] == 0 for p, _ in blocked)
    assert all(server.hits[p] == 1 for p, _ in allowed)
    assert server.hits["/robots.txt"] == 1       # the first run's copy is a day good
    assert server.hits["/rb/feed.xml"] == 4

    remembered = rows(db, "SELECT canonical_url, source, reason FROM rejected_url")
    assert sorted(remembered) == sorted(
        (canonical_url(f"{server.base}{p}"), "rb", "disallowed by robots.txt")
        for p, _ in blocked)
    # Shown as skipped by robots.txt once, in the run that met them; not as failures.
    assert _skipped(db, "rb") == sorted(
        (reports[0].run_id, f"{server.base}{p}", "disallowed by robots.txt") for p, _ in blocked)
    assert [r[0] for r in rows(db, "SELECT skipped FROM outlet_runs WHERE source = 'rb' "
                                   "ORDER BY logged_at")] == [3, 0, 0, 0]
    [first] = reports[0].sources
    assert (first.ok, first.pages_fetched, first.pages_failed, first.error) == (
        True, 0, 0, None)
    assert rows(db, "SELECT count(*) FROM articles WHERE source = 'rb'") == [(5,)]


@pytest.mark.usefixtures("prefect_harness")
def test_a_disallowed_link_is_asked_again_after_retry_rejected_days_and_stored_once_allowed(
        server: FaultServer, tmp_path: Path) -> None:
    """The outlet lifts its rule: the remembered links are left alone until
    `retry_rejected_days` have passed (and the robots.txt copy has aged), then fetched, stored,
    and no longer remembered as rejected."""
    rules = [RULES]
    page = f.article_html(f.RU_PAGE).encode()
    links = ["/rb/news/a", "/rb/members/b", "/rb/members/c"]
    server.routes.update({
        "/robots.txt": _robots(rules),
        "/rb/feed.xml": lambda h: send(h, 200, f.rss(server.base, *links),
                                       "application/rss+xml"),
        **{p: (lambda h: send(h, 200, page)) for p in links}})
    cfg = _config(tmp_path, [server], "lift", f"{server.base}/rb/feed.xml")
    db = tmp_path / "w.duckdb"

    assert ingest_flow(str(cfg), str(db)).new_articles == 1
    assert rows(db, "SELECT count(*) FROM rejected_url") == [(2,)]
    rules[0] = NO_RULES
    assert ingest_flow(str(cfg), str(db)).new_articles == 0     # remembered: not asked
    assert (server.hits["/rb/members/b"], server.hits["/rb/members/c"]) == (0, 0)
    with duckdb.connect(str(db)) as con:    # a week and a day later
        con.execute("UPDATE rejected_url SET rejected_at = rejected_at - INTERVAL 8 DAY")
        con.execute("UPDATE robots_txt SET fetched_at = fetched_at - INTERVAL 8 DAY")
    again = ingest_flow(str(cfg), str(db))

    assert (again.status, again.new_articles) == ("ok", 2)
    assert (server.hits["/rb/members/b"], server.hits["/rb/members/c"]) == (1, 1)
    assert server.hits["/rb/news/a"] == 1 and server.hits["/robots.txt"] == 2
    assert rows(db, "SELECT count(*) FROM rejected_url") == [(0,)]
    assert rows(db, "SELECT count(*) FROM articles WHERE source = 'lift'") == [(3,)]


def _fails_once() -> Route:
    """robots.txt answering 503 once, then missing (404: everything allowed)."""
    asked: list[int] = []

    def route(h: BaseHTTPRequestHandler) -> None:
        asked.append(1)
        send(h, 503 if len(asked) == 1 else 404, b"")
    return route


@pytest.mark.usefixtures("prefect_harness")
def test_links_disallowed_because_robots_txt_answered_5xx_are_not_remembered(
        server: FaultServer, tmp_path: Path) -> None:
    """The feed on one host, the articles on another whose robots.txt answers 503 (everything
    disallowed for now): the links are skipped "for now", not remembered, and the feed keeps
    no validators, so the next run reads it in full, asks robots.txt again and fetches them."""
    with FaultServer({}) as articles:
        paths = [f"/story-{k}" for k in range(3)]
        page = f.article_html(f.TG_PAGE).encode()
        articles.routes.update({"/robots.txt": _fails_once(),
                                **{p: (lambda h: send(h, 200, page)) for p in paths}})
        not_modified: list[str] = []
        server.routes["/feed.xml"] = f.etag_feed(f.rss(articles.base, *paths), not_modified)
        cfg = _config(tmp_path, [server, articles], "down", f"{server.base}/feed.xml")
        db = tmp_path / "w.duckdb"

        first = ingest_flow(str(cfg), str(db))
        assert (first.status, first.new_articles) == ("ok", 0)
        assert all(articles.hits[p] == 0 for p in paths)
        assert rows(db, "SELECT count(*) FROM rejected_url") == [(0,)]
        assert {r[2] for r in _skipped(db, "down")} == {
            "disallowed by robots.txt for now (robots.txt answered HTTP 503)"}
        assert len(_skipped(db, "down")) == 3
        assert rows(db, "SELECT outcome, http_status FROM fetches WHERE kind = 'robots' AND "
                        f"url = '{articles.base}/robots.txt'") == [("soft", 503)]

        second = ingest_flow(str(cfg), str(db))
        assert (second.status, second.new_articles) == ("ok", 3)
        assert not_modified == [] and server.hits["/feed.xml"] == 2
        assert articles.hits["/robots.txt"] == 2
        assert all(articles.hits[p] == 1 for p in paths)
        assert rows(db, "SELECT count(*) FROM rejected_url") == [(0,)]

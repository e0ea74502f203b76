"""Two ways pages were lost or fetched for ever, each against a real HTTP server on 127.0.0.1.

A backlog: `[fetch] max_articles_per_source` used to cut the feed's first N links before the
known ones were dropped, and the feed's validators were kept, so a 500-link feed with a cap
of 100 gave 100 articles and then "0 new" (a 304) for ever. The cap now counts new links only,
newest first, and a feed that still has new links left keeps no validators, so the next run
reads it again: the backlog drains N a run.

An alias: a page whose <link rel=canonical> differs from the feed's link was stored under
the page's canonical URL, while the next run asked about the link's: it was fetched and built
again every run. The link is now remembered as naming the stored document (url_alias).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import duckdb
import pytest

from flows.harvest import _this_run, harvest_source
from flows.ingest import ingest_flow
from flows.settings import load_settings
from flows.stages.dedup import canonical_url
from flows.stages.fetch import make_client
from flows.stages.models import Article, FeedItem
from tests import faults as f
from tests.faultserver import FaultServer, send
from tests.helpers import article, memory_warehouse, rows
from warehouse import db as wdb
from warehouse import store

T0 = datetime(2025, 3, 1, tzinfo=UTC)


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer({}) as srv:
        yield srv


def _config(tmp_path: Path, srv: FaultServer, key: str, feeds: list[str], cap: int = 200
            ) -> Path:
    cfg = tmp_path / "sources.toml"
    listed = ", ".join(f'"{srv.base}{p}"' for p in feeds)
    cfg.write_text(f'[fetch]\nallowed_private_hosts = ["{srv.base.removeprefix("http://")}"]\n'
                   f"retries = 0\nhost_delay = 0\ntimeout = 5\nmax_articles_per_source = {cap}\n"
                   "\n[runner]\nkind = \"threads\"\n\n"
                   f'[digest]\noutbox = "{tmp_path / "outbox"}"\n\n'
                   f'[[sources]]\nkey = "{key}"\nname = "Outlet {key}"\nfeeds = [{listed}]\n',
                   "utf-8")
    return cfg


def _dated_rss(base: str, links: Sequence[tuple[str, datetime | None]]) -> bytes:
    items = "".join(
        f"<item><title>{link}</title><link>{base}{link}</link>"
        + (f"<pubDate>{format_datetime(when)}</pubDate>" if when else "") + "</item>"
        for link, when in links)
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>t</title>{items}</channel></rss>").encode()




# --- the backlog -----------------------------------------------------------------------------

@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.slow
def test_a_capped_backlog_drains_newest_first_then_the_feed_costs_a_304(
        server: FaultServer, tmp_path: Path) -> None:
    """250 links, listed oldest first as news sitemaps often are, a cap of 100: 100, 100 and
    50 new over three runs, newest first; the feed is read in full while links are left,
    then its validators are kept and the fourth run costs a 304."""
    paths = [f"/big/story-{k}" for k in range(250)]
    not_modified: list[str] = []
    page = f.article_html(f.RU_PAGE).encode()
    server.routes["/big/feed.xml"] = f.etag_feed(
        _dated_rss(server.base, [(p, T0 + timedelta(hours=k)) for k, p in enumerate(paths)]),
        not_modified)
    for p in paths:
        server.routes[p] = lambda h: send(h, 200, page)
    cfg, db = _config(tmp_path, server, "big", ["/big/feed.xml"], cap=100), tmp_path / "w.duckdb"

    fetched: list[set[int]] = []
    reports = []
    for _ in range(4):
        before = {p: server.hits[p] for p in paths}
        reports.append(ingest_flow(str(cfg), str(db)))
        fetched.append({k for k, p in enumerate(paths) if server.hits[p] > before[p]})

    assert [r.new_articles for r in reports] == [100, 100, 50, 0]
    assert [r.status for r in reports] == ["ok"] * 4
    assert fetched == [set(range(150, 250)), set(range(50, 150)), set(range(50)), set()]
    assert all(server.hits[p] == 1 for p in paths)
    # Validators kept only once nothing was left: runs 2 and 3 read the feed in full.
    assert server.hits["/big/feed.xml"] == 4 and not_modified == ["/big/feed.xml"]
    assert rows(db, "SELECT count(*) FROM articles WHERE source = 'big'") == [(250,)]


def test_known_links_are_dropped_before_the_cap_and_only_feeds_with_links_left_lose_validators(
        server: FaultServer, tmp_path: Path) -> None:
    """Two feeds of one outlet, a cap of 3. The newest link is known already: the cap takes the
    next three newest, across the feeds. Feed A has nothing left and keeps its validators;
    feed B, with links left for later, does not."""
    a = [("/two/a1", T0 + timedelta(days=10)), ("/two/a2", T0 + timedelta(days=9))]
    b = [(f"/two/b{k}", T0 + timedelta(days=k)) for k in range(1, 6)]
    page = f.article_html(f.RU_PAGE).encode()
    server.routes.update({
        "/two/a.xml": f.etag_feed(_dated_rss(server.base, a), []),
        "/two/b.xml": f.etag_feed(_dated_rss(server.base, b), []),
        **{p: (lambda h: send(h, 200, page)) for p, _ in a + b}})
    settings = load_settings(_config(tmp_path, server, "two", ["/two/a.xml", "/two/b.xml"],
                                     cap=3))
    known = {canonical_url(f"{server.base}/two/a1")}
    asked: list[list[str]] = []

    def is_known(urls: list[str]) -> set[str]:
        asked.append(urls)
        return known & set(urls)

    with make_client(settings.fetch) as client:
        harvest = harvest_source(client, settings.sources[0], settings, is_known)

    assert len(asked) == 1 and len(asked[0]) == 7     # every link announced was asked about
    assert {p: server.hits[p] for p, _ in a + b} == {
        "/two/a1": 0, "/two/a2": 1, "/two/b5": 1, "/two/b4": 1,
        "/two/b3": 0, "/two/b2": 0, "/two/b1": 0}
    assert harvest.error is None and len(harvest.articles) == 3
    assert [s.url for s in harvest.feed_states] == [f"{server.base}/two/a.xml"]


def test_the_cap_takes_the_newest_dated_links_then_undated_ones_in_the_order_announced() -> None:
    items = {"u1": FeedItem("u1"), "old": FeedItem("old", published_at=T0),
             "naive": FeedItem("naive", published_at=datetime(2025, 3, 3)),
             "u2": FeedItem("u2"), "new": FeedItem("new", published_at=T0 + timedelta(days=5))}
    new = list(items)
    assert _this_run(new, items, 10) == new
    assert _this_run(new, items, 2) == ["naive", "new"]          # in the order announced
    assert _this_run(new, items, 4) == ["u1", "old", "naive", "new"]
    assert _this_run(new, {k: FeedItem(k) for k in new}, 2) == ["u1", "old"]


# --- aliases ---------------------------------------------------------------------------------

def _with_canonical(html: str, canonical: str) -> bytes:
    assert "<head>" in html
    return html.replace("<head>", f'<head><link rel="canonical" href="{canonical}" />', 1
                        ).encode()


@pytest.mark.usefixtures("prefect_harness")
def test_a_page_whose_canonical_differs_from_its_feed_link_is_fetched_once(
        server: FaultServer, tmp_path: Path) -> None:
    """The feed (no validators: read in full every run) links `one.html?from=rss` and a short
    link `/m/one`, whose pages declare `one.html`, and `/r/2`, whose page declares
    `two.html`. Each is fetched once: the next run asks for no page. A link added later to
    the stored `one.html` is fetched once, dropped as a URL copy, and remembered too."""
    one = _with_canonical(f.article_html(f.RU_PAGE), f"{server.base}/news/one.html")
    two = _with_canonical(f.article_html(f.TG_PAGE), f"{server.base}/news/two.html")
    links = ["/news/one.html?from=rss", "/m/one", "/r/2"]
    server.routes.update({
        "/alias/feed.xml": lambda h: send(h, 200, f.rss(server.base, *links),
                                          "application/rss+xml"),
        "/news/one.html": lambda h: send(h, 200, one),
        "/m/one": lambda h: send(h, 200, one),
        "/share/one": lambda h: send(h, 200, one),
        "/r/2": lambda h: send(h, 200, two),
    })
    pages = ["/news/one.html", "/m/one", "/r/2", "/share/one", "/news/two.html"]
    cfg, db = _config(tmp_path, server, "alias", ["/alias/feed.xml"]), tmp_path / "w.duckdb"

    first = ingest_flow(str(cfg), str(db))
    assert (first.status, first.new_articles) == ("ok", 2)
    after_first = {p: server.hits[p] for p in pages}
    assert after_first == {"/news/one.html": 1, "/m/one": 1, "/r/2": 1, "/share/one": 0,
                           "/news/two.html": 0}
    second = ingest_flow(str(cfg), str(db))
    assert (second.status, second.new_articles) == ("ok", 0)
    assert {p: server.hits[p] for p in pages} == after_first     # no page asked again
    assert server.hits["/alias/feed.xml"] == 2

    links.append("/share/one")       # a new link to the stored page: asked once, then known
    third = ingest_flow(str(cfg), str(db))
    fourth = ingest_flow(str(cfg), str(db))
    assert [r.new_articles for r in (third, fourth)] == [0, 0]
    assert server.hits["/share/one"] == 1
    assert {p: server.hits[p] for p in pages if p != "/share/one"} == {
        p: n for p, n in after_first.items() if p != "/share/one"}

    stored = dict(rows(db, "SELECT canonical_url, id FROM articles WHERE source = 'alias'"))
    canon = {name: canonical_url(f"{server.base}{name}") for name in
             ("/news/one.html", "/news/two.html", "/news/one.html?from=rss", "/m/one", "/r/2",
              "/share/one")}
    assert stored.keys() == {canon["/news/one.html"], canon["/news/two.html"]}
    assert dict(rows(db, "SELECT canonical_url, doc_id FROM url_alias")) == {
        canon["/news/one.html?from=rss"]: stored[canon["/news/one.html"]],
        canon["/m/one"]: stored[canon["/news/one.html"]],
        canon["/share/one"]: stored[canon["/news/one.html"]],
        canon["/r/2"]: stored[canon["/news/two.html"]]}


class _Statements:
    """A connection that records the statements run through it."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.seen: list[str] = []

    def execute(self, query: str, *args: object) -> duckdb.DuckDBPyConnection:
        self.seen.append(query)
        return self.con.execute(query, *args)

    def __getattr__(self, name: str) -> object:
        return getattr(self.con, name)


def _linked(title: str, text: str, canonical: str, link: str) -> Article:
    return dataclasses.replace(article(title, text, canonical), url=link)


def test_aliases_are_written_with_the_batch_in_one_statement_also_for_url_copies(
        tmp_path: Path) -> None:
    con = memory_warehouse(tmp_path)
    texts = [f"Story {k} about Tajik migrant workers and the patent fee in Moscow, " * 10
             for k in range(4)]
    batch = [_linked("S0", texts[0], "https://e.org/0", "https://e.org/0?from=rss"),
             _linked("S1", texts[1], "https://e.org/1", "https://e.org/s/1"),
             article("S2", texts[2], "https://e.org/2"),          # link = canonical: no alias
             _linked("S0 again", texts[0], "https://e.org/0", "https://www.e.org/amp/0")]
    counting = _Statements(con)
    with wdb.transaction(con):
        stored = store.insert_articles(counting, batch, "r1", 0.5, 4)  # type: ignore[arg-type]
    assert [s is not None for s in stored] == [True, True, True, False]
    assert sum("url_alias" in q and q.startswith("INSERT") for q in counting.seen) == 1
    ids = {a.canonical_url: s.id for a, s in zip(batch, stored, strict=True) if s}
    aliases = dict(con.execute("SELECT canonical_url, doc_id FROM url_alias").fetchall())
    assert aliases == {"https://e.org/0?from=rss": ids["https://e.org/0"],
                       "https://e.org/s/1": ids["https://e.org/1"],
                       "https://e.org/amp/0": ids["https://e.org/0"]}

    # A later batch: a URL copy of a stored page through a new link is dropped, its link
    # remembered; a known alias is left pointing where it did; a failed batch leaves none.
    later = [_linked("S1 shared", texts[1], "https://e.org/1", "https://e.org/share/1"),
             _linked("S3", texts[3], "https://e.org/3", "https://e.org/0?from=rss")]
    with pytest.raises(RuntimeError), wdb.transaction(con):
        store.insert_articles(con, later, "r2", 0.5, 4)
        raise RuntimeError("the batch fails after the insert")
    assert store.known_urls(con, ["https://e.org/share/1"]) == set()
    with wdb.transaction(con):
        again = store.insert_articles(con, later, "r2", 0.5, 4)
    assert again[0] is None and again[1] is not None
    assert dict(con.execute("SELECT canonical_url, doc_id FROM url_alias").fetchall()) == {
        **aliases, "https://e.org/share/1": ids["https://e.org/1"]}
    assert store.known_urls(con, ["https://e.org/share/1", "https://e.org/amp/0",
                                  "https://e.org/s/1", "https://e.org/nope"]) == {
        "https://e.org/share/1", "https://e.org/amp/0", "https://e.org/s/1"}
    con.close()

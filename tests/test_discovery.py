"""Discovery (feeds, sitemaps, listing pages), politeness and conditional GET, for real."""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from bench.bench_fetch import page
from flows import harvest as harvest_module
from flows.harvest import harvest_source
from flows.ingest import ingest_flow
from flows.replica.server import ReplicaServer
from flows.settings import FetchSettings, Settings, Source
from flows.stages.discover import FeedParse, parse_listing, parse_sitemap
from flows.stages.fetch import address_refusal, make_client
from flows.stages.models import FetchResult
from flows.stages.page import page_canonical
from flows.stages.robots import RobotsCache, RobotsCopy
from flows.status import render_status
from tests import faults as f
from tests.conftest import dead_port
from tests.faultserver import FaultServer, Route, send
from warehouse.db import connect

NEWS = b"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
        xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">
  <url><loc>https://example.org/news/new</loc>
    <news:news><news:publication_date>2026-11-20T10:00:00+00:00</news:publication_date>
      <news:title>Fresh</news:title></news:news></url>
  <url><loc>/news/old</loc><lastmod>2020-01-01</lastmod></url>
</urlset>"""


def _index(*locs: str) -> bytes:
    inner = "".join(f"<sitemap><loc>{loc}</loc></sitemap>" for loc in locs)
    return (f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{inner}'
            "</sitemapindex>").encode()


def test_news_sitemap_with_lookback() -> None:
    got = parse_sitemap(NEWS, "https://example.org/sitemap.xml")
    assert [i.url for i in got.items] == ["https://example.org/news/new",
                                          "https://example.org/news/old"]
    assert got.items[0].title == "Fresh" and got.items[0].published_at is not None
    recent = parse_sitemap(gzip.compress(NEWS), "https://example.org/s.xml.gz",
                           since=datetime(2026, 1, 1, tzinfo=UTC))
    assert [i.url for i in recent.items] == ["https://example.org/news/new"]


def test_sitemap_index_and_refusals() -> None:
    assert parse_sitemap(_index("/a.xml", "/b.xml"), "https://e.org/").children == (
        "https://e.org/a.xml", "https://e.org/b.xml")
    assert "refused" in (parse_sitemap(f.LAUGHS, "https://e.org/").error or "")
    assert "malformed" in (parse_sitemap(b"<urlset><url>", "https://e.org/").error or "")
    assert "not a sitemap" in (parse_sitemap(b"<html/>", "https://e.org/").error or "")


def test_undated_numbered_sitemaps_are_taken_highest_first() -> None:
    """WordPress lists its post sitemaps oldest first and undated: new posts land in the
    highest. Taken as listed, max_sitemaps kept a big outlet on its oldest 50 for good."""
    posts = [f"/wp-sitemap-posts-post-{n}.xml" for n in range(1, 121)]
    index = _index("/wp-sitemap-posts-page-1.xml", *posts, "/wp-sitemap-users-1.xml")
    got = parse_sitemap(index, "https://e.org/wp-sitemap.xml").children
    assert got[0] == "https://e.org/wp-sitemap-posts-page-1.xml"   # families as listed
    assert got[1:4] == tuple(f"https://e.org/wp-sitemap-posts-post-{n}.xml"
                             for n in (120, 119, 118))
    assert got[-1] == "https://e.org/wp-sitemap-users-1.xml" and len(got) == 122
    months = [f"/sitemap-{y}-{m:02d}.xml" for y in (2025, 2026) for m in range(1, 13)]
    for listed in (months, months[::-1]):   # whichever way the index lists them
        got = parse_sitemap(_index("/sitemap-news.xml", *listed), "https://e.org/").children
        assert got[:3] == ("https://e.org/sitemap-news.xml", "https://e.org/sitemap-2026-12.xml",
                           "https://e.org/sitemap-2026-11.xml")
    dated = _index("/a.xml", "/b.xml").replace(
        b"<loc>/b.xml</loc>", b"<loc>/b.xml</loc><lastmod>2026-12-01</lastmod>")
    assert parse_sitemap(dated, "https://e.org/").children == (   # a dated one first
        "https://e.org/b.xml", "https://e.org/a.xml")


def test_listing_links_match_the_pattern_and_resolve() -> None:
    html = ('<a href="/news/1">One</a><a href="news/2#top">Two</a><a href="/about">x</a>'
            '<a href="javascript:alert(1)">j</a><a href="/news/1">dup</a>')
    got = parse_listing(html, "https://e.org/list/", r"/news/\d+$")
    assert [(i.url, i.title) for i in got] == [("https://e.org/news/1", "One"),
                                                ("https://e.org/list/news/2", "Two")]


def test_canonical_link_and_amp() -> None:
    page = "https://www.e.org/amp/news/1?utm_source=x"
    assert page_canonical(page, "/news/1", "fallback") == "https://e.org/news/1"
    assert page_canonical(page, "https://evil.example/x", "fb") == "https://e.org/news/1"
    assert page_canonical("https://e.org/news/1/amp", None, "fb") == "https://e.org/news/1"
    assert page_canonical("https://e.org/news/1", None, "fb") == "fb"


def test_every_resolved_address_is_checked() -> None:
    def two(host: str, port: int) -> list[str]:
        return ["93.184.216.34", "10.0.0.7"]

    assert "10.0.0.7" in (address_refusal("http://mixed.example/", False, (), two) or "")
    assert address_refusal("http://mixed.example/", True, (), two) is None
    assert address_refusal("http://127.0.0.1:81/", False, ("127.0.0.1:81",)) is None
    assert "127.0.0.1" in (address_refusal("http://127.0.0.1:82/", False, ("127.0.0.1:81",))
                           or "")
    assert "ff02::1" in (address_refusal("http://[ff02::1]/", False) or "")


def _settings(base: str, source: Source, **fetch: object) -> Settings:
    fs = FetchSettings(allowed_private_hosts=(base.removeprefix("http://"),), timeout=2,
                       host_delay=0, retries=0, **fetch)  # type: ignore[arg-type]
    return Settings(path=Path("t.toml"), sources=(source,), fetch=fs)


def test_sitemap_index_listing_and_per_host_limit_at_the_server() -> None:
    page = f.article_html(f.RU_PAGE)
    routes = {
        "/sitemap_index.xml": lambda h: send(h, 200, _index("/sm/1.xml", "/sm/deep.xml"),
                                             "application/xml"),
        "/sm/deep.xml": lambda h: send(h, 200, _index("/sm/never.xml"), "application/xml"),
        "/list": lambda h: send(h, 200, "".join(
            f'<a href="/art/{i}">{i}</a>' for i in range(4, 8)).encode()),
    }
    with FaultServer(routes) as srv:
        srv.routes["/sm/1.xml"] = lambda h: send(h, 200, (
            '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">' + "".join(
                f"<url><loc>{srv.base}/art/{i}</loc></url>" for i in range(4)) + "</urlset>"
        ).encode(), "application/xml")
        for i in range(8):
            srv.routes[f"/art/{i}"] = _slow_page(page.replace("Стоимость", f"{i} Стоимость"))
        source = Source(key="mixed", name="Mixed", feeds=(),
                        sitemaps=(srv.base + "/sitemap_index.xml",),
                        listings=(srv.base + "/list",), link_pattern=r"/art/\d+$")
        settings = _settings(srv.base, source, per_host=2, concurrency=8, sitemap_depth=1)
        with make_client(settings.fetch) as client:
            h = harvest_source(client, source, settings, lambda urls: set())
        host = srv.base.removeprefix("http://")
        assert h.error is None and len(h.articles) == 8
        assert srv.hits["/sm/never.xml"] == 0        # deeper than sitemap_depth
        assert srv.peak[host] == 2                   # 8 workers, yet never more than 2


def _slow_page(html: str) -> Route:
    """An article that takes 0.2 s to serve, so that concurrent requests overlap."""
    body = html.encode()

    def route(h: BaseHTTPRequestHandler) -> None:
        time.sleep(0.2)
        send(h, 200, body)
    return route


def test_second_run_is_answered_304_and_parses_nothing(
        prefect_harness: None, demo_cfg: Path, db_path: Path, replica: object,
        monkeypatch: pytest.MonkeyPatch) -> None:
    first = ingest_flow(str(demo_cfg), str(db_path))
    assert first.status == "ok" and first.new_articles > 0
    pages = replica.article_hits()  # type: ignore[attr-defined]
    parsed: list[str] = []
    real = harvest_module.parse_feed

    def counting(body: bytes, url: str) -> FeedParse:
        parsed.append(url)
        return real(body, url)

    monkeypatch.setattr(harvest_module, "parse_feed", counting)
    second = ingest_flow(str(demo_cfg), str(db_path))
    assert second.status == "ok" and second.new_articles == 0 and parsed == []
    assert replica.article_hits() == pages  # type: ignore[attr-defined]
    con = connect(db_path, read_only=True)
    feeds = con.execute("SELECT DISTINCT outcome, http_status FROM fetches WHERE run_id = ? "
                        "AND kind = 'feed'", [second.run_id]).fetchall()
    assert feeds == [("not_modified", 304)]


def test_status_after_the_demo_and_with_a_dead_outlet(
        prefect_harness: None, demo_cfg: Path, db_path: Path) -> None:
    ingest_flow(str(demo_cfg), str(db_path))
    text, code = render_status(db_path)
    assert code == 0 and text.count(" ok ") >= 6 and "FAIL" not in text
    port = dead_port()
    cfg = demo_cfg.read_text("utf-8").replace("[digest]", "failing_after = 1\n\n[digest]", 1)
    cfg += (f'\n[[sources]]\nkey = "dead"\nname = "Dead outlet"\n'
            f'feeds = ["http://127.0.0.1:{port}/rss.xml"]\n')
    demo_cfg.write_text(cfg, encoding="utf-8")
    report = ingest_flow(str(demo_cfg), str(db_path))
    assert report.status == "partial"
    text, code = render_status(db_path)
    dead = next(line for line in text.splitlines() if line.startswith("dead "))
    assert code == 3 and "FAILING x1" in dead and "connection failed" in dead
    con = connect(db_path, read_only=True)
    assert con.execute("SELECT source FROM failing_outlets").fetchall() == [("dead",)]
    runs = con.execute("SELECT source, requests, bytes, new_articles FROM outlet_runs "
                       "WHERE run_id = ? ORDER BY source", [report.run_id]).fetchall()
    assert ("dead", 2, 0, 0) in runs and all(r[1] >= 1 for r in runs)  # robots.txt + feed


def test_fetch_settings_defaults_are_polite() -> None:
    d = FetchSettings()
    assert d.respect_robots and d.per_host <= 2 and d.host_delay > 0
    assert replace(d, retries=0).retries == 0


def test_gzipped_sitemap_served_as_gzip_is_read() -> None:
    with FaultServer({}) as srv:
        today = datetime.now(UTC).strftime("%Y-%m-%d").encode()
        body = gzip.compress(NEWS.replace(b"https://example.org", srv.base.encode()).replace(
            b"2026-11-20", today))
        srv.routes["/sitemap.xml.gz"] = lambda h: send(h, 200, body, "application/x-gzip")
        srv.routes["/news/new"] = lambda h: send(h, 200, f.article_html(f.RU_PAGE).encode())
        srv.routes["/news/old"] = lambda h: send(h, 200, f.article_html(f.TG_PAGE).encode())
        source = Source(key="gz", name="Gz", feeds=(), sitemaps=(srv.base + "/sitemap.xml.gz",),
                        lookback_days=30)
        settings = _settings(srv.base, source)
        with make_client(settings.fetch) as client:
            h = harvest_source(client, source, settings, lambda urls: set())
    assert h.error is None and [a.url for a in h.articles] == [srv.base + "/news/new"]
    assert srv.hits["/news/old"] == 0      # older than lookback_days


@pytest.mark.parametrize(("text", "message"), [
    ('[fetch]\nallowed_private_hosts = ["10.0.0.5"]\n', "s.toml:2: fetch.allowed_private_hosts: "
                                                        "expected 'host:port'"),
    ("[fetch]\ndeadline = 0\n", "s.toml:2: fetch.deadline: must be > 0"),
    ("[fetch]\nper_host = 0\n", "s.toml:2: fetch.per_host: must be > 0"),
    ("[fetch]\nrobots_max_age_hours = 48\n",
     "s.toml:2: fetch.robots_max_age_hours: must be between 0 and 24"),
    ("[fetch]\nretry_rejected_days = -1\n",
     "s.toml:2: fetch.retry_rejected_days: must be >= 0 (0: never)"),
    ('[[sources]]\nkey = "x1"\nname = "X"\nlistings = ["https://e.org/news"]\n',
     "sources[0].link_pattern: is required with listings"),
    ('[[sources]]\nkey = "x1"\nname = "X"\nlistings = ["https://e.org/"]\nlink_pattern = "("\n',
     "sources[0].link_pattern: not a regular expression"),
    ('[[sources]]\nkey = "x1"\nname = "X"\n', "sources[0].feeds: is required (or sitemaps"),
])
def test_crawler_settings_are_validated(tmp_path: Path, text: str, message: str) -> None:
    from flows.settings import ConfigError, parse_settings

    source = '\n[[sources]]\nkey = "ok"\nname = "Ok"\nfeeds = ["https://e.org/rss"]\n'
    with pytest.raises(ConfigError) as err:
        parse_settings(text + ("" if "[[sources]]" in text else source), tmp_path / "s.toml")
    assert message in str(err.value)


def _urlset(*paths: str) -> str:
    urls = "".join(f"<url><loc>{{{{BASE}}}}{p}</loc></url>" for p in paths)
    return f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'


@pytest.mark.slow
def test_unchanged_sitemap_index_still_asks_its_children(
        prefect_harness: None, tmp_path: Path) -> None:
    """An index answering 304 says nothing of its children: a news sitemap behind it that
    changed is read (and its new article stored), the unchanged one costs a 304, and a run
    with nothing new fetches no article."""
    site = tmp_path / "site"
    (site / "news").mkdir(parents=True)
    for n in range(3):
        (site / "news" / f"{n}.html").write_bytes(page(900 + n))
    (site / "sitemap_index.xml").write_text(
        '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        "<sitemap><loc>{{BASE}}/sm/news.xml</loc></sitemap>"
        "<sitemap><loc>{{BASE}}/sm/archive.xml</loc></sitemap></sitemapindex>", "utf-8")
    (site / "sm").mkdir()
    (site / "sm" / "news.xml").write_text(_urlset("/news/0.html"), "utf-8")
    (site / "sm" / "archive.xml").write_text(_urlset("/news/1.html"), "utf-8")
    db = tmp_path / "warehouse.duckdb"
    with ReplicaServer(site) as srv:
        cfg = tmp_path / "sources.toml"
        cfg.write_text(f'[fetch]\nallowed_private_hosts = ["{srv.base_url[7:]}"]\n'
                       f'host_delay = 0.1\n\n[digest]\noutbox = "{tmp_path / "outbox"}"\n\n'
                       f'[[sources]]\nkey = "indexed"\nname = "Indexed outlet"\n'
                       f'sitemaps = ["{srv.base_url}/sitemap_index.xml"]\n', "utf-8")
        first = ingest_flow(str(cfg), str(db))
        assert first.status == "ok" and first.new_articles == 2

        # A new story in the news sitemap; the index itself is byte for byte the same.
        (site / "sm" / "news.xml").write_text(_urlset("/news/2.html", "/news/0.html"), "utf-8")
        srv.hits.clear()
        srv.not_modified.clear()
        second = ingest_flow(str(cfg), str(db))
        assert second.status == "ok" and second.new_articles == 1
        assert srv.hits["/robots.txt"] == 0    # the first run's answer (404) is a day good
        assert srv.not_modified == {"/sitemap_index.xml": 1, "/sm/archive.xml": 1}
        assert srv.hits["/sm/news.xml"] == 1 and srv.article_hits() == 1
        con = connect(db, read_only=True)
        urls = [u for (u,) in con.execute("SELECT url FROM articles ORDER BY url").fetchall()]
        con.close()
        assert [u.rsplit("/", 1)[1] for u in urls if "/news/" in u] == [
            "0.html", "1.html", "2.html"]

        srv.hits.clear()
        srv.not_modified.clear()
        third = ingest_flow(str(cfg), str(db))   # nothing new anywhere
        assert third.status == "ok" and third.new_articles == 0
        assert srv.article_hits() == 0
        assert srv.not_modified == {"/sitemap_index.xml": 1, "/sm/news.xml": 1,
                                    "/sm/archive.xml": 1}


def test_robots_txt_from_an_earlier_run_is_used_and_only_lasting_answers_are_kept() -> None:
    now = datetime.now(UTC)
    cache = RobotsCache("migwatch", [RobotsCopy("https://a.org", 200, "User-agent: *\n"
                                                "Disallow: /private/\n", now)])
    asked: list[str] = []

    def get(status: int, body: bytes = b"") -> Callable[[str], FetchResult]:
        def fetch(url: str) -> FetchResult:
            asked.append(url)
            outcome = "ok" if status == 200 else ("soft" if status >= 500 else "hard")
            return FetchResult(url, outcome, http_status=status, body=body)
        return fetch

    assert cache.check("https://a.org/private/x", get(200)) == (False, None)   # not asked
    assert cache.check("https://a.org/news/1", get(200))[0] is True
    assert cache.check("https://b.org/x", get(404))[0] is True                 # missing
    assert cache.check("https://c.org/x", get(503))[0] is False                # for now
    assert cache.check("https://d.org/x", get(200, b"User-agent: *\nDisallow: /\n"))[0] is False
    assert asked == ["https://b.org/robots.txt", "https://c.org/robots.txt",
                     "https://d.org/robots.txt"]
    kept = {c.origin: (c.http_status, c.text) for c in cache.take_new()}
    assert kept == {"https://b.org": (404, None),
                    "https://d.org": (200, "User-agent: *\nDisallow: /\n")}   # no 503
    assert cache.take_new() == []


def test_workers_are_warmed_only_for_an_outlet_with_new_pages(replica: ReplicaServer) -> None:
    """A run with nothing new starts no build workers, nor the server they fork from."""
    from concurrent.futures import Future

    from flows.stages.page import BuildSpec, Built, PageJob, build_pages

    def submit(spec: BuildSpec, jobs: list[PageJob]) -> Future[list[Built]]:
        done: Future[list[Built]] = Future()
        done.set_result(build_pages(spec, jobs))
        return done

    source = Source(key="fergana", name="Fergana", feeds=(replica.base_url + "/fergana/rss.xml",))
    settings = _settings(replica.base_url, source)
    warmed: list[str] = []
    with make_client(settings.fetch) as client:
        h = harvest_source(client, source, settings, lambda urls: set(urls), submit=submit,
                           warm=lambda: warmed.append("known"))
        assert h.error is None and h.articles == () and warmed == []
        h = harvest_source(client, source, settings, lambda urls: set(), submit=submit,
                           warm=lambda: warmed.append("new"))
    assert h.articles and warmed == ["new"]

"""One outlet's fault costs that outlet, and only what the fault touches.

- A feed, sitemap or listing page listing one link that is no URL at all (`http://[oops/x`,
  a port out of range) used to crash the whole outlet's harvest ("harvest crashed:
  ValueError"), every run, with no fetch-log row: its good links were never fetched. The bad
  link is now dropped with one `hard` row ("invalid URL: ...", its URL masked and cut short)
  and the rest goes on.
- A page, listing page, feed or sitemap declaring a charset that cannot read it
  (`punycode`, one Python does not know) used to crash it too (UnicodeError, LookupError):
  it is read as when nothing is declared.
- A sitemap index of many sitemaps was read one sitemap after another, each up to its
  `deadline`: thirty that accept and never answer held one outlet for minutes, a thousand
  for most of a day. At most `[fetch] max_sitemaps` are asked (newest first, in parallel
  within the politeness gate), and `[fetch] outlet_budget` bounds the outlet's time: past
  it no request starts, what was fetched is stored, the outlet has failed saying why, and
  the next run reads its feeds in full (no validators kept) and takes up the rest.

Real Prefect flow, real DuckDB file, real HTTP servers on 127.0.0.1 counting requests; some
tests drive `harvest_source` without Prefect.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from bench.bench_fetch import page
from flows.harvest import harvest_source
from flows.ingest import ingest_flow
from flows.settings import ConfigError, FetchSettings, Settings, Source, parse_settings
from flows.stages.dedup import canonical_url
from flows.stages.fetch import make_client
from flows.stages.models import Harvest
from tests import faults as f
from tests.faultserver import FaultServer, Route, send
from tests.helpers import rows

SM = "http://www.sitemaps.org/schemas/sitemap/0.9"


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer({}) as srv:
        yield srv


def _config(tmp_path: Path, srv: FaultServer, sources: str, fetch: str = "") -> Path:
    cfg = tmp_path / "sources.toml"
    cfg.write_text(f'[fetch]\nallowed_private_hosts = ["{srv.base.removeprefix("http://")}"]\n'
                   f"retries = 0\nhost_delay = 0\ntimeout = 5\n{fetch}\n"
                   '[runner]\nkind = "threads"\n\n'
                   f'[digest]\noutbox = "{tmp_path / "outbox"}"\n\n{sources}', "utf-8")
    return cfg


def _settings(srv: FaultServer, source: Source, **fetch: object) -> Settings:
    values: dict[str, object] = {"timeout": 5, "host_delay": 0, "retries": 0, **fetch}
    fs = FetchSettings(allowed_private_hosts=(srv.base.removeprefix("http://"),),
                       **values)  # type: ignore[arg-type]
    return Settings(path=Path("t.toml"), sources=(source,), fetch=fs)


def _harvest(srv: FaultServer, source: Source, **fetch: object) -> Harvest:
    settings = _settings(srv, source, **fetch)
    with make_client(settings.fetch) as client:
        return harvest_source(client, source, settings, lambda urls: set())


def _article(n: int) -> Route:
    body = page(n)
    return lambda h: send(h, 200, body)


def _silent(h: BaseHTTPRequestHandler) -> None:
    """Accepts the request and never answers (only the client's deadline ends it)."""
    time.sleep(60)


def _rss(*links: str) -> bytes:
    """Links as written (absolute, or anything else a feed may hold)."""
    items = "".join(f"<item><title>t{k}</title><link>{link}</link></item>"
                    for k, link in enumerate(links))
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>t</title>{items}</channel></rss>").encode()


def _urlset(*links: str) -> bytes:
    urls = "".join(f"<url><loc>{link}</loc></url>" for link in links)
    return f'<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="{SM}">{urls}</urlset>'.encode()


def _index(*children: tuple[str, str | None]) -> bytes:
    """A sitemap index: (URL, lastmod or None) per sitemap, in the order listed."""
    inner = "".join(f"<sitemap><loc>{loc}</loc>"
                    + (f"<lastmod>{when}</lastmod>" if when else "") + "</sitemap>"
                    for loc, when in children)
    return (f'<?xml version="1.0" encoding="UTF-8"?><sitemapindex xmlns="{SM}">{inner}'
            "</sitemapindex>").encode()


# A link whose host is an unclosed IPv6 literal, 70 KB long and carrying secrets: it must
# show in the fetch log masked and cut short.
LONG_BAD = "http://user:hunter2pw@[oops/" + "a" * 70_000 + "?api_key=SECRETKEY123"


@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.timeout(240)
def test_a_link_that_is_no_url_is_dropped_with_one_row_and_the_rest_is_stored(
        server: FaultServer, tmp_path: Path) -> None:
    b = server.base
    server.routes.update({
        "/bad/feed.xml": lambda h: send(h, 200, _rss(
            f"{b}/bad/story", "http://[oops/x", "http://127.0.0.1:99999/x", LONG_BAD),
            "application/rss+xml"),
        "/bad/sitemap.xml": lambda h: send(h, 200, _index(
            (f"{b}/bad/news.xml", None), ("http://[oops/sitemap.xml", None)),
            "application/xml"),
        "/bad/news.xml": lambda h: send(h, 200, _urlset(f"{b}/bad/news", "http://h:0/port0"),
                                        "application/xml"),
        "/bad/list": lambda h: send(h, 200, (
            b'<html><body><a href="/bad/listed">listed</a> <a href="http://[oops/x">x</a>'
            b"</body></html>")),
        "/bad/story": _article(1),
        "/bad/news": _article(2),
        "/bad/listed": _article(3),
    })
    cfg = _config(tmp_path, server, (
        f'[[sources]]\nkey = "bad"\nname = "Bad links"\nfeeds = ["{b}/bad/feed.xml"]\n'
        f'sitemaps = ["{b}/bad/sitemap.xml"]\nlistings = ["{b}/bad/list"]\n'
        'link_pattern = "/bad/|/x$"\n'))
    db = tmp_path / "w.duckdb"

    first = ingest_flow(str(cfg), str(db))
    second = ingest_flow(str(cfg), str(db))   # every run: the same rows, nothing fetched

    assert [(r.status, r.new_articles) for r in (first, second)] == [("ok", 3), ("ok", 0)]
    assert [s.error for r in (first, second) for s in r.sources] == [None, None]
    for path in ("/bad/story", "/bad/news", "/bad/listed"):
        assert server.hits[path] == 1, path
    invalid = rows(db, "SELECT run_id, kind, url, outcome, reason FROM fetches "
                       "WHERE reason LIKE 'invalid URL:%' ORDER BY run_id, url")
    for run in (first, second):
        mine = [r[1:] for r in invalid if r[0] == run.run_id]
        by_url = {url[:30]: (kind, outcome, reason) for kind, url, outcome, reason in mine}
        assert len(mine) == 5   # one row each, the one listed twice (feed, listing) too
        assert by_url["http://[oops/x"] == (
            "page", "hard", f"invalid URL: Invalid IPv6 URL (listed by {b}/bad/feed.xml)")
        assert by_url["http://127.0.0.1:99999/x"][2].startswith(
            "invalid URL: Port out of range 0-65535")
        assert by_url["http://h:0/port0"][2] == (
            f"invalid URL: port 0 (listed by {b}/bad/news.xml)")
        assert by_url["http://[oops/sitemap.xml"][:2] == ("sitemap", "hard")
        [long_url] = [url for _k, url, _o, _r in mine if url.startswith("http://***@[oops/aaa")]
        assert len(long_url) < 400 and long_url.endswith(f"({len(LONG_BAD)} characters)")
    assert not [r for r in invalid if "hunter2pw" in str(r) or "SECRETKEY" in str(r)]


def _charset_routes(srv: FaultServer) -> None:
    b = srv.base
    ru = f.article_html(f.RU_PAGE)
    srv.routes.update({
        # The tester's listing page: <meta charset="punycode"> (UnicodeError).
        "/cs/list": lambda h: send(h, 200, (
            b'<html><head><meta charset="punycode"></head><body>'
            b'<a href="/cs/listed">a</a> <<<</body></html>'), "text/html"),
        # A feed in windows-1251 that declares an encoding Python does not know.
        "/cs/feed.xml": lambda h: send(h, 200, (
            '<?xml version="1.0" encoding="x-unknown-1251"?><rss version="2.0"><channel>'
            "<title>Новости</title><item><title>Патент</title>"
            f"<link>{b}/cs/story</link></item></channel></rss>").encode("cp1251"),
            "application/rss+xml"),
        # A sitemap declaring punycode.
        "/cs/sitemap.xml": lambda h: send(h, 200, _urlset(f"{b}/cs/mapped").replace(
            b'encoding="UTF-8"', b'encoding="punycode"'), "application/xml"),
        # A page whose HTTP header names punycode: built from UTF-8 all the same.
        "/cs/story": lambda h: send(h, 200, ru.encode(), "text/html; charset=punycode"),
        "/cs/listed": _article(11),
        "/cs/mapped": _article(12),
    })


@pytest.mark.timeout(120)
def test_a_declared_charset_that_cannot_read_the_bytes_is_passed_over(
        server: FaultServer) -> None:
    _charset_routes(server)
    b = server.base
    source = Source(key="cs", name="Charsets", feeds=(f"{b}/cs/feed.xml",),
                    sitemaps=(f"{b}/cs/sitemap.xml",), listings=(f"{b}/cs/list",),
                    link_pattern="/cs/")
    h = _harvest(server, source)

    assert h.error is None and (h.feeds_ok, h.feeds_failed) == (3, 0)
    assert sorted(a.url.rsplit("/", 1)[1] for a in h.articles) == ["listed", "mapped", "story"]
    story = next(a for a in h.articles if a.url.endswith("/cs/story"))
    assert f.RU_PHRASE in story.text
    assert [(e.kind, e.reason) for e in h.events if e.kind in ("feed", "listing", "sitemap")
            ] == [("feed", "1 links"), ("sitemap", "1 links"), ("listing", "1 links")]


@pytest.mark.timeout(120)
def test_an_index_is_read_newest_first_up_to_max_sitemaps_in_parallel(
        server: FaultServer) -> None:
    """12 sitemaps listed oldest first, dated; max_sitemaps = 5 asks the index and its 4
    newest, two at a time (per_host), and says in one row what it left. A cap is no fault:
    the outlet is ok."""
    b = server.base
    children = [(f"{b}/idx/{m:02d}.xml", f"2025-{m:02d}-01") for m in range(1, 13)]
    server.routes["/idx/index.xml"] = lambda h: send(h, 200, _index(*children),
                                                     "application/xml")
    for m in range(1, 13):
        body = _urlset(f"{b}/idx/a{m}")

        def slow(h: BaseHTTPRequestHandler, body: bytes = body) -> None:
            time.sleep(0.5)   # long enough for two requests to overlap
            send(h, 200, body, "application/xml")
        server.routes[f"/idx/{m:02d}.xml"] = slow
        server.routes[f"/idx/a{m}"] = _article(20 + m)
    source = Source(key="idx", name="Indexed", feeds=(), sitemaps=(f"{b}/idx/index.xml",))
    h = _harvest(server, source, max_sitemaps=5, per_host=2)

    asked = sorted(p for p in server.hits if p.startswith("/idx/") and p.endswith(".xml"))
    assert asked == ["/idx/09.xml", "/idx/10.xml", "/idx/11.xml", "/idx/12.xml",
                     "/idx/index.xml"]
    assert h.error is None and len(h.articles) == 4
    assert server.peak[b.removeprefix("http://")] == 2
    [skipped] = [e for e in h.events if e.outcome == "skipped"]
    assert (skipped.kind, skipped.url) == ("sitemap", f"{b}/idx/08.xml")
    assert skipped.reason is not None and "nor 7 more sitemaps" in skipped.reason
    assert "max_sitemaps = 5" in skipped.reason
    # The index keeps its validators' row with its children, newest first.
    [index_state] = [s for s in h.feed_states if s.url.endswith("/index.xml")]
    assert index_state.children[:2] == (f"{b}/idx/12.xml", f"{b}/idx/11.xml")


@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.timeout(240)
@pytest.mark.slow
def test_an_outlet_past_its_budget_keeps_what_it_has_and_the_next_run_goes_on(
        server: FaultServer, tmp_path: Path) -> None:
    """The tester's outlet: a feed, and a sitemap index of 30 sitemaps that accept and never
    answer. A budget of 10 s: discovery stops starting requests at 5 s, the feed's article is
    still fetched and stored, the outlet has failed saying why, a healthy outlet beside it
    (on another host) is stored as usual, and no validators are kept: the next run reads the
    feed in full (no 304) and, the sitemaps answering now, takes up what the first left."""
    b = server.base
    not_modified: list[str] = []
    answering: dict[str, bool] = {"now": False}
    server.routes.update({
        "/slow/feed.xml": f.etag_feed(_rss(f"{b}/slow/story"), not_modified),
        "/slow/index.xml": lambda h: send(h, 200, _index(
            *[(f"{b}/slow/sm{k}.xml", None) for k in range(30)]), "application/xml"),
        "/slow/story": _article(41),
    })
    for k in range(30):
        urlset = _urlset(f"{b}/slow/a{k}")

        def child(h: BaseHTTPRequestHandler, urlset: bytes = urlset) -> None:
            if answering["now"]:
                send(h, 200, urlset, "application/xml")
            else:
                _silent(h)
        server.routes[f"/slow/sm{k}.xml"] = child
        server.routes[f"/slow/a{k}"] = _article(100 + k)
    with FaultServer({}) as other:
        other.routes.update({
            "/ok/feed.xml": lambda h: send(h, 200, _rss(f"{other.base}/ok/story"),
                                           "application/rss+xml"),
            "/ok/story": _article(42),
        })
        cfg = _config(tmp_path, server, (
            f'[[sources]]\nkey = "slow"\nname = "Slow index"\nfeeds = ["{b}/slow/feed.xml"]\n'
            f'sitemaps = ["{b}/slow/index.xml"]\n\n'
            f'[[sources]]\nkey = "fine"\nname = "Fine"\nfeeds = ["{other.base}/ok/feed.xml"]\n'),
            "deadline = 2\nper_host = 2\noutlet_budget = 10\n")
        cfg.write_text(cfg.read_text("utf-8").replace(
            "allowed_private_hosts = [", f'allowed_private_hosts = ["{other.base[7:]}", '), "utf-8")
        db = tmp_path / "w.duckdb"

        first = ingest_flow(str(cfg), str(db))

        assert (first.status, first.exit_code) == ("partial", 3)
        slow, fine = first.sources
        assert fine.ok and fine.new_articles == 1
        assert not slow.ok and slow.new_articles == 1 and slow.error is not None
        assert slow.error.split("; ")[0] == (
            f"outlet_budget of 10s exceeded: {30 - len(_asked(server))} sitemaps not read "
            "(discovery stops at half of it)")
        asked = _asked(server)
        # highest number first: undated numbered sitemaps (discover._undated_order)
        assert 0 < len(asked) < 30 and asked == list(range(30 - len(asked), 30))
        [skipped] = rows(db, "SELECT kind, url, reason FROM fetches WHERE source = 'slow' "
                             f"AND run_id = '{first.run_id}' AND outcome = 'skipped'")
        assert skipped[:2] == ("sitemap", f"{b}/slow/sm{29 - len(asked)}.xml")
        assert f"nor {29 - len(asked)} more" in skipped[2]
        assert "outlet_budget = 10s" in skipped[2]
        assert rows(db, "SELECT count(*) FROM feed_state WHERE source = 'slow'") == [(0,)]

        answering["now"] = True   # and room enough for 30 pages on a loaded machine
        cfg.write_text(cfg.read_text("utf-8").replace("outlet_budget = 10", "outlet_budget = 300"),
                       "utf-8")
        second = ingest_flow(str(cfg), str(db))

    assert second.status == "ok" and second.sources[0].new_articles == 30
    assert not_modified == []          # the feed was read in full: no validators were kept
    assert server.hits["/slow/story"] == 1


def _asked(server: FaultServer) -> list[int]:
    return [k for k in range(30) if server.hits[f"/slow/sm{k}.xml"]]


@pytest.mark.timeout(120)
def test_pages_past_the_budget_are_not_sent_and_are_left_for_the_next_run(
        server: FaultServer) -> None:
    """Eight new pages that never answer, two at a time (per_host), each cut at its deadline
    of 5 s, and a budget of 3 s: the six still waiting for their turn when the two in flight
    end are not sent, nor counted as failed; one row and the outlet's error say so, and no
    validators are kept."""
    b = server.base
    links = [f"/hang/{k}" for k in range(8)]
    server.routes["/hang/feed.xml"] = lambda h: send(h, 200, f.rss(b, *links),
                                                     "application/rss+xml")
    for link in links:
        server.routes[link] = _silent
    source = Source(key="hang", name="Hanging pages", feeds=(f"{b}/hang/feed.xml",))
    started = time.monotonic()
    h = _harvest(server, source, deadline=5, timeout=5, per_host=2, concurrency=8,
                 outlet_budget=3)
    took = time.monotonic() - started

    assert sum(server.hits[link] for link in links) == 2
    assert h.pages_failed == 2 and h.articles == () and h.feeds_ok == 1
    assert h.error == ("outlet_budget of 3s exceeded: 6 new pages not fetched, left for the "
                       "next run")
    [skipped] = [e for e in h.events if e.outcome == "skipped"]
    assert skipped.kind == "page" and skipped.reason == (
        "not fetched this run, nor 5 more new pages: [fetch] outlet_budget = 3s used up; "
        "left for the next run")
    assert len([e for e in h.events if e.kind == "page"]) == 3   # the two sent, and that one
    assert h.feed_states == ()
    assert took < 30     # not eight pages, two at a time, each to its deadline


def test_canonical_url_never_raises() -> None:
    """What discovery drops is its own identity, for whatever else computes one; an IPv6
    literal keeps its brackets (the canonical URL is a URL again)."""
    for bad in ("http://[oops/x", "http://127.0.0.1:99999/x", "http://h:port/x"):
        assert canonical_url(bad) == bad
    assert canonical_url("http://[::1]:8080/a/?utm_source=x") == "https://[::1]:8080/a"
    assert canonical_url(canonical_url("http://[::1]:8080/a")) == "https://[::1]:8080/a"


@pytest.mark.parametrize(("fetch", "message"), [
    ("max_sitemaps = 0", "s.toml:2: fetch.max_sitemaps: must be > 0, got 0"),
    ("max_sitemaps = 2.5", "s.toml:2: fetch.max_sitemaps: expected int"),
    ("outlet_budget = 0", "s.toml:2: fetch.outlet_budget: must be > 0, got 0.0"),
    ("outlet_budget = -5", "s.toml:2: fetch.outlet_budget: must be > 0, got -5.0"),
    ("outlet_budget = true", "s.toml:2: fetch.outlet_budget: expected a number"),
])
def test_the_new_fetch_keys_are_validated(tmp_path: Path, fetch: str, message: str) -> None:
    source = '\n[[sources]]\nkey = "ok"\nname = "Ok"\nfeeds = ["https://e.org/rss"]\n'
    with pytest.raises(ConfigError) as err:
        parse_settings(f"[fetch]\n{fetch}\n{source}", tmp_path / "s.toml")
    assert str(err.value).startswith(f"{tmp_path}/{message}"), str(err.value)
    good = parse_settings(f"[fetch]\nmax_sitemaps = 7\noutlet_budget = 90\n{source}",
                          tmp_path / "s.toml")
    assert (good.fetch.max_sitemaps, good.fetch.outlet_budget) == (7, 90.0)
    defaults = parse_settings(source, tmp_path / "s.toml").fetch
    assert (defaults.max_sitemaps, defaults.outlet_budget) == (50, 600.0)

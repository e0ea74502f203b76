"""Undated sitemaps beyond `[fetch] max_sitemaps` are asked in turn, not starved.

An index's sitemaps are asked newest first: dated ones by their <lastmod>, undated numbered
ones highest number first (WordPress's `wp-sitemap-posts-post-1.xml` ... `-120.xml`). With
more of them than `max_sitemaps`, the lowest numbers used to be left out of every run, for
good. Now the dated ones and the first few undated ones (`rotation.head_size`) are asked every
run, and the room left goes to the undated ones never asked, then to those asked longest ago
(table sitemap_asked): every sitemap of the index is asked within ceil(N / room) runs.

Pure stage tests, the warehouse's memory on a real DuckDB file, `harvest_source` against a
real HTTP server on 127.0.0.1, and the real Prefect flow run several times over one outlet.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.bench_fetch import page
from flows.crawl import Crawl
from flows.harvest import harvest_source
from flows.ingest import ingest_flow
from flows.settings import FetchSettings, Settings, Source
from flows.stages.discover import parse_sitemap
from flows.stages.fetch import make_client
from flows.stages.models import FeedState, Harvest
from flows.stages.rotation import Listed, head_size, listed_by, remember, to_ask
from tests.faultserver import FaultServer, Route, send
from tests.helpers import rows
from warehouse import db as wdb
from warehouse import feed_state

SM = "http://www.sitemaps.org/schemas/sitemap/0.9"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


# --- the pure stage -------------------------------------------------------------------------

def _level(dated: int, undated: int, head: int) -> list[Listed]:
    """One index's sitemaps as discovery orders them: `d0`... newest first, then `u{n}`
    highest number first."""
    kids = [f"d{k}" for k in range(dated)] + [f"u{n}" for n in range(undated, 0, -1)]
    return listed_by("index", kids, dated, head)


def test_dated_and_the_head_first_then_never_asked_then_longest_ago() -> None:
    level = _level(dated=2, undated=10, head=2)
    assert [e.url for e in level if e.pinned] == ["d0", "d1", "u10", "u9"]
    # No memory: the order discovery always had (the first `room`).
    assert [e.url for e in to_ask(level, 7, {})] == ["d0", "d1", "u10", "u9", "u8", "u7", "u6"]
    # u8..u6 asked last run, u5 and u4 the run before: never asked first (u3, u2, u1), then
    # the longest ago (u5 before u4: tie in order); the result in discovery's order.
    last = {"u8": T0 + timedelta(days=1), "u7": T0 + timedelta(days=1),
            "u6": T0 + timedelta(days=1), "u5": T0, "u4": T0, "u10": T0, "d0": T0}
    assert [e.url for e in to_ask(level, 8, last)] == [
        "d0", "d1", "u10", "u9", "u5", "u3", "u2", "u1"]
    # Within the cap: everything, in its order, whatever the memory says.
    assert to_ask(level, 12, last) == level
    assert to_ask(level, 0, {}) == []
    # Room for part of the pinned ones only: the first of them, as before.
    assert [e.url for e in to_ask(level, 3, {})] == ["d0", "d1", "u10"]


def test_head_size() -> None:
    assert [head_size(n) for n in (1, 5, 10, 20, 50, 1000)] == [1, 1, 1, 2, 5, 100]


def _simulate(dated: int, undated: int, room: int, head: int, runs: int
              ) -> list[set[str]]:
    """The sitemaps asked in each of `runs` runs, the memory carried from run to run as the
    warehouse carries it (`remember`)."""
    memory: dict[str, tuple[str, datetime]] = {}
    level = _level(dated, undated, head)
    kids = {e.url for e in level}
    asked_per_run = []
    for run in range(runs):
        now = T0 + timedelta(hours=run)
        chosen = to_ask(level, room, {u: at for u, (_i, at) in memory.items()})
        asked_per_run.append({e.url for e in chosen})
        memory = remember(memory, [("index", e.url) for e in chosen], {"index": kids},
                          {"index", *kids}, now)
        assert set(memory) <= kids
    return asked_per_run


@settings(max_examples=150, deadline=None)
@given(dated=st.integers(0, 5), undated=st.integers(1, 60), room=st.integers(1, 40),
       head=st.integers(1, 6))
def test_every_sitemap_is_asked_within_ceil_n_over_room_runs(
        dated: int, undated: int, room: int, head: int) -> None:
    """With R places left after the pinned ones, the N others are each asked within
    ceil(N / R) runs, and again within as many after; the pinned ones every run."""
    pinned = min(dated + head, dated + undated)
    others = dated + undated - pinned
    turns = room - pinned
    if others == 0 or turns <= 0:   # everything pinned, or no place left for turns
        return
    cycle = math.ceil(others / turns)
    runs = _simulate(dated, undated, room, head, 2 * cycle + 1)
    level = _level(dated, undated, head)
    for asked in runs:
        assert {e.url for e in level if e.pinned} <= asked or len(asked) == room
        assert len(asked) == min(room, dated + undated)
    everyone = {e.url for e in level}
    for start in range(len(runs) - cycle + 1):   # any `cycle` runs in a row ask everyone
        assert set().union(*runs[start:start + cycle]) == everyone


def test_remember_forgets_what_is_no_longer_listed_and_keeps_what_was_not_read() -> None:
    memory = {"a": ("i1", T0), "b": ("i1", T0), "c": ("i2", T0), "d": ("gone", T0)}
    now = T0 + timedelta(days=1)
    # i1 read, listing a and e now (b dropped); i2 not read; "gone" no longer in the tree.
    after = remember(memory, [("i1", "e")], {"i1": {"a", "e"}}, {"i1", "i2", "a", "e", "c"},
                     now)
    assert after == {"a": ("i1", T0), "c": ("i2", T0), "e": ("i1", now)}
    # A sitemap failed or was not read: the tree is not known whole, nothing else goes.
    after = remember(memory, [], {"i1": {"a", "b"}}, None, now)
    assert after == memory
    # Asked again: its time moves on (through another index if it moved).
    assert remember(memory, [("i2", "a")], {}, None, now)["a"] == ("i2", now)


def test_an_index_counts_its_dated_sitemaps() -> None:
    index = (f'<sitemapindex xmlns="{SM}">'
             "<sitemap><loc>/p-1.xml</loc></sitemap><sitemap><loc>/p-2.xml</loc></sitemap>"
             "<sitemap><loc>/news.xml</loc><lastmod>2026-12-01</lastmod></sitemap>"
             "</sitemapindex>").encode()
    got = parse_sitemap(index, "https://e.org/")
    assert got.children == ("https://e.org/news.xml", "https://e.org/p-2.xml",
                            "https://e.org/p-1.xml")
    assert got.dated == 1
    assert parse_sitemap(index.replace(b"<lastmod>2026-12-01</lastmod>", b""),
                         "https://e.org/").dated == 0


# --- the warehouse's memory -----------------------------------------------------------------

def test_the_memory_round_trips_is_replaced_whole_and_keys_secrets(tmp_path: Path) -> None:
    con = wdb.connect(tmp_path / "w.duckdb")
    index = "https://u:pw@e.org/index.xml?api_key=K1"
    feed_state.save(con, "o", (FeedState(index, '"v1"', None, ("https://e.org/n.xml",
                                                                "https://e.org/p-2.xml",
                                                                "https://e.org/p-1.xml"), 1),))
    validators, children, dated = feed_state.load_crawl_state(con, [index], [index], 2)
    assert validators == {index: ('"v1"', None)}
    assert children[index][0] == "https://e.org/n.xml" and dated == {index: 1}

    key = feed_state.state_key(index)
    memory = ((feed_state.state_key("https://e.org/p-2.xml"), key, T0),
              ("https://e.org/p-1.xml", key, T0 + timedelta(hours=1)))
    for _ in range(2):                  # storing one run's memory twice: the same rows
        feed_state.save_rotation(con, "o", memory)
    feed_state.save_rotation(con, "other", ((key, key, T0),))
    feed_state.save_rotation(con, "o", None)   # unchanged: left as it is
    loaded = feed_state.load_rotation(con, ["o", "other", "absent"])
    assert set(loaded) == {"o", "other"}
    assert {u: (i, at.astimezone(UTC)) for u, (i, at) in loaded["o"].items()} == {
        u: (i, at) for u, i, at in memory}
    assert "pw" not in key and "K1" not in key
    feed_state.save_rotation(con, "o", ())      # forgotten
    assert set(feed_state.load_rotation(con, ["o", "other"])) == {"other"}
    con.close()


def test_lists_remembered_before_0020_are_forgotten_with_their_validators(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """They do not say which sitemaps were dated: the index is read in full once more."""
    before = tmp_path / "migrations"
    before.mkdir()
    for f in wdb.MIGRATIONS.glob("*.sql"):
        if int(f.name[:4]) < 20:
            (before / f.name).write_text(f.read_text())
    monkeypatch.setattr(wdb, "MIGRATIONS", before)
    monkeypatch.setattr(wdb, "VIEWS", tmp_path / "no-views")
    con = wdb.connect(tmp_path / "w.duckdb")
    con.execute("INSERT INTO feed_state VALUES ('https://e.org/index.xml', 'e', '\"v1\"', "
                "NULL, now()), ('https://e.org/feed.xml', 'e', '\"f1\"', NULL, now())")
    con.execute("INSERT INTO sitemap_child VALUES ('https://e.org/index.xml', 0, "
                "'https://e.org/a.xml')")
    monkeypatch.undo()
    assert "0020_sitemap_rotation" in wdb.migrate(con)
    assert con.execute("SELECT url FROM feed_state").fetchall() == [("https://e.org/feed.xml",)]
    assert con.execute("SELECT count(*) FROM sitemap_child").fetchone() == (0,)
    assert con.execute("SELECT count(*) FROM sitemap_asked").fetchone() == (0,)
    con.close()


# --- against a real server --------------------------------------------------------------------

@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer({}) as srv:
        yield srv


def _index(*children: tuple[str, str | None]) -> bytes:
    inner = "".join(f"<sitemap><loc>{loc}</loc>"
                    + (f"<lastmod>{when}</lastmod>" if when else "") + "</sitemap>"
                    for loc, when in children)
    return f'<?xml version="1.0"?><sitemapindex xmlns="{SM}">{inner}</sitemapindex>'.encode()


def _urlset(*links: str) -> bytes:
    urls = "".join(f"<url><loc>{link}</loc></url>" for link in links)
    return f'<?xml version="1.0"?><urlset xmlns="{SM}">{urls}</urlset>'.encode()


def _etag_index(body: list[bytes], version: list[str]) -> Route:
    """An index with an ETag (`version[0]`, which the test may change with `body[0]`), that
    answers 304 to a request carrying the current one."""
    def route(h: BaseHTTPRequestHandler) -> None:
        etag = f'"{version[0]}"'
        if h.headers.get("If-None-Match") == etag:
            send(h, 304, headers={"ETag": etag})
        else:
            send(h, 200, body[0], "application/xml", headers={"ETag": etag})
    return route


def _post(server: FaultServer, n: int) -> None:
    """`/wp/post-{n}.xml`, listing one article, `/wp/a{n}`."""
    b = server.base
    urlset = _urlset(f"{b}/wp/a{n}")
    server.routes[f"/wp/post-{n}.xml"] = lambda h: send(h, 200, urlset, "application/xml")
    body = page(300 + n)
    server.routes[f"/wp/a{n}"] = lambda h: send(h, 200, body)


def _asked(server: FaultServer, before: dict[str, int], numbers: range) -> set[int]:
    return {n for n in numbers if server.hits[f"/wp/post-{n}.xml"] > before.get(str(n), 0)}


def _hits(server: FaultServer, numbers: range) -> dict[str, int]:
    return {str(n): server.hits[f"/wp/post-{n}.xml"] for n in numbers}


@pytest.mark.timeout(120)
def test_an_index_answering_304_rotates_with_its_remembered_list(server: FaultServer) -> None:
    """harvest_source with the crawl state a run reads from the warehouse: an index that
    answers 304 is asked by its remembered list, its dated sitemaps (remembered too) every
    run, the undated ones beyond the head in turn; the memory the harvest hands over makes
    the next run go on."""
    b = server.base
    dated = [(f"{b}/wp/post-{n}.xml", f"2026-0{n - 20}-01") for n in (21, 22)]
    undated = [(f"{b}/wp/post-{n}.xml", None) for n in range(1, 13)]
    index_url = f"{b}/wp/index.xml"
    server.routes["/wp/index.xml"] = _etag_index([_index(*undated, *dated)], ["v1"])
    for n in [*range(1, 13), 21, 22]:
        _post(server, n)
    source = Source(key="wp", name="WP", feeds=(), sitemaps=(index_url,))
    fs = FetchSettings(allowed_private_hosts=(b.removeprefix("http://"),), timeout=5,
                       host_delay=0, retries=0, max_sitemaps=10)
    settings_ = Settings(path=Path("t.toml"), sources=(source,), fetch=fs)
    # head 1: post-22 and post-21 (dated) and post-12 every run, 6 places in turn for 11
    numbers = range(1, 23)
    crawl = Crawl.for_settings(fs)
    seen: list[set[int]] = []
    results: list[Harvest] = []
    with make_client(fs) as client:
        for _run in range(3):
            before = _hits(server, numbers)
            h = harvest_source(client, source, settings_, lambda urls: set(urls), crawl)
            results.append(h)
            seen.append(_asked(server, before, numbers))
            # What the store and the next run's crawl state make of it (tasks.py): an
            # index answered in full leaves its validators and list, with its dated count.
            for state in h.feed_states:
                if state.url == index_url:
                    crawl.validators[index_url] = (state.etag, state.last_modified)
                    crawl.children[index_url] = state.children
                    crawl.dated[index_url] = state.dated
            assert h.sitemap_memory is not None
            crawl.rotation["wp"] = {u: (i, at) for u, i, at in h.sitemap_memory}
    assert server.hits["/wp/index.xml"] == 3 and crawl.dated[index_url] == 2
    assert [e.outcome for h in results for e in h.events if e.url == index_url] == [
        "ok", "not_modified", "not_modified"]
    # Ties among those asked in one run go in the index's order: post-11 first.
    assert seen == [{22, 21, 12, 11, 10, 9, 8, 7, 6},
                    {22, 21, 12, 5, 4, 3, 2, 1, 11},
                    {22, 21, 12, 10, 9, 8, 7, 6, 11}]
    assert all(h.error is None for h in results)


def _config(tmp_path: Path, srv: FaultServer, index: str, max_sitemaps: int) -> Path:
    cfg = tmp_path / "sources.toml"
    cfg.write_text(f'[fetch]\nallowed_private_hosts = ["{srv.base.removeprefix("http://")}"]\n'
                   f"retries = 0\nhost_delay = 0\ntimeout = 5\nmax_sitemaps = {max_sitemaps}\n"
                   'per_host = 4\n\n[runner]\nkind = "threads"\n\n'
                   f'[digest]\noutbox = "{tmp_path / "outbox"}"\n\n'
                   f'[[sources]]\nkey = "wp"\nname = "WordPress outlet"\nsitemaps = ["{index}"]\n',
                   "utf-8")
    return cfg


@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.timeout(300)
@pytest.mark.slow
def test_every_sitemap_of_a_large_undated_index_is_read_within_the_expected_runs(
        server: FaultServer, tmp_path: Path) -> None:
    """53 undated post sitemaps listed oldest first (WordPress), max_sitemaps = 20: the index
    and 19 of them a run, the two highest (the head) every run, 17 places in turn for the
    other 51: every sitemap and its article within ceil(51 / 17) = 3 runs, then round again
    from those asked longest ago. The index answers 304 from the second run: its remembered
    list is rotated the same. Then the index changes: sitemaps it no longer lists are
    forgotten, new ones are asked first."""
    b = server.base
    index_url = f"{b}/wp/wp-sitemap.xml"
    body = [_index(*[(f"{b}/wp/post-{n}.xml", None) for n in range(1, 54)])]
    version = ["v1"]
    server.routes["/wp/wp-sitemap.xml"] = _etag_index(body, version)
    for n in range(1, 59):
        _post(server, n)
    cfg = _config(tmp_path, server, index_url, max_sitemaps=20)
    db = tmp_path / "w.duckdb"
    numbers = range(1, 59)

    seen: list[set[int]] = []
    reports = []
    for _run in range(4):
        before = _hits(server, numbers)
        reports.append(ingest_flow(str(cfg), str(db)))
        seen.append(_asked(server, before, numbers))

    assert [r.status for r in reports] == ["ok"] * 4
    assert seen == [{53, 52, *range(35, 52)}, {53, 52, *range(18, 35)},
                    {53, 52, *range(1, 18)}, {53, 52, *range(35, 52)}]
    assert [r.new_articles for r in reports] == [19, 17, 17, 0]
    assert rows(db, "SELECT count(*) FROM articles WHERE source = 'wp'") == [(53,)]
    assert all(server.hits[f"/wp/a{n}"] == 1 for n in range(1, 54))
    assert server.hits["/wp/wp-sitemap.xml"] == 4
    assert rows(db, "SELECT outcome, count(*) FROM fetches WHERE url = "
                    f"'{index_url}' GROUP BY 1 ORDER BY 1") == [("not_modified", 3), ("ok", 1)]
    # One row per run says what was left, and that the others wait their turn.
    skipped = rows(db, "SELECT url, reason FROM fetches WHERE source = 'wp' AND outcome = "
                       f"'skipped' AND run_id = '{reports[0].run_id}'")
    assert skipped == [(f"{b}/wp/post-34.xml", "not read this run, nor 33 more sitemaps: "
                        "[fetch] max_sitemaps = 20 sitemaps were asked (an index's newest "
                        "first, then the others in turn: 34 of these in a later run)")]
    assert rows(db, "SELECT count(*), count(DISTINCT url) FROM sitemap_asked") == [(53, 53)]

    # The index drops posts 1-10 and lists 54-58: the five newest are the head and the
    # never asked; then the longest ago (the second run's, 34 down) fill the rest.
    body[0] = _index(*[(f"{b}/wp/post-{n}.xml", None) for n in range(11, 59)])
    version[0] = "v2"
    before = _hits(server, numbers)
    fifth = ingest_flow(str(cfg), str(db))
    assert (fifth.status, fifth.new_articles) == ("ok", 5)
    assert _asked(server, before, numbers) == {58, 57, 56, 55, 54, *range(21, 35)}
    assert rows(db, "SELECT count(*) FROM sitemap_asked") == [(48,)]     # 11..58
    assert rows(db, "SELECT count(*) FROM sitemap_asked WHERE url LIKE '%/post-1.xml' "
                    "OR url LIKE '%/post-10.xml'") == [(0,)]

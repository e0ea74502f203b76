"""What the crawler remembers between runs: conditional-GET validators per discovery URL
(table `feed_state`, migration 0002), the children each sitemap index listed (table
`sitemap_child`) and robots.txt per origin (table `robots_txt`, both migration 0012), when
each sitemap of an index too large for `[fetch] max_sitemaps` was last asked (table
`sitemap_asked`, migration 0020); and the health settings the `outlet_health` and
`failing_outlets` views read.

A discovery URL carrying secrets (`user:password@`, `?api_key=`) is not stored as such: its
key is the masked URL (flows/stages/redact.py) and a hash of the real one (`state_key`),
computed the same way when reading, so that validators still come back to the configured URL
and two URLs that differ only in their secrets keep their own. A URL without secrets is its
own key, as before."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import duckdb

from flows.stages.models import FeedState
from flows.stages.redact import state_key as state_key
from flows.stages.robots import RobotsCopy
from warehouse.db import insert_many, transaction

Validators = tuple[str | None, str | None]


def load(con: duckdb.DuckDBPyConnection, urls: list[str]) -> dict[str, Validators]:
    if not urls:
        return {}
    keys = {state_key(u): u for u in urls}
    rows = con.execute("SELECT url, etag, last_modified FROM feed_state "
                       "WHERE url IN (SELECT unnest(?::VARCHAR[]))", [list(keys)]).fetchall()
    return {keys[key]: (etag, modified) for key, etag, modified in rows}


def load_children(con: duckdb.DuckDBPyConnection, urls: list[str]
                  ) -> dict[str, tuple[tuple[str, ...], int]]:
    """The sitemaps each of these indexes listed when last read in full, and how many of them
    (the first) had a <lastmod> (absent: none)."""
    if not urls:
        return {}
    keys = {state_key(u): u for u in urls}
    rows = con.execute("SELECT index_url, list(child_url ORDER BY position), "
                       "count(*) FILTER (WHERE dated) FROM sitemap_child "
                       "WHERE index_url IN (SELECT unnest(?::VARCHAR[])) GROUP BY index_url",
                       [list(keys)]).fetchall()
    return {keys[key]: (tuple(children), dated) for key, children, dated in rows}


def load_crawl_state(con: duckdb.DuckDBPyConnection, urls: list[str], sitemaps: list[str],
                     depth: int) -> tuple[dict[str, Validators], dict[str, tuple[str, ...]],
                                          dict[str, int]]:
    """Validators of discovery URLs and of the sitemaps their indexes listed, down to
    `depth` levels of indexes, with those lists and how many of each list were dated: what
    discovery needs to ask the children of an index that answers 304 (each with its own
    validators), in the order it would have asked them had it been read."""
    validators = load(con, urls)
    children: dict[str, tuple[str, ...]] = {}
    dated: dict[str, int] = {}
    frontier = list(sitemaps)
    for _level in range(depth):
        found = load_children(con, [u for u in frontier if u not in children])
        if not found:
            break
        children.update((url, kids) for url, (kids, _n) in found.items())
        dated.update((url, n) for url, (_kids, n) in found.items() if n)
        frontier = [c for kids, _n in found.values() for c in kids]
        validators.update(load(con, [u for u in frontier if u not in validators]))
    return validators, children, dated


def save(con: duckdb.DuckDBPyConnection, source: str, states: tuple[FeedState, ...]) -> None:
    """Remember the validators of URLs answered in full, and an index's children; a URL
    without validators is forgotten (it is read in full every run, children included).
    Rows are keyed by `state_key`; a row an earlier version keyed by the real URL, secrets
    and all, is deleted with it."""
    if not states:
        return
    now = datetime.now(UTC)
    urls = sorted({k for s in states for k in (s.url, state_key(s.url))})
    kept = [s for s in states if s.etag or s.last_modified]
    with transaction(con):
        con.execute("DELETE FROM feed_state WHERE url IN (SELECT unnest(?::VARCHAR[]))", [urls])
        con.execute("DELETE FROM sitemap_child WHERE index_url IN (SELECT unnest(?::VARCHAR[]))",
                    [urls])
        insert_many(con, "INSERT INTO feed_state VALUES (?, ?, ?, ?, ?)",
                    [[state_key(s.url), source, s.etag, s.last_modified, now] for s in kept])
        insert_many(con, "INSERT INTO sitemap_child VALUES (?, ?, ?, ?)",
                    [[state_key(s.url), i, child, i < s.dated] for s in kept
                     for i, child in enumerate(s.children)])


def load_rotation(con: duckdb.DuckDBPyConnection, sources: list[str]
                  ) -> dict[str, dict[str, tuple[str, datetime]]]:
    """Per outlet, the sitemap rotation's memory (flows/stages/rotation.py): sitemap ->
    (the index that listed it, when it was last asked), keyed by `state_key`."""
    memory: dict[str, dict[str, tuple[str, datetime]]] = {}
    if not sources:
        return memory
    rows = con.execute("SELECT source, url, index_url, asked_at FROM sitemap_asked "
                       "WHERE source IN (SELECT unnest(?::VARCHAR[]))", [sources]).fetchall()
    for source, url, index, at in rows:
        memory.setdefault(source, {})[url] = (index, at)
    return memory


def save_rotation(con: duckdb.DuckDBPyConnection, source: str,
                  rows: tuple[tuple[str, str, datetime], ...] | None) -> None:
    """Replace the outlet's rotation memory by the harvest's (None: it did not change). The
    whole memory, not what changed: storing one run's twice leaves the same rows."""
    if rows is None:
        return
    with transaction(con):
        con.execute("DELETE FROM sitemap_asked WHERE source = ?", [source])
        insert_many(con, "INSERT INTO sitemap_asked VALUES (?, ?, ?, ?)",
                    [[source, url, index, at] for url, index, at in rows])


def load_robots(con: duckdb.DuckDBPyConnection, max_age_hours: float) -> list[RobotsCopy]:
    """The robots.txt copies fetched less than `max_age_hours` ago (0: none)."""
    if max_age_hours <= 0:
        return []
    since = datetime.now(UTC) - timedelta(hours=max_age_hours)
    rows = con.execute("SELECT origin, http_status, text, fetched_at FROM robots_txt "
                       "WHERE fetched_at > ?", [since]).fetchall()
    return [RobotsCopy(*row) for row in rows]


def save_robots(con: duckdb.DuckDBPyConnection, copies: list[RobotsCopy]) -> None:
    if not copies:
        return
    with transaction(con):
        con.execute("DELETE FROM robots_txt WHERE origin IN (SELECT unnest(?::VARCHAR[]))",
                    [[c.origin for c in copies]])
        insert_many(con, "INSERT INTO robots_txt VALUES (?, ?, ?, ?)",
                    [[c.origin, c.http_status, c.text, c.fetched_at]
                     for c in {c.origin: c for c in copies}.values()])


def set_health_settings(con: duckdb.DuckDBPyConnection, runs: int, sources: list[str]
                        ) -> None:
    """The health settings of the sources file as read now: `[fetch] failing_after`, and
    the outlets it lists (table configured_source)."""
    with transaction(con):
        con.execute("DELETE FROM health_setting")
        con.execute("INSERT INTO health_setting VALUES (?)", [runs])
        con.execute("DELETE FROM configured_source")
        insert_many(con, "INSERT INTO configured_source VALUES (?, ?)",
                    [[s, datetime.now(UTC)] for s in sorted(set(sources))])

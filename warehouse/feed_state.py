"""What the crawler remembers between runs: conditional-GET validators per discovery URL
(table `feed_state`, migration 0002), the children each sitemap index listed (table
`sitemap_child`) and robots.txt per origin (table `robots_txt`, both migration 0012); and the
health settings the `outlet_health` and `failing_outlets` views read.

A discovery URL carrying secrets (`user:password@`, `?api_key=`) is not stored as such: its
key is the masked URL (flows/stages/redact.py) and a hash of the real one (`state_key`),
computed the same way when reading, so that validators still come back to the configured URL
and two URLs that differ only in their secrets keep their own. A URL without secrets is its
own key, as before."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import duckdb

from flows.stages.models import FeedState
from flows.stages.redact import mask_url
from flows.stages.robots import RobotsCopy
from warehouse.db import insert_many, transaction

Validators = tuple[str | None, str | None]


def state_key(url: str) -> str:
    """What feed_state and sitemap_child store for a discovery URL: the URL itself, or for
    one with secrets the masked URL and a hash of the real one (a space never occurs in a
    URL, so no key of one kind is a key of the other)."""
    masked = mask_url(url)
    if masked == url:
        return url
    return f"{masked} sha256:{hashlib.sha256(url.encode()).hexdigest()[:32]}"


def load(con: duckdb.DuckDBPyConnection, urls: list[str]) -> dict[str, Validators]:
    if not urls:
        return {}
    keys = {state_key(u): u for u in urls}
    rows = con.execute("SELECT url, etag, last_modified FROM feed_state "
                       "WHERE url IN (SELECT unnest(?::VARCHAR[]))", [list(keys)]).fetchall()
    return {keys[key]: (etag, modified) for key, etag, modified in rows}


def load_children(con: duckdb.DuckDBPyConnection, urls: list[str]
                  ) -> dict[str, tuple[str, ...]]:
    """The sitemaps each of these indexes listed when last read in full (absent: none)."""
    if not urls:
        return {}
    keys = {state_key(u): u for u in urls}
    rows = con.execute("SELECT index_url, list(child_url ORDER BY position) FROM sitemap_child "
                       "WHERE index_url IN (SELECT unnest(?::VARCHAR[])) GROUP BY index_url",
                       [list(keys)]).fetchall()
    return {keys[key]: tuple(children) for key, children in rows}


def load_crawl_state(con: duckdb.DuckDBPyConnection, urls: list[str], sitemaps: list[str],
                     depth: int) -> tuple[dict[str, Validators], dict[str, tuple[str, ...]]]:
    """Validators of discovery URLs and of the sitemaps their indexes listed, down to
    `depth` levels of indexes, with those lists: what discovery needs to ask the children of
    an index that answers 304 (each with its own validators)."""
    validators = load(con, urls)
    children: dict[str, tuple[str, ...]] = {}
    frontier = list(sitemaps)
    for _level in range(depth):
        found = load_children(con, [u for u in frontier if u not in children])
        if not found:
            break
        children.update(found)
        frontier = [c for kids in found.values() for c in kids]
        validators.update(load(con, [u for u in frontier if u not in validators]))
    return validators, children


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
        insert_many(con, "INSERT INTO sitemap_child VALUES (?, ?, ?)",
                    [[state_key(s.url), i, child] for s in kept
                     for i, child in enumerate(s.children)])


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

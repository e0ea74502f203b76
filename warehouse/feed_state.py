"""Conditional-GET validators per discovery URL (table `feed_state`, migration 0002), and the
health threshold the `failing_outlets` view reads."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb

from flows.stages.models import FeedState
from warehouse.db import insert_many, transaction

Validators = tuple[str | None, str | None]


def load(con: duckdb.DuckDBPyConnection, urls: list[str]) -> dict[str, Validators]:
    if not urls:
        return {}
    rows = con.execute("SELECT url, etag, last_modified FROM feed_state "
                       "WHERE url IN (SELECT unnest(?::VARCHAR[]))", [urls]).fetchall()
    return {url: (etag, modified) for url, etag, modified in rows}


def save(con: duckdb.DuckDBPyConnection, source: str, states: tuple[FeedState, ...]) -> None:
    """Remember the validators of URLs answered in full; a URL without any is forgotten."""
    if not states:
        return
    now = datetime.now(UTC)
    with transaction(con):
        con.execute("DELETE FROM feed_state WHERE url IN (SELECT unnest(?::VARCHAR[]))",
                    [[s.url for s in states]])
        insert_many(con, "INSERT INTO feed_state VALUES (?, ?, ?, ?, ?)",
                    [[s.url, source, s.etag, s.last_modified, now] for s in states
                     if s.etag or s.last_modified])


def set_failing_after(con: duckdb.DuckDBPyConnection, runs: int) -> None:
    with transaction(con):
        con.execute("DELETE FROM health_setting")
        con.execute("INSERT INTO health_setting VALUES (?)", [runs])

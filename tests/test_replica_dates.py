"""The demo serves the replica's dates moved up to yesterday, so the demo does not age."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path

from flows.ingest import ingest_flow
from flows.replica.server import (
    _ISO_DATE,
    _RFC822_DATE,
    AS_OF,
    SITE,
    ReplicaServer,
    days_to_today,
    demo_config,
    shift_dates,
)
from warehouse.db import connect


def test_dates_move_with_their_times_and_offsets_and_nothing_else_does() -> None:
    body = (b"<pubDate>Sun, 22 Nov 2026 10:10:00 +0500</pubDate>"
            b"<lastmod>2026-11-23T11:00:00+05:00</lastmod><p>2026-11-10 and 2026-12-31</p>"
            b"<p>order 2026-13-45, id 12026-11-10, 2026-11-101</p>")
    moved = shift_dates(body, 12)
    assert moved == (b"<pubDate>Fri, 04 Dec 2026 10:10:00 +0500</pubDate>"
                     b"<lastmod>2026-12-05T11:00:00+05:00</lastmod><p>2026-11-22 and 2027-01-12</p>"
                     b"<p>order 2026-13-45, id 12026-11-10, 2026-11-101</p>")
    assert shift_dates(body, 0) is body


def test_the_newest_replica_date_is_served_as_yesterday() -> None:
    assert days_to_today(AS_OF + timedelta(days=14)) == 13
    assert days_to_today(AS_OF + timedelta(days=1)) == 0
    assert days_to_today(AS_OF - timedelta(days=30)) == 0   # a clock in the past: as written


def test_the_demo_replica_has_no_outlet_gone_quiet_whatever_the_day(tmp_path: Path) -> None:
    """With the dates as written, the replica's outlets look silent once it is a few days
    old; served as the demo serves them, none is, and the newest article is two days old."""
    db = tmp_path / "w.duckdb"
    with ReplicaServer(shift_days=days_to_today()) as srv:
        cfg = tmp_path / "sources.toml"
        cfg.write_text(demo_config(srv.base_url), encoding="utf-8")
        assert ingest_flow(str(cfg), str(db)).new_articles == 20
    con = connect(db, read_only=True)
    try:
        quiet = con.execute("SELECT source FROM outlet_activity WHERE gone_quiet").fetchall()
        newest = con.execute("SELECT max(published_at) FROM doc WHERE NOT is_seed").fetchone()
    finally:
        con.close()
    assert quiet == []
    assert newest is not None
    # The newest article is from the day before AS_OF (a reader's comment is the newest date).
    served = date(2026, 11, 23) + timedelta(days=days_to_today())
    assert newest[0].astimezone(UTC).date() == served
    assert served >= datetime.now(UTC).date() - timedelta(days=2)


def test_as_of_is_the_newest_date_the_replica_states() -> None:
    """AS_OF must follow the replica's files: an article added with a newer date would be
    served in the future."""
    found = set()
    for path in SITE.rglob("*"):
        if path.suffix in (".xml", ".html"):
            body = path.read_bytes()
            found |= {date.fromisoformat(m.group().decode()) for m in _ISO_DATE.finditer(body)}
            found |= {parsedate_to_datetime(m.group().decode()).date()
                      for m in _RFC822_DATE.finditer(body)}
    assert len(found) > 5 and max(found) == AS_OF

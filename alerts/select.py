"""Which candidate rows go to one subscriber channel, and whether that channel is due. Pure.

The warehouse gives the candidate rows (warehouse/sql/digest_candidates.sql) and the delivery
log once per run; each channel then takes, from the start of its window, the rows that match
the subscriber's filters and are not in its log.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from flows.subscribers import Subscriber


def is_due(subscriber: Subscriber, last_sent: datetime | None, now: datetime) -> bool:
    """A channel is due when its last delivered digest is at least 90% of a period old (a
    scheduler firing a little early still sends), or it never had one."""
    return last_sent is None or now - last_sent >= subscriber.period * 0.9


def window_start(subscriber: Subscriber, last_sent: datetime | None, now: datetime,
                 max_days: int) -> datetime:
    """The start of the cadence window, or the last delivered digest when that is earlier (a
    channel that failed for a while catches up), but never more than `max_days` back."""
    start = now - subscriber.period
    if last_sent is not None and last_sent < start:
        start = last_sent
    return max(start, now - timedelta(days=max_days))


def select_rows(rows: Iterable[Mapping], subscriber: Subscriber, delivered: set[int],
                since: datetime) -> list[Mapping]:
    """Rows (one per article and topic) matching the filters, stored since `since`, and not in
    `delivered` (the doc ids logged for this subscriber channel)."""
    topics = set(subscriber.topics)
    langs = set(subscriber.languages)
    outlets = set(subscriber.outlets)
    out = []
    for row in rows:
        if row["id"] in delivered or row["fetched_at"] < since:
            continue
        if topics and row["topic"] not in topics:
            continue
        if langs and row["lang"] not in langs:
            continue
        if outlets and row["source"] not in outlets:
            continue
        if row["score"] < subscriber.min_score:
            continue
        out.append(row)
    return out

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


class Candidates:
    """The run's candidate rows indexed by topic, newest stored first, so that each channel
    reads only its topics and stops at the start of its window."""

    def __init__(self, rows: Iterable[Mapping]) -> None:
        self.by_topic: dict[str, list[Mapping]] = {}
        for row in sorted(rows, key=lambda r: r["fetched_at"], reverse=True):
            self.by_topic.setdefault(row["topic"], []).append(row)


def select_rows(rows: Iterable[Mapping] | Candidates, subscriber: Subscriber,
                delivered: set[int], since: datetime) -> list[Mapping]:
    """Rows (one per article and topic) matching the filters, stored since `since`, and not in
    `delivered` (the doc ids logged for this subscriber channel)."""
    index = rows if isinstance(rows, Candidates) else Candidates(rows)
    langs = set(subscriber.languages)
    outlets = set(subscriber.outlets)
    topics = subscriber.topics or tuple(index.by_topic)
    out = []
    for topic in topics:
        for row in index.by_topic.get(topic, ()):
            if row["fetched_at"] < since:
                break
            if row["id"] in delivered or row["score"] < subscriber.min_score:
                continue
            if (langs and row["lang"] not in langs) or (outlets and row["source"] not in outlets):
                continue
            out.append(row)
    return out

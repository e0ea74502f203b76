"""Which candidate rows go to one subscriber channel, and whether that channel is due. Pure.

The warehouse gives the candidate rows (warehouse/sql/digest_candidates.sql: one per story and
topic, the story keyed by its lead and shown as its first report) and the delivery log once
per run; each channel then takes, from the start of its window, the rows that match the
subscriber's filters and are not in its log.

A channel's window starts where its last delivered digest ended: everything stored before
then was either in a digest it received, or counted in one's "and N more" line, or did not
match its filters. It starts there however long ago that was — a weekly digest run an hour
late, a channel refused for weeks — so nothing stored since is lost; `max_items_per_topic`
and its "and N more" line bound the size of the digest that catches up. A failed or
released attempt is not a delivery and never moves the window. A channel never delivered to
(a new subscriber or channel, or one refused every time so far) looks back `window_days`
from its first attempt (from now, when it has none), so a refused first digest loses
nothing either.

A story published in several languages (warehouse/sql/digest_candidates.sql `versions`) is
one item. It matches a language filter when one of its versions is in one of the
subscriber's languages, and a subscriber who reads none of its first report's language is
shown the version in theirs (`in_version`), the others named beside it ("also in").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta

from flows.subscribers import Subscriber

CHART_DAYS = 14


def is_due(subscriber: Subscriber, last_sent: datetime | None, now: datetime) -> bool:
    """A channel is due when its last delivered digest is at least 90% of a period old (a
    scheduler firing a little early still sends), or it never had one."""
    return last_sent is None or now - last_sent >= subscriber.period * 0.9


def window_start(last_sent: datetime | None, now: datetime, first_days: int,
                 first_tried: datetime | None = None) -> datetime:
    """Where a channel's digest starts: at its last delivered digest, however long ago (the
    cadence only decides when it is due: the digest flow may run less often than an hourly
    subscriber's cadence, or a weekly run come an hour late); for a channel never delivered
    to, `first_days` before its first attempt (`first_tried`, a failed one) or before `now`."""
    if last_sent is not None:
        return last_sent
    first = now if first_tried is None else min(first_tried, now)
    return first - timedelta(days=first_days)


def arrived(row: Mapping, outlets: Iterable[str]) -> datetime | None:
    """When a story reached a subscriber who follows `outlets` (empty: every outlet): when the
    first of its articles from one of them was stored; None if none of them carries it."""
    wanted = set(outlets)
    times = [m["fetched_at"] for m in row["members"] if not wanted or m["source"] in wanted]
    return min(times, default=None)


def version_for(row: Mapping, languages: Iterable[str]) -> Mapping | None:
    """The version of a story to show a subscriber who reads `languages` (empty: any): None
    when the first report (the row as it is) will do, or when the story has no version in
    any of them; else its version in the first of their languages it has."""
    wanted = list(languages)
    if not wanted or row["lang"] in wanted:
        return None
    by_lang = {v["lang"]: v for v in row.get("versions") or ()}
    return next((by_lang[lang] for lang in wanted if lang in by_lang), None)


def in_version(row: Mapping, version: Mapping) -> dict:
    """The candidate row shown as one of its versions: that version's headline, link, outlet,
    dates and language (and text, read for `first_id`); the same story (`id`), topics and
    members. Its `also` names the outlets carrying it but the shown one and those of its
    other versions, as digest_candidates.sql does for the first report."""
    others = {v["source"] for v in row.get("versions") or () if v["lang"] != version["lang"]}
    also = sorted({m["source"] for m in row["members"]} - {version["source"]} - others)
    return {**row, "first_id": version["id"], "title": version["title"],
            "url": version["url"], "source": version["source"],
            "published_at": version["published_at"], "fetched_at": version["fetched_at"],
            "lang": version["lang"], "also": also or None}


class Candidates:
    """The run's candidate rows indexed by topic, the most recently reported stories first, so
    that each channel reads only its topics and stops at the start of its window."""

    def __init__(self, rows: Iterable[Mapping]) -> None:
        self.by_topic: dict[str, list[Mapping]] = {}
        self.last_seen: dict[int, datetime] = {}     # per story (its lead's id)
        for row in sorted(rows, key=lambda r: r["last_seen"], reverse=True):
            self.by_topic.setdefault(row["topic"], []).append(row)
            self.last_seen[int(row["id"])] = row["last_seen"]


def select_rows(rows: Iterable[Mapping] | Candidates, subscriber: Subscriber,
                delivered: set[int], since: datetime) -> list[Mapping]:
    """Rows (one per story and topic) matching the filters, not in `delivered` (the lead ids
    logged for this subscriber channel), and new to the subscriber since `since`: stored
    since then or, for an outlet filter, carried by one of its outlets since then (a story
    matches an outlet filter when the outlet published the original or a copy). A row is
    returned as it is, or, for a subscriber who reads none of its first report's language,
    as its version in theirs (`in_version`: a new row)."""
    index = rows if isinstance(rows, Candidates) else Candidates(rows)
    langs = set(subscriber.languages)
    topics = subscriber.topics or tuple(index.by_topic)
    out = []
    for topic in topics:
        for row in index.by_topic.get(topic, ()):
            if row["last_seen"] < since:
                break
            if row["id"] in delivered or row["score"] < subscriber.min_score:
                continue
            if langs and row["lang"] not in langs:
                version = version_for(row, subscriber.languages)
                if version is None:
                    continue
                row = in_version(row, version)
            when = arrived(row, subscriber.outlets)
            if when is not None and when >= since:
                out.append(row)
    return out


def chart_counts(rows: Iterable[Mapping], subscriber: Subscriber, today: date
                 ) -> dict[str, tuple[int, ...]]:
    """Stories per topic and day over the 14 days up to `today`, oldest first, counting only
    what the subscriber's language, outlet and score filters select. `rows` are grouped counts
    (warehouse/sql/digest_daily.sql: topic, day, lang, score, outlets, langs, n); a story in
    several languages counts for a subscriber who reads one of them (`langs`)."""
    langs, outlets = set(subscriber.languages), set(subscriber.outlets)
    out: dict[str, list[int]] = {}
    for row in rows:
        if langs and row["lang"] not in langs and not langs.intersection(
                row.get("langs") or ()):
            continue
        if outlets and not outlets.intersection(row["outlets"]):
            continue
        if row["score"] < subscriber.min_score:
            continue
        back = (today - row["day"]).days
        if 0 <= back < CHART_DAYS:
            days = out.setdefault(row["topic"], [0] * CHART_DAYS)
            days[CHART_DAYS - 1 - back] += int(row["n"])
    return {topic: tuple(days) for topic, days in out.items()}

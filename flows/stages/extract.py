"""(url, html) -> Extracted | None, with trafilatura.

Settings follow the shared extraction benchmark: `include_comments=False` scored best there
(F1 0.960), and reader comments are exactly the noise subscribers must not get.

Publication time comes from three places, and `build_article` ranks them: the time the page
states in its metadata (`published_at`), then the feed's or sitemap's date, then htmldate's
guess (`guessed_at`). The guess is kept apart because it is a search, not a statement: left to
its extensive search it reads dates out of the page's text, and a footer's "© 2026" came out
as 2026-01-01 and outranked the feed's real date.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import trafilatura

from flows.stages.models import Extracted

MIN_WORDS = 40
# A page published "later today" in a time zone east of UTC, or a date read as midnight UTC,
# may lie some hours ahead of the clock; more than this cannot be a publication time yet.
FUTURE_TOLERANCE = timedelta(days=1)
# Before this, a stated time is a placeholder: .NET's DateTime.MinValue ("0001-01-01T00:00:00Z",
# in the JSON-LD of 5 of the 181 benchmark pages), SQL's 1900-01-01, the Unix epoch.
EARLIEST = datetime(1970, 1, 2, tzinfo=UTC)
_PUBLISHED_META = re.compile(
    r"""<meta[^>]+(?:property|name|itemprop)\s*=\s*["'](?:article:published_time|"""
    r"""datePublished|pubdate|publish[-_]date|date)["'][^>]*>""", re.I)
_CONTENT = re.compile(r"""content\s*=\s*["']([^"']+)["']""", re.I)
_JSON_LD_PUBLISHED = re.compile(r'"datePublished"\s*:\s*"([^"]{8,40})"')
_HAS_TIME = re.compile(r"\d[T ]\d\d:\d\d")


def _plausible(when: datetime, now: datetime) -> bool:
    """Neither a placeholder from before EARLIEST nor later than now + FUTURE_TOLERANCE."""
    return EARLIEST <= when <= now + FUTURE_TOLERANCE


def _meta_published(html: str, now: datetime | None = None) -> datetime | None:
    """The publication time the page states in its meta tags or JSON-LD (`datePublished`):
    trafilatura keeps only the date part. Of several, the most precise: a time with its UTC
    offset, then a time (read as UTC), then a date; the first of equals, meta tags first. A
    page's meta tag often gives local time without an offset while its JSON-LD gives the
    offset, and a date alone stored as midnight UTC may fall on the day before. Placeholders
    and times in the future (see `_plausible`) are passed over."""
    now = now or datetime.now(UTC)
    head = html[:200_000]
    found = [m.group(1) for tag in _PUBLISHED_META.findall(head)
             if (m := _CONTENT.search(tag))]
    found += _JSON_LD_PUBLISHED.findall(head)
    best: tuple[int, datetime] | None = None
    for value in found:
        parsed = _stated(value)
        if parsed is None:
            continue
        when = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        if not _plausible(when, now):
            continue
        rank = 0 if not _HAS_TIME.search(value) else 2 if parsed.tzinfo else 1
        if best is None or rank > best[0]:
            best = (rank, when)
    return best[1] if best else None


def _guessed(value: str | None, now: datetime | None = None) -> datetime | None:
    """htmldate's date (YYYY-MM-DD) when it can be trusted as a last resort. Not January 1st:
    that is how a bare year comes out ("© 2026" -> 2026-01-01), and a page with no better date
    than that is better undated ("date unknown" in the digest) than shown as the oldest of the
    year. A real New Year's Day article loses only this last resort."""
    parsed = parse_datetime(value)
    if parsed is None or (parsed.month, parsed.day) == (1, 1):
        return None
    return parsed if _plausible(parsed, now or datetime.now(UTC)) else None


def _stated(value: str) -> datetime | None:
    """An ISO date or time as written: naive when it states no offset."""
    try:
        return datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None


def parse_datetime(value: str | None) -> datetime | None:
    """An ISO date or time; one that states no offset is read as UTC."""
    parsed = _stated(value) if value else None
    if parsed is None:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _date_params() -> dict[str, Any]:
    """htmldate's more reliable places: the URL, meta tags, JSON-LD, <time>/<abbr> elements,
    elements marked as a date or byline, and at last a date written as YYYY-MM-DD. Its
    extensive search (trafilatura's default) goes on to any date in the text, however written
    (a reader's comment, a date the article mentions, a footer's copyright year as January
    1st); `original_date` prefers the publication date to a later modification. A new dict
    each call: trafilatura keeps it in its options."""
    return {"extensive_search": False, "original_date": True}


def extract(url: str, html: str, *, now: datetime | None = None) -> Extracted | None:
    """None when the page holds no article text worth storing (an index page, a stub).
    `now` (default: the clock) bounds the publication times believed."""
    doc = trafilatura.bare_extraction(html, url=url, with_metadata=True,
                                      include_comments=False, include_tables=False,
                                      date_extraction_params=_date_params())
    if doc is None:
        return None
    data = doc.as_dict() if hasattr(doc, "as_dict") else dict(doc)
    text = (data.get("text") or "").strip()
    if len(text.split()) < MIN_WORDS:
        return None
    return Extracted(
        title=(data.get("title") or None),
        author=(data.get("author") or None),
        published_at=_meta_published(html, now),
        text=text,
        canonical_url=data.get("url") or None,
        guessed_at=_guessed(data.get("date"), now),
    )

"""Feed bytes -> the article links they announce (feedparser does the parsing)."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urljoin

import feedparser

from flows.stages.models import FeedItem


@dataclass(frozen=True)
class FeedParse:
    items: tuple[FeedItem, ...]
    error: str | None = None


def _when(entry: feedparser.FeedParserDict) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if value:
            return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    return None


def parse_feed(body: bytes, feed_url: str) -> FeedParse:
    """Parse RSS 0.9x/1.0/2.0 or Atom; a feed that yields nothing usable is an error value.

    feedparser tolerates small faults (the `bozo` flag); we keep whatever entries it
    recovered and report a feed as broken only when it recovered none.
    """
    parsed = feedparser.parse(body, sanitize_html=True, resolve_relative_uris=True)
    items: list[FeedItem] = []
    seen: set[str] = set()
    for entry in parsed.entries:
        link = entry.get("link") or ""
        if not link:
            for alt in entry.get("links", []):
                if alt.get("rel", "alternate") == "alternate" and alt.get("href"):
                    link = alt["href"]
                    break
        if not link:
            continue
        link = urljoin(feed_url, link.strip())
        if link in seen:
            continue
        seen.add(link)
        items.append(FeedItem(url=link, title=(entry.get("title") or None),
                              published_at=_when(entry), summary=entry.get("summary") or None))
    if not items:
        if parsed.get("bozo"):
            exc = parsed.get("bozo_exception")
            return FeedParse((), f"malformed feed: {type(exc).__name__}: {exc}")
        if not parsed.get("version"):
            return FeedParse((), "not an RSS or Atom feed")
    return FeedParse(tuple(items))

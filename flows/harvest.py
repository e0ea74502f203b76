"""One outlet, one run: read its feeds, fetch the pages not seen before, build Articles.

Plain functions (no Prefect): `flows/tasks.py` wraps them. The HTTP client and the
"is this URL known?" lookup are passed in, so tests can drive this against a local server.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import httpx

from flows.settings import Settings, Source
from flows.stages.article import build_article
from flows.stages.dedup import canonical_url
from flows.stages.discover import parse_feed
from flows.stages.extract import extract
from flows.stages.fetch import decode, fetch
from flows.stages.models import Article, FeedItem, FetchEvent, FetchResult, Harvest

KnownLookup = Callable[[list[str]], set[str]]


def _event(source: str, kind: str, res: FetchResult, outcome: str | None = None,
           reason: str | None = None) -> FetchEvent:
    return FetchEvent(source=source, kind=kind, url=res.url, outcome=outcome or res.outcome,
                      http_status=res.http_status, reason=reason or res.reason,
                      n_bytes=len(res.body) if res.body else None, elapsed_ms=res.elapsed_ms,
                      at=datetime.now(UTC))


def discover(client: httpx.Client, source: Source, settings: Settings
             ) -> tuple[dict[str, FeedItem], list[FetchEvent], int, list[str]]:
    """Read every feed of the outlet; items keyed by canonical URL (first announcement wins)."""
    items: dict[str, FeedItem] = {}
    events: list[FetchEvent] = []
    ok = 0
    errors: list[str] = []
    for feed_url in source.feeds:
        res = fetch(client, feed_url, settings.fetch, kind="feed")
        if not res.ok:
            events.append(_event(source.key, "feed", res))
            errors.append(f"{feed_url}: {res.reason}")
            continue
        parsed = parse_feed(res.body, res.final_url or feed_url)
        if parsed.error:
            events.append(_event(source.key, "feed", res, "hard", parsed.error))
            errors.append(f"{feed_url}: {parsed.error}")
            continue
        ok += 1
        events.append(_event(source.key, "feed", res, reason=f"{len(parsed.items)} items"))
        for item in parsed.items:
            items.setdefault(canonical_url(item.url), item)
    return items, events, ok, errors


def harvest_source(client: httpx.Client, source: Source, settings: Settings,
                   is_known: KnownLookup) -> Harvest:
    """Never raises for what an outlet does: failures become events and an error summary."""
    items, events, feeds_ok, errors = discover(client, source, settings)
    candidates = list(items)[: settings.fetch.max_articles_per_source]
    known = is_known(candidates) if candidates else set()
    articles: list[Article] = []
    rejected: list[tuple[str, str]] = []
    fetched = failed = 0
    for canon in candidates:
        if canon in known:
            continue
        item = items[canon]
        res = fetch(client, item.url, settings.fetch, kind="page")
        if not res.ok:
            failed += 1
            events.append(_event(source.key, "page", res))
            continue
        fetched += 1
        url = res.final_url or item.url
        try:
            extracted = extract(url, decode(res.body, res.content_type))
        except Exception as exc:  # a page that breaks the extractor must not end the run
            extracted = None
            reason = f"extraction failed: {type(exc).__name__}: {exc}"
        else:
            reason = "no article text found on the page"
        if extracted is None:
            rejected.append((canon, reason))
            events.append(_event(source.key, "page", res, "hard", reason))
            continue
        articles.append(build_article(source.key, item.url, extracted, item, source.language,
                                      settings.dedup.shingle_size, canonical=canon))
        events.append(_event(source.key, "page", res))
    error = None
    if feeds_ok == 0:
        error = "; ".join(errors) or "no feeds configured"
    elif errors:
        error = "; ".join(errors)
    return Harvest(source=source.key, name=source.name, articles=tuple(articles),
                   events=tuple(events), rejected=tuple(rejected), feeds_ok=feeds_ok,
                   feeds_failed=len(errors), pages_fetched=fetched, pages_failed=failed,
                   error=error)

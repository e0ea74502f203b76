"""One outlet, one run: discover links (feeds, sitemaps, listing pages), fetch the pages not
seen before (in parallel, within the politeness gate), build Articles.

Plain functions (no Prefect): `flows/tasks.py` wraps them. The HTTP client, the shared crawl
state and the "is this URL known?" lookup are passed in, so tests drive this against local
servers.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urljoin, urlsplit

import httpx

from flows.crawl import Crawl, event, polite_fetch
from flows.settings import Settings, Source
from flows.stages.article import build_article, kept_html
from flows.stages.dedup import canonical_url
from flows.stages.discover import parse_feed, parse_listing, parse_sitemap
from flows.stages.extract import extract
from flows.stages.fetch import decode
from flows.stages.models import Article, FeedItem, FeedState, FetchEvent, FetchResult, Harvest

KnownLookup = Callable[[list[str]], set[str]]


@dataclass
class Discovery:
    items: dict[str, FeedItem]
    events: list[FetchEvent]
    ok: int
    errors: list[str]
    states: list[FeedState]


def discover(client: httpx.Client, source: Source, settings: Settings, crawl: Crawl
             ) -> Discovery:
    """Read every feed, sitemap and listing page of the outlet; items keyed by canonical URL
    (first announcement wins). A 304 counts as a success that announces nothing new."""
    d = Discovery({}, [], 0, [], [])
    f = settings.fetch

    def get(url: str, kind: str) -> FetchResult:
        """Fetch one discovery URL; a failure is logged here, a success by `done`."""
        res = polite_fetch(client, url, f, crawl, source.key, kind, d.events,
                           crawl.validators.get(url))
        if res.outcome == "not_modified":
            d.events.append(event(source.key, kind, res))
            d.ok += 1
        elif not res.ok:
            d.events.append(event(source.key, kind, res))
            d.errors.append(f"{url}: {res.reason}")
        return res

    def done(kind: str, res: FetchResult, items: tuple[FeedItem, ...], error: str | None
             ) -> None:
        if error:
            d.events.append(event(source.key, kind, res, "hard", error))
            d.errors.append(f"{res.url}: {error}")
            return
        d.ok += 1
        d.events.append(event(source.key, kind, res, reason=f"{len(items)} links"))
        d.states.append(FeedState(res.url, res.etag, res.last_modified))
        for item in items:
            d.items.setdefault(canonical_url(item.url), item)

    for url in source.feeds:
        res = get(url, "feed")
        if res.ok:
            parsed = parse_feed(res.body, res.final_url or url)
            done("feed", res, parsed.items, parsed.error)
    since = (datetime.now(UTC) - timedelta(days=source.lookback_days)
             if source.lookback_days else None)
    queue = [(url, 0) for url in source.sitemaps]
    seen: set[str] = set()
    while queue:
        url, depth = queue.pop(0)
        if url in seen:
            continue
        seen.add(url)
        res = get(url, "sitemap")
        if not res.ok:
            continue
        sm = parse_sitemap(res.body, res.final_url or url, f.max_bytes, since)
        done("sitemap", res, sm.items, sm.error)
        if depth < f.sitemap_depth:
            queue += [(c, depth + 1) for c in sm.children]
        elif sm.children:
            d.events.append(FetchEvent(source.key, "sitemap", url, "skipped", reason=(
                f"{len(sm.children)} sitemaps deeper than sitemap_depth = {f.sitemap_depth}"),
                at=datetime.now(UTC)))
    for url in source.listings:
        res = get(url, "listing")
        if res.ok:
            links = parse_listing(decode(res.body, res.content_type), res.final_url or url,
                                  source.link_pattern or ".")
            done("listing", res, links, None)
    return d


def page_canonical(url: str, declared: str | None, fallback: str) -> str:
    """The page's own <link rel=canonical> (same site only: a page may not claim another
    site's article), else its AMP-less URL, else the feed's canonical URL."""
    if declared:
        target = urljoin(url, declared)
        host = lambda u: (urlsplit(u).hostname or "").removeprefix("www.")  # noqa: E731
        if urlsplit(target).scheme in ("http", "https") and host(target) == host(url):
            return canonical_url(target)
    parts = urlsplit(url)
    if parts.path.endswith("/amp") or "/amp/" in parts.path or "amp=1" in parts.query:
        path = parts.path.removesuffix("/amp").replace("/amp/", "/")
        return canonical_url(parts._replace(path=path, query=parts.query.replace(
            "amp=1", "")).geturl())
    return fallback


@dataclass(frozen=True)
class _Page:
    events: tuple[FetchEvent, ...]
    article: Article | None = None
    rejected: tuple[str, str] | None = None
    failed: bool = False


def _page(client: httpx.Client, source: Source, settings: Settings, crawl: Crawl,
          canon: str, item: FeedItem) -> _Page:
    events: list[FetchEvent] = []
    res = polite_fetch(client, item.url, settings.fetch, crawl, source.key, "page", events)
    if not res.ok:
        return _Page((*events, event(source.key, "page", res)), failed=res.outcome != "skipped")
    url = res.final_url or item.url
    try:
        extracted = extract(url, decode(res.body, res.content_type))
    except Exception as exc:  # a page that breaks the extractor must not end the run
        extracted, reason = None, f"extraction failed: {type(exc).__name__}: {exc}"
    else:
        reason = "no article text found on the page"
    if extracted is None:
        return _Page((*events, event(source.key, "page", res, "hard", reason)),
                     rejected=(canon, reason))
    canon = page_canonical(url, extracted.canonical_url, canon)
    art = build_article(source.key, item.url, extracted, item, source.language,
                        settings.dedup.shingle_size, canonical=canon,
                        raw_html=kept_html(res.body, settings.storage.keep_raw_html,
                                           settings.storage.raw_html_max_bytes))
    return _Page((*events, event(source.key, "page", res)), article=art)


def harvest_source(client: httpx.Client, source: Source, settings: Settings,
                   is_known: KnownLookup, crawl: Crawl | None = None) -> Harvest:
    """Never raises for what an outlet does: failures become events and an error summary."""
    crawl = crawl or Crawl.for_settings(settings.fetch)
    d = discover(client, source, settings, crawl)
    candidates = list(d.items)[: settings.fetch.max_articles_per_source]
    known = is_known(candidates) if candidates else set()
    todo = [c for c in candidates if c not in known]
    workers = max(1, min(settings.fetch.concurrency, len(todo)))
    with ThreadPoolExecutor(workers, thread_name_prefix=f"fetch-{source.key}") as pool:
        pages = list(pool.map(lambda c: _page(client, source, settings, crawl, c, d.items[c]),
                              todo))
    events = d.events + [e for p in pages for e in p.events]
    articles = [p.article for p in pages if p.article]
    unique = list({a.canonical_url: a for a in reversed(articles)}.values())[::-1]
    error = "; ".join(d.errors) or None
    if d.ok == 0 and not error:
        error = "nothing to read: no feeds, sitemaps or listings configured"
    failed = sum(p.failed for p in pages)
    if failed and failed == len(pages) and not error:
        first = next(e for p in pages if p.failed for e in p.events if e.kind == "page")
        error = f"all {failed} new pages failed, e.g. {first.url}: {first.reason}"
    return Harvest(source=source.key, name=source.name, articles=tuple(unique),
                   events=tuple(events), rejected=tuple(p.rejected for p in pages if p.rejected),
                   feeds_ok=d.ok, feeds_failed=len(d.errors),
                   pages_fetched=sum(1 for p in pages if p.article or p.rejected),
                   pages_failed=failed, error=error,
                   feed_states=tuple(d.states) if failed == 0 else ())

"""One outlet, one run: discover links (feeds, sitemaps, listing pages), fetch the pages not
seen before (in parallel, within the politeness gate), build Articles (here, or in worker
processes: `flows/stages/page.py`). Pages neither stored nor remembered as rejected count as
not seen: a page without article text, a dead link (`is_dead`) and a link robots.txt
disallows by a rule (`is_blocked`) are remembered, and asked again after `[fetch]
retry_rejected_days` (warehouse/store.py `known_urls`). A stored page is known by its own
canonical URL and by the canonical URL of every feed link that led to it (table url_alias,
written by warehouse/store.py), so a page whose <link rel=canonical> differs from the feed's
link is not fetched again either.

`[fetch] max_articles_per_source` caps the pages fetched per outlet and run, counted among the
new links only (known ones are dropped first): the newest by the date their feed or sitemap
gives, then the undated ones in the order announced (`_this_run`). A feed or sitemap that
announced a new link left for later keeps no validators from this run, so the next run reads
it in full again and takes the next N: a backlog drains N a run, and only then does the feed
cost a 304.

Plain functions (no Prefect): `flows/tasks.py` wraps them. The HTTP client, the shared crawl
state and the "is this URL known?" lookup are passed in, so tests drive this against local
servers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

import httpx

from flows.crawl import Crawl, event, polite_fetch
from flows.heap import refreeze
from flows.settings import Settings, Source
from flows.stages.dedup import canonical_url
from flows.stages.discover import parse_feed, parse_listing, parse_sitemap
from flows.stages.fetch import decode
from flows.stages.models import FeedItem, FeedState, FetchEvent, FetchResult, Harvest
from flows.stages.redact import mask_url, without_userinfo

if TYPE_CHECKING:   # imported when a page is built: trafilatura, langdetect (not on a no-op)
    from flows.stages.page import BuildSpec, Built, PageJob

# Threads runner: one page built at a time in the process. Building is CPU-bound Python that
# holds the GIL; dozens of fetching threads building at once only hand the GIL round (38.6 ms
# of CPU a page against 30.7 ms with this lock, 800 replica pages), and build no faster.
_BUILD_LOCK = threading.Lock()
_built_here = False   # this process has built a page (loaded the build stage's data)
KnownLookup = Callable[[list[str]], set[str]]
@dataclass
class Discovery:
    items: dict[str, FeedItem]
    events: list[FetchEvent]
    ok: int
    errors: list[str]
    states: list[FeedState]
    # canonical URL -> the feeds, sitemaps and listing pages that announced it (their URLs,
    # as in FeedState.url): whose validators not to keep when it is left for a later run
    listed_by: dict[str, set[str]] = field(default_factory=dict)


def discover(client: httpx.Client, source: Source, settings: Settings, crawl: Crawl
             ) -> Discovery:
    """Read every feed, sitemap and listing page of the outlet; items keyed by canonical URL
    (first announcement wins). A 304 counts as a success that announces nothing new."""
    d = Discovery({}, [], 0, [], [])
    f = settings.fetch

    def get(url: str, kind: str) -> FetchResult:
        """Fetch one discovery URL; a failure is logged here, a success by `done`. Errors
        quote the fetch-log row: URL and reason masked (flows/stages/redact.py)."""
        res = polite_fetch(client, url, f, crawl, source.key, kind, d.events,
                           crawl.validators.get(url))
        if res.outcome == "not_modified":
            d.events.append(event(source.key, kind, res))
            d.ok += 1
        elif not res.ok:
            d.events.append(failed := event(source.key, kind, res))
            d.errors.append(f"{failed.url}: {failed.reason}")
        return res

    def done(kind: str, res: FetchResult, items: tuple[FeedItem, ...], error: str | None,
             children: tuple[str, ...] = ()) -> None:
        if error:
            d.events.append(failed := event(source.key, kind, res, "hard", error))
            d.errors.append(f"{failed.url}: {failed.reason}")
            return
        d.ok += 1
        d.events.append(event(source.key, kind, res, reason=f"{len(items)} links"))
        d.states.append(FeedState(res.url, res.etag, res.last_modified, children))
        for item in items:
            canon = canonical_url(item.url)
            d.items.setdefault(canon, item)
            d.listed_by.setdefault(canon, set()).add(res.url)

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
        if res.outcome == "not_modified":
            # An unchanged index says nothing about its children: a news sitemap behind it
            # changes without the index changing. Ask those it listed last time (each with
            # its own validators, so an unchanged one costs a 304).
            children = crawl.children.get(url, ())
        elif res.ok:
            sm = parse_sitemap(res.body, res.final_url or url, f.max_bytes, since)
            done("sitemap", res, sm.items, sm.error, sm.children)
            children = sm.children
        else:
            continue
        if depth < f.sitemap_depth:
            queue += [(c, depth + 1) for c in children]
        elif children:
            d.events.append(FetchEvent(source.key, "sitemap", mask_url(url), "skipped", reason=(
                f"{len(children)} sitemaps deeper than sitemap_depth = {f.sitemap_depth}"),
                at=datetime.now(UTC)))
    for url in source.listings:
        res = get(url, "listing")
        if res.ok:
            links = parse_listing(decode(res.body, res.content_type), res.final_url or url,
                                  source.link_pattern or ".")
            done("listing", res, links, None)
    return d


class Pending(Protocol):
    """A batch handed to a worker: a concurrent.futures.Future or a Prefect future."""

    def result(self) -> list[Built]: ...


# Sends one batch of fetched pages to the CPU workers (see flows/runners.py).
SubmitBatch = Callable[["BuildSpec", list["PageJob"]], Pending]
# Gets the workers ready, called when an outlet has new pages to fetch (may be called again).
Warm = Callable[[], None]


@dataclass(frozen=True)
class _Page:
    events: tuple[FetchEvent, ...]      # robots.txt rows and, for a failed fetch, its row
    built: Built | None = None
    failed: bool = False
    dead: tuple[str, str] | None = None   # a failure not worth retrying: (canonical URL, reason)
    blocked: tuple[str, str] | None = None   # not fetched, robots.txt's rule: (canonical, reason)
    later: bool = False   # not fetched, robots.txt disallowing everything for now (a 5xx)

    @property
    def rejected(self) -> tuple[str, str] | None:
        """What to remember so the page is not fetched again: a dead link, a link robots.txt
        disallows, or a page fetched that gave no article."""
        if self.built and self.built.rejected:
            return self.built.rejected
        return self.dead or self.blocked


def is_dead(res: FetchResult) -> bool:
    """A failed page that asking again will not change (flows/stages/fetch.py marks it
    `permanent`: gone, not a page, too large, corrupt, redirects in a loop, not an http(s)
    link), so it is remembered (rejected_url) and not fetched again. Not dead, though `hard`
    in the fetch log: the other HTTP refusals (401, 403, 451...) say "not you" or "not now",
    and a block lifts (remembered, every page of an outlet that blocks us would be lost for
    good); nor a refused address, as what a host resolves to changes. Those are retried next
    run and count as failures, like timeouts and 5xx."""
    return res.outcome == "hard" and res.permanent


def is_blocked(res: FetchResult) -> bool:
    """A page robots.txt disallows by a rule (flows/crawl.py marks that `permanent`): not
    fetched, and remembered (rejected_url) like a dead link, or every run would take it for a
    new link again, and it would hold one of the `max_articles_per_source` places for ever.
    Asked again after `[fetch] retry_rejected_days`, by when the rule may be lifted. Not when
    robots.txt answered 5xx (everything disallowed for now): that page is left for the next
    run, as the cap's leftovers are (its feeds keep no validators)."""
    return res.outcome == "skipped" and res.permanent


class _Batches:
    """Collects fetched pages from the fetching threads and submits them in batches as they
    arrive, so workers build while the rest is still being fetched."""

    def __init__(self, spec: BuildSpec, submit: SubmitBatch, size: int) -> None:
        self.spec, self.submit, self.size = spec, submit, max(1, size)
        self.lock = threading.Lock()
        self.open: list[tuple[int, PageJob]] = []
        self.sent: list[tuple[list[int], Pending]] = []

    def add(self, index: int, job: PageJob) -> None:
        with self.lock:
            self.open.append((index, job))
            if len(self.open) >= self.size:
                self._flush()

    def _flush(self) -> None:
        if self.open:
            batch, self.open = self.open, []
            self.sent.append(([i for i, _ in batch],
                              self.submit(self.spec, [job for _, job in batch])))

    def results(self) -> dict[int, Built]:
        """Wait for every batch; a worker's exception (a bug, a dead worker) propagates."""
        with self.lock:
            self._flush()
        return {i: b for indices, pending in self.sent
                for i, b in zip(indices, pending.result(), strict=True)}


def _page(client: httpx.Client, source: Source, settings: Settings, crawl: Crawl,
          canon: str, item: FeedItem, spec: BuildSpec, index: int, batches: _Batches | None
          ) -> _Page:
    from flows.stages.page import PageJob, build_page

    events: list[FetchEvent] = []
    res = polite_fetch(client, item.url, settings.fetch, crawl, source.key, "page", events)
    if not res.ok:
        failed = event(source.key, "page", res)
        why = (canon, failed.reason or res.outcome)
        return _Page((*events, failed), failed=res.outcome != "skipped",
                     dead=why if is_dead(res) else None,
                     blocked=why if is_blocked(res) else None,
                     later=res.outcome == "skipped" and not is_blocked(res))
    # A link the feed gave relative to its own URL inherits the feed's `user:password@`
    # (urljoin): needed to fetch the page, not to show it (Article.url, the digests). The
    # canonical URL never has it, so the link is known again all the same.
    link = without_userinfo(item.url)
    shown = item if link == item.url else replace(item, url=link)
    job = PageJob(canon, shown, res.final_url or item.url, res.body, res.content_type,
                  event(source.key, "page", res))
    if batches is None:    # threads runner: build here, in the fetching thread
        global _built_here
        with _BUILD_LOCK:
            page = _Page(tuple(events), build_page(spec, job))
            if not _built_here:   # the build stage's data is loaded now: out of GC's sight
                _built_here = True
                refreeze()
            return page
    batches.add(index, job)
    return _Page(tuple(events))


def _fetch_and_build(client: httpx.Client, source: Source, settings: Settings, crawl: Crawl,
                     todo: list[tuple[str, FeedItem]], submit: SubmitBatch | None,
                     batch_size: int, warm: Warm | None) -> list[_Page]:
    """The outlet's new pages, fetched in parallel and built, in feed order."""
    from flows.stages.page import BuildSpec
    from flows.stages.topics import rule_terms_in

    if submit is not None and warm is not None:
        warm()
    spec = BuildSpec(source.key, source.language, settings.dedup.shingle_size,
                     settings.storage.keep_raw_html, settings.storage.raw_html_max_bytes,
                     rule_terms_in(settings.topics_path))
    batches = _Batches(spec, submit, batch_size) if submit is not None else None
    workers = max(1, min(settings.fetch.concurrency, len(todo)))
    with ThreadPoolExecutor(workers, thread_name_prefix=f"fetch-{source.key}") as pool:
        pages = list(pool.map(lambda ic: _page(client, source, settings, crawl, ic[1][0],
                                               ic[1][1], spec, ic[0], batches),
                              enumerate(todo)))
    if batches is not None:
        built = batches.results()
        pages = [replace(p, built=built[i]) if i in built else p for i, p in enumerate(pages)]
    return pages


def _this_run(new: list[str], items: dict[str, FeedItem], cap: int) -> list[str]:
    """The new links to fetch this run, at most `cap`, in the order announced: the newest by
    their feed's or sitemap's date, then the undated ones in the order announced (a feed
    usually lists its newest first, a news sitemap often its oldest). The rest are left for
    the next runs, which take the next newest: a backlog drains `cap` a run, newest first."""
    if len(new) <= cap:
        return new

    def newest_first(k: int) -> tuple[bool, float, int]:
        when = items[new[k]].published_at
        if when is None:
            return (True, 0.0, k)
        return (False, -(when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp(), k)

    chosen = set(sorted(range(len(new)), key=newest_first)[:cap])
    return [c for k, c in enumerate(new) if k in chosen]


def harvest_source(client: httpx.Client, source: Source, settings: Settings,
                   is_known: KnownLookup, crawl: Crawl | None = None,
                   submit: SubmitBatch | None = None, batch_size: int = 8,
                   warm: Warm | None = None) -> Harvest:
    """Never raises for what an outlet does: failures become events and an error summary.

    Pages are built in the fetching threads, or, given `submit`, sent to workers in batches
    of `batch_size` as they arrive; either way they come back in feed order, so the result
    does not depend on where they were built.

    Known links are dropped before `[fetch] max_articles_per_source` is applied, so the cap
    counts new pages only (`_this_run` picks which); a feed, sitemap or listing page that
    announced a new link left for a later run does not have its validators kept, so the next
    run reads it in full and goes on with the backlog rather than getting a 304."""
    crawl = crawl or Crawl.for_settings(settings.fetch)
    d = discover(client, source, settings, crawl)
    announced = list(d.items)
    known = is_known(announced) if announced else set()
    new = [c for c in announced if c not in known]
    todo = _this_run(new, d.items, settings.fetch.max_articles_per_source)
    pages = (_fetch_and_build(client, source, settings, crawl, [(c, d.items[c]) for c in todo],
                              submit, batch_size, warm) if todo else [])
    # Left for a later run: the new links the cap did not take, and those robots.txt kept us
    # from for now (it answered 5xx; not remembered, unlike a link a rule of it disallows).
    taken = {c for c, p in zip(todo, pages, strict=True) if not p.later}
    unread = {u for c in new if c not in taken for u in d.listed_by.get(c, ())}
    events = d.events + [e for p in pages
                         for e in (*p.events, *((p.built.event,) if p.built else ()))]
    # Every article built, in feed order, those whose page names the same canonical URL as
    # an earlier one's too: the writer stores the first and remembers the others' links as
    # aliases of it (warehouse/store.py), so they are not fetched again either.
    articles = [p.built.article for p in pages if p.built and p.built.article]
    error = "; ".join(d.errors) or None
    if d.ok == 0 and not error:
        error = "nothing to read: no feeds, sitemaps or listings configured"
    failed = sum(p.failed for p in pages)
    # Dead links are remembered with the batch (rejected_url), not asked again for days, so
    # they say nothing about the outlet: it has failed when every page it tried failed and at least
    # one of them may work next time (all timing out, say). Only those keep the validators
    # from being saved: the feed must be read again for them to be retried. So do the new
    # links left for a later run (`unread`), for the feeds that listed them.
    retry = [p for p in pages if p.failed and p.dead is None]
    if retry and failed == len(pages) and not error:
        first = next(e for e in retry[0].events if e.kind == "page")
        error = f"all {failed} new pages failed, e.g. {first.url}: {first.reason}"
    return Harvest(source=source.key, name=source.name, articles=tuple(articles),
                   events=tuple(events),
                   rejected=tuple(r for p in pages if (r := p.rejected) is not None),
                   feeds_ok=d.ok, feeds_failed=len(d.errors),
                   pages_fetched=sum(1 for p in pages if p.built),
                   pages_failed=failed, error=error,
                   feed_states=() if retry else tuple(s for s in d.states
                                                      if s.url not in unread))

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

Nothing one document holds fails more than itself: a link that is no URL at all is dropped
with one fetch-log row (`discover`), a charset that cannot read a document is passed over
(flows/stages/charset.py). `[fetch] max_sitemaps` bounds the sitemaps asked per outlet and
run (an index's newest every run, its undated others in turn: flows/stages/rotation.py), and
`[fetch] outlet_budget` the outlet's time (`_Budget`): past it no request starts,
what was fetched is kept, the outlet has failed saying why, and no validators are kept, so
the next run reads every feed in full and goes on where this one stopped.

Plain functions (no Prefect): `flows/tasks.py` wraps them. The HTTP client, the shared crawl
state and the "is this URL known?" lookup are passed in, so tests drive this against local
servers.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

import httpx

from flows.crawl import Crawl, event, polite_fetch
from flows.heap import refreeze
from flows.settings import FetchSettings, Settings, Source
from flows.stages.dedup import canonical_url
from flows.stages.discover import link_problem, parse_feed, parse_listing, parse_sitemap
from flows.stages.fetch import decode
from flows.stages.models import FeedItem, FeedState, FetchEvent, FetchResult, Harvest
from flows.stages.polite import HostGate
from flows.stages.redact import mask_text, mask_url, state_key, without_userinfo
from flows.stages.rotation import Listed, Memory, head_size, listed_by, remember, to_ask

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
    # (kind, URL) of the feeds, sitemaps and listing pages not read: the outlet's budget ran
    # out (`_Budget`)
    not_read: list[tuple[str, str]] = field(default_factory=list)
    # The sitemap rotation's memory after this run (`_read_sitemaps`); None: as it was
    sitemap_memory: dict[str, tuple[str, datetime]] | None = None


# A link too long to show whole in the fetch log or a message (links reach 65 KB): its start.
SHOWN_URL_CHARS = 300


def shown_url(url: str) -> str:
    """A URL as the fetch log shows it: masked (flows/stages/redact.py), and cut to its first
    SHOWN_URL_CHARS characters when longer, saying how long it was."""
    masked = mask_url(url)
    if len(masked) <= SHOWN_URL_CHARS:
        return masked
    return f"{masked[:SHOWN_URL_CHARS]}... ({len(url)} characters)"


class _Budget:
    """One outlet's wall-clock budget for one run (`[fetch] outlet_budget` seconds, from the
    start of its harvest). Discovery starts no request once half of it is spent, so that the
    links it found still get the other half (an outlet whose sitemaps all hang still has its
    feed's articles fetched); page fetching starts none once all of it is (`pages`). A
    request already sent ends within its own `deadline`; one still waiting for its turn at
    the host when the budget runs out is not sent (`_OutletGate`)."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds, self.clock = seconds, clock
        self.started = clock()
        self.until = self.started + seconds / 2
        self.not_sent: set[str] = set()    # URLs whose turn at the host came too late
        self._lock = threading.Lock()

    def pages(self) -> None:
        """From now on page fetching: the whole budget."""
        self.until = self.started + self.seconds

    def spent(self) -> bool:
        return self.clock() >= self.until

    def refuse(self, url: str) -> _BudgetSpent:
        with self._lock:
            self.not_sent.add(url)
        return _BudgetSpent(f"not sent: the outlet's [fetch] outlet_budget of "
                            f"{self.seconds:g}s is used up")

    def stopped(self, res: FetchResult) -> bool:
        """Whether this fetch ended because its request was not sent (`_OutletGate`)."""
        with self._lock:
            return not res.ok and (res.final_url or res.url) in self.not_sent


class _BudgetSpent(httpx.HTTPError):
    """Raised by `_OutletGate` instead of sending a request: fetch() reports an HTTPError as
    a `hard` outcome without retrying it, and the harvest recognises it (`_Budget.stopped`)
    and counts the URL as not read rather than failed."""


class _OutletGate(HostGate):
    """The run's politeness gate as one outlet sees it: a request of the outlet whose turn
    comes once the outlet's budget is spent is not sent (so requests queued behind a hanging
    host do not each start one after another past the budget). robots.txt requests are: a
    robots.txt that could not be asked would allow everything, for every outlet of the run."""

    def __init__(self, gate: HostGate, budget: _Budget) -> None:   # HostGate.__init__ not
        # called: the run's gate does the gating
        self.gate, self.budget = gate, budget

    @contextmanager
    def slot(self, url: str) -> Iterator[None]:
        robots = urlsplit(url).path == "/robots.txt"
        if not robots and self.budget.spent():     # without taking the host's turn
            raise self.budget.refuse(url)
        with self.gate.slot(url):
            if not robots and self.budget.spent():
                raise self.budget.refuse(url)
            yield


@dataclass(frozen=True)
class _Read:
    """One feed, sitemap or listing page, fetched and parsed (the body not kept)."""

    kind: str
    url: str
    events: tuple[FetchEvent, ...] = ()
    unread: bool = False          # not asked: the outlet's budget was spent
    error: str | None = None      # the masked fetch-log row's "URL: reason"
    items: tuple[FeedItem, ...] = ()
    children: tuple[str, ...] = ()
    dated: int = 0                # how many of `children` (the first) had a <lastmod>
    state: FeedState | None = None


def discover(client: httpx.Client, source: Source, settings: Settings, crawl: Crawl,
             budget: _Budget | None = None) -> Discovery:
    """Read every feed, sitemap and listing page of the outlet; items keyed by canonical URL
    (first announcement wins). A 304 counts as a success that announces nothing new.

    Several URLs of one kind (the feeds, the sitemaps an index lists, the listing pages)
    are read in parallel, within the run's politeness gate, and taken in the order given.
    At most `[fetch] max_sitemaps` sitemaps are asked (an index's children newest first,
    `parse_sitemap`, and beyond the cap its undated ones in turn, `_read_sitemaps`); the
    rest get one `skipped` row. A link that is no URL at all
    (`link_problem`) is dropped with one `hard` row. Once `budget` is spent (half of
    `[fetch] outlet_budget`) no more requests start: what is left is `Discovery.not_read`."""
    d = Discovery({}, [], 0, [], [])
    f = settings.fetch
    budget = budget or _Budget(f.outlet_budget)
    since = (datetime.now(UTC) - timedelta(days=source.lookback_days)
             if source.lookback_days else None)

    def read(url: str, kind: str) -> _Read:
        """Fetch and parse one discovery URL (in any thread). A failure's row is its fetch
        row, or a `hard` one for a document that does not parse; errors quote the row (URL
        and reason masked: flows/stages/redact.py)."""
        if budget.spent():
            return _Read(kind, url, unread=True)
        events: list[FetchEvent] = []
        res = polite_fetch(client, url, f, crawl, source.key, kind, events,
                           crawl.validators.get(url))
        if budget.stopped(res):
            return _Read(kind, url, tuple(events), unread=True)
        if res.outcome == "not_modified":
            # An unchanged index says nothing about its children: a news sitemap behind it
            # changes without the index changing. Ask those it listed last time (each with
            # its own validators, so an unchanged one costs a 304).
            return _Read(kind, url, (*events, event(source.key, kind, res)),
                         children=crawl.children.get(url, ()) if kind == "sitemap" else (),
                         dated=crawl.dated.get(url, 0) if kind == "sitemap" else 0)
        if not res.ok:
            failed = event(source.key, kind, res)
            return _Read(kind, url, (*events, failed), error=f"{failed.url}: {failed.reason}")
        base = res.final_url or url
        children: tuple[str, ...] = ()
        dated = 0
        if kind == "feed":
            parsed = parse_feed(res.body, base)
            items, error = parsed.items, parsed.error
        elif kind == "sitemap":
            sm = parse_sitemap(res.body, base, f.max_bytes, since)
            items, error, children, dated = sm.items, sm.error, sm.children, sm.dated
        else:
            items, error = parse_listing(decode(res.body, res.content_type), base,
                                         source.link_pattern or "."), None
        if error:
            failed = event(source.key, kind, res, "hard", error)
            return _Read(kind, url, (*events, failed), error=f"{failed.url}: {failed.reason}")
        return _Read(kind, url, (*events, event(source.key, kind, res,
                                                reason=f"{len(items)} links")),
                     items=items, children=children, dated=dated,
                     state=FeedState(res.url, res.etag, res.last_modified, children, dated))

    def read_all(urls: list[str], kind: str) -> list[_Read]:
        """Read these URLs, in parallel when there are several, taken into `d` in order. As
        many threads as the gate lets run at once (`per_host` for each host): more would
        only wait at the gate, and be let in in no particular order, when these are in
        order of preference (an index's newest sitemaps first)."""
        hosts = len({urlsplit(u).netloc.lower() for u in urls})
        workers = min(f.concurrency, f.per_host * hosts, len(urls))
        if workers <= 1:
            reads = [read(u, kind) for u in urls]
        else:
            with ThreadPoolExecutor(workers, thread_name_prefix=f"discover-{source.key}") as pool:
                reads = list(pool.map(lambda u: read(u, kind), urls))
        for r in reads:
            take(r)
        return reads

    invalid: set[str] = set()

    def valid(url: str, kind: str, listed_by: str) -> bool:
        """Whether a link is a URL at all (`link_problem`); one that is not gets one `hard`
        row, however many documents list it."""
        problem = link_problem(url)
        if problem and url not in invalid:
            invalid.add(url)
            d.events.append(FetchEvent(
                source.key, kind, shown_url(url), "hard",
                reason=mask_text(f"invalid URL: {problem} (listed by {shown_url(listed_by)})",
                                 (url, listed_by)), at=datetime.now(UTC)))
        return problem is None

    def take(r: _Read) -> None:
        d.events.extend(r.events)
        if r.unread:
            d.not_read.append((r.kind, r.url))
            return
        if r.error:
            d.errors.append(r.error)
            return
        d.ok += 1
        if r.state is not None:
            d.states.append(r.state)
        for item in r.items:
            if not valid(item.url, "page", r.url):
                continue
            canon = canonical_url(item.url)
            d.items.setdefault(canon, item)
            d.listed_by.setdefault(canon, set()).add(r.url)

    read_all(list(source.feeds), "feed")
    _read_sitemaps(d, source, f, crawl.rotation.get(source.key, {}), read_all, valid)
    read_all(list(source.listings), "listing")
    return d


def _read_sitemaps(d: Discovery, source: Source, f: FetchSettings, memory: Memory,
                   read_all: Callable[[list[str], str], list[_Read]],
                   valid: Callable[[str, str, str], bool]) -> None:
    """The outlet's sitemaps, and those their indexes list down to `[fetch] sitemap_depth`,
    level by level, at most `[fetch] max_sitemaps` in all: an index's newest, then its
    undated others in turn (flows/stages/rotation.py, with the outlet's `memory`); the rest
    get one `skipped` row, and `d.sitemap_memory` what to remember."""
    head = head_size(f.max_sitemaps)
    level = [Listed(u) for u in source.sitemaps]
    depth, asked = 0, 0
    seen: set[str] = set()
    capped: list[Listed] = []
    asked_by: list[tuple[str, str]] = []        # (index, sitemap) keys
    lists: dict[str, set[str]] = {}             # sitemap read -> what it lists (keys)
    known = {state_key(u) for u in source.sitemaps}
    clean = True                                # every sitemap asked answered
    while level:
        firsts: dict[str, Listed] = {}          # listed twice: as first listed
        for e in level:
            if e.url not in seen:
                firsts.setdefault(e.url, e)
        seen.update(firsts)
        level = list(firsts.values())
        room = max(0, f.max_sitemaps - asked)
        last = {e.url: memory[k][1] for e in level if (k := state_key(e.url)) in memory}
        chosen = to_ask(level, room, last)
        taken = {e.url for e in chosen}
        capped += [e for e in level if e.url not in taken]
        reads = read_all([e.url for e in chosen], "sitemap")
        asked += sum(not r.unread for r in reads)
        deeper: list[Listed] = []
        for e, r in zip(chosen, reads, strict=True):
            if e.index is not None and not r.unread:
                asked_by.append((state_key(e.index), state_key(e.url)))
            if r.unread or r.error:
                clean = False
                continue
            lists[state_key(r.url)] = {state_key(c) for c in r.children}
            known.update(lists[state_key(r.url)])
            if depth < f.sitemap_depth:
                deeper += [c for c in listed_by(r.url, r.children, r.dated, head)
                           if valid(c.url, "sitemap", r.url)]
            elif r.children:
                d.events.append(FetchEvent(
                    source.key, "sitemap", mask_url(r.url), "skipped", reason=(
                        f"{len(r.children)} sitemaps deeper than sitemap_depth = "
                        f"{f.sitemap_depth}"), at=datetime.now(UTC)))
        level, depth = deeper, depth + 1
    if capped:
        more = f", nor {len(capped) - 1} more sitemaps" if len(capped) > 1 else ""
        waiting = sum(not e.pinned for e in capped)
        turns = (f", then the others in turn: {waiting} of these in a later run"
                 if waiting else "")
        d.events.append(FetchEvent(
            source.key, "sitemap", shown_url(capped[0].url), "skipped", reason=(
                f"not read this run{more}: [fetch] max_sitemaps = {f.max_sitemaps} "
                f"sitemaps were asked (an index's newest first{turns})"),
            at=datetime.now(UTC)))
    # Remembered only while an index does not fit: one that does is asked whole every run,
    # and a failed or unread sitemap leaves what it lists unknown (kept as it was).
    if capped:
        after = remember(memory, asked_by, lists, known if clean else None, datetime.now(UTC))
    else:
        after = {} if clean else dict(memory)
    d.sitemap_memory = None if after == memory else after


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
    # not fetched, left for the next run: robots.txt disallowing everything for now (a 5xx),
    # or the outlet's budget spent (`unsent` too)
    later: bool = False
    unsent: bool = False

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
          canon: str, item: FeedItem, spec: BuildSpec, index: int, batches: _Batches | None,
          budget: _Budget) -> _Page:
    from flows.stages.page import PageJob, build_page

    if budget.spent():
        return _Page((), later=True, unsent=True)
    events: list[FetchEvent] = []
    res = polite_fetch(client, item.url, settings.fetch, crawl, source.key, "page", events)
    if budget.stopped(res):
        return _Page(tuple(events), later=True, unsent=True)
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
                     batch_size: int, warm: Warm | None, budget: _Budget) -> list[_Page]:
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
                                               ic[1][1], spec, ic[0], batches, budget),
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
    run reads it in full and goes on with the backlog rather than getting a 304.

    `[fetch] outlet_budget` bounds the outlet's time (`_Budget`): past it no request starts,
    what was fetched is kept (its articles stored), one `skipped` row says what was left,
    the outlet has failed with the reason first in its error, and no validators are kept, so
    the next run reads every feed, sitemap and listing page in full and goes on."""
    f = settings.fetch
    budget = _Budget(f.outlet_budget)
    run_crawl = crawl or Crawl.for_settings(f)
    crawl = replace(run_crawl, gate=_OutletGate(run_crawl.gate, budget))
    d = discover(client, source, settings, crawl, budget)
    announced = list(d.items)
    known = is_known(announced) if announced else set()
    new = [c for c in announced if c not in known]
    todo = _this_run(new, d.items, f.max_articles_per_source)
    budget.pages()
    pages = (_fetch_and_build(client, source, settings, crawl, [(c, d.items[c]) for c in todo],
                              submit, batch_size, warm, budget) if todo else [])
    # Left for a later run: the new links the cap did not take, those robots.txt kept us
    # from for now (it answered 5xx; not remembered, unlike a link a rule of it disallows),
    # and those the budget left no time for.
    taken = {c for c, p in zip(todo, pages, strict=True) if not p.later}
    unread = {u for c in new if c not in taken for u in d.listed_by.get(c, ())}
    events = d.events + [e for p in pages
                         for e in (*p.events, *((p.built.event,) if p.built else ()))]
    unsent = [c for c, p in zip(todo, pages, strict=True) if p.unsent]
    over = _over_budget(source.key, f.outlet_budget, d, [d.items[c].url for c in unsent],
                        events)
    # Every article built, in feed order, those whose page names the same canonical URL as
    # an earlier one's too: the writer stores the first and remembers the others' links as
    # aliases of it (warehouse/store.py), so they are not fetched again either.
    articles = [p.built.article for p in pages if p.built and p.built.article]
    error = "; ".join([*over, *d.errors]) or None
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
                   feed_states=() if retry or over else tuple(s for s in d.states
                                                              if s.url not in unread),
                   sitemap_memory=None if d.sitemap_memory is None else tuple(
                       (url, index, at) for url, (index, at) in d.sitemap_memory.items()))


_KINDS = {"feed": "feed", "sitemap": "sitemap", "listing": "listing page"}
_ORDER = {kind: k for k, kind in enumerate(_KINDS)}


def _over_budget(source: str, seconds: float, d: Discovery, unsent: list[str],
                 events: list[FetchEvent]) -> list[str]:
    """What the outlet's budget left undone: one `skipped` row for the discovery URLs not
    read and one for the new pages not fetched (added to `events`), and the reasons for
    the outlet's error (none when the budget sufficed)."""
    over: list[str] = []
    now = datetime.now(UTC)
    if d.not_read:
        kind, url = d.not_read[0]
        more = f", nor {len(d.not_read) - 1} more" if len(d.not_read) > 1 else ""
        events.append(FetchEvent(source, kind, shown_url(url), "skipped", reason=(
            f"not read this run{more}: discovery used up its half of [fetch] outlet_budget "
            f"= {seconds:g}s"), at=now))
        counts = Counter(k for k, _ in d.not_read)
        what = ", ".join(f"{n} {_KINDS[k] if n == 1 else _KINDS[k] + 's'}"
                         for k, n in sorted(counts.items(), key=lambda kn: _ORDER[kn[0]]))
        over.append(f"outlet_budget of {seconds:g}s exceeded: {what} not read (discovery stops "
                    "at half of it)")
    if unsent:
        more = f", nor {len(unsent) - 1} more new pages" if len(unsent) > 1 else ""
        events.append(FetchEvent(source, "page", shown_url(unsent[0]), "skipped", reason=(
            f"not fetched this run{more}: [fetch] outlet_budget = {seconds:g}s used up; "
            "left for the next run"), at=now))
        over.append(f"outlet_budget of {seconds:g}s exceeded: {len(unsent)} new pages not "
                    "fetched, left for the next run")
    return over

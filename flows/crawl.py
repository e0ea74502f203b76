"""What every outlet of one run shares while crawling: the politeness gate, the robots.txt
cache, and what the warehouse remembers of earlier runs: the conditional-GET validators, the
children of sitemap indexes, when the sitemaps of large indexes were last asked and recent
copies of robots.txt.

A URL robots.txt keeps us from is not fetched: `polite_fetch` answers `skipped`, "disallowed
by robots.txt". Disallowed by a rule of the site's, the answer is `permanent` (a lasting
property of the URL, as a dead link's: flows/harvest.py remembers the page in rejected_url,
to be asked again after `[fetch] retry_rejected_days`). Disallowed because robots.txt answered
5xx (RFC 9309: everything disallowed for now, flows/stages/robots.py), it is "disallowed by
robots.txt for now" and not permanent: the page is asked again next run, as robots.txt is."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx

from flows.settings import FetchSettings
from flows.stages.fetch import Resolver, Validators, fetch, resolve
from flows.stages.models import FetchEvent, FetchResult
from flows.stages.polite import HostGate
from flows.stages.redact import mask_text, mask_url
from flows.stages.robots import RobotsCache, RobotsCopy


@dataclass
class Crawl:
    gate: HostGate
    robots: RobotsCache
    validators: dict[str, Validators] = field(default_factory=dict)
    children: dict[str, tuple[str, ...]] = field(default_factory=dict)   # index -> sitemaps
    dated: dict[str, int] = field(default_factory=dict)   # index -> how many of those dated
    # Outlet -> its sitemap rotation memory (flows/stages/rotation.py), as the run started
    rotation: dict[str, dict[str, tuple[str, datetime]]] = field(default_factory=dict)
    resolver: Resolver = resolve
    # Origin (as RobotsCache keys it) -> the 5xx its robots.txt answered this run: everything
    # there is disallowed for now, not by a rule. Set by the robots.txt getter, which
    # RobotsCache.check calls under the origin's lock, so every check of the origin that
    # answers "disallowed" from that answer finds it here.
    robots_unavailable: dict[str, int] = field(default_factory=dict)

    @classmethod
    def for_settings(cls, settings: FetchSettings, resolver: Resolver = resolve,
                     robots: Iterable[RobotsCopy] = ()) -> Crawl:
        """`robots`: copies of robots.txt from earlier runs, young enough to use."""
        return cls(HostGate(settings.concurrency, settings.per_host, settings.host_delay),
                   RobotsCache(settings.user_agent, robots), resolver=resolver)


def event(source: str, kind: str, res: FetchResult, outcome: str | None = None,
          reason: str | None = None) -> FetchEvent:
    """The fetch-log row of a fetch: its URL and reason masked (flows/stages/redact.py), as
    everything made from a FetchEvent (error messages, the `fetches` view) is shown."""
    return FetchEvent(source=source, kind=kind, url=mask_url(res.url),
                      outcome=outcome or res.outcome, http_status=res.http_status,
                      reason=mask_text(reason or res.reason, (res.url, res.final_url)),
                      n_bytes=len(res.body) if res.body else None, elapsed_ms=res.elapsed_ms,
                      at=datetime.now(UTC))


def _origin(url: str) -> str:
    """The origin as RobotsCache keys it: scheme://host[:port], lower case, no user:password@."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2].lower()}"


def polite_fetch(client: httpx.Client, url: str, settings: FetchSettings, crawl: Crawl,
                 source: str, kind: str, events: list[FetchEvent],
                 validators: Validators | None = None) -> FetchResult:
    """fetch() behind robots.txt and the gate; robots.txt fetches are logged too. A URL
    robots.txt disallows is `skipped`: `permanent` when a rule of the site's disallows it, not
    when robots.txt answered 5xx (see the module's docstring)."""
    if settings.respect_robots:
        def get_robots(robots_url: str) -> FetchResult:
            res = fetch(client, robots_url, replace(settings, retries=0), "robots",
                        gate=crawl.gate, resolver=crawl.resolver)
            if res.http_status is not None and 500 <= res.http_status < 600:
                crawl.robots_unavailable[_origin(robots_url)] = res.http_status
            return res

        allowed, robots_res = crawl.robots.check(url, get_robots)
        if robots_res is not None:
            missing = robots_res.outcome == "hard" and robots_res.http_status is not None
            events.append(event(source, "robots", robots_res, "ok" if missing else None,
                                f"no robots.txt ({robots_res.reason}): everything allowed"
                                if missing else None))
        if not allowed:
            status = crawl.robots_unavailable.get(_origin(url))
            if status is not None:
                return FetchResult(url, "skipped", reason="disallowed by robots.txt for now "
                                   f"(robots.txt answered HTTP {status})")
            return FetchResult(url, "skipped", reason="disallowed by robots.txt",
                               permanent=True)
    return fetch(client, url, settings, kind, validators=validators, gate=crawl.gate,
                 resolver=crawl.resolver)

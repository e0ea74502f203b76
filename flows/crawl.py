"""What every outlet of one run shares while crawling: the politeness gate, the robots.txt
cache, and what the warehouse remembers of earlier runs: the conditional-GET validators, the
children of sitemap indexes and recent copies of robots.txt."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

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
    resolver: Resolver = resolve

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


def polite_fetch(client: httpx.Client, url: str, settings: FetchSettings, crawl: Crawl,
                 source: str, kind: str, events: list[FetchEvent],
                 validators: Validators | None = None) -> FetchResult:
    """fetch() behind robots.txt and the gate; robots.txt fetches are logged too."""
    if settings.respect_robots:
        allowed, robots_res = crawl.robots.check(
            url, lambda u: fetch(client, u, replace(settings, retries=0), "robots",
                                 gate=crawl.gate, resolver=crawl.resolver))
        if robots_res is not None:
            missing = robots_res.outcome == "hard" and robots_res.http_status is not None
            events.append(event(source, "robots", robots_res, "ok" if missing else None,
                                f"no robots.txt ({robots_res.reason}): everything allowed"
                                if missing else None))
        if not allowed:
            return FetchResult(url, "skipped", reason="disallowed by robots.txt")
    return fetch(client, url, settings, kind, validators=validators, gate=crawl.gate,
                 resolver=crawl.resolver)

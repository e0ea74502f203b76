"""robots.txt, fetched once per host and run, honoured for feeds and pages alike.

RFC 9309: a robots.txt that is missing (4xx) allows everything; one the server fails to
serve (5xx) disallows everything for now. One we cannot reach at all allows, so that the
real fetch reports the real reason (connection refused) instead of a robots.txt error.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit
from urllib.robotparser import RobotFileParser

from flows.stages.models import FetchResult

Getter = Callable[[str], FetchResult]   # robots URL -> result (fetch with kind="robots")


class RobotsCache:
    def __init__(self, user_agent: str) -> None:
        self.user_agent = user_agent
        self._lock = threading.Lock()
        self._host_locks: dict[str, threading.Lock] = {}
        self._rules: dict[str, RobotFileParser | bool] = {}

    def _host_lock(self, key: str) -> threading.Lock:
        with self._lock:
            return self._host_locks.setdefault(key, threading.Lock())

    def check(self, url: str, get: Getter) -> tuple[bool, FetchResult | None]:
        """(allowed, the robots.txt fetch if this call made it) for `url`."""
        parts = urlsplit(url)
        key = f"{parts.scheme}://{parts.netloc.lower()}"
        fetched: FetchResult | None = None
        with self._host_lock(key):
            rules = self._rules.get(key)
            if rules is None:
                fetched = get(urlunsplit((parts.scheme, parts.netloc, "/robots.txt", "", "")))
                rules = self._rules[key] = _rules_from(fetched)
        if isinstance(rules, bool):
            return rules, fetched
        return rules.can_fetch(self.user_agent, url), fetched


def _rules_from(res: FetchResult) -> RobotFileParser | bool:
    if res.outcome == "ok":
        parser = RobotFileParser()
        parser.parse(res.body.decode("utf-8", errors="replace").splitlines())
        return parser
    return not (res.http_status is not None and 500 <= res.http_status < 600)

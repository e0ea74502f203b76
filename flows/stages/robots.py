"""robots.txt, fetched once per host and honoured for feeds and pages alike; a copy fetched
by an earlier run is used instead while it is younger than `[fetch] robots_max_age_hours`.

RFC 9309: a robots.txt that is missing (4xx) allows everything; one the server fails to
serve (5xx) disallows everything for now. One we cannot reach at all allows, so that the
real fetch reports the real reason (connection refused) instead of a robots.txt error.
Section 2.4 lets a crawler cache robots.txt, for up to 24 hours: only the two lasting answers
(a file, or none: 4xx) are kept between runs; a 5xx or an unreachable host is asked again by
the next run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit
from urllib.robotparser import RobotFileParser

from flows.stages.models import FetchResult

Getter = Callable[[str], FetchResult]   # robots URL -> result (fetch with kind="robots")


@dataclass(frozen=True)
class RobotsCopy:
    """A robots.txt answer worth keeping between runs: the file, or None when it is missing."""

    origin: str                  # scheme://host[:port], lower-case host
    http_status: int
    text: str | None
    fetched_at: datetime


class RobotsCache:
    """Rules per origin for one run, starting from `known` copies (already fresh enough);
    `take_new()` hands over the copies this run fetched, to be remembered."""

    def __init__(self, user_agent: str, known: Iterable[RobotsCopy] = ()) -> None:
        self.user_agent = user_agent
        self._lock = threading.Lock()
        self._host_locks: dict[str, threading.Lock] = {}
        self._rules: dict[str, RobotFileParser | bool] = {}
        self._known = {c.origin: c for c in known}
        self._new: list[RobotsCopy] = []

    def _host_lock(self, key: str) -> threading.Lock:
        with self._lock:
            return self._host_locks.setdefault(key, threading.Lock())

    def check(self, url: str, get: Getter) -> tuple[bool, FetchResult | None]:
        """(allowed, the robots.txt fetch if this call made it) for `url`."""
        parts = urlsplit(url)
        # The origin without `user:password@` (kept for the request): the rules are the
        # host's, and the key is stored (table robots_txt) and shown.
        key = f"{parts.scheme}://{parts.netloc.rpartition('@')[2].lower()}"
        fetched: FetchResult | None = None
        with self._host_lock(key):
            rules = self._rules.get(key)
            if rules is None:
                known = self._known.get(key)
                if known is not None:
                    rules = _rules_from_text(known.text)
                else:
                    fetched = get(urlunsplit((parts.scheme, parts.netloc, "/robots.txt", "",
                                              "")))
                    rules = _rules_from(fetched)
                    self._keep(key, fetched)
                self._rules[key] = rules
        if isinstance(rules, bool):
            return rules, fetched
        return rules.can_fetch(self.user_agent, url), fetched

    def _keep(self, key: str, res: FetchResult) -> None:
        if res.outcome == "ok" or (res.http_status is not None and 400 <= res.http_status < 500):
            text = res.body.decode("utf-8", errors="replace") if res.outcome == "ok" else None
            with self._lock:
                self._new.append(RobotsCopy(key, res.http_status or 200, text,
                                            datetime.now(UTC)))

    def take_new(self) -> list[RobotsCopy]:
        """The copies fetched since the last call (each handed over once)."""
        with self._lock:
            new, self._new = self._new, []
            return new


def _rules_from_text(text: str | None) -> RobotFileParser | bool:
    if text is None:            # missing: everything allowed
        return True
    parser = RobotFileParser()
    parser.parse(text.splitlines())
    return parser


def _rules_from(res: FetchResult) -> RobotFileParser | bool:
    if res.outcome == "ok":
        return _rules_from_text(res.body.decode("utf-8", errors="replace"))
    return not (res.http_status is not None and 500 <= res.http_status < 600)

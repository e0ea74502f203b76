"""Politeness: how many requests may be in flight, per host and in all, and how often.

A HostGate is shared by every outlet of a run (several outlets often live on one host), so it
is created by the orchestration layer and passed in; it holds no network of its own.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit


class HostGate:
    """At most `per_host` requests in flight to one host and `total` overall, and at least
    `delay` seconds between the starts of two requests to the same host."""

    def __init__(self, total: int, per_host: int, delay: float) -> None:
        self.total = threading.BoundedSemaphore(total)
        self.per_host, self.delay = per_host, delay
        self._lock = threading.Lock()
        self._hosts: dict[str, threading.BoundedSemaphore] = {}
        self._next_start: dict[str, float] = {}

    def _host_semaphore(self, host: str) -> threading.BoundedSemaphore:
        with self._lock:
            sem = self._hosts.get(host)
            if sem is None:
                sem = self._hosts[host] = threading.BoundedSemaphore(self.per_host)
            return sem

    def _wait_turn(self, host: str) -> None:
        """Reserve the next start time for this host, then sleep until it comes."""
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next_start.get(host, 0.0))
            self._next_start[host] = start + self.delay
        if start > now:
            time.sleep(start - now)

    @contextmanager
    def slot(self, url: str) -> Iterator[None]:
        host = (urlsplit(url).netloc or "").lower()
        with self._host_semaphore(host), self.total:
            self._wait_turn(host)
            yield

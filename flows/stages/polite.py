"""Politeness: how many requests may be in flight, per host and in all, and how often.

A HostGate is shared by every outlet of a run (several outlets often live on one host), so it
is created by the orchestration layer and passed in; it holds no network of its own.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit


class HostGate:
    """At most `per_host` requests in flight to one host and `total` overall, and at least
    `delay` seconds between the starts of two requests to the same host.

    A request waits out its host's delay *before* it takes one of the `total` slots: a slot
    held by a sleeper would stall requests to other hosts that may start at once (a run of
    outlets whose feeds all answer 304 is mostly such waits).
    """

    def __init__(self, total: int, per_host: int, delay: float,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.total = threading.BoundedSemaphore(total)
        self.per_host, self.delay = per_host, delay
        self._clock, self._sleep = clock, sleep
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
        """Sleep until this host may see another request start (holding no global slot)."""
        with self._lock:
            wait = self._next_start.get(host, 0.0) - self._clock()
        if wait > 0:
            self._sleep(wait)

    def _claim(self, host: str) -> bool:
        """Start now if it is still this host's turn (another request may have started while
        this one waited for a global slot); the next start is then `delay` from now."""
        with self._lock:
            now = self._clock()
            if now < self._next_start.get(host, 0.0):
                return False
            self._next_start[host] = now + self.delay
            return True

    @contextmanager
    def slot(self, url: str) -> Iterator[None]:
        host = (urlsplit(url).netloc or "").lower()
        with self._host_semaphore(host):
            while True:
                self._wait_turn(host)
                self.total.acquire()
                if self._claim(host):
                    break
                self.total.release()
            try:
                yield
            finally:
                self.total.release()

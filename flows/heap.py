"""Keeping the garbage collector off what a process held before a run started."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0


@contextmanager
def frozen_heap() -> Iterator[None]:
    """During the block, full collections skip every object that existed when it began.

    A run allocates articles, bands and rows by the thousand, which sets off full
    collections; each walks everything the process holds — Prefect, pydantic, trafilatura,
    hundreds of thousands of objects that will not become garbage during the run. On the
    2,000-page benchmark the flow process spent 0.64 s of its 5.3 s of CPU in two of them
    (0.21 s with this). `gc.freeze` parks those objects where no collection looks;
    `gc.unfreeze` at the end hands them back, so a long-lived `migwatch serve` still frees
    whatever of them later becomes garbage. Nested or concurrent blocks unfreeze when the
    last one ends."""
    global _depth
    with _lock:
        _depth += 1
        gc.freeze()
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if not _depth:
                gc.unfreeze()


def refreeze() -> None:
    """Inside a `frozen_heap` block, park what the process holds now as well (no-op outside).

    For data loaded lazily during a run that stays for the life of the process: building
    pages in this process (the threads runner) loads langdetect's profiles (~88,000 lists
    of floats) and trafilatura's tables at the first page, after the run's freeze, and every
    full collection of the run then walked them. `gc.freeze` only moves lists: it is cheap.
    Objects frozen with them are still freed by reference counting; cyclic garbage among
    them waits for the block's end."""
    with _lock:
        if _depth:
            gc.freeze()

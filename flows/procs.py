"""Who started whom, as Linux's /proc shows it: for stopping a process with everything it
started (serve's flow runs), and for counting their CPU time (bench/bench_ingest.py)."""

from __future__ import annotations

from contextlib import suppress
from pathlib import Path


def children() -> dict[int, list[int]]:
    """Parent pid -> the pids of its running children, for every process."""
    out: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with suppress(OSError, ValueError, IndexError):   # a process that has just ended
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            out.setdefault(ppid, []).append(int(stat.parent.name))
    return out


def descendants(pid: int, tree: dict[int, list[int]] | None = None) -> list[int]:
    """`pid` and every process below it (`tree`: a `children()` already read)."""
    tree = children() if tree is None else tree
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += tree.get(p, [])
    return out

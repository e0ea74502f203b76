"""Where ingest builds articles: in the fetching threads, in local worker processes, or on a
Dask cluster through prefect-dask's DaskTaskRunner ([runner] in sources.toml).

Fetching stays in threads of the flow's process whatever the kind (one politeness gate and
robots.txt cache per run), and only finished Articles come back to the single DuckDB writer.
Batches go out as pages arrive and come back in feed order, so every kind stores the same
articles, topics and duplicates.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import multiprocessing
import multiprocessing.forkserver
import os
import select
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flows.harvest import Pending, SubmitBatch
from flows.settings import RunnerSettings

if TYPE_CHECKING:   # the build stage imports trafilatura and langdetect: not on a no-op
    from flows.stages.page import BuildSpec, Built, PageJob

# Pages per batch: enough to make a submission's cost negligible, few enough that workers
# start while an outlet is still being fetched. A Dask batch is a Prefect task run, which
# costs tens of milliseconds, so it carries more pages.
PROCESS_BATCH = 8
DASK_BATCH = 32


@dataclass(frozen=True)
class Builder:
    """How one run builds pages: None = in the fetching threads."""

    submit: SubmitBatch | None
    batch_size: int = PROCESS_BATCH
    description: str = "threads"
    warm: Callable[[], None] | None = None   # called when an outlet has new pages to fetch


def _main_imports() -> list[str]:
    """The modules the names of the main script come from (the CLI, a benchmark, Prefect's
    engine), to import once in the forkserver.

    multiprocessing runs the main script again in every worker it starts (as __mp_main__, so
    that functions defined there can be unpickled). Its imports are then found already done;
    without this every worker of every run imported Prefect anew (over 1 s of CPU each)."""
    main = sys.modules.get("__main__")
    names = {value.__name__ if isinstance(value, types.ModuleType)
             else getattr(value, "__module__", None) for value in vars(main or object).values()}
    return sorted(n for n in names if isinstance(n, str) and n in sys.modules
                  and n not in ("__main__", "builtins"))


# Linux's F_SETPIPE_SZ, and the size asked for: a batch of 8 pages is about 1.3 MB.
_SETPIPE_SZ = 1031
_PIPE_BYTES = 1 << 20


def _widen_pipes(pool: ProcessPoolExecutor) -> None:
    """Give the pool's two pipes 1 MB of buffer instead of 64 KB, where the system allows.

    A batch of pages then crosses in a few writes instead of twenty-odd, each of which waited
    for the worker to empty the pipe: on one core, half the CPU of moving pages between
    processes (0.7 to 0.35 s per 2,000 pages of 168 KB). The pipes are the executor's private
    attributes, hence the guard: without them, or past the system's limit
    (/proc/sys/fs/pipe-max-size), the pipes keep their size and only this saving is lost."""
    if sys.platform != "linux":
        return
    import fcntl

    for queue, end in (("_call_queue", "_writer"), ("_result_queue", "_reader")):
        with suppress(AttributeError, OSError, ValueError):
            fcntl.fcntl(getattr(getattr(pool, queue), end).fileno(), _SETPIPE_SZ, _PIPE_BYTES)


def die_with(pid: int) -> None:
    """A worker's initializer: end the worker when process `pid` (the run's) ends.

    Killed outright (SIGKILL, the OOM killer, `timeout -s KILL`), a run cannot stop its
    workers, and they do not notice on their own: each holds the write end of the queue it
    waits on, and the fork server they came from waits for its last child to go. They used to
    stay, ~600 MB for two, one more set per killed run. A thread waits for the run's process
    to end (a pidfd, where Linux has them; else a look every second) and exits the worker;
    the fork server follows when its last worker is gone."""
    def watch() -> None:
        with suppress(OSError, AttributeError):   # no pidfd here: look every second
            fd = os.pidfd_open(pid)
            select.select([fd], [], [])
            os._exit(1)
        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                os._exit(1)
            except PermissionError:
                pass
            time.sleep(1.0)

    threading.Thread(target=watch, daemon=True, name=f"die-with-{pid}").start()


class _ProcessPool:
    """Worker processes, started at the first page to build (a run with nothing new starts
    none, nor the server they fork from).

    Batches wait in a queue ordered by outlet, in the order the writer stores them (`order`:
    the configuration's), and at most two per worker are handed to the processes at a time:
    outlets are finished one after another, in that order, so the writer stores each while
    the workers build the next. Ranked instead by the order outlets sent their first batch,
    the outlet the writer waits for first was often finished fifth of eight, and the writer
    stored most of the run after the workers had finished (idle cores at the end of a
    2,000-page run: 2.7 CPU-seconds then, ~1.9 now). A pool whose worker died (a crash in a
    C extension on one page) is replaced: the batches in flight fail and are reported with
    their outlets, the rest of the run goes on."""

    def __init__(self, workers: int, order: Sequence[str] = ()) -> None:
        methods = multiprocessing.get_all_start_methods()
        # forkserver: workers fork from a server that imported and warmed the build stage
        # once, instead of each starting an interpreter (spawn) or copying a process that
        # runs Prefect's and httpx's threads (fork).
        self.context = multiprocessing.get_context(
            "forkserver" if "forkserver" in methods else "spawn")
        if self.context.get_start_method() == "forkserver":
            self.context.set_forkserver_preload(["flows.stages.preload", *_main_imports()])
        self.workers = workers
        self.cond = threading.Condition()
        self.queue: list[tuple[int, int, BuildSpec, list[PageJob], Future[list[Built]]]] = []
        self.rank: dict[str, int] = {source: k for k, source in enumerate(order)}
        self.seq = itertools.count()
        self.in_flight = 0
        self.closed = False
        self.pool: ProcessPoolExecutor | None = None
        self.dispatcher: threading.Thread | None = None

    def warm(self) -> None:
        """Start the fork server when the first outlet has new pages: it loads the build
        stage while they are fetched. Not at the start of the run: loading it is ~0.3 s of
        CPU that a run with nothing new would spend for nothing, beside its own work."""
        if self.context.get_start_method() == "forkserver":
            multiprocessing.forkserver.ensure_running()   # once; later calls only check

    def submit(self, spec: BuildSpec, jobs: list[PageJob]) -> Pending:
        done: Future[list[Built]] = Future()
        with self.cond:
            if self.dispatcher is None:
                self.dispatcher = threading.Thread(target=self._dispatch, daemon=True,
                                                   name="build-dispatch")
                self.dispatcher.start()
            rank = self.rank.setdefault(spec.source, len(self.rank))   # unknown: last
            heapq.heappush(self.queue, (rank, next(self.seq), spec, jobs, done))
            self.cond.notify()
        return done

    def _dispatch(self) -> None:
        from flows.stages.page import build_pages  # the first batch: the build stage is due

        while True:
            with self.cond:
                while not self.closed and not (
                        self.queue and self.in_flight < 2 * self.workers):
                    self.cond.wait()
                if self.closed:
                    return
                _rank, _seq, spec, jobs, done = heapq.heappop(self.queue)
                self.in_flight += 1
            try:
                try:
                    running = self._pool().submit(build_pages, spec, jobs)
                except BrokenProcessPool:
                    running = self._pool(replace=True).submit(build_pages, spec, jobs)
            except Exception as exc:   # no batch may be left waiting for ever
                self._finished(None, done, exc)
                continue
            running.add_done_callback(functools.partial(self._finished, done=done))

    def _pool(self, replace: bool = False) -> ProcessPoolExecutor:
        if self.pool is not None and replace:
            self.pool.shutdown(wait=False, cancel_futures=True)
        if self.pool is None or replace:
            self.pool = ProcessPoolExecutor(self.workers, mp_context=self.context,
                                            initializer=die_with, initargs=(os.getpid(),))
            _widen_pipes(self.pool)
        return self.pool

    def _finished(self, running: Future[list[Built]] | None, done: Future[list[Built]],
                  error: BaseException | None = None) -> None:
        """Hand a batch's outcome on; called by the pool's thread when the batch ends."""
        with self.cond:
            self.in_flight -= 1
            self.cond.notify()
        error = error or (running.exception() if running is not None else None)
        if error is not None:
            done.set_exception(error)
        elif running is not None:
            done.set_result(running.result())

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify()
        if self.dispatcher is not None:
            self.dispatcher.join()
        for *_, done in self.queue:   # none after a completed run; a crashed one: cancel
            done.cancel()
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)


@contextmanager
def open_builder(runner: RunnerSettings, order: Sequence[str] = ()) -> Iterator[Builder]:
    """The workers for one ingest run, shut down when it ends; `order`: the outlets' keys in
    the order the writer stores them."""
    if runner.kind == "threads":
        yield Builder(None)
    elif runner.kind == "processes":
        pool = _ProcessPool(runner.worker_count(), order)
        try:
            yield Builder(pool.submit, PROCESS_BATCH,
                          f"{runner.worker_count()} worker processes", pool.warm)
        finally:
            pool.close()
    else:
        with _dask(runner) as (submit, where):
            yield Builder(submit, DASK_BATCH, where)


@contextmanager
def _dask(runner: RunnerSettings) -> Iterator[tuple[SubmitBatch, str]]:
    from prefect_dask import DaskTaskRunner

    from flows.tasks import build_pages_task

    kwargs: dict[str, Any]
    if runner.dask_address:
        kwargs = {"address": runner.dask_address}
        where = f"Dask cluster at {runner.dask_address}"
    else:
        n = runner.worker_count()
        kwargs = {"cluster_kwargs": {"n_workers": n, "threads_per_worker": 1,
                                     "processes": True, "dashboard_address": None}}
        where = f"local Dask cluster of {n} worker processes"
    with DaskTaskRunner(**kwargs) as dask:
        _ = dask.client   # start or connect now, once, before the fetching threads submit

        def submit(spec: BuildSpec, jobs: list[PageJob]) -> Pending:
            return dask.submit(build_pages_task, {"spec": spec, "jobs": jobs})

        yield submit, where

"""The ingest flow: outlets -> articles in the warehouse, one outlet's failure isolated.

Fetching fans out over threads (network-bound); building articles (trafilatura, language,
MinHash) runs where [runner] says: in those threads, in worker processes, or on a Dask cluster
(flows/runners.py). The single DuckDB writer stores each outlet's finished batch in one
transaction, so a kill mid-run leaves whole batches or nothing, and stores it within
STORE_GRACE seconds of its harvest's end, so a kill loses only the outlets still being
harvested and those that finished moments before.
"""

from __future__ import annotations

import itertools
import time
from concurrent.futures import FIRST_COMPLETED
from concurrent.futures import wait as wait_any_thread
from dataclasses import asdict, dataclass
from pathlib import Path

from prefect import flow, get_run_logger, unmapped
from prefect.artifacts import create_markdown_artifact
from prefect.futures import PrefectFuture, PrefectWrappedFuture
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.utilities.annotations import quote

from flows import oncall, tasks
from flows.heap import frozen_heap
from flows.report import ingest_markdown
from flows.runners import open_builder
from flows.settings import Settings, Source, default_db_path, load_settings
from flows.stages.models import Harvest
from flows.stages.redact import mask_text
from warehouse import store
from warehouse.store import SourceSummary

EXIT_OK, EXIT_SOME_FAILED, EXIT_ALL_FAILED = 0, 3, 4
# Outlets harvested at once. A harvest mostly waits (network, per-host delays), so this is
# well above the core count; requests in flight are capped by [fetch] concurrency.
OUTLETS_AT_ONCE = 32
# The writer waits for the next outlets until a store holds this many articles (or the run's
# last). Each store opens the warehouse (~20 ms of CPU), runs a Prefect task, and its close
# checkpoints, which rewrites the table's last row group whole: eight stores of 250 articles
# rewrote ~9,000 rows for 2,000 stored, four of 500 rewrite ~5,000. A run of many outlets
# with a few new articles each is stored in one or two transactions instead of one an outlet.
STORE_AT_LEAST = 400
# Seconds a finished outlet waits at most to be stored: for the outlets before it in the
# configuration (the writer's order, which decides which copy of a story is the original)
# and for a store of STORE_AT_LEAST articles. Past it the writer stores every finished
# outlet, ahead of those before it still being harvested (said in the log): one outlet whose
# feed drips for minutes used to keep every other outlet's results out of the warehouse
# until it ended, and a kill meanwhile lost them all. A story reported by such a late outlet
# and by one stored ahead of it then has the latter's copy as its original (a page both link
# to is stored under the latter), where a run in order would have had the late one's; nothing
# else differs. A run whose outlets all end within STORE_GRACE of each other is in order.
STORE_GRACE = 30.0


@dataclass(frozen=True)
class IngestReport:
    run_id: str
    status: str            # ok | partial | failed
    db_path: str
    seeds_loaded: int
    sources: tuple[SourceSummary, ...]

    @property
    def new_articles(self) -> int:
        return sum(s.new_articles for s in self.sources)

    @property
    def exit_code(self) -> int:
        return {"ok": EXIT_OK, "partial": EXIT_SOME_FAILED}.get(self.status, EXIT_ALL_FAILED)


def run_status(summaries: list[SourceSummary]) -> str:
    if all(s.ok for s in summaries):
        return "ok"
    return "partial" if any(s.ok for s in summaries) else "failed"


@flow(name="migwatch-ingest", task_runner=ThreadPoolTaskRunner(max_workers=OUTLETS_AT_ONCE))  # type: ignore[arg-type]
def ingest_flow(config_path: str | None = None, db_path: str | None = None) -> IngestReport:
    with frozen_heap():
        return _ingest(config_path, db_path)


def _ingest(config_path: str | None, db_path: str | None) -> IngestReport:
    logger = get_run_logger()
    settings = load_settings(config_path)
    db = Path(db_path) if db_path else default_db_path()
    seeds = tasks.prepare_warehouse(db, settings)
    run_id = tasks.start_run(db, "ingest")
    # The workers build outlets in the order the writer stores them (the configuration's).
    with store.failure_recorded(db, run_id), \
            open_builder(settings.runner, [s.key for s in settings.sources]) as builder:
        logger.info("run %s: %d outlets, articles built in %s, warehouse %s", run_id,
                    len(settings.sources), builder.description, db)
        tasks.use_workers(run_id, builder.submit, builder.batch_size, builder.warm)
        try:
            summaries = _harvest_and_store(settings, db, run_id)
        finally:
            tasks.use_workers(run_id, None, 0)
    status = run_status(summaries)
    tasks.finish_run(db, run_id, status, {"sources": [asdict(s) for s in summaries],
                                           "seeds_loaded": seeds})
    create_markdown_artifact(key="ingest-summary", markdown=ingest_markdown(run_id, status,
                                                                            summaries),
                             description=f"migwatch ingest {run_id}: per-outlet counts")
    oncall.after_ingest(db, settings)   # operator alerts, raw-HTML pruning: never fails the run
    return IngestReport(run_id=run_id, status=status, db_path=str(db), seeds_loaded=seeds,
                        sources=tuple(summaries))


def _harvest_and_store(settings: Settings, db: Path, run_id: str) -> list[SourceSummary]:
    """Harvest every outlet at once; the writer stores the finished ones in the order of the
    configuration (it decides which copy is the original, so it must not depend on timing),
    each time together with the following ones that are finished too, and waits for the
    following ones while the store would hold fewer than STORE_AT_LEAST articles.

    An outlet waits at most STORE_GRACE seconds after its harvest ended, though: then every
    finished outlet is stored, in that order among themselves, ahead of any before them still
    being harvested (`_to_store`). The summaries come back in the configuration's order."""
    logger = get_run_logger()
    sources = list(settings.sources)
    futures = tasks.harvest.map(sources, settings=unmapped(settings), db_path=unmapped(db),
                                run_id=unmapped(run_id))
    pending = list(range(len(sources)))          # not stored yet, in the configuration's order
    finished: dict[int, tuple[Harvest, float]] = {}   # its result, when the writer saw it end
    summaries: dict[int, SourceSummary] = {}
    while pending:
        now = time.monotonic()
        for k in pending:
            if k not in finished and _done(futures[k]):
                finished[k] = (_result(sources[k], futures[k]), now)
        chosen = _to_store(pending, finished, now)
        if not chosen:   # until an outlet ends, or the first finished one has waited enough
            due = [finished[k][1] + STORE_GRACE - now for k in pending if k in finished]
            _wait_any([futures[k] for k in pending if k not in finished], min(due, default=None))
            continue
        running = [sources[k].key for k in pending if k < chosen[-1] and k not in finished]
        if running:
            logger.info("storing %s ahead of %s (still being harvested): the first of them "
                        "finished %.0f s ago (STORE_GRACE %.0f s); a story %s also reports "
                        "may have its original among them instead",
                        ", ".join(sources[k].key for k in chosen), ", ".join(running),
                        max(now - finished[k][1] for k in chosen), STORE_GRACE,
                        " or ".join(running))
        # quote: Prefect would otherwise walk every article of the batch, twice, looking
        # for futures among the task's inputs (12% of the flow process's CPU).
        batch = quote([finished.pop(k)[0] for k in chosen])   # mypy sees only the wrapper
        stored = tasks.store_harvests(db, batch, run_id, settings)  # type: ignore[call-overload]
        for k, summary in zip(chosen, stored, strict=True):
            summaries[k] = summary
            if summary.ok:
                logger.info("%s: %d new (%d duplicates), %d pages fetched, %d failed",
                            summary.source, summary.new_articles, summary.duplicates,
                            summary.pages_fetched, summary.pages_failed)
            else:
                logger.warning("%s: FAILED: %s", summary.source, summary.error)
        pending = [k for k in pending if k not in summaries]
    return [summaries[k] for k in range(len(sources))]


def _to_store(pending: list[int], finished: dict[int, tuple[Harvest, float]], now: float
              ) -> list[int]:
    """The outlets to store now (positions in the configuration, in order), or none yet.

    The finished ones at the head of the order, once they hold STORE_AT_LEAST articles or
    are the last; else, once a finished outlet has waited STORE_GRACE seconds, every finished
    outlet (out of order when one before them is still being harvested)."""
    head = list(itertools.takewhile(lambda k: k in finished, pending))
    if head and (len(head) == len(pending)
                 or sum(len(finished[k][0].articles) for k in head) >= STORE_AT_LEAST):
        return head
    if any(now - finished[k][1] >= STORE_GRACE for k in pending if k in finished):
        return [k for k in pending if k in finished]
    return []


def _wait_any(futures: list[PrefectFuture[Harvest]], timeout: float | None) -> None:
    """Until one of these harvests ends, or `timeout` seconds have passed."""
    threads = [f.wrapped_future for f in futures if isinstance(f, PrefectWrappedFuture)]
    if len(threads) == len(futures):
        wait_any_thread(threads, timeout=timeout, return_when=FIRST_COMPLETED)
    elif futures:   # not a thread's future (another task runner): wait for the first
        futures[0].wait(timeout)


def _done(future: PrefectFuture[Harvest]) -> bool:
    """Finished, asked without an API call when a thread's future (the flow's) knows."""
    if isinstance(future, PrefectWrappedFuture):
        return bool(future.wrapped_future.done())
    return future.state.is_final()


def _result(source: Source, future: PrefectFuture[Harvest]) -> Harvest:
    try:
        return future.result()
    except Exception as exc:  # a bug hit by one outlet's data: record it, go on
        urls = (*source.feeds, *source.sitemaps, *source.listings)
        return Harvest(source=source.key, name=source.name, articles=(), events=(),
                       error=mask_text(f"harvest crashed: {type(exc).__name__}: {exc}", urls))

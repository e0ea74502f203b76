"""Thin Prefect tasks: open a resource, call one stage, close it. Plain data in and out."""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING

from duckdb import DuckDBPyConnection
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.crawl import Crawl
from flows.harvest import SubmitBatch, Warm, harvest_source
from flows.settings import Settings, Source
from flows.stages import dedup
from flows.stages.fetch import make_client
from flows.stages.models import Harvest
from flows.stages.robots import RobotsCopy
from flows.stages.topics import load_rules
from warehouse import bands, feed_state, store
from warehouse.db import opened

if TYPE_CHECKING:   # the build stage imports trafilatura and langdetect: not on a no-op
    from flows.stages.page import BuildSpec, Built, PageJob


def _writer(db_path: Path, migrate: bool = False) -> AbstractContextManager[DuckDBPyConnection]:
    """The ingest's connection (it waits out readers' locks, as every writer does); only
    prepare_warehouse migrates."""
    return opened(db_path, migrate_schema=migrate)


def _reband_progress(done: int, total: int) -> None:
    """Re-banding a large warehouse takes minutes: say how far it is, every ~50,000."""
    if done % 50_000 < bands.REBAND_IDS or done == total:
        get_run_logger().info("re-banding stored documents: %d of %d", done, total)


@task(cache_policy=NO_CACHE)
def prepare_warehouse(db_path: Path, settings: Settings) -> int:
    """Migrate, load the topic rules, and store any seed document not yet stored."""
    rules = load_rules(settings.topics_path)
    size = settings.dedup.shingle_size
    with _writer(db_path, migrate=True) as con:
        store.load_rules(con, rules)
        if not bands.needs_rebanding(con, size):
            return _finish_preparing(con, settings)
    # Once after an upgrade (or a new shingle size): range by range, the lock released
    # between ranges so that analysts can read (warehouse/bands.py).
    rebanded = bands.reband(lambda: _writer(db_path), size, _reband_progress)
    if rebanded:
        get_run_logger().info("re-banded %d stored documents (MinHash scheme %s, shingles of "
                              "%d words)", rebanded, dedup.SCHEME, size)
    with _writer(db_path) as con:
        return _finish_preparing(con, settings)


def _finish_preparing(con: DuckDBPyConnection, settings: Settings) -> int:
    """The rest of preparing: alert thresholds, and the seeds not yet stored."""
    feed_state.set_health_settings(con, settings.fetch.failing_after,
                                 [s.key for s in settings.sources])
    missing = store.missing_seeds(con)
    seeds = []
    if missing:   # once per warehouse: the build stage is not imported otherwise
        from flows.stages.article import seed_article

        seeds = [seed_article(p, settings.dedup.shingle_size) for p in missing]
    return store.store_seeds(con, seeds, settings.dedup.threshold,
                             settings.dedup.shingle_size)


@task(cache_policy=NO_CACHE)
def start_run(db_path: Path, flow: str) -> str:
    with _writer(db_path) as con:
        return store.start_run(con, flow)


_CRAWLS: dict[str, Crawl] = {}
_CRAWLS_LOCK = threading.Lock()


def crawl_for(run_id: str, settings: Settings, db_path: Path) -> Crawl:
    """The politeness gate and robots.txt cache shared by every outlet of one run, with what
    the warehouse remembers for all of its outlets (see `_open_crawl`)."""
    with _CRAWLS_LOCK:
        crawl = _CRAWLS.get(run_id)
        if crawl is None:
            _CRAWLS.clear()   # one run at a time per process: drop the previous run's
            crawl = _CRAWLS[run_id] = _open_crawl(settings, db_path)
        return crawl


def _open_crawl(settings: Settings, db_path: Path) -> Crawl:
    """A run's crawl state, read from the warehouse once for every outlet: validators and
    sitemap children of their discovery URLs, the sitemap rotation's memory, and robots.txt
    copies young enough to use.
    One read rather than one per outlet: opening DuckDB costs ~20 ms of CPU, about as much
    as an outlet whose feeds answer 304 needs for everything else, and the harvest then
    opens the warehouse only for an outlet that announced links."""
    sources = settings.sources
    with _writer(db_path) as con:
        validators, children, dated = feed_state.load_crawl_state(
            con, [u for s in sources for u in (*s.feeds, *s.sitemaps, *s.listings)],
            [u for s in sources for u in s.sitemaps], settings.fetch.sitemap_depth)
        rotation = feed_state.load_rotation(con, [s.key for s in sources])
        robots = (feed_state.load_robots(con, settings.fetch.robots_max_age_hours)
                  if settings.fetch.respect_robots else [])
    crawl = Crawl.for_settings(settings.fetch, robots=robots)
    crawl.validators.update(validators)
    crawl.children.update(children)
    crawl.dated.update(dated)
    crawl.rotation.update(rotation)
    return crawl


def _new_robots(run_id: str) -> list[RobotsCopy]:
    """The robots.txt files the run's harvests fetched since the last store, to remember."""
    with _CRAWLS_LOCK:
        crawl = _CRAWLS.get(run_id)
    return crawl.robots.take_new() if crawl is not None else []


_BUILDERS: dict[str, tuple[SubmitBatch, int, Warm | None]] = {}


def use_workers(run_id: str, submit: SubmitBatch | None, batch_size: int,
                warm: Warm | None = None) -> None:
    """Where this run's harvest tasks send fetched pages to be built (None: build in the
    fetching threads), and what gets them ready when an outlet has new pages; set by the
    flow, which owns the workers (flows/runners.py)."""
    with _CRAWLS_LOCK:
        _BUILDERS.clear()   # one run at a time per process, as for the crawl state
        if submit is not None:
            _BUILDERS[run_id] = (submit, batch_size, warm)


def _workers_for(run_id: str) -> tuple[SubmitBatch | None, int, Warm | None]:
    """The run's workers.

    A function rather than inline: a Dask task submitted from `harvest` carries `harvest`
    (pickled by value, being shadowed by its Task), which must not reference the locks."""
    with _CRAWLS_LOCK:
        return _BUILDERS.get(run_id, (None, 1, None))


@task(cache_policy=NO_CACHE)
def build_pages_task(spec: BuildSpec, jobs: list[PageJob]) -> list[Built]:
    """One batch of fetched pages -> Articles, on a Dask worker (runner kind "dask")."""
    from flows.stages.page import build_pages

    return build_pages(spec, jobs)


@task(cache_policy=NO_CACHE)
def harvest(source: Source, settings: Settings, db_path: Path, run_id: str = "") -> Harvest:
    """Fetch and process one outlet; reads the warehouse only to skip known URLs (the
    validators come with the run's crawl state). Pages are built in this task's fetching
    threads or sent to the run's workers (`use_workers`)."""

    def is_known(urls: list[str]) -> set[str]:
        with _writer(db_path) as con:
            return store.known_urls(con, urls,
                                    retry_rejected_days=settings.fetch.retry_rejected_days)

    crawl = crawl_for(run_id, settings, db_path)
    submit, batch_size, warm = _workers_for(run_id)
    with make_client(settings.fetch) as client:
        return harvest_source(client, source, settings, is_known, crawl, submit, batch_size,
                              warm)


@task(cache_policy=NO_CACHE)
def store_harvests(db_path: Path, results: list[Harvest], run_id: str, settings: Settings
                   ) -> list[store.SourceSummary]:
    """The single writer: these outlets' batches in one transaction (see store_harvests)."""
    with _writer(db_path) as con:
        summaries = store.store_harvests(con, results, run_id, settings.dedup.threshold,
                                         settings.dedup.shingle_size,
                                         settings.dedup.window_days)
        # Validators only after the batch is stored: a crash in between costs one full
        # re-read of the feed next run, never a missed article.
        for result in results:
            feed_state.save(con, result.source, result.feed_states)
            feed_state.save_rotation(con, result.source, result.sitemap_memory)
        # The last store of a run comes after every harvest: all are remembered.
        feed_state.save_robots(con, _new_robots(run_id))
        return summaries


@task(cache_policy=NO_CACHE)
def finish_run(db_path: Path, run_id: str, status: str, summary: dict) -> None:
    with _writer(db_path) as con:
        store.finish_run(con, run_id, status, summary)

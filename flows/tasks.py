"""Thin Prefect tasks: open a resource, call one stage, close it. Plain data in and out."""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager
from pathlib import Path

from duckdb import DuckDBPyConnection
from prefect import task
from prefect.cache_policies import NO_CACHE

from flows.crawl import Crawl
from flows.harvest import harvest_source
from flows.settings import Settings, Source
from flows.stages.article import seed_article
from flows.stages.fetch import make_client
from flows.stages.models import Harvest
from flows.stages.topics import load_rules
from warehouse import feed_state, store
from warehouse.db import opened


def _writer(db_path: Path, migrate: bool = False) -> AbstractContextManager[DuckDBPyConnection]:
    """The ingest's connection (it waits out readers' locks, as every writer does); only
    prepare_warehouse migrates."""
    return opened(db_path, migrate_schema=migrate)


@task(cache_policy=NO_CACHE)
def prepare_warehouse(db_path: Path, settings: Settings) -> int:
    """Migrate, load the topic rules, and store any seed document not yet stored."""
    rules = load_rules(settings.topics_path)
    with _writer(db_path, migrate=True) as con:
        store.load_rules(con, rules)
        feed_state.set_failing_after(con, settings.fetch.failing_after)
        missing = store.missing_seeds(con)
        seeds = [seed_article(p, settings.dedup.shingle_size) for p in missing]
        return store.store_seeds(con, seeds, settings.dedup.threshold,
                                 settings.dedup.shingle_size)


@task(cache_policy=NO_CACHE)
def start_run(db_path: Path, flow: str) -> str:
    with _writer(db_path) as con:
        return store.start_run(con, flow)


_CRAWLS: dict[str, Crawl] = {}
_CRAWLS_LOCK = threading.Lock()


def crawl_for(run_id: str, settings: Settings) -> Crawl:
    """The politeness gate and robots.txt cache shared by every outlet of one run."""
    with _CRAWLS_LOCK:
        crawl = _CRAWLS.get(run_id)
        if crawl is None:
            _CRAWLS.clear()   # one run at a time per process: drop the previous run's
            crawl = _CRAWLS[run_id] = Crawl.for_settings(settings.fetch)
        return crawl


@task(cache_policy=NO_CACHE)
def harvest(source: Source, settings: Settings, db_path: Path, run_id: str = "") -> Harvest:
    """Fetch and process one outlet; reads the warehouse only to skip known URLs and to
    send the validators of the outlet's feeds."""

    def is_known(urls: list[str]) -> set[str]:
        with _writer(db_path) as con:
            return store.known_urls(con, urls)

    crawl = crawl_for(run_id, settings)
    with _writer(db_path) as con:
        validators = feed_state.load(con, [*source.feeds, *source.sitemaps, *source.listings])
    with _CRAWLS_LOCK:
        crawl.validators.update(validators)
    with make_client(settings.fetch) as client:
        return harvest_source(client, source, settings, is_known, crawl)


@task(cache_policy=NO_CACHE)
def store_harvest(db_path: Path, result: Harvest, run_id: str, settings: Settings
                  ) -> store.SourceSummary:
    with _writer(db_path) as con:
        summary = store.store_harvest(con, result, run_id, settings.dedup.threshold,
                                      settings.dedup.shingle_size)
        # Validators only after the batch is stored: a crash in between costs one full
        # re-read of the feed next run, never a missed article.
        feed_state.save(con, result.source, result.feed_states)
        return summary


@task(cache_policy=NO_CACHE)
def finish_run(db_path: Path, run_id: str, status: str, summary: dict) -> None:
    with _writer(db_path) as con:
        store.finish_run(con, run_id, status, summary)

"""Thin Prefect tasks: open a resource, call one stage, close it. Plain data in and out."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from flows.harvest import harvest_source
from flows.settings import Settings, Source
from flows.stages.article import seed_article
from flows.stages.fetch import make_client
from flows.stages.models import Harvest
from flows.stages.topics import load_rules
from warehouse import store
from warehouse.db import opened

# An analyst's read-only connection (`migwatch sql`, `status`, `export`, `backup`) holds the file
# lock for the length of one query: the writer waits for it instead of failing the run.
WAIT_FOR_READERS = 120.0


@task(cache_policy=NO_CACHE)
def prepare_warehouse(db_path: Path, settings: Settings) -> int:
    """Migrate, load the topic rules, and store any seed document not yet stored."""
    rules = load_rules(settings.topics_path)
    with opened(db_path, retry_seconds=WAIT_FOR_READERS) as con:
        store.load_rules(con, rules)
        missing = store.missing_seeds(con)
        seeds = [seed_article(p, settings.dedup.shingle_size) for p in missing]
        return store.store_seeds(con, seeds, settings.dedup.threshold,
                                 settings.dedup.shingle_size)


@task(cache_policy=NO_CACHE)
def start_run(db_path: Path, flow: str) -> str:
    with opened(db_path, migrate_schema=False, retry_seconds=WAIT_FOR_READERS) as con:
        return store.start_run(con, flow)


@task(cache_policy=NO_CACHE)
def harvest(source: Source, settings: Settings, db_path: Path) -> Harvest:
    """Fetch and process one outlet; reads the warehouse only to skip known URLs."""

    def is_known(urls: list[str]) -> set[str]:
        with opened(db_path, migrate_schema=False, retry_seconds=WAIT_FOR_READERS) as con:
            return store.known_urls(con, urls)

    with make_client(settings.fetch) as client:
        return harvest_source(client, source, settings, is_known)


@task(cache_policy=NO_CACHE)
def store_harvest(db_path: Path, result: Harvest, run_id: str, settings: Settings
                  ) -> store.SourceSummary:
    with opened(db_path, migrate_schema=False, retry_seconds=WAIT_FOR_READERS) as con:
        return store.store_harvest(con, result, run_id, settings.dedup.threshold,
                                   settings.dedup.shingle_size)


@task(cache_policy=NO_CACHE)
def finish_run(db_path: Path, run_id: str, status: str, summary: dict) -> None:
    with opened(db_path, migrate_schema=False, retry_seconds=WAIT_FOR_READERS) as con:
        store.finish_run(con, run_id, status, summary)

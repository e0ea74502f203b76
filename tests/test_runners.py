"""[runner]: the same ingest with articles built in threads, worker processes or on a local
Dask cluster of two worker processes stores the same articles, topics and duplicates."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

import pytest

from flows.ingest import ingest_flow
from flows.replica.server import ReplicaServer, demo_config
from flows.settings import ConfigError, RunnerSettings, parse_settings
from tests.helpers import task_runs
from tests.test_flows import EXPECTED
from warehouse.db import opened

MINIMAL = """
[[sources]]
key = "one"
name = "One"
feeds = ["https://example.org/rss"]
"""


def test_runner_defaults_to_one_worker_process_per_usable_cpu(tmp_path: Path) -> None:
    runner = parse_settings(MINIMAL, tmp_path / "s.toml").runner
    assert runner == RunnerSettings(kind="processes", workers=0, dask_address="")
    assert runner.worker_count() == len(os.sched_getaffinity(0))
    text = '[runner]\nkind = "dask"\nworkers = 3\ndask_address = "tcp://10.0.0.5:8786"\n'
    assert parse_settings(text + MINIMAL, tmp_path / "s.toml").runner == RunnerSettings(
        "dask", 3, "tcp://10.0.0.5:8786")


@pytest.mark.parametrize(
    ("runner", "message"),
    [
        ('kind = "gpu"', r"s\.toml:2: runner\.kind: 'gpu' is not one of threads, processes, dask"),
        ("workers = -1", r"s\.toml:2: runner\.workers: must be >= 0 \(0 = one per CPU\)"),
        ('workers = "2"', r"runner\.workers: expected int"),
        ('dask_address = "tcp://h:8786"',
         r"s\.toml:2: runner\.dask_address: is only used with kind = \"dask\""),
        ('kind = "dask"\ndask_address = "http://h:8786/x"',
         r"s\.toml:3: runner\.dask_address: expected a scheduler address"),
        ("threads = 4", r"runner\.threads: unknown key \(allowed: dask_address, kind, workers\)"),
    ],
)
def test_bad_runner_settings_are_named(runner: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_settings(f"[runner]\n{runner}\n" + MINIMAL, tmp_path / "s.toml")


def _stored(db: Path) -> set[tuple]:
    """Every stored article as a reader sees it, with its original and topics; no ids,
    no fetch times (they differ between any two runs)."""
    with opened(db, read_only=True) as con:
        rows = con.execute(
            "SELECT a.source, a.url, a.canonical_url, a.title, a.lang, a.lang_confidence, "
            "a.text_hash, a.n_words, o.canonical_url, a.similarity, "
            "(SELECT list(topic ORDER BY topic) FROM doc_topic t WHERE t.doc_id = a.id), "
            "(SELECT list(key ORDER BY key) FROM doc_band b WHERE b.doc_id = a.id) "
            "FROM doc a LEFT JOIN doc o ON o.id = a.duplicate_of "
            "WHERE NOT a.is_seed").fetchall()
    return {tuple(tuple(v) if isinstance(v, list) else v for v in row) for row in rows}


def _ingest(cfg: Path, runner: str, db: Path) -> set[tuple]:
    demo = cfg.read_text("utf-8")
    text = demo.replace('kind = "threads"', runner, 1)   # the demo's [runner]
    assert text != demo or runner == 'kind = "threads"'
    path = cfg.with_name(f"{db.stem}.toml")
    path.write_text(text, encoding="utf-8")
    report = ingest_flow(str(path), str(db))
    assert report.status == "ok" and report.new_articles == len(EXPECTED)
    return _stored(db)


@pytest.fixture(scope="module")
def by_threads(tmp_path_factory: pytest.TempPathFactory, prefect_harness: None) -> set[tuple]:
    """The reference: the demo replica ingested with articles built in the fetching threads."""
    tmp = tmp_path_factory.mktemp("threads")
    with ReplicaServer() as srv:
        cfg = tmp / "sources.toml"
        cfg.write_text(demo_config(srv.base_url), encoding="utf-8")
        stored = _ingest(cfg, 'kind = "threads"', tmp / "threads.duckdb")
    urls = {row[1].split("/", 3)[3] for row in stored}
    assert urls == set(EXPECTED)
    assert any(row[8] for row in stored) and any(row[10] for row in stored)
    return {_portable(row) for row in stored}


def _portable(row: tuple) -> tuple:
    """The replica's port differs between servers: compare URLs by path."""
    strip = lambda u: u.split("/", 3)[3] if isinstance(u, str) and "://" in u else u  # noqa: E731
    return tuple(strip(v) for v in row)


@pytest.mark.usefixtures("prefect_harness")
def test_worker_processes_store_what_threads_store(by_threads: set[tuple], demo_cfg: Path,
                                                   tmp_path: Path) -> None:
    stored = _ingest(demo_cfg, 'kind = "processes"\nworkers = 2', tmp_path / "procs.duckdb")
    assert {_portable(r) for r in stored} == by_threads


@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.slow
def test_a_local_dask_cluster_of_two_processes_stores_what_threads_store(
        by_threads: set[tuple], demo_cfg: Path, tmp_path: Path) -> None:
    stored = _ingest(demo_cfg, 'kind = "dask"\nworkers = 2', tmp_path / "dask.duckdb")
    assert {_portable(r) for r in stored} == by_threads
    # Built on the cluster as Prefect task runs: one batch (up to 32 pages) per outlet.
    runs = task_runs("build_pages_task")
    assert len(runs) == 6 and all(r.state is not None and r.state.is_completed() for r in runs)


def test_outlets_stored_together_are_stored_as_one_at_a_time(tmp_path: Path) -> None:
    """The writer stores the outlets that are ready together: same rows, tags, originals."""
    from flows.stages.models import FetchEvent, Harvest
    from tests.helpers import article, memory_warehouse
    from warehouse import store

    texts = {
        "march": "Remittances from Tajik migrants in Russia rose in March as money transfers "
                 "reached $2 billion, the national bank in Dushanbe reported on Monday. ",
        "april": "In April the rouble weakened and Tajik labour migrants cut the money "
                 "transfers they send home; remittances fell to $1.5 billion, bankers said. ",
        "may": "Migrant families in Kulob said remittances arriving in May were smaller, with "
               "transfers through Russian banks delayed by checks costing 300 million roubles. "}

    def outlet(key: str, stories: list[str]) -> Harvest:
        arts = tuple(article(f"Remittances in {s}", texts[s] * 3, f"https://{key}.org/{s}",
                             source=key) for s in stories)
        return Harvest(source=key, name=key, articles=arts, feeds_ok=1,
                       events=(FetchEvent(key, "feed", f"https://{key}.org/rss", "ok"),))

    harvests = [outlet("one", ["march", "april"]), outlet("two", ["april", "may"])]
    results = []
    for name, groups in (("apart", [[h] for h in harvests]), ("together", [harvests])):
        (tmp_path / name).mkdir()
        con = memory_warehouse(tmp_path / name)
        summaries = [s for g in groups for s in store.store_harvests(con, g, "run-1", 0.5, 4)]
        rows = con.execute(
            "SELECT d.url, d.duplicate_of, d.similarity, "
            "(SELECT list(topic ORDER BY topic) FROM doc_topic t WHERE t.doc_id = d.id), "
            "(SELECT count(*) FROM figure f WHERE f.doc_id = d.id) FROM doc d "
            "ORDER BY d.id").fetchall()
        results.append((summaries, rows))
    assert results[0] == results[1]
    summaries, rows = results[0]
    assert [s.duplicates for s in summaries] == [0, 1]   # two.org/april copies one.org/april
    assert [(topics, figures) for *_, topics, figures in rows] == [(["remittances"], 3)] * 4, rows


def test_a_killed_worker_fails_its_batch_and_the_next_batch_gets_a_new_pool() -> None:
    """A crash in a C extension kills a worker: its outlet's batch fails (the outlet is
    reported as crashed), the rest of the run goes on with fresh workers."""
    import signal
    from concurrent.futures.process import BrokenProcessPool

    from flows.replica.server import SITE
    from flows.runners import _ProcessPool
    from flows.stages.models import FeedItem, FetchEvent
    from flows.stages.page import BuildSpec, PageJob, build_pages

    page = next(SITE.glob("eurasianet/*.html")).read_bytes()
    job = PageJob("https://e.org/a", FeedItem("https://e.org/a"), "https://e.org/a", page,
                  "text/html; charset=utf-8", FetchEvent("e", "page", "https://e.org/a", "ok"))
    spec = BuildSpec("e", "en")
    expected = [b.article.text_hash for b in build_pages(spec, [job]) if b.article]
    pool = _ProcessPool(1)
    try:
        assert [b.article.text_hash for b in pool.submit(spec, [job]).result() if b.article
                ] == expected
        assert pool.pool is not None
        long = pool.submit(spec, [job] * 300)   # seconds of work for the one worker
        time.sleep(0.5)
        for pid in list(pool.pool._processes):   # killed mid-batch, as a segfault would
            os.kill(pid, signal.SIGKILL)
        with pytest.raises(BrokenProcessPool):
            long.result()
        again = pool.submit(spec, [job]).result()
        assert [b.article.text_hash for b in again if b.article] == expected
    finally:
        pool.close()


def test_workers_build_outlets_in_the_order_the_writer_stores_them() -> None:
    """A batch of an outlet the writer stores earlier overtakes queued batches of later
    outlets, whichever outlet sent its pages first: the writer then stores each outlet while
    the workers build the next, instead of waiting for the first one to come out last."""
    from collections.abc import Callable
    from concurrent.futures import Future
    from typing import cast

    from flows.runners import _ProcessPool
    from flows.stages.models import FeedItem, FetchEvent
    from flows.stages.page import WARM_UP_PAGE, BuildSpec, Built, PageJob

    url = "https://example.org/w"
    job = PageJob(url, FeedItem(url), url, WARM_UP_PAGE.encode(), "text/html",
                  FetchEvent("w", "page", url, "ok"))
    done: list[str] = []

    def finished(name: str) -> Callable[[Future[list[Built]]], None]:
        return lambda _future: done.append(name)   # one worker: one batch ends at a time

    pool = _ProcessPool(1, order=["first", "second"])
    try:
        futures = []
        # The second outlet's pages come first: two batches are handed to the worker at
        # once, the third waits in the queue, where the first outlet's batch overtakes it.
        for name, pages in (("second 1", 40), ("second 2", 40), ("second 3", 1),
                            ("first 1", 1)):
            future = cast("Future[list[Built]]",
                          pool.submit(BuildSpec(name.split()[0]), [job] * pages))
            future.add_done_callback(finished(name))
            futures.append(future)
        for future in futures:
            future.result(timeout=120)
    finally:
        pool.close()
    assert done.index("first 1") < done.index("second 3"), done


def test_warm_up_page_is_built_into_an_article() -> None:
    """A rejected warm-up page would leave language, MinHash and figures cold in workers."""
    from flows.stages.models import FeedItem, FetchEvent
    from flows.stages.page import WARM_UP_PAGE, BuildSpec, PageJob, build_page

    url = "https://example.org/w"
    built = build_page(BuildSpec("warm-up"), PageJob(url, FeedItem(url), url,
                       WARM_UP_PAGE.encode(), "text/html", FetchEvent("w", "page", url, "ok")))
    assert built.article is not None and built.article.figures


@pytest.mark.skipif(not Path("/proc/sys/fs/pipe-max-size").exists(), reason="Linux pipes only")
def test_the_worker_pipes_hold_a_whole_batch_of_pages() -> None:
    import fcntl

    from flows.runners import _PIPE_BYTES, _ProcessPool

    if int(Path("/proc/sys/fs/pipe-max-size").read_text()) < _PIPE_BYTES:
        pytest.skip("this system caps pipes below 1 MB")
    pool = _ProcessPool(1)
    executor = pool._pool()
    try:
        for pipe in (executor._call_queue._writer, executor._result_queue._reader):  # type: ignore[attr-defined]
            assert fcntl.fcntl(pipe.fileno(), 1032) >= _PIPE_BYTES   # F_GETPIPE_SZ
    finally:
        pool.close()


KILLED_RUN = """
import os, sys, time
from flows.replica.server import SITE
from flows.runners import _ProcessPool
from flows.stages.models import FeedItem, FetchEvent
from flows.stages.page import BuildSpec, PageJob

page = next(SITE.glob("eurasianet/*.html")).read_bytes()
job = PageJob("https://e.org/a", FeedItem("https://e.org/a"), "https://e.org/a", page,
              "text/html; charset=utf-8", FetchEvent("e", "page", "https://e.org/a", "ok"))
pool = _ProcessPool(2)
pool.submit(BuildSpec("e", "en"), [job]).result()
pool.submit(BuildSpec("e", "en"), [job] * 2000)   # busy when the run is killed
print("ready", flush=True)
time.sleep(600)
"""


@pytest.mark.slow
def test_the_workers_of_a_killed_run_stop_too(tmp_path: Path) -> None:
    """SIGKILL to the run's process (the OOM killer, `timeout -s KILL`): its worker
    processes, the fork server and the resource tracker go too, instead of waiting for ever
    on pipes whose write ends they hold themselves."""
    import signal
    import subprocess
    import sys

    from flows.procs import descendants
    from tests.conftest import ROOT

    run = subprocess.Popen([sys.executable, "-c", KILLED_RUN], cwd=ROOT, text=True,
                           stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})
    below: list[int] = []
    try:
        assert run.stdout is not None and run.stdout.readline().strip() == "ready"
        below = [p for p in descendants(run.pid) if p != run.pid]
        assert len(below) >= 3, below   # fork server, two workers (and the resource tracker)
        run.send_signal(signal.SIGKILL)
        run.wait()
        deadline = time.monotonic() + 20
        while (alive := [p for p in below if Path(f"/proc/{p}").exists()
                         and "Z" not in Path(f"/proc/{p}/stat").read_text().split()[2]]):
            assert time.monotonic() < deadline, f"still running after the run was killed: {alive}"
            time.sleep(0.2)
    finally:   # what a failure left running
        for p in below + descendants(run.pid):
            with contextlib.suppress(OSError):
                os.kill(p, signal.SIGKILL)
        run.kill()
        run.wait()

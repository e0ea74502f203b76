"""CPU milliseconds per page of each side of ingest, in one process, against the floor.

    .venv/bin/python bench/cpu_per_page.py [--pages 400] [--rounds 2] [--outlets-a-store 4]

The big replica's pages (bench/big_replica.py, no HTTP) go through: the floor (bytes ->
decode -> trafilatura -> language: bench/floor.py, as bench_ingest.py times it); the worker side
(`build_pages` in batches of 8, what a worker process runs: the floor's work plus
normalisation, MinHash, figures, topic phrases); the writer side (`store_harvests` of the
built articles into a fresh warehouse file, 4 outlets a transaction, each in its own
connection as in the flow). CPU time, not wall time:
on a shared machine it is what stays comparable between runs. Everything is warmed by a first
round that is not counted; floor and worker alternate for `--rounds` rounds. What
bench_ingest.py adds on top: fetching, Prefect, moving pages between processes, and each
worker's start.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))   # run as a script

from bench.big_replica import OUTLET_LANGS, BigReplica
from bench.floor import floor_pages
from flows.settings import load_settings
from flows.stages.article import seed_article
from flows.stages.models import FeedItem, FetchEvent, Harvest
from flows.stages.page import BuildSpec, Built, PageJob, build_pages, warm_up
from flows.stages.topics import load_rules, rule_terms_in
from warehouse import store
from warehouse.db import opened

BATCH = 8   # flows/runners.py PROCESS_BATCH
TOPICS = rule_terms_in(load_settings(None).topics_path)   # the workers find topic phrases


def build(jobs: dict[str, list[PageJob]]) -> dict[str, list[Built]]:
    out: dict[str, list[Built]] = {}
    for outlet, mine in jobs.items():
        spec = BuildSpec(outlet, OUTLET_LANGS[int(outlet[1:]) % len(OUTLET_LANGS)],
                         topics=TOPICS)
        out[outlet] = [b for k in range(0, len(mine), BATCH)
                       for b in build_pages(spec, mine[k:k + BATCH])]
    return out


def write(built: dict[str, list[Built]], tmp: Path, step: int = 4) -> tuple[float, int]:
    """CPU seconds of storing every built article, `step` outlets a transaction, and how
    many were stored."""
    settings = load_settings(None)
    threshold, size = settings.dedup.threshold, settings.dedup.shingle_size
    db = Path(tempfile.mkdtemp(dir=tmp)) / "w.duckdb"
    with opened(db) as con:
        store.load_rules(con, load_rules(settings.topics_path))
        store.store_seeds(con, [seed_article(p, size) for p in store.missing_seeds(con)],
                          threshold, size)
        run_id = store.start_run(con, "ingest")
    harvests = [Harvest(o, o, tuple(b.article for b in bl if b.article),
                        tuple(b.event for b in bl),
                        tuple(b.rejected for b in bl if b.rejected), 1, 0, len(bl), 0)
                for o, bl in built.items()]
    started = time.process_time()
    for k in range(0, len(harvests), step):
        # A connection per transaction, as the flow's store task opens one per store (to
        # let analysts in between): its open and its close, where DuckDB checkpoints what
        # the store wrote, are part of a stored article's cost.
        with opened(db, migrate_schema=False) as con:
            store.store_harvests(con, harvests[k:k + step], run_id, threshold, size)
    return time.process_time() - started, sum(len(h.articles) for h in harvests)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=400)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--outlets-a-store", type=int, default=4, help="outlets a transaction: "
                    "1 is how the flow stores outlets that finish one after another")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        bodies = BigReplica(tmp / "site", args.pages).bodies()
        jobs: dict[str, list[PageJob]] = {}
        for url, body in bodies:
            outlet = url.split("/")[3]
            jobs.setdefault(outlet, []).append(PageJob(
                url, FeedItem(url), url, body, "text/html; charset=utf-8",
                FetchEvent(outlet, "page", url, "ok", 200, None, len(body), 5)))
        warm_up()
        floor_pages(bodies)
        built = build(jobs)
        cpu = {"floor": 0.0, "worker": 0.0}
        for _ in range(args.rounds):
            started = time.process_time()
            floor_pages(bodies)
            cpu["floor"] += time.process_time() - started
            started = time.process_time()
            built = build(jobs)
            cpu["worker"] += time.process_time() - started
        per_page = {k: 1000 * v / args.rounds / len(bodies) for k, v in cpu.items()}
        writer = min(write(built, tmp, args.outlets_a_store) for _ in range(3))
    print(f"{len(bodies)} pages, CPU ms per page (mean of {args.rounds} rounds):")
    print(f"  floor  (decode, trafilatura, language)       {per_page['floor']:6.1f}")
    print(f"  worker (build_pages: the floor's work + rest) {per_page['worker']:6.1f}  "
          f"(+{per_page['worker'] - per_page['floor']:.1f} over the floor)")
    print(f"  writer (store_harvests, per stored article)   {1000 * writer[0] / writer[1]:6.1f}"
          f"  (best of 3, {writer[1]} articles)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

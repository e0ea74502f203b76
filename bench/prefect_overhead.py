"""Prefect overhead: the same ingest as plain function calls and as a Prefect flow.

Both ingest the bundled replica (six outlets, 19 article pages on 127.0.0.1) into a fresh
warehouse, using the very functions the flow's tasks wrap (`task.fn`), with the same thread
fan-out for fetching. Each variant runs --repeat times, alternating; medians are printed.

    .venv/bin/python bench/prefect_overhead.py [--repeat 3]

Prefect runs against a temporary local API (started once, before timing, like a served
deployment whose API is already up).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="migwatch-bench-prefect-"))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

from flows import tasks
from flows.ingest import ingest_flow, run_status
from flows.replica.server import SITE, ReplicaServer, demo_config
from flows.settings import load_settings


def plain_ingest(config: Path, db: Path) -> int:
    """ingest_flow without Prefect: the same steps, the same thread pool for fetching."""
    settings = load_settings(config)
    tasks.prepare_warehouse.fn(db, settings)
    run_id = tasks.start_run.fn(db, "ingest")
    with ThreadPoolExecutor(max_workers=8) as pool:
        harvests = list(pool.map(lambda s: tasks.harvest.fn(s, settings, db), settings.sources))
    summaries = tasks.store_harvests.fn(db, harvests, run_id, settings)
    tasks.finish_run.fn(db, run_id, run_status(summaries), {})
    return sum(s.new_articles for s in summaries)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    from prefect.testing.utilities import prefect_test_harness

    timings: dict[str, list[float]] = {"plain": [], "prefect": []}
    with prefect_test_harness(server_startup_timeout=120), ReplicaServer(SITE) as srv, \
            tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "s.toml"
        cfg.write_text(demo_config(srv.base_url), encoding="utf-8")
        ingest_flow(str(cfg), str(Path(tmp) / "warm.duckdb"))  # imports, caches, API warm
        plain_ingest(cfg, Path(tmp) / "warm2.duckdb")
        for i in range(args.repeat):
            for name in ("plain", "prefect"):
                db = Path(tmp) / f"{name}{i}.duckdb"
                t0 = time.perf_counter()
                if name == "plain":
                    n = plain_ingest(cfg, db)
                else:
                    n = ingest_flow(str(cfg), str(db)).new_articles
                timings[name].append(time.perf_counter() - t0)
                print(f"run {i + 1} {name:<8} {timings[name][-1]:6.2f} s  ({n} articles)",
                      flush=True)
    plain, pref = (statistics.median(timings[k]) for k in ("plain", "prefect"))
    print(f"\nmedian of {args.repeat}: plain {plain:.2f} s, Prefect flow {pref:.2f} s, "
          f"overhead {100 * (pref - plain) / plain:+.1f} % (target < 5 %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

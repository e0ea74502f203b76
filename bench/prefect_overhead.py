"""Prefect overhead: the same ingest as plain function calls and as a Prefect flow.

Both ingest into a fresh warehouse with the very functions the flow's tasks wrap (`task.fn`),
the same [runner] workers, the same thread fan-out for fetching, the same writer (ready
outlets stored together, in configuration order) and the same housekeeping after the run
(operator alerts: `oncall.after_ingest_run`). Two replicas:
  demo   the bundled replica (six outlets, 19 pages), --repeat times each, alternating;
  large  bench/big_replica.py (--pages article pages of real news pages' weight, 8 outlets,
         [runner] default: worker processes), --repeat-large times each, alternating.
Medians are printed, with the overhead (flow - plain) / plain; target < 5 %. A busy machine
moves a minute-long run by more than Prefect's cost, so the fixed cost measured on the demo is
also given as a share of the large run.

    .venv/bin/python bench/prefect_overhead.py [--repeat 3] [--pages 2000] [--repeat-large 2]

Prefect runs against a temporary local API, started before timing (as a served deployment's
API is already up); a warm-up run of each variant comes first.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="migwatch-bench-prefect-"))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))   # run as a script

from bench.big_replica import BigReplica
from flows import tasks
from flows.heap import frozen_heap
from flows.ingest import ingest_flow, run_status
from flows.oncall import after_ingest_run
from flows.replica.server import SITE, ReplicaServer, demo_config
from flows.runners import open_builder
from flows.settings import load_settings
from flows.stages.models import Harvest


def plain_ingest(config: Path, db: Path) -> int:
    """ingest_flow without Prefect: the same steps, workers, fan-out and writer."""
    settings = load_settings(config)
    tasks.prepare_warehouse.fn(db, settings)
    run_id = tasks.start_run.fn(db, "ingest")
    order = [s.key for s in settings.sources]   # as ingest_flow: the writer's order
    with frozen_heap(), open_builder(settings.runner, order) as builder, \
            ThreadPoolExecutor(max_workers=8) as pool:
        tasks.use_workers(run_id, builder.submit, builder.batch_size)
        futures: list[Future[Harvest]] = [
            pool.submit(tasks.harvest.fn, s, settings, db, run_id) for s in settings.sources]
        summaries: list = []
        while len(summaries) < len(futures):
            first = len(summaries)
            ready = [futures[first].result()]
            while first + len(ready) < len(futures) and futures[first + len(ready)].done():
                ready.append(futures[first + len(ready)].result())
            summaries += tasks.store_harvests.fn(db, ready, run_id, settings)
        tasks.use_workers(run_id, None, 0)
    tasks.finish_run.fn(db, run_id, run_status(summaries), {})
    after_ingest_run(db, settings)   # the flow's housekeeping: operator alerts, pruning
    return sum(s.new_articles for s in summaries)


def flow_ingest(config: Path, db: Path) -> int:
    return ingest_flow(str(config), str(db)).new_articles


def compare(label: str, cfg: Path, tmp: Path, repeat: int, warm: Path | None
            ) -> tuple[float, float]:
    """Median seconds of (plain, flow); the order alternates from one round to the next, so
    that a machine getting busier or quieter favours neither."""
    variants: dict[str, Callable[[Path, Path], int]] = {"plain": plain_ingest,
                                                         "prefect": flow_ingest}
    for name, run in variants.items() if warm else ():   # imports, the API, the forkserver
        run(warm or cfg, tmp / f"{label}-warm-{name}.duckdb")
    timings: dict[str, list[float]] = {name: [] for name in variants}
    for i in range(repeat):
        for name, run in sorted(variants.items(), reverse=i % 2 == 1):
            t0 = time.perf_counter()
            n = run(cfg, tmp / f"{label}-{name}{i}.duckdb")
            timings[name].append(time.perf_counter() - t0)
            print(f"{label} run {i + 1} {name:<8} {timings[name][-1]:6.2f} s  ({n} articles)",
                  flush=True)
    plain, pref = (statistics.median(timings[k]) for k in variants)
    print(f"{label}: median of {repeat}: plain {plain:.2f} s, Prefect flow {pref:.2f} s, "
          f"overhead {100 * (pref - plain) / plain:+.1f} % (target < 5 %)\n", flush=True)
    return plain, pref


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="runs of each variant, demo")
    ap.add_argument("--pages", type=int, default=2000, help="pages of the large replica "
                                                            "(0: demo only)")
    ap.add_argument("--repeat-large", type=int, default=2, help="runs of each, large")
    args = ap.parse_args(argv)
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120), tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        with ReplicaServer(SITE) as srv:
            cfg = tmp / "demo.toml"
            cfg.write_text(demo_config(srv.base_url), encoding="utf-8")
            demo_plain, demo_flow = compare("demo", cfg, tmp, args.repeat, warm=cfg)
            procs = tmp / "demo-processes.toml"   # warms the worker processes' server too
            procs.write_text(demo_config(srv.base_url).replace(
                'kind = "threads"', 'kind = "processes"'), encoding="utf-8")
            if args.pages:
                with BigReplica(tmp / "site", args.pages) as rep:
                    print(f"large replica: {rep.description}", flush=True)
                    cfg = tmp / "large.toml"
                    cfg.write_text(rep.config_text(), encoding="utf-8")
                    plain, _flow = compare("large", cfg, tmp, args.repeat_large, warm=procs)
                print(f"Prefect's fixed cost measured on the demo ({demo_flow - demo_plain:.2f} s)"
                      f" is {100 * (demo_flow - demo_plain) / plain:.1f} % of the large plain run")
    return 0


if __name__ == "__main__":
    sys.exit(main())

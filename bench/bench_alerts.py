"""Cost of the operator-alert pass that follows every ingest run (prints figures).

    .venv/bin/python bench/bench_alerts.py [--outlets 50] [--articles 100000] [--runs 200]

A fresh warehouse gets `--articles` documents spread over `--outlets` outlets and the last 90
days, and `--runs` ingest runs of per-outlet health rows (a tenth of the outlets failing in the
last runs, a few gone quiet). Timed: the first pass (incidents opened, one alert written to the
outbox), a second pass (nothing new: the usual case after a run), and the pass after the
failing outlets recovered.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from flows.oncall import run_operator_alerts
from flows.settings import DigestSettings, Settings, Source
from flows.subscribers import Channel
from warehouse.db import connect


def fill(db: Path, outlets: list[str], articles: int, runs: int) -> None:
    con = connect(db)
    n_quiet = max(1, len(outlets) // 20)
    # quiet outlets' articles all end 10 days ago; the others' run up to now
    con.execute(f"""
        INSERT INTO doc (source, url, canonical_url, fetched_at, published_at, lang, text,
                         text_hash, n_words)
        SELECT s, 'https://x/' || i, 'x/' || i, now(),
               now() - to_minutes(CAST((i // {len(outlets)}) * (90 * 24 * 60)
                                       / ({articles} / {len(outlets)}) AS BIGINT))
                     - CASE WHEN (i % {len(outlets)}) < {n_quiet} THEN INTERVAL 10 DAY
                            ELSE INTERVAL 0 DAY END,
               'en', 't', 'h' || i, 1
        FROM range({articles}) r(i), LATERAL (SELECT ?[1 + (i % {len(outlets)})] AS s)
    """, [outlets])
    n_failing = max(1, len(outlets) // 10)
    con.execute(f"""
        INSERT INTO source_run
        SELECT 'run-' || r, s, s, NOT (o <= {n_failing} AND r >= {runs - 3}), 1, 0, 1, 0, 0,
               0, NULL, now() - to_hours({runs} - r)
        FROM range({runs}) t(r), (SELECT unnest(?) AS s, generate_subscripts(?, 1) AS o)
    """, [outlets, outlets])
    con.close()


def recover(db: Path, outlets: list[str]) -> None:
    con = connect(db)
    con.execute("INSERT INTO source_run SELECT 'run-last', s, s, true, 1, 0, 1, 0, 0, 0, NULL, "
                "now() FROM (SELECT unnest(?) AS s)", [outlets])
    con.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--outlets", type=int, default=50)
    ap.add_argument("--articles", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=200)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-alerts-"))
    db = tmp / "w.duckdb"
    outlets = [f"outlet_{i:03d}" for i in range(args.outlets)]
    t0 = time.perf_counter()
    fill(db, outlets, args.articles, args.runs)
    print(f"warehouse: {args.articles} articles, {args.outlets} outlets, {args.runs} runs "
          f"({time.perf_counter() - t0:.1f} s to fill)")
    settings = Settings(path=tmp / "s.toml",
                        sources=tuple(Source(k, k, ("https://x/rss",)) for k in outlets),
                        digest=DigestSettings(outbox=tmp / "outbox"),
                        operator=(Channel("email", "ops@example.org"),))
    for label, before in (("first pass (incidents open, alert sent)", None),
                          ("second pass (nothing new)", None),
                          ("after recovery (alert sent)", recover)):
        if before:
            before(db, outlets)
        t0 = time.perf_counter()
        report = run_operator_alerts(db, settings, None)
        took = time.perf_counter() - t0
        print(f"{label:<42} {took * 1000:7.0f} ms  opened {report.opened:>3}, closed "
              f"{report.closed:>3}, incidents sent {report.results[0].n_incidents}")


if __name__ == "__main__":
    main()

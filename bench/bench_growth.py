"""The warehouse as it grows: ingest cost per article, the writer's memory, analyst queries.

For each size (default 100,000 and 1,000,000 stored articles) the same DuckDB file is filled
up to that size with synthetic stored articles, then:

- a fresh process ingests `--probe` new synthetic articles through the real store path
  (`store.insert_articles` in outlet-sized batches of `--batch`, then topic tagging), and
  reports milliseconds per article and its peak RSS — the writer's cost at that size; then
  another fresh process does the same with `[dedup] window_days = --window-days` (30: the
  stored articles are dated one a minute up to now, so a 30-day window holds 43,200 of them
  whatever the warehouse's size);
- the phrase-search index beside the warehouse (warehouse/search.py) is brought up to date,
  as `migwatch search` or the next ingest does (the first size builds it; later ones add the
  articles stored since), and its time and size printed;
- a fresh read-only process times three typical analyst queries (`bench/sql/query_*.sql`:
  topic counts by month and language, articles matching a phrase, clusters carried by more
  than three outlets), and the phrase through the index (`migwatch search`'s path: the
  matching ids from the index, then their rows from DuckDB, all of them, newest first),
  median of three runs each.

The stored articles are generated in SQL (`bench/sql/growth_*.sql`: rows shaped as the ingest
stores them, 42 band rows each, topic tags, one copy in five) because storing a million
through the real path would take hours; the articles ingested on top go through the real path.

    .venv/bin/python bench/bench_growth.py [--sizes 100000,1000000] [--probe 2000]
                                           [--batch 50] [--window-days 30]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from bench.bench_dedup import peak_rss_mb, synthetic  # noqa: E402
from flows.settings import DEFAULT_TOPICS  # noqa: E402
from flows.stages.topic_match import matcher  # noqa: E402
from flows.stages.topics import load_rules, rule_terms_in  # noqa: E402
from warehouse import search, store  # noqa: E402
from warehouse.db import connect, opened, transaction  # noqa: E402

FILL_CHUNK = 100_000
VOCAB = [f"w{i}" for i in range(3_000)] + [
    "migrants", "Russia", "Tajikistan", "patent", "quota", "remittances", "deported",
    "entry ban", "agreement", "labour", "Moscow", "Dushanbe", "мигрантов", "патент",
    "запрет на въезд", "депортация", "муҳоҷирон", "Русия", "пул", "кор"]
QUERIES = ("topics_by_month", "phrase", "wide_clusters", "phrase_indexed")
# bench/sql/query_phrase.sql's phrase, through the index
INDEXED_PHRASE = "entry ban"


def _sql(name: str) -> str:
    return (HERE / "sql" / f"{name}.sql").read_text(encoding="utf-8")


def fill(db: Path, size: int) -> float:
    """Grow the warehouse to `size` synthetic stored articles; seconds taken."""
    t0 = time.perf_counter()
    con = connect(db)
    try:
        store.load_rules(con, load_rules(DEFAULT_TOPICS))
        have = con.execute("SELECT count(*) FROM doc WHERE run_id = 'growth'").fetchone()
        lo = int(have[0]) if have else 0
        while lo < size:
            hi = min(lo + FILL_CHUNK, size)
            with transaction(con):
                before = con.execute("SELECT coalesce(max(id), 0) FROM doc").fetchone()
                first = int(before[0]) + 1 if before else 1
                con.execute(_sql("growth_fill"), {"lo": lo, "hi": hi, "vocab": VOCAB})
                last = first + (hi - lo) - 1
                for name in ("growth_copies", "growth_bands", "growth_topics"):
                    con.execute(_sql(name), {"lo": first, "hi": last})
            con.execute("CHECKPOINT")
            lo = hi
        # Storage times: one article a minute up to now, in id order, as a warehouse that
        # has been fed for a while looks (what the near-copy search window counts by).
        with transaction(con):
            con.execute("UPDATE doc SET fetched_at = now() - to_minutes("
                        "(SELECT max(id) FROM doc) - id)")
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return time.perf_counter() - t0


def probe_ingest(db: Path, n: int, batch: int, offset: int, window_days: int | None) -> dict:
    """In this process: store `n` new articles through the real path (what the ingest's writer
    does with an outlet's batch); ms per article and peak RSS."""
    import random
    with opened(db, read_only=True) as con:    # new URLs even when the warehouse is reused
        top = con.execute("SELECT max(id) FROM doc").fetchone()
    offset += 100 * int(top[0] if top and top[0] else 0)
    rnd = random.Random(offset)
    earlier: list[str] = []
    made = [synthetic(offset + i, rnd, earlier)[0] for i in range(n)]
    # Their topic phrases, as the workers find them during an ingest (not the writer's work).
    finder = matcher(rule_terms_in(DEFAULT_TOPICS))
    made = [replace(a, topic_hits=finder.hits(a.title, a.text)) for a in made]
    rss_before = peak_rss_mb()
    t0 = time.perf_counter()
    copies = 0
    with opened(db, migrate_schema=False) as con:
        for start in range(0, n, batch):
            chunk = made[start:start + batch]
            with transaction(con):
                stored = store.insert_articles(con, chunk, "probe", 0.5, 4, window_days)
                ids = [s.id for s in stored if s is not None]
                copies += sum(1 for s in stored if s is not None and s.duplicate_of)
                store.apply_topics(con, ids, [a.topic_hits for a, s in zip(chunk, stored,
                                                                           strict=True) if s])
        elapsed = time.perf_counter() - t0
        duckdb_mb = {tag: round(b / 2**20) for tag, b in con.execute(
            "SELECT tag, memory_usage_bytes FROM duckdb_memory() WHERE memory_usage_bytes > 0"
        ).fetchall()}
    return {"ms_per_article": 1000 * elapsed / n, "copies": copies,
            "peak_rss_mb": peak_rss_mb(), "rss_before_mb": rss_before, "duckdb_mb": duckdb_mb}


def time_queries(db: Path, repeat: int = 3) -> dict:
    """In this process: median seconds of each analyst query on a read-only connection."""
    out = {}
    with opened(db, read_only=True) as con:
        for name in QUERIES:
            times, rows = [], 0
            for _ in range(repeat):
                t0 = time.perf_counter()
                if name == "phrase_indexed":
                    ids = search.matching_ids([INDEXED_PHRASE], db)
                    rows = len(search.matched_articles(con, ids, seeds=True))
                else:
                    rows = len(con.execute(_sql(f"query_{name}")).fetchall())
                times.append(time.perf_counter() - t0)
            out[name] = {"seconds": statistics.median(times), "rows": rows}
    return out


def _child(args: list[str]) -> dict:
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True,
                          check=False, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--probe", type=int, default=2_000)
    parser.add_argument("--batch", type=int, default=50, help="articles per store batch")
    parser.add_argument("--window-days", type=int, default=30,
                        help="also ingest with [dedup] window_days = N (0: skip)")
    parser.add_argument("--db", type=Path, default=None, help="keep the warehouse here")
    parser.add_argument("--child", choices=["ingest", "queries"], help=argparse.SUPPRESS)
    parser.add_argument("--offset", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        db = args.db
        result = (probe_ingest(db, args.probe, args.batch, args.offset, args.window_days or None)
                  if args.child == "ingest" else time_queries(db))
        print(json.dumps(result))
        return 0
    tmp = tempfile.TemporaryDirectory()
    db = args.db or Path(tmp.name) / "growth.duckdb"
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"{'stored':>9} {'fill s':>7} {'ingest ms/article':>18} {'copies':>7} "
          f"{'writer peak RSS MB':>19} {'DB MB':>7}  " + "  ".join(f"{q} s" for q in QUERIES),
          flush=True)
    for k, size in enumerate(sizes):
        fill_s = fill(db, size)
        ingest = _child(["--child", "ingest", "--db", str(db), "--probe", str(args.probe),
                         "--batch", str(args.batch), "--offset", str(10_000_000 * (k + 1)),
                         "--window-days", "0"])
        windowed = _child(["--child", "ingest", "--db", str(db), "--probe", str(args.probe),
                           "--batch", str(args.batch), "--offset", str(10_000_000 * (k + 1) + 1),
                           "--window-days", str(args.window_days)]) if args.window_days else None
        indexed = search.catch_up(db)
        index_mb = search.index_path(db).stat().st_size / 2**20
        queries = _child(["--child", "queries", "--db", str(db)])
        size_mb = db.stat().st_size / 2**20
        print(f"{size:>9} {fill_s:>7.0f} {ingest['ms_per_article']:>18.2f} "
              f"{ingest['copies']:>7} {ingest['peak_rss_mb']:>19.0f} {size_mb:>7.0f}  "
              + "  ".join(f"{queries[q]['seconds']:.3f} ({queries[q]['rows']} rows)"
                          for q in QUERIES), flush=True)
        print(f"{'':>9} phrase-search index: {indexed.read} articles added in "
              f"{indexed.seconds:.0f} s ({1000 * indexed.seconds / max(indexed.read, 1):.2f} ms "
              f"an article), {index_mb:.0f} MB, {indexed.documents} articles in all",
              flush=True)
        print(f"{'':>9} writer RSS before storing {ingest['rss_before_mb']:.0f} MB; DuckDB "
              f"memory at the end: {ingest['duckdb_mb']}", flush=True)
        if windowed:
            print(f"{'':>9} with [dedup] window_days = {args.window_days}: "
                  f"{windowed['ms_per_article']:.2f} ms per article, {windowed['copies']} copies, "
                  f"writer peak RSS {windowed['peak_rss_mb']:.0f} MB", flush=True)
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The analysts' phrase search on article texts like real ones, not bench_growth's synthetic
~200-word texts (which DuckDB stores dictionary-compressed).

    .venv/bin/python bench/bench_phrase_search.py [--rows 40000]

Texts: the big replica's pages (bench/big_replica.py) through the extractor, each copy made
distinct by a number in front, `--rows` of them in one DuckDB table, checkpointed as the
warehouse is. Printed: how DuckDB compressed the text column, the time of the phrase search
of bench/sql/query_phrase.sql (the same regular expression), and of reading every text
without searching, per run and extrapolated to a million articles.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))   # run as a script

import duckdb

from bench.big_replica import BigReplica
from flows.stages.charset import decode
from flows.stages.extract import extract

PHRASE = "regexp_matches(text, '(?i)entry ban')"   # bench/sql/query_phrase.sql's condition


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=40_000)
    ap.add_argument("--pages", type=int, default=300, help="replica pages the texts come from")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        rep = BigReplica(Path(tmp) / "site", args.pages)
        texts = [ex.text for url, body in rep.bodies()
                 if (ex := extract(url, decode(body, "text/html; charset=utf-8")))]
        print(f"replica: {rep.description}; {len(texts)} texts, "
              f"{sum(map(len, texts)) / len(texts) / 1000:.1f} K characters on average")
        con = duckdb.connect(os.path.join(tmp, "phrase.duckdb"))
        con.execute("CREATE TABLE doc (id BIGINT, text VARCHAR)")
        con.execute("INSERT INTO doc SELECT i, i || ' ' || $t[1 + i % len($t)] "
                    "FROM range($n) r(i)", {"t": texts, "n": args.rows})
        con.execute("CHECKPOINT")
        kinds = con.execute("SELECT compression, count(*) FROM pragma_storage_info('doc') "
                            "WHERE column_name = 'text' GROUP BY ALL ORDER BY 2 DESC").fetchall()
        size = os.path.getsize(os.path.join(tmp, "phrase.duckdb")) / 1e6
        print(f"{args.rows} rows, text column stored as {kinds}, file {size:.0f} MB")
        for label, query in (("phrase search", f"SELECT count(*) FROM doc WHERE {PHRASE}"),
                             ("reading every text", "SELECT sum(length(text)) FROM doc")):
            best = float("inf")
            for _ in range(3):
                started = time.perf_counter()
                con.execute(query).fetchall()
                best = min(best, time.perf_counter() - started)
            print(f"  {label:<20} {best:6.2f} s (best of 3) = "
                  f"{best / args.rows * 1e6:6.1f} s a million articles")
        con.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The analysts' phrase search on article texts like real ones, not bench_growth's synthetic
~200-word texts (which DuckDB stores dictionary-compressed).

    .venv/bin/python bench/bench_phrase_search.py [--rows 40000]

Texts: the big replica's pages (bench/big_replica.py) through the extractor, each copy made
distinct by a number in front, `--rows` of them stored in a warehouse's doc table,
checkpointed as the warehouse is. Printed: how DuckDB compressed the text column, the time of
the phrase search of bench/sql/query_phrase.sql (the same regular expression), and of reading
every text without searching, per run and extrapolated to a million articles; then the
phrase-search index beside the warehouse (warehouse/search.py): its build from nothing (time,
CPU and size per article) and `migwatch search`'s path for a few phrases (the matching ids
from the index, then their rows from DuckDB, all of them, newest first).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))   # run as a script

import duckdb

from bench.big_replica import BigReplica
from flows.stages.charset import decode
from flows.stages.extract import extract
from warehouse import search
from warehouse.db import connect, opened

PHRASE = "regexp_matches(text, '(?i)entry ban')"   # bench/sql/query_phrase.sql's condition
INDEXED = ("entry ban", "migrants", "labour migrants", "deport*", "Russian Federation")


def _rows(con: duckdb.DuckDBPyConnection, query: str) -> list:
    return con.execute(query).fetchall()


def _found(con: duckdb.DuckDBPyConnection, db: Path, phrase: str) -> list:
    """`migwatch search`'s path, every matching article."""
    return search.matched_articles(con, search.matching_ids([phrase], db))


def _best(run: Callable[[], list], repeat: int = 3) -> tuple[float, list]:
    best, out = float("inf"), []
    for _ in range(repeat):
        started = time.perf_counter()
        out = run()
        best = min(best, time.perf_counter() - started)
    return best, out


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
        db = Path(tmp) / "phrase.duckdb"
        con = connect(db)
        con.execute("INSERT INTO doc (source, url, canonical_url, title, published_at, "
                    "fetched_at, lang, text, text_hash, n_words) "
                    "SELECT 'bench', 'https://example.org/' || i, 'https://example.org/' || i, "
                    "'Story ' || i, now() - to_minutes(i), now(), 'en', "
                    "i || ' ' || $t[1 + i % len($t)], md5(i::VARCHAR), 800 "
                    "FROM range($n) r(i)", {"t": texts, "n": args.rows})
        con.execute("CHECKPOINT")
        kinds = con.execute("SELECT compression, count(*) FROM pragma_storage_info('doc') "
                            "WHERE column_name = 'text' GROUP BY ALL ORDER BY 2 DESC").fetchall()
        size = db.stat().st_size / 1e6
        print(f"{args.rows} rows, text column stored as {kinds}, file {size:.0f} MB")
        for label, query in (("phrase search", f"SELECT count(*) FROM doc WHERE {PHRASE}"),
                             ("reading every text", "SELECT sum(length(text)) FROM doc")):
            best, _ = _best(partial(_rows, con, query))
            print(f"  {label:<20} {best:6.2f} s (best of 3) = "
                  f"{best / args.rows * 1e6:6.1f} s a million articles")
        con.close()

        cpu = time.process_time()
        built = search.catch_up(db)
        cpu = time.process_time() - cpu
        index_mb = search.index_path(db).stat().st_size / 1e6
        print(f"phrase-search index: {built.documents} articles in {built.seconds:.1f} s "
              f"({1000 * built.seconds / built.documents:.2f} ms, "
              f"{1000 * cpu / built.documents:.2f} ms of CPU an article), {index_mb:.0f} MB "
              f"({1000 * index_mb / built.documents:.1f} KB an article)")
        with opened(db, read_only=True) as con:
            for phrase in INDEXED:
                best, rows = _best(partial(_found, con, db, phrase))
                print(f"  {phrase!r:<22} {len(rows):>6} articles (rows)  {1000 * best:7.1f} ms "
                      "(best of 3)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Deduplication cost as the warehouse grows: per-article time must stay flat, memory bounded.

Inserts N synthetic articles (random word sequences from a 20,000-word vocabulary, 150-400
words; every 20th is an edited copy of an earlier one) through `store.insert_articles` in
batches of 1,000 — the real path: canonical URL, text hash, one LSH band join in DuckDB per
batch, exact comparison, band rows — into a DuckDB file, one transaction per batch, and prints
the time per article of each 10,000, the copies found, the database size and peak RSS.

    .venv/bin/python bench/bench_dedup.py [--n 100000] [--batch 10000] [--db PATH]
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

from flows.stages import dedup
from flows.stages.models import Article
from warehouse import store
from warehouse.db import connect, transaction

VOCAB = 20_000


def _words(rnd: random.Random, n: int) -> list[str]:
    return [f"w{rnd.randrange(VOCAB)}" for _ in range(n)]


def synthetic(i: int, rnd: random.Random, earlier: list[str]) -> tuple[Article, bool]:
    copy = i % 20 == 19 and bool(earlier)
    if copy:
        words = rnd.choice(earlier).split()
        for j in rnd.sample(range(len(words)), len(words) // 20):   # edit 5% of words
            words[j] = f"x{rnd.randrange(VOCAB)}"
    else:
        words = _words(rnd, rnd.randrange(150, 400))
    text = " ".join(words)
    if not copy and len(earlier) < 2_000:
        earlier.append(text)
    norm = dedup.normalise_text(text)
    art = Article(source="bench", url=f"https://bench.local/{i}",
                  canonical_url=f"https://bench.local/{i}", title=f"Article {i}", author=None,
                  published_at=None, text=text, lang="en", lang_confidence=1.0,
                  text_hash=dedup.text_hash(norm), n_words=len(words),
                  bands=dedup.text_bands(norm))
    return art, copy


def peak_rss_mb() -> float:
    """This process's peak resident memory. VmHWM, because ru_maxrss survives exec: a child
    started by a big parent would report the parent's peak."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--db", type=Path, default=None)
    args = parser.parse_args(argv)
    tmp = tempfile.TemporaryDirectory()
    path = args.db or Path(tmp.name) / "bench.duckdb"
    con = connect(path)
    rnd = random.Random(7)
    earlier: list[str] = []
    print(f"{'stored':>8} {'ms/article':>11} {'(dedup only)':>13} {'copies':>7} "
          f"{'expected':>9} {'peak RSS MB':>12}")
    total = 0.0
    for start in range(0, args.n, args.batch):
        dedup_s = build_s = 0.0
        found = expected = 0
        for chunk in range(start, min(start + args.batch, args.n), 1_000):
            t0 = time.perf_counter()
            made = [synthetic(i, rnd, earlier) for i in range(chunk, min(chunk + 1_000, args.n))]
            t1 = time.perf_counter()
            with transaction(con):
                results = store.insert_articles(con, [a for a, _ in made], None, 0.8, 4)
                for (_art, copy), stored in zip(made, results, strict=True):
                    assert stored is not None
                    found += stored.duplicate_of is not None
                    expected += copy
            dedup_s += time.perf_counter() - t1
            build_s += t1 - t0
        n = min(start + args.batch, args.n) - start
        total += dedup_s
        print(f"{start + n:>8} {1000 * (dedup_s + build_s) / n:>11.2f} "
              f"{1000 * dedup_s / n:>13.2f} {found:>7} {expected:>9} {peak_rss_mb():>12.0f}",
              flush=True)
    con.close()
    size = path.stat().st_size / 2**20
    print(f"\n{args.n} articles, store+dedup {total:.0f} s in all, database {size:.0f} MB, "
          f"peak RSS {peak_rss_mb():.0f} MB")
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())

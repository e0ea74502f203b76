"""Evaluate duplicate detection on the labelled set `tests/data/dup_eval.jsonl`.

Stores every document through the real ingest path (`store.insert_article`: text hash, LSH
bands joined in DuckDB, exact resemblance) into an in-memory warehouse and compares the
clusters it forms (`articles.cluster_id`) with the labelled groups, over all pairs of
documents: precision = pairs put together that are copies / pairs put together; recall =
copies put together / copies. Also prints recall per kind of copy and a threshold sweep.

    .venv/bin/python bench/eval_dedup.py [--data PATH] [--thresholds 0.5,0.6,...]

Tests import `evaluate`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

from flows.settings import DedupSettings
from flows.stages.article import build_article
from flows.stages.models import Extracted
from warehouse import store
from warehouse.db import connect, transaction

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT / "tests" / "data" / "dup_eval.jsonl"
DEFAULT_THRESHOLD = DedupSettings.threshold
SHINGLE = 4


@dataclass(frozen=True)
class DedupScore:
    threshold: float
    precision: float
    recall: float
    pairs_true: int
    pairs_found: int
    recall_by_kind: dict[str, float]


def load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def clusters(rows: list[dict], threshold: float) -> dict[str, int]:
    """Document id -> cluster id assigned by the warehouse."""
    con = connect(":memory:")
    try:
        out = {}
        with transaction(con):
            for r in rows:
                art = build_article("eval", f"https://dup.local/{r['id']}",
                                    Extracted(r["title"], None, None, r["text"]))
                stored = store.insert_article(con, art, None, threshold, SHINGLE)
                assert stored is not None
                out[r["id"]] = stored.duplicate_of or stored.id
        return out
    finally:
        con.close()


def evaluate(threshold: float = DEFAULT_THRESHOLD, data: Path = DEFAULT_DATA) -> DedupScore:
    rows = load(data)
    got = clusters(rows, threshold)
    tp = fp = fn = 0
    for a, b in combinations(rows, 2):
        same, found = a["group"] == b["group"], got[a["id"]] == got[b["id"]]
        tp += same and found
        fp += found and not same
        fn += same and not found
    first = {r["group"]: got[r["id"]] for r in rows if r["kind"] == "original"}
    kinds: Counter[str] = Counter()
    hits: Counter[str] = Counter()
    for r in rows:
        if r["kind"] != "original":
            kinds[r["kind"]] += 1
            hits[r["kind"]] += got[r["id"]] == first[r["group"]]
    return DedupScore(threshold, tp / (tp + fp) if tp + fp else 1.0,
                      tp / (tp + fn) if tp + fn else 1.0, tp + fn, tp + fp,
                      {k: hits[k] / kinds[k] for k in sorted(kinds)})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--thresholds", default="0.5,0.6,0.7,0.75,0.8,0.85,0.9")
    args = parser.parse_args(argv)
    rows = load(args.data)
    print(f"data: {args.data} ({len(rows)} documents, "
          f"{sum(r['kind'] != 'original' for r in rows)} copies)\n")
    print(f"{'threshold':>9} {'precision':>9} {'recall':>7} {'pairs':>6} {'found':>6}  "
          "recall by kind of copy")
    for t in (float(x) for x in args.thresholds.split(",")):
        s = evaluate(t, args.data)
        kinds = "  ".join(f"{k} {v:.2f}" for k, v in s.recall_by_kind.items())
        print(f"{t:>9.2f} {s.precision:>9.3f} {s.recall:>7.3f} {s.pairs_true:>6} "
              f"{s.pairs_found:>6}  {kinds}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Which stored document is each new article a copy of — for a whole batch at once.

Stored documents are searched once per batch: one lookup of the batch's text hashes and one
join of its LSH band keys against `doc_band`. Articles earlier in the same batch are held in
memory until the batch is inserted, and searched there. The writer's memory therefore depends
on the batch, never on the size of the warehouse.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb

from flows.stages import dedup
from flows.stages.models import Article
from warehouse.db import int_list, sql

MAX_CANDIDATES = 50   # compared exactly, most bands shared first
BAND_SALT = 2654435761  # migration 0010 folds stored (band, hash) pairs the same way


def band_keys(bands: Sequence[int]) -> list[int]:
    """One key per band: the band's 63-bit hash with the band number folded in, so that equal
    hashes only meet in the same band and the join compares one column."""
    return [h ^ (band * BAND_SALT) for band, h in enumerate(bands)]


@dataclass(frozen=True)
class _Held:
    """An article of this batch already judged, not yet in the table."""

    text: str
    root: int


def _utc(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _bands_in_window(con: duckdb.DuckDBPyConnection, window_days: int | None) -> str:
    """The band rows to search: all of them, or those of the documents stored in the last
    `window_days` days and of the seeds. Band rows are appended in storage order, so a lower
    bound on doc_id lets DuckDB skip every older row group by its min/max: the scan then costs
    what the window holds, however large the warehouse grows. Literal ids for that reason."""
    if window_days is None:
        return "doc_band"
    row = con.execute(sql("dedup_window"), [int(window_days)]).fetchone()
    since, seeds = (int(row[0]), list(row[1])) if row else (0, [])
    seeds_part = (f" UNION ALL SELECT * FROM doc_band WHERE doc_id IN ({int_list(seeds)})"
                  f" AND doc_id < {since}") if seeds else ""
    return f"(SELECT * FROM doc_band WHERE doc_id >= {since}{seeds_part})"


class CopyFinder:
    """Finds the original of each article of one batch, in batch order.

    Call `original(i)` for article i, then `added(i, doc_id, root, at)` before asking about
    the next one: a later article of the batch may copy an earlier one.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, batch: Sequence[Article],
                 threshold: float, shingle_size: int, window_days: int | None = None) -> None:
        self.con, self.batch = con, batch
        self.threshold, self.shingle_size = threshold, shingle_size
        # Each known cluster root's place in "earliest first" order: seeds (the starting
        # corpus), then publication (or fetch) time, then storage order.
        self.first: dict[int, tuple[bool, datetime, int]] = {}
        self.exact: dict[str, int] = {}
        hashes = sorted({a.text_hash for a in batch})
        if hashes:
            for text_hash, root, is_seed, at in con.execute(
                    sql("dedup_exact"), {"hashes": hashes}).fetchall():
                self.exact[text_hash] = int(root)
                self.first[int(root)] = (not is_seed, _utc(at), int(root))
        self.stored: dict[int, Counter[int]] = defaultdict(Counter)
        self.keys = [band_keys(art.bands) for art in batch]   # what doc_band will hold
        items = [i for i, mine in enumerate(self.keys) for _key in mine]
        if items:
            for item, doc_id, shared in con.execute(
                    sql("dedup_candidates").format(bands=_bands_in_window(con, window_days)),
                    {"items": items, "keys": [k for mine in self.keys for k in mine]}
                    ).fetchall():
                self.stored[int(item)][int(doc_id)] += int(shared)
        self.in_batch: dict[int, list[int]] = defaultdict(list)
        self.held: dict[int, _Held] = {}

    def original(self, i: int) -> tuple[int | None, float | None]:
        """(root of the cluster this article belongs to, resemblance) or (None, None)."""
        art = self.batch[i]
        if art.text_hash in self.exact:
            return self.exact[art.text_hash], 1.0
        if not art.bands:
            return None, None
        shared = Counter(self.stored.get(i, Counter()))
        for key in self.keys[i]:
            for doc_id in self.in_batch.get(key, ()):
                shared[doc_id] += 1
        ids = [doc for doc, _n in shared.most_common(MAX_CANDIDATES)]
        if not ids:
            return None, None
        mine = dedup.shingles(dedup.normalise_text(art.text), self.shingle_size)
        candidates = [(self.held[d].text, self.held[d].root) for d in ids if d in self.held]
        stored = [d for d in ids if d not in self.held]
        if stored:
            for _id, text, root, is_seed, at in self.con.execute(
                    sql("dedup_texts").format(ids=int_list(stored))).fetchall():
                candidates.append((text, int(root)))
                self.first[int(root)] = (not is_seed, _utc(at), int(root))
        best: dict[int, float] = {}
        for text, root in candidates:
            score = dedup.resemblance(mine, dedup.shingles(dedup.normalise_text(text),
                                                           self.shingle_size))
            if score >= self.threshold:
                best[root] = max(best.get(root, 0.0), score)
        if not best:
            return None, None
        root = min(best, key=self.first.__getitem__)   # the earliest original wins
        return root, round(best[root], 4)

    def added(self, i: int, doc_id: int, root: int, at: datetime) -> None:
        """Article i will be stored as `doc_id` in cluster `root` (published, or fetched, at
        `at`): later articles of the batch may copy it."""
        art = self.batch[i]
        self.exact.setdefault(art.text_hash, root)
        self.held[doc_id] = _Held(art.text, root)
        if root == doc_id:
            self.first[doc_id] = (not art.is_seed, _utc(at), doc_id)
        for key in self.keys[i]:
            self.in_batch[key].append(doc_id)

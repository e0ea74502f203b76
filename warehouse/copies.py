"""Which stored document is each new article a copy of — for a whole batch at once.

Stored documents are searched once per batch: one lookup of the batch's text hashes and one
join of its LSH band rows against `doc_band`. Articles earlier in the same batch are searched
in memory, as they are inserted. The writer's memory therefore depends on the batch, never on
the size of the warehouse.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence

import duckdb

from flows.stages import dedup
from flows.stages.models import Article
from warehouse.db import int_list, sql

MAX_CANDIDATES = 50   # compared exactly, most bands shared first


class CopyFinder:
    """Finds the original of each article of one batch, in batch order.

    Call `original(i)` for article i, insert it, then `added(i, doc_id, root)` before asking
    about the next one: a later article of the batch may copy an earlier one.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, batch: Sequence[Article],
                 threshold: float, shingle_size: int) -> None:
        self.con, self.batch = con, batch
        self.threshold, self.shingle_size = threshold, shingle_size
        hashes = sorted({a.text_hash for a in batch})
        self.exact: dict[str, int] = dict(
            con.execute(sql("dedup_exact"), {"hashes": hashes}).fetchall()) if hashes else {}
        self.stored: dict[int, Counter[int]] = defaultdict(Counter)
        items, bands, band_hashes = [], [], []
        for i, art in enumerate(batch):
            for band, h in enumerate(art.bands):
                items.append(i)
                bands.append(band)
                band_hashes.append(h)
        if items:
            for item, doc_id, shared in con.execute(
                    sql("dedup_candidates"),
                    {"items": items, "bands": bands, "hashes": band_hashes}).fetchall():
                self.stored[int(item)][int(doc_id)] += int(shared)
        self.in_batch: dict[tuple[int, int], list[int]] = defaultdict(list)

    def original(self, i: int) -> tuple[int | None, float | None]:
        """(root of the cluster this article belongs to, resemblance) or (None, None)."""
        art = self.batch[i]
        if art.text_hash in self.exact:
            return self.exact[art.text_hash], 1.0
        if not art.bands:
            return None, None
        shared = Counter(self.stored.get(i, Counter()))
        for band, h in enumerate(art.bands):
            for doc_id in self.in_batch.get((band, h), ()):
                shared[doc_id] += 1
        ids = [doc for doc, _n in shared.most_common(MAX_CANDIDATES)]
        if not ids:
            return None, None
        mine = dedup.shingles(dedup.normalise_text(art.text), self.shingle_size)
        best: dict[int, float] = {}
        for _id, text, root in self.con.execute(
                sql("dedup_texts").format(ids=int_list(ids))).fetchall():
            score = dedup.resemblance(mine, dedup.shingles(dedup.normalise_text(text),
                                                           self.shingle_size))
            if score >= self.threshold:
                best[int(root)] = max(best.get(int(root), 0.0), score)
        if not best:
            return None, None
        # The earliest original wins: seeds (the starting corpus), then publication time,
        # then storage order.
        root = self.con.execute(
            "SELECT id FROM doc WHERE id = ANY(?::BIGINT[]) "
            "ORDER BY NOT is_seed, coalesce(published_at, fetched_at), id LIMIT 1",
            [list(best)]).fetchone()
        assert root is not None
        return int(root[0]), round(best[int(root[0])], 4)

    def added(self, i: int, doc_id: int, root: int) -> None:
        """Article i is stored as `doc_id` in cluster `root`: later articles may copy it."""
        art = self.batch[i]
        self.exact.setdefault(art.text_hash, root)
        for band, h in enumerate(art.bands):
            self.in_batch[(band, h)].append(doc_id)

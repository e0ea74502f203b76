"""Which stored document is each new article a copy of — for a whole batch at once.

Stored documents are searched once per batch: one lookup of the batch's text hashes, one
join of its LSH band keys against `doc_band`, and one read of the candidates' texts for the
exact comparison (a query per range of close ids, one for the ids far from the others).
Articles earlier in the same batch are held in memory until the batch is inserted, and
searched there. The writer's memory therefore depends on the batch, never on the size of
the warehouse.

Why once per batch, and by ranges: DuckDB stores real article texts ZSTD-compressed, and
reading a text by id decompresses its whole vector again for each text so read (~8 ms, at any
warehouse size), while a range of ids is decompressed once (~10 us a text). A batch's
candidates are mostly recent documents, close together in storage order: read as ranges,
they cost a few decompressions instead of one each (warehouse/sql/dedup_texts_range.sql).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb

from flows.stages import dedup
from flows.stages.models import Article
from warehouse.bands import band_keys
from warehouse.db import int_list, sql

MAX_CANDIDATES = 50   # compared exactly, most bands shared first
# Stored texts read at once for a batch's exact comparisons, and shingle sets kept for reuse:
# at most this many (about 7 KB and 60 KB each), so a batch full of near-copies of different
# documents cannot make the writer's memory grow without bound.
MAX_KEPT = 2000
# Stored candidates whose ids are closer than RANGE_GAP are read as one range (see
# warehouse/sql/dedup_texts_range.sql): a range costs ~10 us a document in it, a text read
# by id ~8 ms, on realistic texts. A range spans at most RANGE_SPAN ids: DuckDB holds its
# texts in memory while it picks the candidates out (~60 MB of real texts).
RANGE_GAP = 700
RANGE_SPAN = 8192


def id_runs(ids: Sequence[int], gap: int = RANGE_GAP, span: int = RANGE_SPAN
            ) -> list[list[int]]:
    """Sorted ids in runs whose neighbours are less than `gap` apart, each spanning fewer
    than `span` ids."""
    runs: list[list[int]] = []
    for doc_id in sorted(ids):
        if runs and doc_id - runs[-1][-1] < gap and doc_id - runs[-1][0] < span:
            runs[-1].append(doc_id)
        else:
            runs.append([doc_id])
    return runs


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
        # Shingles of the texts compared so far (stored candidates and held articles): a
        # document is often a candidate of several articles of the batch.
        self._shingled: dict[int, set[str]] = {}
        # The stored candidates' (text, root), read at the first article that needs them.
        # An article's candidates are the MAX_CANDIDATES sharing most bands, stored and
        # held together; held ones can only push stored ones out (ties keep their order),
        # so each article's stored candidates are among the first MAX_CANDIDATES of
        # `self.stored[i]`. `original` reads any other one itself.
        self._texts: dict[int, tuple[str, int]] | None = None

    def _stored_texts(self, ids: list[int]) -> dict[int, tuple[str, int]]:
        """(text, cluster root) of stored documents, with each root's place in "earliest
        first" order remembered."""
        runs = id_runs(ids)
        single = [run[0] for run in runs if len(run) == 1]
        ranged = [run for run in runs if len(run) > 1]
        rows = dict(self.con.execute(sql("doc_rows").format(
            ids=int_list(i for run in ranged for i in run))).fetchall()) if ranged else {}
        queries = [sql("dedup_texts_range").format(
            low=min(rows[i] for i in run), high=max(rows[i] for i in run), ids=int_list(run))
            for run in ranged]
        if single:
            queries.append(sql("dedup_texts").format(ids=int_list(single)))
        out: dict[int, tuple[str, int]] = {}
        for query in queries:
            for doc_id, text, root, is_seed, at in self.con.execute(query).fetchall():
                out[int(doc_id)] = (text, int(root))
                self.first[int(root)] = (not is_seed, _utc(at), int(root))
        return out

    def _candidate_text(self, doc_id: int, ids: list[int]) -> tuple[str, int] | None:
        """A stored candidate's (text, root), None if it is not stored (any more); `ids`: the
        article's candidates, read together when the batch's were too many to read at once."""
        if self._texts is None:
            wanted = sorted({d for shared in self.stored.values()
                             for d, _n in shared.most_common(MAX_CANDIDATES)})
            self._texts = self._stored_texts(wanted) if len(wanted) <= MAX_KEPT else {}
        if doc_id not in self._texts:
            if len(self._texts) > MAX_KEPT:
                self._texts.clear()
            self._texts.update(self._stored_texts(
                [d for d in ids if d not in self.held and d not in self._texts]))
        return self._texts.get(doc_id)

    def _shingles(self, doc_id: int, text: str) -> set[str]:
        found = self._shingled.get(doc_id)
        if found is None:
            if len(self._shingled) > MAX_KEPT:
                self._shingled.clear()
            found = self._shingled[doc_id] = dedup.shingles(dedup.normalise_text(text),
                                                            self.shingle_size)
        return found

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
        best: dict[int, float] = {}
        for doc_id in ids:
            held = self.held.get(doc_id)
            found = (held.text, held.root) if held else self._candidate_text(doc_id, ids)
            if found is None:
                continue
            text, root = found
            score = dedup.resemblance(mine, self._shingles(doc_id, text))
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

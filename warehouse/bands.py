"""The stored LSH bands, kept in the scheme and shingle size that ingest computes.

A new article's bands only meet stored bands made the same way: after a change of MinHash
scheme (flows/stages/dedup.py SCHEME) or of `[dedup] shingle_size`, every stored document
would silently stop being found as an original. So before ingest stores anything, bands made
otherwise are recomputed from the stored texts, all in one transaction (a crash leaves the
old bands, and the next run starts again), and the new scheme is recorded in band_scheme.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import duckdb

from flows.stages import dedup
from warehouse.db import scanned, sql, transaction

# Ids read at once while re-banding: a few thousand texts (~7 KB each) in memory.
REBAND_IDS = 4096
BAND_SALT = 2654435761  # migration 0010 folds stored (band, hash) pairs the same way


def band_keys(bands: Sequence[int]) -> list[int]:
    """One key per band: the band's 63-bit hash with the band number folded in, so that equal
    hashes only meet in the same band and the join compares one column (migration 0010)."""
    return [h ^ (band * BAND_SALT) for band, h in enumerate(bands)]


def insert_band_rows(con: duckdb.DuckDBPyConnection, rows: Sequence[tuple[int, int]]) -> None:
    """(key, doc_id) rows into doc_band, in one statement."""
    if rows:
        with scanned(con, "band_batch", ("k", "d"), rows):
            con.execute("INSERT INTO doc_band SELECT k::UBIGINT, d::BIGINT FROM band_batch")


def stored_scheme(con: duckdb.DuckDBPyConnection) -> tuple[str, int] | None:
    """(scheme, shingle size) of the stored bands; None: made before band_scheme existed."""
    row = con.execute(sql("band_scheme_current")).fetchone()
    return (str(row[0]), int(row[1])) if row else None


def ensure_bands(con: duckdb.DuckDBPyConnection, shingle_size: int,
                 progress: Callable[[int, int], None] | None = None) -> int | None:
    """Re-band every stored document unless the bands are already `dedup.SCHEME` at this
    shingle size; the number re-banded, or None when nothing had to be done. `progress`
    (done, total) is called after each range of ids: on a large warehouse this takes
    minutes (~0.7 ms of CPU a document)."""
    if stored_scheme(con) == (dedup.SCHEME, shingle_size):
        return None
    with transaction(con):
        con.execute("DELETE FROM doc_band")
        row = con.execute("SELECT min(id), max(id), count(*) FROM doc").fetchone()
        low, high, total = (int(v) if v is not None else 0 for v in row or (0, 0, 0))
        done = 0
        for start in range(low, high + 1, REBAND_IDS) if total else ():
            rows = [(key, int(doc_id))
                    for doc_id, text in con.execute(sql("rebanding_texts"), {
                        "low": start, "high": start + REBAND_IDS - 1}).fetchall()
                    for key in band_keys(doc_bands(text, shingle_size))]
            insert_band_rows(con, rows)
            done += len(rows) // dedup.BANDS
            if progress is not None:
                progress(done, total)
        con.execute("INSERT INTO band_scheme VALUES (?, ?, ?, now())",
                    [dedup.SCHEME, shingle_size, total])
    return total


def doc_bands(text: str, shingle_size: int) -> tuple[int, ...]:
    """A stored text's bands, as building its article computed them (flows/stages/article.py:
    the stored text is the one it normalised)."""
    return dedup.bands(dedup.signature(dedup.normalise_text(text), shingle_size))

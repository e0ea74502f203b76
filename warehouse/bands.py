"""The stored LSH bands, kept in the scheme and shingle size that ingest computes.

A new article's bands only meet stored bands made the same way: after a change of MinHash
scheme (flows/stages/dedup.py SCHEME) or of `[dedup] shingle_size`, every stored document
would silently stop being found as an original. So before ingest stores anything, bands made
otherwise are recomputed from the stored texts, and the new scheme is recorded in
band_scheme. One range of ids at a time, each in its own transaction and connection: the
writer's lock is released between ranges, so analysts are never locked out for longer than
one range (a few seconds), and a run that stops midway resumes where it stopped
(band_rebuild).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager

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


def needs_rebanding(con: duckdb.DuckDBPyConnection, shingle_size: int) -> bool:
    """Whether the stored bands were made otherwise than ingest makes them now, or are
    mixed: a re-banding stopped midway, towards this shingle size or another."""
    unfinished = con.execute("SELECT count(*) FROM band_rebuild").fetchone()
    return stored_scheme(con) != (dedup.SCHEME, shingle_size) or unfinished != (0,)


def reband(open_writer: Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]],
           shingle_size: int, progress: Callable[[int, int], None] | None = None) -> int:
    """Re-band every stored document in `dedup.SCHEME` at this shingle size, REBAND_IDS ids
    a transaction, each through a connection of its own from `open_writer`; resume a
    re-banding of the same kind that stopped midway. The number of documents re-banded by
    this call. `progress` (done, total) after each range: 0.7–1.25 ms of CPU a document."""
    target = (dedup.SCHEME, shingle_size)
    progress_row = "SELECT scheme, shingle_size, through_id, high_id FROM band_rebuild"
    with open_writer() as con, transaction(con):
        row = con.execute(progress_row).fetchone()
        if row is None or (str(row[0]), int(row[1])) != target:
            # From before the first id through the last (an empty table: no range at all).
            con.execute("DELETE FROM band_rebuild")
            con.execute("INSERT INTO band_rebuild SELECT ?, ?, coalesce(min(id), 0) - 1, "
                        "coalesce(max(id), -1) FROM doc", target)
            row = con.execute(progress_row).fetchone()
        assert row is not None   # inserted just above when missing
        through, high = int(row[2]), int(row[3])
        total_row = con.execute("SELECT count(*) FROM doc WHERE id > ? AND id <= ?",
                                [through, high]).fetchone()
        total = int(total_row[0]) if total_row else 0
    done = 0
    for start in range(through + 1, high + 1, REBAND_IDS):
        end = min(start + REBAND_IDS - 1, high)
        with open_writer() as con, transaction(con):
            con.execute("DELETE FROM doc_band WHERE doc_id BETWEEN ? AND ?", [start, end])
            rows = [(key, int(doc_id))
                    for doc_id, text in con.execute(sql("rebanding_texts"),
                                                    {"low": start, "high": end}).fetchall()
                    for key in band_keys(doc_bands(text, shingle_size))]
            insert_band_rows(con, rows)
            con.execute("UPDATE band_rebuild SET through_id = ?", [end])
        done += len(rows) // dedup.BANDS
        if progress is not None:
            progress(done, total)
    with open_writer() as con, transaction(con):
        con.execute("DELETE FROM band_rebuild")
        con.execute("INSERT INTO band_scheme SELECT ?, ?, count(*), now() FROM doc", target)
    return done


def doc_bands(text: str, shingle_size: int) -> tuple[int, ...]:
    """A stored text's bands, as building its article computed them (flows/stages/article.py:
    the stored text is the one it normalised)."""
    return dedup.text_bands(dedup.normalise_text(text), shingle_size)

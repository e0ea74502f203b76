"""Phrase search over every stored article: an SQLite FTS5 index beside the warehouse.

DuckDB keeps texts ZSTD-compressed in batches of ~2,000, so a phrase condition reads and
decompresses every text: ~11 s a million real articles (docs/benchmarks.md), and DuckDB's own
`fts` extension is not bundled (nor installable offline). FTS5 ships inside Python's sqlite3.
A contentless FTS5 table keeps each word's positions but no text, so it answers a phrase
without reading one, in milliseconds at any size, for about twice the compressed texts' size.

The index is derived data, never the record: `catch_up` reads what the warehouse stored since
it last ran (by doc id, which only grows), and rebuilds it whole when the warehouse no longer
holds the document it last read (a restored backup). Deleting the file loses nothing. It is
read and written with the warehouse opened read-only, in short chunks, so a long build never
holds the writer's lock for more than a chunk. Searching only reads it, so an analyst who may
read but not write the warehouse's folder searches an index the operator's runs keep current.

Matching is by whole words in order, ignoring case, punctuation and Latin diacritics (Tajik's
own letters stay distinct: корӣ is not кори), with ё read as е (Russian writes both); a word
ending in `*` is a prefix.
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np

from warehouse.db import int_list, opened, sql

# How the index is built: bump when the tokenizer or the normalisation changes, and every
# index is rebuilt at its next catch-up.
SCHEME = 1
# Documents read from the warehouse per chunk, one SQLite transaction each (~14 MB of real
# texts): a kill mid-build keeps every chunk before it.
CHUNK = 2_000
# Seconds to wait for another process's catch-up (SQLite's lock) or a writer's commit.
WAIT = 60.0
# SQLite's page cache for a catch-up (KiB): a chunk's changes (~10 MB of real texts) stay in
# memory until its commit, and searches go on reading the index until then.
CACHE_KB = 65_536


class SearchUnavailable(RuntimeError):
    """This Python's sqlite3 was built without FTS5, or the index file cannot be used."""


@dataclass(frozen=True)
class CatchUp:
    read: int          # documents added to the index by this call
    rebuilt: bool      # the index no longer matched the warehouse and was rebuilt whole
    documents: int     # documents in the index now
    seconds: float
    behind: int = 0    # documents stored since, left out: the index is not writable here


def index_path(db_path: Path) -> Path:
    """The index of the warehouse at `db_path`: beside it, on the same volume."""
    return db_path.with_name(db_path.name + ".search.sqlite")


def fold(text: str) -> str:
    """What the index and the queries both see: ё as е (FTS5 folds case, not this letter)."""
    return text.replace("ё", "е").replace("Ё", "Е")


def fts_query(phrases: Sequence[str]) -> str:
    """An FTS5 query matching any of `phrases`, each taken literally as words in order (quotes,
    parentheses, AND/OR/NEAR mean nothing in it); a word ending in `*` is a prefix (`ban*`
    matches ban, bans, banned). ValueError for a phrase without a word."""
    parts = []
    for raw in phrases:
        words = []
        for chunk in fold(raw).split():
            prefix = chunk.endswith("*")
            chunk = chunk.rstrip("*")
            if any(ch.isalnum() for ch in chunk):
                words.append('"' + chunk.replace('"', '""') + '"' + (" *" if prefix else ""))
        if not words:
            raise ValueError(f"a search phrase needs a word: {raw!r}")
        parts.append(" + ".join(words))    # FTS5's `+`: the next words right after
    if not parts:
        raise ValueError("no search phrase given")
    return " OR ".join(f"({p})" for p in parts)


def _open(path: Path, wait: float = WAIT, write: bool = True) -> sqlite3.Connection:
    """The index, to bring up to date (`write`: created if missing) or only to read."""
    try:
        con = sqlite3.connect(path if write else path.resolve().as_uri() + "?mode=ro",
                              uri=not write, timeout=wait, isolation_level=None)
    except sqlite3.DatabaseError as exc:
        raise SearchUnavailable(f"cannot open the search index {path}: {exc}") from exc
    try:
        if write:
            # A rollback journal, not WAL: a reader who may not write the folder can open it
            # (WAL needs its -shm file, which only a writer creates). An index built as WAL
            # by an earlier release is converted here.
            con.execute("PRAGMA journal_mode = DELETE")
            con.execute("PRAGMA synchronous = NORMAL")     # derived data: rebuilt if ever lost
            con.execute(f"PRAGMA cache_size = -{CACHE_KB}")
            con.executescript(sql("search_index_schema"))
        else:
            con.execute("SELECT count(*) FROM indexed").fetchone()
    except sqlite3.DatabaseError as exc:
        con.close()
        if "fts5" in str(exc).lower():
            raise SearchUnavailable(
                f"this Python's sqlite3 ({sqlite3.sqlite_version}) has no FTS5, which phrase "
                "search needs; use a Python built with it (python.org, Debian and the "
                "official Docker images are)") from exc
        raise SearchUnavailable(f"cannot use the search index {path}: {exc} (it holds no "
                                "record: delete it, and the next search builds it again)"
                                ) from exc
    return con


def writable(path: Path) -> bool:
    """Whether this user may bring the index at `path` up to date: write the file (or create
    it) and its folder (SQLite's rollback journal goes beside it)."""
    folder = path.parent
    return os.access(folder, os.W_OK | os.X_OK) and (
        not path.exists() or os.access(path, os.R_OK | os.W_OK))


@contextmanager
def _write_lock(con: sqlite3.Connection) -> Iterator[None]:
    con.execute("BEGIN IMMEDIATE")    # one catch-up at a time; searches go on reading
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def _state(con: sqlite3.Connection) -> tuple[int, int, str | None, int]:
    row = con.execute("SELECT scheme, last_id, last_hash, documents FROM indexed").fetchone()
    return (SCHEME, 0, None, 0) if row is None else (row[0], row[1], row[2], row[3])


def _set_state(con: sqlite3.Connection, last_id: int, last_hash: str | None,
               documents: int) -> None:
    con.execute("INSERT OR REPLACE INTO indexed VALUES (1, ?, ?, ?, ?)",
                (SCHEME, last_id, last_hash, documents))


def _still_matches(duck: duckdb.DuckDBPyConnection, scheme: int, last_id: int,
                   last_hash: str | None) -> bool:
    """Whether an index built so and last reading `last_id` (whose text_hash was
    `last_hash`) still describes this warehouse: not when a restored backup no longer holds
    that document, or holds another under its id."""
    return not last_id or (scheme == SCHEME and duck.execute(
        "SELECT text_hash FROM doc WHERE id = $id", {"id": last_id}).fetchall() == [(last_hash,)])


class IndexOutdated(RuntimeError):
    """The index no longer matches the warehouse and must be rebuilt whole, which the caller
    did not allow (an ingest run's housekeeping leaves that to the next search)."""


def catch_up(db_path: Path, path: Path | None = None, chunk: int = CHUNK,
             progress: Callable[[int], None] | None = None, wait: float = WAIT,
             rebuild: bool = True) -> CatchUp:
    """Add what the warehouse stored since the index last read it; rebuild the index whole
    when it was built another way or the warehouse no longer holds its last document, or
    raise IndexOutdated if not `rebuild`. `progress(documents read so far)` after each chunk,
    with the warehouse closed; `wait`: seconds to wait for a writer's lock on it, or another
    catch-up's on the index."""
    started = time.perf_counter()
    path = path or index_path(db_path)
    if not writable(path):
        return _as_it_is(db_path, path, wait, started)
    read, rebuilt = 0, False
    with closing(_open(path, wait)) as con:
        while True:
            with _write_lock(con):
                scheme, last_id, last_hash, documents = _state(con)
                with opened(db_path, read_only=True, retry_seconds=wait) as duck:
                    if not _still_matches(duck, scheme, last_id, last_hash):
                        if not rebuild:
                            raise IndexOutdated(
                                f"the search index {path} no longer matches the warehouse "
                                f"(restored from an older copy?) or this migwatch; the next "
                                "`migwatch search` rebuilds it")
                        con.execute("INSERT INTO doc_words(doc_words) VALUES ('delete-all')")
                        last_id, last_hash, documents, rebuilt = 0, None, 0, True
                    ids = dict(duck.execute(sql("search_next_ids"),
                                            {"after": last_id, "n": chunk}).fetchall())
                    rows = sorted(r for r in duck.execute(sql("search_texts"), {
                        "lo": min(ids.values()), "hi": max(ids.values())}).fetchall()
                        if r[0] in ids) if ids else []
                if rows:
                    con.executemany("INSERT INTO doc_words(rowid, title, text) VALUES (?, ?, ?)",
                                    ((i, fold(title), fold(text)) for i, title, text, _ in rows))
                    last_id, last_hash = rows[-1][0], rows[-1][3]
                    documents += len(rows)
                    read += len(rows)
                if rows or rebuilt or scheme != SCHEME:
                    _set_state(con, last_id, last_hash, documents)
            if not rows:
                break
            if progress:
                progress(read)
    return CatchUp(read=read, rebuilt=rebuilt, documents=documents,
                   seconds=time.perf_counter() - started)


def _as_it_is(db_path: Path, path: Path, wait: float, started: float) -> CatchUp:
    """`catch_up` for a user who may not write the index: how far behind the warehouse it
    is; SearchUnavailable when it is missing or no longer matches the warehouse (its ids may
    then name other documents)."""
    who = (f"whoever may write {path.parent} (the user migwatch runs as) must run "
           "`migwatch search` once")
    if not path.exists():
        raise SearchUnavailable(f"there is no search index yet and you may not create one in "
                                f"{path.parent}: {who} to build it")
    with closing(_open(path, wait, write=False)) as con:
        scheme, last_id, last_hash, documents = _state(con)
    with opened(db_path, read_only=True, retry_seconds=wait) as duck:
        if not _still_matches(duck, scheme, last_id, last_hash):
            raise SearchUnavailable(f"the search index {path} no longer matches the warehouse "
                                    f"(restored from an older copy?) or this migwatch, and you "
                                    f"may not rebuild it: {who}")
        row = duck.execute("SELECT count(*) FROM doc WHERE id > $id", {"id": last_id}
                           ).fetchone()
    return CatchUp(read=0, rebuilt=False, documents=documents,
                   seconds=time.perf_counter() - started, behind=int(row[0]) if row else 0)


def matching_ids(phrases: Sequence[str], db_path: Path, path: Path | None = None) -> list[int]:
    """Ids of the documents in the index matching any of `phrases` (see `fts_query`). The
    index as it is, only read: `catch_up` first for what was stored since."""
    query = fts_query(phrases)
    with closing(_open(path or index_path(db_path), write=False)) as con:
        return [r[0] for r in con.execute(
            "SELECT rowid FROM doc_words WHERE doc_words MATCH ? ORDER BY rowid", (query,))]


def matched_articles(con: duckdb.DuckDBPyConnection, ids: Sequence[int], *,
                     since: str | None = None, source: str | None = None,
                     lang: str | None = None, seeds: bool = False, limit: int | None = None,
                     stories: bool = False) -> list[tuple]:
    """The articles with these ids (from `matching_ids`), narrowed by the filters given,
    newest first: (id, published_at, source, lang, title, url) rows. `stories`: one row per
    story instead (`limit` stories), its copies and versions folded into it: (id,
    published_at, source, lang, title, url, matching articles of the story, the others'
    "source (lang)")."""
    query = sql("search_stories" if stories else "search_articles").format(
        matched=sql("search_matched"))
    con.register("matched", {"id": np.array(ids, dtype=np.int64)})   # read in C, not Python
    try:
        return con.execute(query, {"since": since, "source": source, "lang": lang,
                                   "seeds": seeds, "n": limit}).fetchall()
    finally:
        con.unregister("matched")    # the caller's connection, as it was


_WORD = re.compile(r"[^\W_]+")


def _pattern(phrase: str) -> str:
    """A regular expression for a phrase as the index matches it (its words in a row, any
    case, anything but letters and digits between them; `*` a prefix), for folded text."""
    parts = []
    for chunk in fold(phrase).split():
        tokens = _WORD.findall(chunk)
        if tokens:
            parts.append(r"[\W_]+".join(map(re.escape, tokens))
                         + (r"[^\W_]*" if chunk.endswith("*") else ""))
    return r"(?<![^\W_])" + r"[\W_]+".join(parts) + r"(?![^\W_])"


def passage(text: str, phrases: Sequence[str], width: int = 160) -> str | None:
    """About `width` characters of `text` around the first place any of `phrases` occurs,
    on one line; None when none occurs in the text (a title's phrase, or one found only by
    folding Latin diacritics, which the index does and this does not)."""
    folded = fold(text)      # ё -> е keeps every character's place
    found = [m for p in phrases if _WORD.search(p)
             and (m := re.search(_pattern(p), folded, re.IGNORECASE))]
    if not found:
        return None
    first = min(found, key=lambda m: m.start())
    start = max(0, first.start() - (width - (first.end() - first.start())) // 2)
    end = min(len(text), start + width)
    start = max(0, end - width)
    piece = " ".join(text[start:end].split())
    return ("…" if start > 0 else "") + piece + ("…" if end < len(text) else "")


def texts_of(con: duckdb.DuckDBPyConnection, ids: Sequence[int]) -> dict[int, str]:
    """The texts of a few documents (each read alone: a search shows 20)."""
    if not ids:
        return {}
    return dict(con.execute(sql("search_shown_texts").format(ids=int_list(ids))).fetchall())

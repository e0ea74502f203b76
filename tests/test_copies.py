"""Which stored document a new article copies: across batches, inside one batch, and inside
the search window; and the band keys that the search joins on."""

from __future__ import annotations

import dataclasses
import random
import shutil
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from flows.stages import dedup
from flows.stages.models import Article
from tests.helpers import article, memory_warehouse
from warehouse import bands, store
from warehouse import db as wdb
from warehouse.bands import band_keys
from warehouse.copies import id_runs

WORDS = ["migrants", "labour", "Russia", "Tajikistan", "patent", "quota", "remittances",
         "Moscow", "Dushanbe", "border", "ministry", "workers", "deported", "entry", "ban",
         "agreement", "permit", "season", "construction", "employer", "wages", "bank",
         "transfer", "rouble", "somoni", "airport", "registration", "exam", "language",
         "police"]


def _story(seed: int, n: int = 160) -> str:
    rnd = random.Random(seed)
    return " ".join(rnd.choice(WORDS) + ("." if k % 12 == 11 else "") for k in range(n))


def _edited(text: str, every: int = 15) -> str:
    """The same story with one word in `every` changed: a near-copy, not an exact one."""
    words = text.split()
    return " ".join("changed" if k % every == 7 else w for k, w in enumerate(words))


def _dated(art: Article, days_ago: int) -> Article:
    at = datetime.now(UTC) - timedelta(days=days_ago)
    return dataclasses.replace(art, published_at=at, fetched_at=at)


def _originals(con: duckdb.DuckDBPyConnection) -> dict[str, str | None]:
    return dict(con.execute(
        "SELECT a.url, o.url FROM doc a LEFT JOIN doc o ON o.id = a.duplicate_of "
        "WHERE NOT a.is_seed").fetchall())


def test_copies_are_found_in_stored_batches_and_inside_the_batch(tmp_path: Path) -> None:
    con = memory_warehouse(tmp_path)
    first, second = _story(1), _story(2)
    with wdb.transaction(con):
        store.insert_articles(con, [article("One", first, "https://a.org/1")], "r1", 0.5, 4)
    batch = [article("One again", _edited(first), "https://b.org/1"),
             article("Two", second, "https://b.org/2"),
             article("Two again", _edited(second), "https://c.org/2"),
             article("Two, third time", _edited(_edited(second), 11), "https://d.org/2"),
             article("Two, word for word", second, "https://e.org/2")]
    with wdb.transaction(con):
        stored = store.insert_articles(con, batch, "r2", 0.5, 4)
    assert all(s is not None for s in stored)
    assert _originals(con) == {
        "https://a.org/1": None,
        "https://b.org/1": "https://a.org/1",     # copies a stored article
        "https://b.org/2": None,
        "https://c.org/2": "https://b.org/2",     # copies an earlier article of its batch
        "https://d.org/2": "https://b.org/2",     # a copy of a copy belongs to the original
        "https://e.org/2": "https://b.org/2",     # exact copy, same batch
    }
    sims = dict(con.execute("SELECT url, similarity FROM doc").fetchall())
    assert sims["https://e.org/2"] == 1.0 and 0.5 <= sims["https://c.org/2"] < 1.0


def test_the_earliest_original_wins_and_the_seed_before_all(tmp_path: Path) -> None:
    """An article that copies two clusters (it joins two stories, each stored on its own)
    goes to the earliest published one; to the seed's whatever the dates."""
    con = memory_warehouse(tmp_path)
    s1, s2, s3, s4, s5, s6 = (_story(10 + k, 80) for k in range(6))
    seed = dataclasses.replace(_dated(article("Seed", f"{s4} {s5}", "seed:s"), 0),
                               is_seed=True)
    store.store_seeds(con, [seed], 0.5, 4)
    with wdb.transaction(con):
        store.insert_articles(con, [
            _dated(article("A", f"{s1} {s2}", "https://a.org/a"), 1),
            _dated(article("B", f"{s2} {s3}", "https://a.org/b"), 5),
            _dated(article("E", f"{s5} {s6}", "https://a.org/e"), 30)], "r1", 0.5, 4)
    with wdb.transaction(con):
        store.insert_articles(con, [
            article("A and B", f"{s1} {s2} {s3}", "https://b.org/ab"),
            article("Seed and E", f"{s4} {s5} {s6}", "https://b.org/se")], "r2", 0.5, 4)
    originals = _originals(con)
    assert originals["https://a.org/a"] is None and originals["https://a.org/b"] is None
    assert originals["https://a.org/e"] is None
    assert originals["https://b.org/ab"] == "https://a.org/b"
    assert originals["https://b.org/se"] == "seed:s"


def test_the_search_window_keeps_seeds_and_exact_copies(tmp_path: Path) -> None:
    """[dedup] window_days: near-copies of articles stored before the window are not looked
    for (that is the point: the band scan stays the window's size); the seeds and exact
    copies always are."""
    con = memory_warehouse(tmp_path)
    old_text, seed_text, new_text = _story(4), _story(5), _story(6)
    seed = dataclasses.replace(_dated(article("Seed", seed_text, "seed:s"), 900), is_seed=True)
    store.store_seeds(con, [seed], 0.5, 4)
    with wdb.transaction(con):
        store.insert_articles(con, [_dated(article("Old", old_text, "https://a.org/old"), 400),
                                    _dated(article("New", new_text, "https://a.org/new"), 3)],
                              "r1", 0.5, 4)
    batch = [article("Old, edited", _edited(old_text), "https://b.org/old-edited"),
             article("Old, word for word", old_text, "https://b.org/old-exact"),
             article("Seed, edited", _edited(seed_text), "https://b.org/seed-edited"),
             article("New, edited", _edited(new_text), "https://b.org/new-edited")]
    with wdb.transaction(con):
        store.insert_articles(con, batch, "r2", 0.5, 4, window_days=30)
    originals = _originals(con)
    assert originals["https://b.org/old-edited"] is None
    assert originals["https://b.org/old-exact"] == "https://a.org/old"
    assert originals["https://b.org/seed-edited"] == "seed:s"
    assert originals["https://b.org/new-edited"] == "https://a.org/new"
    with wdb.transaction(con):   # without a window the old article is found again
        store.insert_articles(con, [article("Old, again", _edited(old_text, 13),
                                            "https://c.org/old")], "r3", 0.5, 4)
    assert _originals(con)["https://c.org/old"] == "https://a.org/old"


def test_stored_bands_are_converted_to_the_keys_the_search_uses(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Migration 0010 folds (band, hash) rows stored by earlier versions into one key per
    band, exactly as warehouse.copies.band_keys does for new articles."""
    before = tmp_path / "migrations"
    before.mkdir()
    for f in wdb.MIGRATIONS.glob("*.sql"):
        if int(f.name[:4]) < 10:
            shutil.copy(f, before / f.name)
    monkeypatch.setattr(wdb, "MIGRATIONS", before)
    monkeypatch.setattr(wdb, "VIEWS", tmp_path / "no-views")   # today's need later tables
    path = tmp_path / "old.duckdb"
    con = wdb.connect(path)
    rnd = random.Random(7)
    hashes = [rnd.getrandbits(63) for _ in range(42)]
    con.execute("INSERT INTO doc_band SELECT (generate_subscripts($h::UBIGINT[], 1) - 1)"
                "::SMALLINT, unnest($h::UBIGINT[]), 1", {"h": hashes})
    con.close()
    monkeypatch.undo()
    con = wdb.connect(path)
    keys = [k for (k,) in con.execute("SELECT key FROM doc_band WHERE doc_id = 1").fetchall()]
    assert sorted(keys) == sorted(band_keys(hashes))
    assert len(set(band_keys([hashes[0]] * 42))) == 42   # a hash meets itself only in its band


class _CountingConnection:
    """A real connection that counts the queries reading candidate texts (dedup_texts*.sql)."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con, self.text_reads = con, 0

    def execute(self, query: str, *args: object) -> duckdb.DuckDBPyConnection:
        self.text_reads += "Near-duplicate candidates" in query
        return self.con.execute(query, *args)

    def __getattr__(self, name: str) -> object:
        return getattr(self.con, name)


@pytest.mark.parametrize("max_kept", [2000, 1])
def test_candidate_texts_are_read_once_a_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               max_kept: int) -> None:
    """Reading one stored text decompresses its whole ZSTD vector: a batch reads its stored
    candidates together. Past MAX_KEPT it reads them article by article, finding the same."""
    monkeypatch.setattr("warehouse.copies.MAX_KEPT", max_kept)
    con = memory_warehouse(tmp_path)
    stories = [_story(10 + k) for k in range(4)]
    with wdb.transaction(con):
        store.insert_articles(con, [article(f"S{k}", s, f"https://a.org/{k}")
                                    for k, s in enumerate(stories)], "r1", 0.5, 4)
    batch = [article(f"S{k} again", _edited(s), f"https://b.org/{k}")
             for k, s in enumerate(stories)]
    batch.insert(2, article("New", _story(99), "https://b.org/new"))
    counting = _CountingConnection(con)
    with wdb.transaction(con):
        store.insert_articles(counting, batch, "r2", 0.5, 4)  # type: ignore[arg-type]
    originals = _originals(con)
    assert {u: originals[u] for u in originals if "b.org" in u} == {
        **{f"https://b.org/{k}": f"https://a.org/{k}" for k in range(4)},
        "https://b.org/new": None}
    assert counting.text_reads == (1 if max_kept > 1 else 4)


def test_candidates_close_in_storage_order_are_read_as_ranges() -> None:
    assert id_runs([5, 3000, 1, 2, 900, 1500], gap=700) == [[1, 2, 5], [900, 1500], [3000]]
    assert id_runs([]) == []
    assert id_runs(range(0, 3000, 500), gap=700, span=1200) == [[0, 500, 1000],
                                                                 [1500, 2000, 2500]]


def _keys_by_doc(con: duckdb.DuckDBPyConnection) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for key, doc_id in con.execute("SELECT key, doc_id FROM doc_band").fetchall():
        out.setdefault(int(doc_id), []).append(int(key))
    return {doc_id: sorted(keys) for doc_id, keys in out.items()}


def _writer(tmp_path: Path) -> Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]]:
    """What ingest hands the re-banding: a new connection to memory_warehouse's file."""
    return lambda: wdb.opened(tmp_path / "w.duckdb", migrate_schema=False)


def test_bands_made_another_way_are_rebuilt_before_copies_are_searched(tmp_path: Path) -> None:
    """A warehouse whose bands came from the earlier MinHash scheme (no band_scheme row) or
    another shingle size is re-banded from its texts; copies are then found."""
    con = memory_warehouse(tmp_path)
    writer = _writer(tmp_path)
    original = _story(3)
    with wdb.transaction(con):
        store.insert_articles(con, [article("One", original, "https://a.org/1"),
                                    article("Two", _story(4), "https://a.org/2")], "r1", 0.5, 4)
    right = _keys_by_doc(con)
    # What an earlier version left: bands of another scheme, and no record of it.
    con.execute("UPDATE doc_band SET key = xor(key, 12345)")
    assert bands.needs_rebanding(con, 4)
    with wdb.transaction(con):
        store.insert_articles(con, [article("One again", _edited(original), "https://b.org/1")],
                              "r2", 0.5, 4)
    assert _originals(con)["https://b.org/1"] is None   # its bands meet nothing stored

    assert bands.reband(writer, 4) == 3
    assert bands.stored_scheme(con) == (dedup.SCHEME, 4)
    assert not bands.needs_rebanding(con, 4)
    rebuilt = _keys_by_doc(con)
    assert {d: rebuilt[d] for d in right} == right       # as building the articles made them
    with wdb.transaction(con):
        store.insert_articles(con, [article("One, third", _edited(original, 13),
                                            "https://c.org/1")], "r3", 0.5, 4)
    assert _originals(con)["https://c.org/1"] == "https://a.org/1"

    seen: list[tuple[int, int]] = []
    assert bands.needs_rebanding(con, 5)
    assert bands.reband(writer, 5, lambda done, total: seen.append((done, total))) == 4
    assert seen[-1] == (4, 4)
    text = con.execute("SELECT text FROM doc WHERE url = 'https://a.org/1'").fetchone()
    assert text is not None
    assert sorted(band_keys(bands.doc_bands(text[0], 5))) in _keys_by_doc(con).values()
    assert con.execute("SELECT count(*) FROM doc_band").fetchone() == (4 * dedup.BANDS,)
    assert con.execute("SELECT count(*) FROM band_rebuild").fetchone() == (0,)


def test_a_rebanding_stopped_midway_resumes_where_it_stopped(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each range is its own transaction: a kill keeps the ranges done, loses none of the
    range it was in (its old bands stay), and the next call does only the rest."""
    con = memory_warehouse(tmp_path)
    writer = _writer(tmp_path)
    with wdb.transaction(con):
        store.insert_articles(con, [article(f"N{k}", _story(10 + k), f"https://a.org/{k}")
                                    for k in range(3)], "r1", 0.5, 4)
    assert bands.reband(writer, 4) == 3
    before = _keys_by_doc(con)
    ids = sorted(before)

    def crash_after_the_first(done: int, total: int) -> None:
        if done == 1:
            raise KeyboardInterrupt   # a kill, after the first range's transaction

    monkeypatch.setattr(bands, "REBAND_IDS", 1)
    with pytest.raises(KeyboardInterrupt):
        bands.reband(writer, 5, crash_after_the_first)
    midway = _keys_by_doc(con)
    assert midway[ids[0]] != before[ids[0]]                      # re-banded at size 5
    assert all(midway[d] == before[d] for d in ids[1:])          # untouched, whole
    assert bands.stored_scheme(con) == (dedup.SCHEME, 4)         # not finished ...
    assert bands.needs_rebanding(con, 4)                         # ... and mixed
    assert con.execute("SELECT through_id FROM band_rebuild").fetchone() == (ids[0],)

    seen: list[tuple[int, int]] = []
    assert bands.reband(writer, 5, lambda done, total: seen.append((done, total))) == 2
    assert seen == [(1, 2), (2, 2)]
    assert bands.stored_scheme(con) == (dedup.SCHEME, 5)
    texts = dict(con.execute("SELECT id, text FROM doc").fetchall())
    assert _keys_by_doc(con) == {d: sorted(band_keys(bands.doc_bands(texts[d], 5)))
                                 for d in ids}

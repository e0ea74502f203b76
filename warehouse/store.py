"""The only module that writes rows. Every write is one transaction: a crash mid-way
leaves the warehouse as it was before that outlet's batch."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from flows.stages import dedup, figures
from flows.stages.models import Article, Harvest
from flows.stages.topics import TopicRules, rule_rows
from warehouse.db import insert_many, sql, transaction

SEEDS = Path(__file__).resolve().parent / "seeds"


@dataclass(frozen=True)
class StoredArticle:
    id: int
    duplicate_of: int | None
    similarity: float | None


@dataclass(frozen=True)
class SourceSummary:
    source: str
    name: str
    ok: bool
    new_articles: int
    duplicates: int
    feeds_ok: int
    feeds_failed: int
    pages_fetched: int
    pages_failed: int
    error: str | None


def now() -> datetime:
    return datetime.now(UTC)


def start_run(con: duckdb.DuckDBPyConnection, flow: str) -> str:
    run_id = f"{flow}-{now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    con.execute("INSERT INTO run VALUES (?, ?, ?, NULL, 'running', NULL)",
                [run_id, flow, now()])
    return run_id


def finish_run(con: duckdb.DuckDBPyConnection, run_id: str, status: str, summary: dict
               ) -> None:
    con.execute("UPDATE run SET finished_at = ?, status = ?, summary = ? WHERE run_id = ?",
                [now(), status, json.dumps(summary, default=str), run_id])


def load_rules(con: duckdb.DuckDBPyConnection, rules: TopicRules) -> None:
    """Replace the stored rules with these; tags are re-applied by `apply_topics`."""
    with transaction(con):
        con.execute("DELETE FROM topic_rule")
        con.execute("DELETE FROM topic")
        con.execute("DELETE FROM topic_settings")
        insert_many(con, "INSERT INTO topic VALUES (?, ?, ?, ?)",
                        [[t.key, t.label, t.description, t.min_score] for t in rules.topics])
        insert_many(con, "INSERT INTO topic_rule VALUES (?, ?, ?)",
                        [[r.topic, r.kind, r.pattern] for r in rule_rows(rules)])
        con.execute("INSERT INTO topic_settings VALUES (?, ?)",
                    [rules.title_weight, rules.max_hits_per_phrase])


def apply_topics(con: duckdb.DuckDBPyConnection, ids: list[int] | None = None) -> None:
    """(Re)tag the given documents, or all. Call inside the caller's transaction.

    Each rule runs as its own statement with its pattern as a parameter: DuckDB then compiles
    the pattern once, where a pattern read from a joined column is compiled for every row.
    """
    everything = ids is None
    targets = [] if ids is None else ids
    if everything:
        con.execute("DELETE FROM doc_topic")
    else:
        con.execute("DELETE FROM doc_topic WHERE doc_id IN (SELECT unnest(?::BIGINT[]))",
                    [targets])
    con.execute(sql("topic_documents"), {"all": everything, "ids": targets})
    con.execute("CREATE OR REPLACE TEMP TABLE topic_match (id BIGINT, topic VARCHAR, "
                "kind VARCHAR, part VARCHAR, phrase VARCHAR)")
    for topic, kind, pattern in con.execute(
            "SELECT topic, kind, pattern FROM topic_rule ORDER BY topic, kind").fetchall():
        con.execute(sql("topic_matches"), {"topic": topic, "kind": kind, "pattern": pattern})
    con.execute(sql("apply_topics"))
    con.execute("DROP TABLE topic_match")
    con.execute("DROP TABLE topic_document")


def known_urls(con: duckdb.DuckDBPyConnection, canonical: list[str]) -> set[str]:
    """Which of these canonical URLs are stored or were rejected before: not fetched again."""
    if not canonical:
        return set()
    rows = con.execute(
        "SELECT canonical_url FROM doc WHERE canonical_url IN (SELECT unnest(?::VARCHAR[])) "
        "UNION SELECT canonical_url FROM rejected_url "
        "WHERE canonical_url IN (SELECT unnest(?::VARCHAR[]))", [canonical, canonical]
    ).fetchall()
    return {r[0] for r in rows}


MAX_CANDIDATES = 50   # compared exactly, most bands shared first


def _int_list(values: Iterable[int]) -> str:
    """Integers as a SQL literal list (int() makes anything else fail, never inject)."""
    return ", ".join(str(int(v)) for v in values)


def _find_original(con: duckdb.DuckDBPyConnection, art: Article, threshold: float,
                   shingle_size: int) -> tuple[int | None, float | None]:
    row = con.execute(
        "SELECT coalesce(duplicate_of, id) FROM doc WHERE text_hash = ? ORDER BY id LIMIT 1",
        [art.text_hash]).fetchone()
    if row:
        return int(row[0]), 1.0
    if not art.bands:
        return None, None
    best: dict[int, float] = {}
    rows = con.execute(sql("dedup_candidates").format(hashes=_int_list(art.bands))).fetchall()
    wanted = set(enumerate(art.bands))
    shared = Counter(int(doc) for doc, band, h in rows if (int(band), int(h)) in wanted)
    ids = [doc for doc, _n in shared.most_common(MAX_CANDIDATES)]
    texts = con.execute(sql("dedup_texts").format(ids=_int_list(ids))).fetchall() if ids else []
    mine = dedup.shingles(dedup.normalise_text(art.text), shingle_size) if texts else set()
    for _id, text, root in texts:
        score = dedup.resemblance(mine, dedup.shingles(dedup.normalise_text(text),
                                                       shingle_size))
        if score >= threshold:
            best[int(root)] = max(best.get(int(root), 0.0), score)
    if not best:
        return None, None
    # The earliest original wins: seeds (the starting corpus), then publication time, then
    # storage order.
    root = con.execute(
        "SELECT id FROM doc WHERE id = ANY(?::BIGINT[]) "
        "ORDER BY NOT is_seed, coalesce(published_at, fetched_at), id LIMIT 1",
        [list(best)]).fetchone()
    assert root is not None
    return int(root[0]), round(best[int(root[0])], 4)


def insert_article(con: duckdb.DuckDBPyConnection, art: Article, run_id: str | None,
                   threshold: float, shingle_size: int) -> StoredArticle | None:
    """Insert one article with its bands; None if its canonical URL is already stored.
    Call inside a transaction; tag afterwards with `apply_topics`."""
    if con.execute("SELECT 1 FROM doc WHERE canonical_url = ?", [art.canonical_url]).fetchone():
        return None
    original, similarity = _find_original(con, art, threshold, shingle_size)
    row = con.execute(
        "INSERT INTO doc (source, url, canonical_url, title, author, published_at, fetched_at,"
        " lang, lang_confidence, text, text_hash, n_words, is_seed, duplicate_of, similarity,"
        " run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        [art.source, art.url, art.canonical_url, art.title, art.author, art.published_at,
         art.fetched_at or now(), art.lang, art.lang_confidence, art.text, art.text_hash,
         art.n_words, art.is_seed, original, similarity, run_id]).fetchone()
    assert row is not None
    doc_id = int(row[0])
    if art.bands:  # one statement: executemany costs ~0.3 ms a row in DuckDB
        con.execute("INSERT INTO doc_band SELECT (generate_subscripts($b::UBIGINT[], 1) - 1)"
                    "::SMALLINT, unnest($b::UBIGINT[]), $id", {"b": list(art.bands), "id": doc_id})
    store_figures(con, doc_id, art.title, art.text, art.figures)
    return StoredArticle(doc_id, original, similarity)


def store_figures(con: duckdb.DuckDBPyConnection, doc_id: int, title: str | None, text: str,
                  found: tuple[figures.Figure, ...] | None = None) -> int:
    """Store one new document's figures (extracted here unless given), headline first; call
    inside the caller's transaction so that an article and its figures are stored together.
    One statement for all rows: executemany costs ~0.3 ms a row in DuckDB."""
    found = figures.figures_of(title, text) if found is None else found
    if found:
        con.execute(
            "INSERT INTO figure SELECT $id, generate_subscripts($v::DOUBLE[], 1) - 1, "
            "unnest($v::DOUBLE[]), unnest($vh::DOUBLE[]), unnest($u::VARCHAR[]), "
            "unnest($c::VARCHAR[]), unnest($y::INTEGER[]), unnest($r::VARCHAR[]), "
            "unnest($s::VARCHAR[])",
            {"id": doc_id, "v": [f.value for f in found], "vh": [f.value_high for f in found],
             "u": [f.unit for f in found], "c": [f.counted for f in found],
             "y": [f.year for f in found], "r": [f.raw for f in found],
             "s": [f.sentence for f in found]})
    return len(found)


def refresh_figures(con: duckdb.DuckDBPyConnection) -> int:
    """Re-extract the figures of every stored document (backfill after the extractor
    changed, or for articles stored before it existed), in one transaction."""
    with transaction(con):
        con.execute("DELETE FROM figure")
        docs = con.execute("SELECT id, title, text FROM doc ORDER BY id").fetchall()
        return sum(store_figures(con, int(i), title, str(t)) for i, title, t in docs)


def store_harvest(con: duckdb.DuckDBPyConnection, harvest: Harvest, run_id: str,
                  threshold: float, shingle_size: int) -> SourceSummary:
    """One outlet's results, all or nothing: log rows, articles, bands, tags, health row."""
    return store_harvests(con, [harvest], run_id, threshold, shingle_size)[0]


def store_harvests(con: duckdb.DuckDBPyConnection, harvests: list[Harvest], run_id: str,
                   threshold: float, shingle_size: int) -> list[SourceSummary]:
    """Several outlets' results in one transaction, in the order given, tagged together.

    Tagging costs a fixed half second or so per call (DuckDB compiles every rule's pattern),
    so the writer stores the outlets that are ready at the same time together. The tags of an
    article do not depend on the others tagged with it, and articles are inserted in the same
    order as one outlet at a time: the result is the same."""
    with transaction(con):
        done = [_store_one(con, h, run_id, threshold, shingle_size) for h in harvests]
        ids = [i for _summary, new_ids in done for i in new_ids]
        if ids:
            apply_topics(con, ids)
    return [summary for summary, _ids in done]


def _store_one(con: duckdb.DuckDBPyConnection, harvest: Harvest, run_id: str,
               threshold: float, shingle_size: int) -> tuple[SourceSummary, list[int]]:
    """Log rows, articles, bands and the health row of one outlet; call inside a transaction
    and tag the returned ids afterwards."""
    new = dups = 0
    insert_many(con,
        "INSERT INTO fetch_event VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [[run_id, e.source, e.kind, e.url, e.outcome, e.http_status, e.reason, e.n_bytes,
          e.elapsed_ms, e.at or now()] for e in harvest.events])
    insert_many(con,
        "INSERT INTO rejected_url VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
        [[url, harvest.source, reason, now()] for url, reason in harvest.rejected])
    ids = []
    ordered = sorted(harvest.articles, key=lambda a: (a.published_at or now(), a.url))
    for art in ordered:
        stored = insert_article(con, art, run_id, threshold, shingle_size)
        if stored is None:
            continue
        ids.append(stored.id)
        new += 1
        dups += stored.duplicate_of is not None
    ok = harvest.error is None and harvest.feeds_ok > 0
    con.execute(
        "INSERT INTO source_run VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [run_id, harvest.source, harvest.name, ok, harvest.feeds_ok, harvest.feeds_failed,
         harvest.pages_fetched, harvest.pages_failed, new, dups, harvest.error, now()])
    return SourceSummary(harvest.source, harvest.name, ok, new, dups, harvest.feeds_ok,
                         harvest.feeds_failed, harvest.pages_fetched, harvest.pages_failed,
                         harvest.error), ids


def seed_files() -> list[Path]:
    return sorted(SEEDS.glob("*.txt"))


def missing_seeds(con: duckdb.DuckDBPyConnection) -> list[Path]:
    stored = {r[0] for r in con.execute("SELECT canonical_url FROM doc WHERE is_seed").fetchall()}
    return [p for p in seed_files() if f"seed:{p.stem}" not in stored]


def store_seeds(con: duckdb.DuckDBPyConnection, seeds: list[Article], threshold: float,
                shingle_size: int) -> int:
    with transaction(con):
        ids = []
        for art in seeds:
            stored = insert_article(con, art, None, threshold, shingle_size)
            if stored:
                ids.append(stored.id)
        if ids:
            apply_topics(con, ids)
    return len(ids)

"""The only module that writes rows. Every write is one transaction: a crash mid-way
leaves the warehouse as it was before that outlet's batch."""

from __future__ import annotations

import functools
import json
import re
import unicodedata
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from flows.stages import figures
from flows.stages.dedup import canonical_url
from flows.stages.models import Article, FetchEvent, Harvest
from flows.stages.redact import mask_text
from flows.stages.topic_match import Hit, matcher
from flows.stages.topics import RuleTerms, TopicRules, rule_rows
from warehouse.bands import insert_band_rows
from warehouse.copies import CopyFinder
from warehouse.db import insert_many, int_list, opened, scanned, sql, transaction
from warehouse.translations import insert_alternates, story_leads

SEEDS = Path(__file__).resolve().parent / "seeds"
DOC_COLUMNS = ("id", "source", "url", "canonical_url", "title", "author", "published_at",
               "fetched_at", "lang", "lang_confidence", "text", "text_hash", "n_words",
               "is_seed", "duplicate_of", "similarity", "run_id", "translation_of")
FIGURE_COLUMNS = ("doc_id", "seq", "value", "value_high", "unit", "counted", "year", "raw",
                  "sentence")
ALIAS_COLUMNS = ("canonical_url", "doc_id")
FETCH_EVENT_COLUMNS = ("source", "kind", "url", "outcome", "http_status", "reason", "n_bytes",
                       "elapsed_ms", "logged_at")   # and run_id, the same for every row


@dataclass(frozen=True)
class StoredArticle:
    id: int
    duplicate_of: int | None
    similarity: float | None
    translation_of: int | None = None   # the story's lead, for a translation (and its copies)


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


@contextmanager
def failure_recorded(db: Path, run_id: str) -> Iterator[None]:
    """Around a run's work: if it raises, the run's record says so (`failed` with the error,
    or `interrupted` for Ctrl-C or a cancellation) instead of staying `running` until a later
    run of the flow exists."""
    try:
        yield
    except BaseException as exc:
        with opened(db) as con:
            finish_run(con, run_id, "failed" if isinstance(exc, Exception) else "interrupted",
                       {"error": mask_text(f"{type(exc).__name__}: {exc}")})
        raise


def load_rules(con: duckdb.DuckDBPyConnection, rules: TopicRules) -> None:
    """Replace the stored rules with these; tags are re-applied by `apply_topics`."""
    with transaction(con):
        con.execute("DELETE FROM topic_rule")
        con.execute("DELETE FROM topic")
        con.execute("DELETE FROM topic_settings")
        insert_many(con, "INSERT INTO topic VALUES (?, ?, ?, ?)",
                        [[t.key, t.label, t.description, t.min_score] for t in rules.topics])
        insert_many(con, "INSERT INTO topic_rule (topic, kind, pattern, terms) "
                         "VALUES (?, ?, ?, ?)",
                    [[r.topic, r.kind, r.pattern, list(r.terms)] for r in rule_rows(rules)])
        con.execute("INSERT INTO topic_settings VALUES (?, ?)",
                    [rules.title_weight, rules.max_hits_per_phrase])


def stored_rules(con: duckdb.DuckDBPyConnection) -> RuleTerms:
    """The topic rules `load_rules` stored, as the phrase finder takes them."""
    rows = con.execute("SELECT topic, kind, terms FROM topic_rule ORDER BY topic, kind"
                       ).fetchall()
    if any(terms is None for *_key, terms in rows):
        raise RuntimeError("the stored topic rules predate migration 0013: run `migwatch "
                           "retag` (or an ingest) to reload them")
    return tuple((topic, kind, tuple(terms)) for topic, kind, terms in rows)


def apply_topics(con: duckdb.DuckDBPyConnection, ids: list[int] | None = None,
                 found: Sequence[tuple[Hit, ...] | None] | None = None) -> None:
    """(Re)tag the given documents, or all. Call inside the caller's transaction.

    `found`: the rules' phrases in each of `ids` (Article.topic_hits), from a caller that has
    them (ingest: they were found in the workers); None, or a None among them, means found
    here from the stored text. Scoring is SQL (warehouse/sql/apply_topics.sql).
    """
    con.execute("CREATE OR REPLACE TEMP TABLE topic_match (id BIGINT, topic VARCHAR, "
                "kind VARCHAR, part VARCHAR, phrase VARCHAR, phrase_key VARCHAR)")
    if ids is None:
        con.execute("DELETE FROM doc_topic")
        # A second cursor streams every text once, in chunks (bounded memory), while this
        # one writes. It sees only committed documents: documents inserted in the caller's
        # transaction are tagged by id.
        reader = con.cursor()
        try:
            count = "SELECT count(*) FROM doc"
            if reader.execute(count).fetchall() != con.execute(count).fetchall():
                raise RuntimeError("apply_topics(con, None) tags committed documents: commit "
                                   "the new ones first, or pass their ids")
            reader.execute("SELECT id, title, text FROM doc")
            finder = matcher(stored_rules(con))
            while chunk := reader.fetchmany(1000):
                _insert_matches(con, [(int(i), finder.hits(title, text))
                                      for i, title, text in chunk])
        finally:
            reader.close()
    else:
        con.execute("DELETE FROM doc_topic WHERE doc_id IN (SELECT unnest(?::BIGINT[]))", [ids])
        given: list[tuple[Hit, ...] | None] = list(found) if found is not None \
            else [None] * len(ids)
        if len(given) != len(ids):
            raise ValueError(f"{len(ids)} ids but {len(given)} sets of phrases")
        missing = [i for i, hits in zip(ids, given, strict=True) if hits is None]
        if missing:
            finder, place = matcher(stored_rules(con)), {i: k for k, i in enumerate(ids)}
            for i, title, text in con.execute(
                    f"SELECT id, title, text FROM doc WHERE id IN ({int_list(missing)})"
                    ).fetchall():
                given[place[int(i)]] = finder.hits(title, text)
        _insert_matches(con, [(i, hits) for i, hits in zip(ids, given, strict=True)
                              if hits is not None])
    con.execute(sql("apply_topics"))
    con.execute("DROP TABLE topic_match")


@functools.lru_cache(maxsize=65536)
def phrase_forms(phrase: str) -> tuple[str, str]:
    r"""(the phrase with single spaces, its key): the key keeps the first five letters of every
    run of letters, so that the inflected forms of one phrase (запрет на въезд, запрета на
    въезд; remittance, remittances) count as one phrase in apply_topics.sql.

    Computed here, once per distinct phrase, rather than with two regexp_replace a match in
    SQL (most of that statement's time: a batch has tens of thousands of matches, and a few
    hundred distinct phrases). Letters are Unicode category L, as RE2's \pL
    (tests/test_topic_match.py holds the two to each other)."""
    spaced = re.sub(" +", " ", phrase)
    out, run = [], 0
    for ch in spaced:
        run = run + 1 if unicodedata.category(ch)[0] == "L" else 0
        if run <= 5:
            out.append(ch)
    return spaced, "".join(out)


def _insert_matches(con: duckdb.DuckDBPyConnection,
                    docs: Sequence[tuple[int, tuple[Hit, ...]]]) -> None:
    rows = [(doc_id, topic, kind, part, *phrase_forms(phrase))
            for doc_id, hits in docs for topic, kind, part, phrase in hits]
    if rows:
        with scanned(con, "match_batch", ("id", "topic", "kind", "part", "phrase", "key"),
                     rows):
            con.execute("INSERT INTO topic_match SELECT id, topic, kind, part, phrase, key "
                        "FROM match_batch")


def known_urls(con: duckdb.DuckDBPyConnection, canonical: list[str],
               retry_rejected_days: float = 0) -> set[str]:
    """Which of these canonical URLs are stored or were rejected before: not fetched again.
    Stored: a document's own canonical URL, or an alias of one (`_stored_ids`). Rejected
    (table rejected_url): a page that gave no article, a dead link (flows/harvest.py
    `is_dead`: 404, 410, not HTML, too large...), or a link robots.txt disallows by a rule
    (`is_blocked`); one rejected more than `retry_rejected_days` ago is asked again (0:
    never), and leaves the table when it then gives an article (`store_harvests`)."""
    if not canonical:
        return set()
    known = set(_stored_ids(con, list(canonical)))
    rest = [u for u in canonical if u not in known]
    if rest:
        query = ("SELECT canonical_url FROM rejected_url"
                 " WHERE canonical_url IN (SELECT unnest($urls))")
        params: dict[str, Any] = {"urls": rest}
        if retry_rejected_days > 0:
            query += " AND rejected_at > now() - to_microseconds($age::BIGINT)"
            params["age"] = round(retry_rejected_days * 86_400e6)
        known.update(r[0] for r in con.execute(query, params).fetchall())
    return known


def _stored_ids(con: duckdb.DuckDBPyConnection, canonical: list[str]) -> dict[str, int]:
    """The stored document each of these canonical URLs names, by its own canonical URL or
    else by an alias (url_alias): one statement."""
    rows = con.execute(
        "SELECT canonical_url, id, 0 AS alias FROM doc WHERE canonical_url IN "
        "(SELECT unnest($urls)) UNION ALL SELECT canonical_url, doc_id, 1 FROM url_alias "
        "WHERE canonical_url IN (SELECT unnest($urls)) ORDER BY alias",
        {"urls": canonical}).fetchall()
    found: dict[str, int] = {}
    for url, doc_id, _alias in rows:
        found.setdefault(url, int(doc_id))
    return found


def insert_articles(con: duckdb.DuckDBPyConnection, batch: Sequence[Article],
                    run_id: str | None, threshold: float, shingle_size: int,
                    window_days: int | None = None) -> list[StoredArticle | None]:
    """Insert a batch of articles in order, each with its bands, figures and declared language
    versions (translations: warehouse/translations.py); None for an
    article whose canonical URL is already stored (or earlier in the batch), as a document's
    own or as an alias (url_alias). Call inside a transaction; tag afterwards with
    `apply_topics`. `window_days`: see DedupSettings.window_days.

    Aliases: when the canonical form of the link an article was fetched from (`canonical_url
    (art.url)`, what flows/harvest.py asks `known_urls` about) is not its canonical URL (the
    page's <link rel=canonical>), the link is remembered in url_alias as naming the stored
    document: the one inserted here, or the one already stored when the article is dropped
    as its URL copy. The next run then does not fetch that link again. A link already known
    (a document's or an alias) is left as it is.

    Copies are looked for among stored documents once for the whole batch (see
    warehouse/copies.py), and the rows are written with one statement per table: DuckDB
    spends about a millisecond on each statement, which per article was most of the cost
    (the aliases too: one statement for the batch, none when no link differs).
    """
    links = [canonical_url(a.url) for a in batch]
    have = _stored_ids(con, list({u for a, link in zip(batch, links, strict=True)
                                  for u in (a.canonical_url, link)}))
    seen = set(have)
    fresh = []
    for art in batch:
        if art.canonical_url not in seen:
            seen.add(art.canonical_url)
            fresh.append(art)
    if not fresh:
        _insert_aliases(con, batch, links, have)
        return [None] * len(batch)
    # Ids in batch order, taken now: an article may copy an earlier one of the same batch.
    ids = sorted(int(r[0]) for r in con.execute(
        "SELECT nextval('doc_id_seq') FROM range(?)", [len(fresh)]).fetchall())
    finder = CopyFinder(con, fresh, threshold, shingle_size, window_days)
    pairs = list(zip(fresh, ids, strict=True))
    stored: dict[str, StoredArticle] = {}
    rows: list[tuple] = []
    # Stamped here, under the writer's lock, not when the page was built: a digest composed
    # between the two would otherwise start its successor's window after an article it never
    # saw (digests take what was stored since the last one delivered).
    stored_at = now()
    copies: list[tuple[int | None, float | None]] = []
    for i, (art, doc_id) in enumerate(pairs):
        original, similarity = finder.original(i)
        finder.added(i, doc_id, original if original is not None else doc_id,
                     art.published_at or art.fetched_at or stored_at)
        copies.append((original, similarity))
    # copies first: a near-copy's story is its copy cluster's (warehouse/translations.py)
    leads = story_leads(con, fresh, ids, [original for original, _ in copies])
    for (art, doc_id), (original, similarity), lead in zip(pairs, copies, leads, strict=True):
        rows.append((doc_id, art.source, art.url, art.canonical_url, art.title, art.author,
                     art.published_at, art.fetched_at or stored_at, art.lang,
                     art.lang_confidence, art.text, art.text_hash, art.n_words, art.is_seed,
                     original, similarity, run_id, lead))
        stored[art.canonical_url] = StoredArticle(doc_id, original, similarity, lead)
    with scanned(con, "doc_batch", DOC_COLUMNS, rows):
        con.execute(sql("insert_docs"))
    insert_alternates(con, [(doc_id, lang, url) for art, doc_id in pairs
                            for lang, url in art.alternates])
    insert_band_rows(con, [(key, doc_id) for i, doc_id in enumerate(ids)
                           for key in finder.keys[i]])
    for art, doc_id in pairs:
        if art.raw_html is not None:
            con.execute("INSERT INTO doc_html VALUES (?, ?, ?, ?)",
                        [doc_id, art.raw_html.n_bytes, art.raw_html.body, now()])
    store_figures(con, [(doc_id, art.title, art.text, art.figures) for art, doc_id in pairs])
    _insert_aliases(con, batch, links, {**have, **{c: s.id for c, s in stored.items()}})
    # The first article with a URL is stored, later ones are not: pop, so they get None.
    return [stored.pop(art.canonical_url, None) for art in batch]


def _insert_aliases(con: duckdb.DuckDBPyConnection, batch: Sequence[Article],
                    links: list[str], ids: dict[str, int]) -> None:
    """Remember each link whose canonical URL is not its article's, as naming the document
    stored under the article's canonical URL (`ids`); links already known are skipped, and
    the first article of the batch with a link wins. One statement."""
    rows: dict[str, int] = {}
    for art, link in zip(batch, links, strict=True):
        if link != art.canonical_url and link not in ids and art.canonical_url in ids:
            rows.setdefault(link, ids[art.canonical_url])
    if rows:
        with scanned(con, "alias_batch", ALIAS_COLUMNS, list(rows.items())):
            con.execute("INSERT INTO url_alias SELECT canonical_url::VARCHAR, doc_id::BIGINT "
                        "FROM alias_batch ON CONFLICT DO NOTHING")


def insert_article(con: duckdb.DuckDBPyConnection, art: Article, run_id: str | None,
                   threshold: float, shingle_size: int) -> StoredArticle | None:
    """`insert_articles` for one article."""
    return insert_articles(con, [art], run_id, threshold, shingle_size)[0]


def prune_raw_html(con: duckdb.DuckDBPyConnection, max_age_days: int) -> int:
    """Delete the raw HTML kept more than `max_age_days` ago; the articles stay."""
    with transaction(con):
        row = con.execute("DELETE FROM doc_html WHERE kept_at < now() - to_days(?)",
                          [max_age_days]).fetchone()
    return int(row[0]) if row else 0


def store_figures(con: duckdb.DuckDBPyConnection,
                  docs: Sequence[tuple[int, str | None, str, tuple[figures.Figure, ...] | None]]
                  ) -> int:
    """Store new documents' figures, each document's headline first: (doc_id, title, text,
    figures) with figures None = extract them here. Call inside the caller's transaction so
    that articles and their figures are stored together. One statement for the whole batch:
    one per document cost ~0.7 ms each."""
    rows = [(doc_id, seq, f.value, f.value_high, f.unit, f.counted, f.year, f.raw, f.sentence)
            for doc_id, title, text, found in docs
            for seq, f in enumerate(figures.figures_of(title, text) if found is None else found)]
    if rows:
        with scanned(con, "figure_batch", FIGURE_COLUMNS, rows):
            con.execute(sql("insert_figures"))
    return len(rows)


def refresh_figures(con: duckdb.DuckDBPyConnection) -> int:
    """Re-extract the figures of every stored document (backfill after the extractor
    changed, or for articles stored before it existed), in one transaction."""
    with transaction(con):
        con.execute("DELETE FROM figure")
        found, last = 0, 0
        while docs := con.execute("SELECT id, title, text FROM doc WHERE id > ? ORDER BY id "
                                  "LIMIT 1000", [last]).fetchall():   # bounded memory
            found += store_figures(con, [(int(i), title, str(t), None) for i, title, t in docs])
            last = int(docs[-1][0])
        return found


def insert_fetch_events(con: duckdb.DuckDBPyConnection, run_id: str,
                        events: Sequence[FetchEvent]) -> None:
    """The fetch log's rows in one statement: an ingest logs one per page, and executemany
    costs ~0.3 ms a row."""
    if events:
        rows = [(e.source, e.kind, e.url, e.outcome, e.http_status, e.reason, e.n_bytes,
                 e.elapsed_ms, e.at or now()) for e in events]
        with scanned(con, "event_batch", FETCH_EVENT_COLUMNS, rows):
            con.execute(sql("insert_fetch_events"), {"run_id": run_id})


def store_harvest(con: duckdb.DuckDBPyConnection, harvest: Harvest, run_id: str,
                  threshold: float, shingle_size: int) -> SourceSummary:
    """One outlet's results, all or nothing: log rows, rejected and dead URLs, articles,
    bands, figures, URL aliases, tags, health row."""
    return store_harvests(con, [harvest], run_id, threshold, shingle_size)[0]


def store_harvests(con: duckdb.DuckDBPyConnection, harvests: list[Harvest], run_id: str,
                   threshold: float, shingle_size: int, window_days: int | None = None
                   ) -> list[SourceSummary]:
    """Several outlets' results in one transaction, in the order given, tagged together.

    The writer stores the outlets that are ready at the same time together: their articles
    form one batch for the copy search (one scan of the band table) and one tagging pass.
    Articles are inserted in the same order as one outlet at a time, and the tags of an
    article do not depend on the others tagged with it: the result is the same.

    Of an outlet's articles with the same canonical URL (two feed links to one page) the
    first in the harvest's order is stored; the others come last in the batch, where
    `insert_articles` drops them as URL copies and remembers their links (url_alias)."""
    with transaction(con):
        ordered: list[list[Article]] = []   # each outlet's articles, in the batch's order
        copies: list[Article] = []          # later articles of an outlet with the same URL
        for h in harvests:
            insert_fetch_events(con, run_id, h.events)
            insert_many(con,
                # asked again after [fetch] retry_rejected_days, and rejected again: the
                # newest reason and time, so it waits as long again
                "INSERT INTO rejected_url VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET "
                "source = excluded.source, reason = excluded.reason, "
                "rejected_at = excluded.rejected_at",
                [[url, h.source, reason, now()] for url, reason in h.rejected])
            first: dict[str, Article] = {}
            for art in h.articles:
                if first.setdefault(art.canonical_url, art) is not art:
                    copies.append(art)
            ordered.append(sorted(first.values(),
                                  key=lambda a: (a.published_at or now(), a.url)))
        batch = [a for articles in ordered for a in articles]
        if batch:   # a page rejected before and asked again (retry_rejected_days) that now
            # gives an article is no longer rejected (a dead link published at last, a link
            # robots.txt no longer disallows)
            con.execute("DELETE FROM rejected_url WHERE canonical_url IN (SELECT unnest($u))",
                        {"u": [u for a in batch + copies
                               for u in (a.canonical_url, canonical_url(a.url))]})
        stored = iter(insert_articles(con, batch + copies, run_id, threshold, shingle_size,
                                      window_days))   # the copies' results (None) unread
        summaries: list[SourceSummary] = []
        ids: list[int] = []
        found: list[tuple[Hit, ...] | None] = []
        for h, articles in zip(harvests, ordered, strict=True):
            mine = [(s, a) for a, s in ((a, next(stored)) for a in articles) if s is not None]
            ids.extend(s.id for s, _ in mine)
            found.extend(a.topic_hits for _, a in mine)
            new, dups = len(mine), sum(s.duplicate_of is not None for s, _ in mine)
            ok = h.error is None and h.feeds_ok > 0
            con.execute(
                "INSERT INTO source_run VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [run_id, h.source, h.name, ok, h.feeds_ok, h.feeds_failed, h.pages_fetched,
                 h.pages_failed, new, dups, h.error, now()])
            summaries.append(SourceSummary(h.source, h.name, ok, new, dups, h.feeds_ok,
                                           h.feeds_failed, h.pages_fetched, h.pages_failed,
                                           h.error))
        if ids:
            apply_topics(con, ids, found)
    return summaries


def seed_files() -> list[Path]:
    return sorted(SEEDS.glob("*.txt"))


def missing_seeds(con: duckdb.DuckDBPyConnection) -> list[Path]:
    stored = {r[0] for r in con.execute("SELECT canonical_url FROM doc WHERE is_seed").fetchall()}
    return [p for p in seed_files() if f"seed:{p.stem}" not in stored]


def store_seeds(con: duckdb.DuckDBPyConnection, seeds: list[Article], threshold: float,
                shingle_size: int) -> int:
    with transaction(con):
        ids = []
        for stored in insert_articles(con, seeds, None, threshold, shingle_size):
            if stored:
                ids.append(stored.id)
        if ids:
            apply_topics(con, ids)
    return len(ids)

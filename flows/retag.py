"""`migwatch retag`: re-apply the current topic rules to every stored article, in one pass;
with `--language`, first re-detect every stored article's language with the current rule.

Why a language pass: a stored label is the rule of the release that stored it. The Tajik
rule changed (one Tajik name used to make a Russian or English article `tg`; Tajik letters
must now be 1 % of the Cyrillic letters), and articles stored before keep the old label in
`articles`, `figures`, `topic_daily` and subscribers' language filters until re-detected.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from flows.stages.article import language_of
from flows.stages.topics import load_rules
from warehouse import store
from warehouse.db import opened, scanned, sql, transaction

# Rows read (title and text) per chunk of the language pass: bounded memory at any size.
CHUNK = 1000


@dataclass(frozen=True)
class TopicChange:
    topic: str
    before: int
    after: int
    added: int
    removed: int


@dataclass(frozen=True)
class StoredDoc:
    """What re-detecting a stored document needs: its id, outlet, title, text and label."""

    id: int
    source: str
    title: str | None
    text: str
    lang: str


@dataclass(frozen=True)
class Relabel:
    """A stored document whose language, detected again, differs from its stored label."""

    id: int
    before: str
    after: str
    confidence: float


@dataclass(frozen=True)
class LanguageChange:
    """What the language pass changed: the number of documents per (before, after) label."""

    changed: dict[tuple[str, str], int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.changed.values())

    def line(self) -> str:
        """`language: 12 changed (tg→ru 9, tg→en 3)`: most frequent change first."""
        pairs = sorted(self.changed.items(), key=lambda kv: (-kv[1], kv[0]))
        detail = ", ".join(f"{before}→{after} {n}" for (before, after), n in pairs)
        return f"language: {self.total} changed" + (f" ({detail})" if detail else "")


@dataclass(frozen=True)
class RetagReport:
    topics: list[TopicChange]
    language: LanguageChange | None = None   # None: the language pass was not asked for


def detected_language(title: str | None, text: str, hint: str | None) -> tuple[str, float]:
    """The language ingest would give a page of this title and text from an outlet with this
    `language` hint (flows/stages/article.py `language_of`, after the same NFC). NFC again is
    a no-op on text stored NFC, and makes older rows stored with combining marks (и + ̄ for ӣ)
    read as ingest reads them now."""
    return language_of(unicodedata.normalize("NFC", title) if title else None,
                       unicodedata.normalize("NFC", text), hint)


def redetect(docs: Iterable[StoredDoc], hints: Mapping[str, str | None]
             ) -> Iterator[Relabel]:
    """The documents whose language, detected again, differs from their stored label.

    Pure (no database, no Prefect): the pass's whole decision, testable on plain data.
    `hints`: each outlet's `language` from the sources file, the hint ingest passes; an
    outlet not there (a seed — seeds are detected without a hint too — or an outlet since
    removed from the file) gets none. Only a different label is a change: a confidence
    alone is not, so a second pass over the same rule finds nothing to change."""
    for doc in docs:
        lang, confidence = detected_language(doc.title, doc.text, hints.get(doc.source))
        if lang != doc.lang:
            yield Relabel(doc.id, doc.lang, lang, confidence)


def summarise(relabels: Iterable[Relabel]) -> LanguageChange:
    """How many documents went from each label to each other."""
    return LanguageChange(dict(Counter((r.before, r.after) for r in relabels)))


def _stored_docs(con: duckdb.DuckDBPyConnection) -> Iterator[StoredDoc]:
    """Every stored document, streamed by a second cursor in chunks of CHUNK rows (the texts
    of a large warehouse do not fit in memory at once)."""
    reader = con.cursor()
    try:
        reader.execute("SELECT id, source, title, text, lang FROM doc")   # any order: no sort
        while chunk := reader.fetchmany(CHUNK):
            for i, source, title, text, lang in chunk:
                yield StoredDoc(int(i), source, title, text, lang)
    finally:
        reader.close()


def _store_relabels(con: duckdb.DuckDBPyConnection, relabels: list[Relabel]) -> None:
    """Write the new labels in one statement. Call inside the caller's transaction. Each row
    is updated only while it still holds the label it was read with; if any does not, this
    raises and the caller's transaction rolls every label back (never half a pass)."""
    if not relabels:
        return
    rows = [(r.id, r.before, r.after, r.confidence) for r in relabels]
    with scanned(con, "relabel_batch", ("id", "before", "lang", "lang_confidence"), rows):
        result = con.execute(sql("relabel_language")).fetchone()
    updated = int(result[0]) if result else 0
    if updated != len(relabels):
        raise RuntimeError(f"language pass: {updated} of {len(relabels)} documents updated; "
                           "their labels changed while they were re-detected: run it again")


def _tags(con: duckdb.DuckDBPyConnection) -> set[tuple[int, str]]:
    return {(int(i), t) for i, t in con.execute("SELECT doc_id, topic FROM doc_topic"
                                                ).fetchall()}


def retag(db: Path, rules_path: Path, language_hints: Mapping[str, str | None] | None = None
          ) -> RetagReport:
    """Re-apply the topic rules to every stored article and re-extract the figures; with
    `language_hints` (outlet key -> its `language` hint), first re-detect every stored
    document's language and store the labels that changed.

    Language first, and in the same transaction as the tags: a failure anywhere in it leaves
    labels and tags as they were (run it again). Tagging does not read the label today (each
    topic's terms of every language form one rule, flows/stages/topics.py `rule_rows`), but
    rules applied per language would see the new labels. The detection itself (~13 ms a
    document, langdetect) runs before the transaction, reading committed rows, so the
    transaction lasts only as long as the writes; the write lock is held throughout, as for
    the rest of retag."""
    rules = load_rules(rules_path)
    with opened(db) as con:
        relabels = [] if language_hints is None else \
            list(redetect(_stored_docs(con), language_hints))
        before = _tags(con)
        store.load_rules(con, rules)
        with transaction(con):
            _store_relabels(con, relabels)
            store.apply_topics(con, None)
        after = _tags(con)
        store.refresh_figures(con)
    topics = sorted({t for _, t in before | after} | set(rules.keys()))
    changes = [TopicChange(t, sum(1 for _, x in before if x == t),
                           sum(1 for _, x in after if x == t),
                           sum(1 for _, x in after - before if x == t),
                           sum(1 for _, x in before - after if x == t)) for t in topics]
    return RetagReport(changes, None if language_hints is None else summarise(relabels))

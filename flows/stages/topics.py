"""Topic rules: read from `topics.toml`, validated, compiled to RE2 patterns for DuckDB.

The rules are data so that analysts can change them without touching Python, and they are
executed as SQL so that `migwatch retag` can re-apply them to every stored article in one
pass. This module only validates and compiles; `warehouse/sql/apply_topics.sql` scores.

Term syntax (one string per term, matched case-insensitively on whole words):
  - words separated by spaces match words separated by any run of non-letters;
  - a word ending in `*` is a stem: `запрет*` matches запрет, запрета, запретом;
  - `re:` starts a raw RE2 fragment matched against the token text (see `token_words`).
"""

from __future__ import annotations

import functools
import re
import tomllib
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

KINDS = ("terms", "context", "exclude")
# (topic, kind, terms) per rule, in a fixed order: what a worker needs to find the rules'
# phrases (flows/stages/topic_match.py); plain tuples, so it pickles and hashes.
RuleTerms = tuple[tuple[str, str, tuple[str, ...]], ...]
_WORD = re.compile(r"^[\w\-'’.]+\*?$")


class RulesError(ValueError):
    """The topics file is invalid."""


@dataclass(frozen=True)
class Topic:
    key: str
    label: str
    description: str
    min_score: int
    terms: dict[str, tuple[str, ...]]
    context: dict[str, tuple[str, ...]]
    exclude: dict[str, tuple[str, ...]]


@dataclass(frozen=True)
class TopicRules:
    path: Path
    title_weight: int
    max_hits_per_phrase: int
    topics: tuple[Topic, ...]

    def keys(self) -> tuple[str, ...]:
        return tuple(t.key for t in self.topics)


def normalise_token(text: str) -> str:
    """NFC, lower-case, ё→е: the same folding apply_topics.sql applies to article text."""
    return unicodedata.normalize("NFC", text).lower().replace("ё", "е")


def term_words(term: str) -> list[tuple[str, bool]]:
    """A term that is not `re:` -> its words as (literal, is_stem), as token text spells them."""
    # Token text turns every non-letter (apostrophes included) into a word break: so do we.
    words = [w for w in re.split(r"[^\w*]+", normalise_token(term)) if w]
    if not words:
        raise RulesError(f"empty term {term!r}")
    out = []
    for w in words:
        core = w.rstrip("*")
        if not core:
            raise RulesError(f"bare '*' in term {term!r}")
        out.append((core, w.endswith("*")))
    return out


def compile_term(term: str) -> str:
    """One term -> RE2 fragment over token text (words joined by runs of spaces)."""
    if term.startswith("re:"):
        return term[3:]
    # A stem continues to the end of the word. Token text holds only letters, digits and
    # spaces, so "not a space" is "a letter or digit" there.
    return " +".join(re.escape(core) + (r"[^ ]*" if stem else "")
                     for core, stem in term_words(term))


def alternatives(terms: tuple[str, ...]) -> list[tuple[str, str]]:
    """(compiled fragment, term) of each distinct fragment, in the order a rule's pattern
    tries them: longest first, then alphabetical (a fixed order, whatever the hash seed)."""
    first: dict[str, str] = {}
    for term in terms:
        first.setdefault(compile_term(term), term)
    return sorted(first.items(), key=lambda item: (-len(item[0]), item[0]))


def compile_pattern(terms: tuple[str, ...]) -> str:
    """All terms of one topic and kind -> one alternation; group 1 is the matched phrase.

    Token text surrounds every word with two spaces, so consuming one space on each side of
    a match leaves a space for the next match to start on. The pattern is stored in
    `topic_rule` for analysts; flows/stages/topic_match.py finds the same matches.
    """
    return " (" + "|".join(c for c, _term in alternatives(terms)) + ") "


def _terms(path: Path, topic: str, kind: str, raw: Any) -> dict[str, tuple[str, ...]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise RulesError(f"{path}: topics.{topic}.{kind}: expected a table of lang = [terms]")
    out: dict[str, tuple[str, ...]] = {}
    for lang, terms in raw.items():
        if lang not in ("en", "ru", "tg", "any"):
            raise RulesError(f"{path}: topics.{topic}.{kind}.{lang}: unknown language")
        if not isinstance(terms, list) or not all(isinstance(t, str) and t for t in terms):
            raise RulesError(f"{path}: topics.{topic}.{kind}.{lang}: expected a list of strings")
        for t in terms:
            if not t.startswith("re:"):
                if not all(_WORD.match(w) for w in t.split()):
                    raise RulesError(f"{path}: topics.{topic}.{kind}.{lang}: bad term {t!r}")
                compile_term(t)   # an empty word or a bare '*' raises; the rest is escaped
                continue
            # Only `re:` terms are compiled to check them: compiling every term cost 0.1 s
            # of every run (nine hundred patterns, more than the `re` module's cache keeps).
            try:
                re.compile(compile_term(t).replace(r"\pL", "a").replace(r"\pN", "0"))
            except re.error as exc:
                raise RulesError(f"{path}: topics.{topic}.{kind}.{lang}: {t!r}: {exc}") from exc
        out[lang] = tuple(terms)
    return out


def load_rules(path: Path) -> TopicRules:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RulesError(f"{path}: cannot read topic rules: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(f"{path}: invalid TOML: {exc}") from exc
    unknown = set(data) - {"defaults", "topics"}
    if unknown:
        raise RulesError(f"{path}: unknown top-level keys {sorted(unknown)}")
    defaults = data.get("defaults", {})
    bad = set(defaults) - {"min_score", "title_weight", "max_hits_per_phrase"}
    if bad:
        raise RulesError(f"{path}: defaults: unknown keys {sorted(bad)}")
    min_score = int(defaults.get("min_score", 3))
    topics: list[Topic] = []
    for key, table in (data.get("topics") or {}).items():
        if not re.match(r"^[a-z][a-z0-9_]+$", key) or not isinstance(table, dict):
            raise RulesError(f"{path}: topics.{key}: bad topic key or not a table")
        bad = set(table) - {"label", "description", "min_score", *KINDS}
        if bad:
            raise RulesError(f"{path}: topics.{key}: unknown keys {sorted(bad)}")
        terms = _terms(path, key, "terms", table.get("terms"))
        if not terms:
            raise RulesError(f"{path}: topics.{key}.terms: at least one term is required")
        score = table.get("min_score", min_score)
        if not isinstance(score, int) or score < 1:
            raise RulesError(f"{path}: topics.{key}.min_score: must be a positive integer")
        topics.append(Topic(
            key=key, label=str(table.get("label", key.replace("_", " ").capitalize())),
            description=str(table.get("description", "")), min_score=score, terms=terms,
            context=_terms(path, key, "context", table.get("context")),
            exclude=_terms(path, key, "exclude", table.get("exclude"))))
    if not topics:
        raise RulesError(f"{path}: no [topics.*] tables")
    return TopicRules(path=path, title_weight=int(defaults.get("title_weight", 3)),
                      max_hits_per_phrase=int(defaults.get("max_hits_per_phrase", 3)),
                      topics=tuple(topics))


@dataclass(frozen=True)
class RuleRow:
    """One row of the `topic_rule` table: a compiled pattern for one topic and kind."""

    topic: str
    kind: str
    pattern: str
    terms: tuple[str, ...]


def rule_rows(rules: TopicRules) -> list[RuleRow]:
    rows = []
    for t in rules.topics:
        for kind in KINDS:
            groups: dict[str, tuple[str, ...]] = getattr(t, kind)
            terms = tuple(term for lang_terms in groups.values() for term in lang_terms)
            if terms:
                rows.append(RuleRow(t.key, kind, compile_pattern(terms), terms))
    return rows


def rule_terms(rules: TopicRules) -> RuleTerms:
    """(topic, kind, terms) of every rule, in the order `topic_rule` is read back: what a
    worker needs to find the phrases."""
    return tuple(sorted((r.topic, r.kind, r.terms) for r in rule_rows(rules)))


def rule_terms_in(path: Path) -> RuleTerms:
    """`rule_terms` of a rules file, read once while it is unchanged (every outlet of a run
    asks; reading and checking the file costs ~0.1 s)."""
    stat = path.stat()
    return _rule_terms_in(path, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=4)
def _rule_terms_in(path: Path, _mtime_ns: int, _size: int) -> RuleTerms:
    return rule_terms(load_rules(path))

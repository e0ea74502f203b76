"""An article's topic-rule phrases, found where the article is built (a worker, in parallel).

Each rule (topic and kind) is an alternation of terms; DuckDB's RE2 used to run it as
`regexp_extract_all(token_text, pattern, 1)` with the pattern of `topics.compile_pattern`,
once per rule: 26 scans of every article's text, ~2.5 ms an article in the single writer.
Here one pass over the article's words finds the candidates of every rule (terms are whole
words and stems), and the few `re:` fragments run as regular expressions. The result is the
same list RE2 gives, phrase for phrase: leftmost match first, at one position the first
alternative of the compiled pattern, matches not overlapping (tests/test_topic_match.py
holds the two to each other on the labelled articles). The writer only scores the phrases
(warehouse/sql/apply_topics.sql).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

from flows.stages.headline import without_headline
from flows.stages.topics import RuleTerms, alternatives, normalise_token, term_words

# (topic, kind, part, phrase): one row of topic_match; part is "title" or "body", phrase is
# the matched token text (words separated by two spaces, as in the token text).
Hit = tuple[str, str, str, str]

_WORD = re.compile(r"[^\W_]+")     # a run of \pL or \pN
_HEAD = 3                           # stems are indexed by their first letters
_CACHE_WORDS = 200_000              # distinct words remembered per matcher


def token_words(text: str) -> list[str]:
    r"""The words of what warehouse SQL called token text (NFC, lower-case, ё→е, every run of
    characters that are not \pL or \pN replaced by two spaces, one space at each end)."""
    return _WORD.findall(normalise_token(text))


@dataclass(frozen=True)
class _Alt:
    """A compiled alternative made only of words; its first word is checked by the index."""

    rule: int
    order: int                               # its place in the rule's pattern
    rest: tuple[tuple[str, bool], ...]       # the words after the first: (literal, is_stem)


@dataclass
class _Group:
    """The alternatives that begin with one word (or stem), split by what follows it: those
    of one word, and the longer ones by their second word (exact, or a stem). Most words
    that begin longer alternatives are common ones (Tajik "ба" begins ~100 of them): the
    next word picks the few worth following instead of trying each."""

    single: list[_Alt] = field(default_factory=list)
    by_second: dict[str, list[_Alt]] = field(default_factory=dict)
    by_second_stem: dict[str, list[_Alt]] = field(default_factory=dict)

    def add(self, alt: _Alt) -> None:
        if not alt.rest:
            self.single.append(alt)
        else:
            second, stem = alt.rest[0]
            (self.by_second_stem if stem else self.by_second).setdefault(second, []).append(alt)


class TopicMatcher:
    """Built once per rule set and process (`matcher`): indexing ~950 terms costs more than
    matching one article."""

    def __init__(self, rules: RuleTerms) -> None:
        self.rules = [(topic, kind) for topic, kind, _terms in rules]
        # Alternatives by their first word: that word itself, or a stem — found by the
        # word's first _HEAD letters, grouped by stem (one startswith for all of a stem's
        # alternatives), or, shorter than _HEAD, by the stem itself.
        self.exact: dict[str, _Group] = {}
        self.heads: dict[str, dict[str, _Group]] = {}
        self.short: dict[str, _Group] = {}
        self.raw: list[tuple[int, int, Any]] = []   # (rule, order, regex.Pattern)
        for r, (_topic, _kind, terms) in enumerate(rules):
            for order, (compiled, term) in enumerate(alternatives(terms)):
                if term.startswith("re:"):
                    # `regex`, not `re`: it reads \pL and \pN as RE2 does. Imported here:
                    # a run that stores nothing never needs it.
                    import regex

                    self.raw.append((r, order, regex.compile(f" (?:{compiled}) ")))
                    continue
                (first, stem), *rest = term_words(term)
                alt = _Alt(r, order, tuple(rest))
                if not stem:
                    self.exact.setdefault(first, _Group()).add(alt)
                elif len(first) >= _HEAD:
                    self.heads.setdefault(first[:_HEAD], {}).setdefault(first, _Group()).add(alt)
                else:
                    self.short.setdefault(first, _Group()).add(alt)
        self.short_lengths = sorted({len(s) for s in self.short})
        # word -> the alternatives it begins (lists from the three indexes; () for most
        # words). Looking up each distinct word once instead of at every occurrence: 0.82 ->
        # 0.68 ms an article (an lru_cache costs 0.08 ms of that back in calls). Bounded,
        # since a long-running process meets new words for ever.
        self._cache: dict[str, tuple[_Group, ...]] = {}

    def _first_of(self, word: str) -> tuple[_Group, ...]:
        found = []
        if same := self.exact.get(word):
            found.append(same)
        if head := self.heads.get(word[:_HEAD]):
            found += [group for stem, group in head.items() if word.startswith(stem)]
        for n in self.short_lengths:
            if n <= len(word) and (stems := self.short.get(word[:n])):
                found.append(stems)
        if len(self._cache) >= _CACHE_WORDS:
            self._cache.clear()
        self._cache[word] = lists = tuple(found)
        return lists

    def hits(self, title: str | None, text: str) -> tuple[Hit, ...]:
        """The title's phrases and the body's; a body that begins with the headline (as
        extracted text often does) is matched without it, or a phrase of the headline would
        score as headline and body both."""
        return (*self.part_hits("title", title or ""),
                *self.part_hits("body", without_headline(title, text)))

    def part_hits(self, part: str, text: str) -> list[Hit]:
        # The token text, built from its words: the same words two spaces apart as SQL's,
        # without a leading run of spaces for leading punctuation (every match start moves
        # by the same amount; the phrases do not change).
        words = token_words(text)
        t = " " + "  ".join(words) + " "
        # Per rule: match start (the space before it) -> (alternative's order, end after the
        # one trailing space the pattern consumes).
        found: list[dict[int, tuple[int, int]]] = [{} for _ in self.rules]

        def keep(rule: int, start: int, order: int, end: int) -> None:
            """At one start, the rule's pattern takes its first alternative that matches."""
            best = found[rule].get(start)
            if best is None or order < best[0]:
                found[rule][start] = (order, end)

        last = len(words) - 1

        def follow(alts: list[_Alt], i: int, start: int, after: int) -> None:
            for alt in alts:
                end = self._end(alt, words, i, after)
                if end is not None:
                    keep(alt.rule, start, alt.order, end)

        def record(group: _Group, i: int, start: int, after: int) -> None:
            """`group` starts at word i (at `start`, its first word ending at `after`)."""
            for alt in group.single:
                keep(alt.rule, start, alt.order, after + 1)
            if i < last:
                second = words[i + 1]
                if alts := group.by_second.get(second):
                    follow(alts, i, start, after)
                for stem, alts in group.by_second_stem.items():
                    if second.startswith(stem):
                        follow(alts, i, start, after)

        # Only the words that begin an alternative are visited, found through a per-word
        # cache; word i ends at 1 + 2i + the length of words 0..i (two spaces between words).
        ends = list(accumulate(map(len, words)))
        cached = self._cache.get
        for i, word in enumerate(words):
            lists = cached(word)
            if lists is None:
                lists = self._first_of(word)
            if lists:
                after = 1 + 2 * i + ends[i]
                for group in lists:
                    record(group, i, after - len(word) - 1, after)
        for rule, order, pattern in self.raw:
            for m in pattern.finditer(t, overlapped=True):
                keep(rule, m.start(), order, m.end())
        out: list[Hit] = []
        for rule, starts in enumerate(found):
            position = 0
            for start in sorted(starts):
                if start >= position:   # RE2 goes on searching after the previous match
                    _order, end = starts[start]
                    out.append((*self.rules[rule], part, t[start + 1:end - 1]))
                    position = end
        return out

    @staticmethod
    def _end(alt: _Alt, words: list[str], i: int, after: int) -> int | None:
        """Where `alt` ends (past the one space after it) when its first word is word i,
        which ends at `after`; None when the words after it do not follow."""
        if i + 1 + len(alt.rest) > len(words):
            return None
        end = after
        for k, (literal, stem) in enumerate(alt.rest, i + 1):
            word = words[k]
            if not (word.startswith(literal) if stem else word == literal):
                return None
            end += 2 + len(word)
        return end + 1


@functools.lru_cache(maxsize=8)
def matcher(rules: RuleTerms) -> TopicMatcher:
    """One matcher per rule set and process: a worker builds it for its first article."""
    return TopicMatcher(rules)


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
from dataclasses import dataclass
from typing import Any

from flows.stages.topics import alternatives, normalise_token, term_words

# (topic, kind, part, phrase): one row of topic_match; part is "title" or "body", phrase is
# the matched token text (words separated by two spaces, as in the token text).
Hit = tuple[str, str, str, str]
# (topic, kind, terms) per rule, in a fixed order: what a worker needs to match (picklable).
RuleTerms = tuple[tuple[str, str, tuple[str, ...]], ...]

_NOT_WORD = re.compile(r"[\W_]+")   # a run of characters that are not \pL or \pN
_HEAD = 3                           # stems are indexed by their first letters


def token_text(text: str) -> str:
    """What warehouse SQL called token text: NFC, lower-case, ё→е, every run of non-letters
    replaced by two spaces, one space at each end."""
    return " " + _NOT_WORD.sub("  ", normalise_token(text)) + " "


@dataclass(frozen=True)
class _Alt:
    """A compiled alternative made only of words: (literal, is_stem) each."""

    rule: int
    order: int                               # its place in the rule's pattern
    words: tuple[tuple[str, bool], ...]


class TopicMatcher:
    def __init__(self, rules: RuleTerms) -> None:
        self.rules = [(topic, kind) for topic, kind, _terms in rules]
        self.exact: dict[str, list[_Alt]] = {}      # by the whole first word
        self.heads: dict[str, list[_Alt]] = {}      # stems by their first _HEAD letters
        self.short: dict[str, list[_Alt]] = {}      # stems shorter than that, by the stem
        self.raw: list[tuple[int, int, Any]] = []   # (rule, order, regex.Pattern)
        for r, (_topic, _kind, terms) in enumerate(rules):
            for order, (compiled, term) in enumerate(alternatives(terms)):
                if term.startswith("re:"):
                    # `regex`, not `re`: it reads \pL and \pN as RE2 does. Imported here:
                    # a run that stores nothing never needs it.
                    import regex

                    self.raw.append((r, order, regex.compile(f" (?:{compiled}) ")))
                    continue
                words = tuple(term_words(term))
                alt = _Alt(r, order, words)
                first, stem = words[0]
                if not stem:
                    self.exact.setdefault(first, []).append(alt)
                elif len(first) >= _HEAD:
                    self.heads.setdefault(first[:_HEAD], []).append(alt)
                else:
                    self.short.setdefault(first, []).append(alt)
        self.short_lengths = sorted({len(s) for s in self.short})

    def hits(self, title: str | None, text: str) -> tuple[Hit, ...]:
        return (*self.part_hits("title", title or ""), *self.part_hits("body", text))

    def part_hits(self, part: str, text: str) -> list[Hit]:
        t = token_text(text)
        words = t.split()
        # Per rule: match start (the space before it) -> (alternative's order, end after the
        # one trailing space the pattern consumes).
        found: list[dict[int, tuple[int, int]]] = [{} for _ in self.rules]

        def record(rule: int, start: int, order: int, end: int) -> None:
            best = found[rule].get(start)
            if best is None or order < best[0]:
                found[rule][start] = (order, end)

        offset = len(t) - len(t.lstrip(" "))   # words are separated by exactly two spaces
        exact, heads, short, lengths = self.exact.get, self.heads.get, self.short, \
            self.short_lengths
        for i, word in enumerate(words):
            same, head = exact(word), heads(word[:_HEAD])
            if same or head or lengths:   # most words start no term: nothing to do
                candidates = [*(same or ()), *(head or ())]
                for n in lengths:
                    candidates += short.get(word[:n], ())
                for alt in candidates:
                    end = self._end(alt, words, i, offset)
                    if end is not None:
                        record(alt.rule, offset - 1, alt.order, end)
            offset += len(word) + 2
        for rule, order, pattern in self.raw:
            for m in pattern.finditer(t, overlapped=True):
                record(rule, m.start(), order, m.end())
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
    def _end(alt: _Alt, words: list[str], i: int, offset: int) -> int | None:
        """Where `alt` ends when it starts at word i (at `offset`), or None."""
        if i + len(alt.words) > len(words):
            return None
        end = offset - 2
        for k, (literal, stem) in enumerate(alt.words):
            word = words[i + k]
            if not (word.startswith(literal) if stem else word == literal):
                return None
            end += len(word) + 2
        return end + 1   # past the last word and the one space after it


@functools.lru_cache(maxsize=8)
def matcher(rules: RuleTerms) -> TopicMatcher:
    """One matcher per rule set and process: a worker builds it for its first article."""
    return TopicMatcher(rules)


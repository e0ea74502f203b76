"""Extractors often keep an article's headline as the first line of its text. Where the
headline already counts on its own (a topic phrase in it scores 3, the digest shows it above
the snippet), that copy must not count a second time as body text."""

from __future__ import annotations


def headline_end(title: str | None, text: str) -> int:
    """Where the text's leading copy of its title ends, or 0 when the text does not begin with
    it: the title's words in order, in any case, with any whitespace between them, ending at
    the end of a word ("Patent" does not end inside "Patents")."""
    pos = 0
    for word in (title or "").split():
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if text[pos:pos + len(word)].lower() != word.lower():
            return 0
        pos += len(word)
    if pos < len(text) and (text[pos].isalnum() or text[pos] == "_"):
        return 0
    return pos


def without_headline(title: str | None, text: str) -> str:
    """The text after its leading copy of the title (all of it when there is none)."""
    return text[headline_end(title, text):]

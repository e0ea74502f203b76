"""Extracted page (or seed file) -> Article: language, fingerprint, LSH bands and figures.

This is the CPU-heavy part of ingest besides extraction; it needs no database, so it runs in
the fetching threads or the worker processes and the single writer only receives finished
Articles.
"""

from __future__ import annotations

import tomllib
import unicodedata
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

from flows.stages import dedup
from flows.stages.extract import parse_datetime, plausible
from flows.stages.figures import figures_of
from flows.stages.language import detect_language
from flows.stages.models import Article, Extracted, FeedItem, RawHtml
from flows.stages.topic_match import matcher
from flows.stages.topics import RuleTerms


def kept_html(body: bytes, keep: bool, max_bytes: int) -> RawHtml | None:
    """What `[storage]` keeps of a page: nothing when keep_raw_html is off; the bytes when
    they fit in raw_html_max_bytes; otherwise only the size, so the row says why."""
    if not keep:
        return None
    return RawHtml(len(body), body if len(body) <= max_bytes else None)


def language_of(title: str | None, text: str, hint: str | None) -> tuple[str, float]:
    """A page's language, read from its title and text together (a short text's title tips
    the balance); both NFC. `migwatch retag --language` calls it on stored articles."""
    return detect_language(f"{title or ''}\n{text}", hint)


def publication_time(extracted: Extracted, item: FeedItem | None = None) -> datetime | None:
    """The time the page states in its metadata (the outlet's own record, often to the
    second), else the date its feed or sitemap item gives, else htmldate's guess from the
    page's URL and markup. The guess comes last: it is a search, and an outlet's feed dates
    its items deliberately; a guess once outranked the feed with a footer's "© 2026", and the
    newest article was shown as of 1 January and sorted last in the digest. A page that
    states only its day (stored as midnight UTC) gives way to a feed time on that day."""
    stated, listed = extracted.published_at, item.published_at if item else None
    if listed is not None:
        listed = listed if listed.tzinfo else listed.replace(tzinfo=UTC)
        if not plausible(listed, datetime.now(UTC)):
            listed = None   # a feed's placeholder or typo ("0001-01-01", year 9999)
    if stated is not None and listed is not None and _date_only(stated) \
            and stated.date() in (listed.date(), listed.astimezone(UTC).date()):
        return listed   # the page gives the day (its own or UTC's), the feed the time
    return stated or listed or extracted.guessed_at


def _date_only(when: datetime) -> bool:
    """A stated date without a time of day, as `_meta_published` stores it: midnight UTC."""
    return when.utcoffset() == timedelta(0) and when.timetz().replace(tzinfo=None) == time(0)


def alternate_keys(found: tuple[tuple[str, str], ...], *own: str
                   ) -> tuple[tuple[str, str], ...]:
    """A page's declared language versions as canonical URLs (the form documents are stored
    and looked up by), without the article's own URLs (`own`: its canonical URL, which may
    differ from the page's URL the extractor compared — an AMP page, a declared canonical —
    and its feed link's), nor a URL twice."""
    out: list[tuple[str, str]] = []
    seen = set(own)
    for lang, url in found:
        key = dedup.canonical_url(url)
        if key not in seen:
            seen.add(key)
            out.append((lang, key))
    return tuple(out)


def build_article(source: str, url: str, extracted: Extracted, item: FeedItem | None = None,
                  hint: str | None = None, shingle_size: int = 4, is_seed: bool = False,
                  canonical: str | None = None, raw_html: RawHtml | None = None,
                  topics: RuleTerms = ()) -> Article:
    # NFC first: a Tajik ӣ or ӯ may arrive as a letter plus a combining mark.
    text = unicodedata.normalize("NFC", extracted.text)
    normalised = dedup.normalise_text(text)
    title = extracted.title or (item.title if item else None)
    title = unicodedata.normalize("NFC", title) if title else None
    lang, confidence = language_of(title, text, hint)
    canonical = canonical or dedup.canonical_url(url)
    return Article(
        source=source, url=url, canonical_url=canonical,
        title=title, author=extracted.author,
        published_at=publication_time(extracted, item),
        text=text, lang=lang, lang_confidence=confidence,
        text_hash=dedup.text_hash(normalised), n_words=len(text.split()),
        bands=dedup.text_bands(normalised, shingle_size),
        is_seed=is_seed, raw_html=raw_html,   # fetched_at: stamped by the writer
        figures=figures_of(title, text),
        topic_hits=matcher(topics).hits(title, text) if topics else None,
        alternates=alternate_keys(extracted.alternates, canonical,
                                   dedup.canonical_url(url)))


def seed_article(path: Path, shingle_size: int = 4) -> Article:
    """A seed file -> Article, titled and dated from `seeds.toml` beside it when listed."""
    text = path.read_text(encoding="utf-8").strip()
    meta_file = path.parent / "seeds.toml"
    meta = tomllib.loads(meta_file.read_text("utf-8")).get(path.stem, {}) \
        if meta_file.exists() else {}
    title = meta.get("title") or next(
        (ln.strip() for ln in text.splitlines() if ln.strip()), path.stem)[:160]
    published = parse_datetime(meta["published"]) if meta.get("published") else None
    return build_article("seed", f"seed:{path.stem}", Extracted(
        title=title, author=None, published_at=published, text=text),
        shingle_size=shingle_size, is_seed=True, canonical=f"seed:{path.stem}")

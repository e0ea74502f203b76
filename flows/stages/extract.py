"""(url, html) -> Extracted | None, with trafilatura.

Settings follow the shared extraction benchmark: `include_comments=False` scored best there
(F1 0.960), and reader comments are exactly the noise subscribers must not get.

Publication time comes from three places, and `build_article` ranks them: the time the page
states in its metadata (`published_at`), then the feed's or sitemap's date, then htmldate's
guess (`guessed_at`). The guess is kept apart because it is a search, not a statement: left to
its extensive search it reads dates out of the page's text, and a footer's "© 2026" came out
as 2026-01-01 and outranked the feed's real date.

What trafilatura reads of a page is bounded (`_within_budget`), because its cost is not linear
in the page: jusText's paragraph revision (its fallback when the main extractor finds little)
and libxml2's `//p//text()` grow with the square of the paragraphs. A 9 MB page, under the
fetch's `max_bytes`, of 110,000 short `<div><p>` blocks ran for more than 15 minutes. A page of
more than FULL_ELEMENTS elements is read without the jusText/readability fallbacks
(trafilatura's `fast`, which scores as well as the full cascade on the 181 pages of the shared
benchmark), and a page is read only as far as MAX_ELEMENTS elements or MAX_TEXT_CHARS
characters of text. The 181 real pages have at most 1,600 elements and the longest article
53,000 characters: they are all read whole, as before.

A page's language versions (`alternates`: `<link rel="alternate" hreflang>` in its head,
which Asia-Plus, CABAR.asia, Ozodi and Eurasianet declare) are read with a regular
expression over the head, as `_meta_published` reads its dates: trafilatura does not keep
them, and a second parse of the page, or handing trafilatura a tree it copies, costs
milliseconds where the scan costs microseconds (and nothing on a page that has none).
"""

from __future__ import annotations

import html as htmllib
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any
from urllib.parse import urljoin, urlsplit

import trafilatura
from lxml.html import HtmlElement
from trafilatura.utils import load_html

from flows.stages.dedup import canonical_url
from flows.stages.models import Extracted

MIN_WORDS = 40
# A page published "later today" in a time zone east of UTC, or a date read as midnight UTC,
# may lie some hours ahead of the clock; more than this cannot be a publication time yet.
FUTURE_TOLERANCE = timedelta(days=1)
# Before this, a stated time is a placeholder: .NET's DateTime.MinValue ("0001-01-01T00:00:00Z",
# in the JSON-LD of 5 of the 181 benchmark pages), SQL's 1900-01-01, the Unix epoch.
EARLIEST = datetime(1970, 1, 2, tzinfo=UTC)
_PUBLISHED_META = re.compile(
    r"""<meta[^>]+(?:property|name|itemprop)\s*=\s*["'](?:article:published_time|"""
    r"""datePublished|pubdate|publish[-_]date|date)["'][^>]*>""", re.I)
_CONTENT = re.compile(r"""content\s*=\s*["']([^"']+)["']""", re.I)
_JSON_LD_PUBLISHED = re.compile(r'"datePublished"\s*:\s*"([^"]{8,40})"')
_HAS_TIME = re.compile(r"\d[T ]\d\d:\d\d")
# Elements (lxml's parser drops comments) above which the fallbacks are skipped: a page of this
# many short paragraphs takes about 5 s of CPU in the full cascade, twice as many 19 s.
FULL_ELEMENTS = 5_000
# How far a page is read at most: in fast mode, 1.5-3.5 s of CPU for any page up to 10 MB.
MAX_ELEMENTS = 30_000
MAX_TEXT_CHARS = 1_000_000          # text between the tags, not counting scripts and styles
_NOT_TEXT = frozenset({"script", "style", "noscript", "template"})
_MAX_RESCUED = 50                   # metadata elements kept from the part of a page not read
NO_ARTICLE_TEXT = "no article text found on the page"
# Language versions kept per page: the outlets watched have two or three; a page listing a
# site's every edition, or junk repeated, gives no more than this.
MAX_ALTERNATES = 20
# <link hreflang> tags looked at per page, kept or not: bounds the scan of a junk-filled head.
MAX_ALTERNATE_TAGS = 200
MAX_URL_CHARS = 2048
# Python's case-insensitive search is slow on long text (1 ms a page for "hreflang" alone): a
# literal "<" first, and the spellings generators write looked for with str.find.
_LINK_TAG = re.compile(r"<(?i:link\b)[^>]*>")
_HREFLANG = ("hreflang", "hrefLang", "HREFLANG")
_ATTR = re.compile(r"""([a-z][-a-z0-9_:.]*)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'<>`]+))""",
                   re.I)
_LANG_TAG = re.compile(r"^[a-z]{2,3}(?:-[a-z0-9]{1,8})*$")
_HEAD_END = re.compile(r"</head\s*>|<body[\s>]", re.I)
_CANONICAL_LINK = re.compile(r"""<link\b[^>]*\brel\s*=\s*["']?canonical\b""", re.I)


def plausible(when: datetime, now: datetime) -> bool:
    """Neither a placeholder from before EARLIEST nor later than now + FUTURE_TOLERANCE."""
    return EARLIEST <= when <= now + FUTURE_TOLERANCE


def _meta_published(html: str, now: datetime | None = None) -> datetime | None:
    """The publication time the page states in its meta tags or JSON-LD (`datePublished`):
    trafilatura keeps only the date part. Of several, the most precise: a time with its UTC
    offset, then a time (read as UTC), then a date; the first of equals, meta tags first. A
    page's meta tag often gives local time without an offset while its JSON-LD gives the
    offset, and a date alone stored as midnight UTC may fall on the day before. Placeholders
    and times in the future (see `plausible`) are passed over."""
    now = now or datetime.now(UTC)
    head = html[:200_000]
    found = [m.group(1) for tag in _PUBLISHED_META.findall(head)
             if (m := _CONTENT.search(tag))]
    found += _JSON_LD_PUBLISHED.findall(head)
    best: tuple[int, datetime] | None = None
    for value in found:
        parsed = _stated(value)
        if parsed is None:
            continue
        when = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        if not plausible(when, now):
            continue
        rank = 0 if not _HAS_TIME.search(value) else 2 if parsed.tzinfo else 1
        if best is None or rank > best[0]:
            best = (rank, when)
    return best[1] if best else None


def alternates(url: str, html: str, own: str | None = None) -> tuple[tuple[str, str], ...]:
    """The page's declared language versions: (language tag, absolute URL) of each `<link
    rel="alternate" hreflang="..." href="...">` in its head, relative hrefs resolved against
    `url`, in the order declared. Left out: `x-default` (a chooser, not a version), the page
    itself (`url` or its declared canonical `own`, compared as canonical URLs), a tag that is
    no language, a missing or unusable href (not http(s), no host, no valid URL, longer than
    MAX_URL_CHARS), and a URL already given; at most MAX_ALTERNATES. `<base href>` is not
    honoured: the outlets watched write absolute hrefs or root-relative ones."""
    return _versions(url, html, own)[0]


def _versions(url: str, html: str, own: str | None) -> tuple[tuple[tuple[str, str], ...],
                                                             frozenset[str]]:
    """`alternates`, and the canonical URLs the page names x-default."""
    head = html[:200_000]
    end = _HEAD_END.search(head)
    if end is not None:
        head = head[:end.start()]
    if not any(spelt in head for spelt in _HREFLANG):
        return (), frozenset()
    mine = {canonical_url(url)} | ({canonical_url(urljoin(url, own))} if own else set())
    found: list[tuple[str, str]] = []
    seen: set[str] = set()
    defaults: set[str] = set()
    tags = (t for m in _LINK_TAG.finditer(head) if "hreflang" in (t := m.group(0)).lower())
    for tag in islice(tags, MAX_ALTERNATE_TAGS):
        attrs = {m.group(1).lower(): m.group(2) if m.group(2) is not None else
                 m.group(3) if m.group(3) is not None else m.group(4)
                 for m in _ATTR.finditer(tag)}
        if "alternate" not in (attrs.get("rel") or "").lower().split():
            continue
        lang = (attrs.get("hreflang") or "").strip().lower().replace("_", "-")
        href = htmllib.unescape(attrs.get("href") or "").strip()
        if not (_LANG_TAG.match(lang) or lang == "x-default") or not href \
                or len(href) > MAX_URL_CHARS:
            continue
        try:
            target = urljoin(url, href)
            parts = urlsplit(target)
            ok = parts.scheme in ("http", "https") and bool(parts.hostname)
            parts.port  # noqa: B018 - raises ValueError for a port out of range
        except ValueError:
            continue
        key = canonical_url(target)
        if lang == "x-default":
            defaults.add(key)
            continue
        if not ok or key in mine or key in seen or len(found) >= MAX_ALTERNATES:
            continue
        seen.add(key)
        found.append((lang, target))
    return tuple(found), frozenset(defaults)


def _declared_url(url: str, html: str, found: str | None, defaults: frozenset[str]
                  ) -> str | None:
    """trafilatura's URL of the page, unless it took it from `<link hreflang="x-default">`
    (its fallback when a page has no `<link rel="canonical">`): that is the language chooser
    every version of a story names, and as their canonical URL the second version stored
    would be dropped as a URL copy of the first."""
    if not found or canonical_url(urljoin(url, found)) not in defaults:
        return found
    return found if _CANONICAL_LINK.search(html[:200_000]) else None


def _guessed(value: str | None, now: datetime | None = None) -> datetime | None:
    """htmldate's date (YYYY-MM-DD) when it can be trusted as a last resort. Not January 1st:
    that is how a bare year comes out ("© 2026" -> 2026-01-01), and a page with no better date
    than that is better undated ("date unknown" in the digest) than shown as the oldest of the
    year. A real New Year's Day article loses only this last resort."""
    parsed = parse_datetime(value)
    if parsed is None or (parsed.month, parsed.day) == (1, 1):
        return None
    return parsed if plausible(parsed, now or datetime.now(UTC)) else None


def _stated(value: str) -> datetime | None:
    """An ISO date or time as written: naive when it states no offset."""
    try:
        return datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None


def parse_datetime(value: str | None) -> datetime | None:
    """An ISO date or time; one that states no offset is read as UTC."""
    parsed = _stated(value) if value else None
    if parsed is None:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _date_params() -> dict[str, Any]:
    """htmldate's more reliable places: the URL, meta tags, JSON-LD, <time>/<abbr> elements,
    elements marked as a date or byline, and at last a date written as YYYY-MM-DD. Its
    extensive search (trafilatura's default) goes on to any date in the text, however written
    (a reader's comment, a date the article mentions, a footer's copyright year as January
    1st); `original_date` prefers the publication date to a later modification. A new dict
    each call: trafilatura keeps it in its options."""
    return {"extensive_search": False, "original_date": True}


def _following(elem: HtmlElement) -> Iterator[HtmlElement]:
    """What comes after `elem` and its descendants in document order, as whole subtrees."""
    yield from elem.itersiblings()
    for ancestor in elem.iterancestors():
        yield from ancestor.itersiblings()


def _within_budget(tree: HtmlElement) -> tuple[int, str | None]:
    """Cut `tree` in place after MAX_ELEMENTS elements or MAX_TEXT_CHARS characters of text,
    in document order: the <head> comes first and the article near the top of the <body>. A
    few JSON-LD scripts and <meta> elements of the part cut off (structured data often closes
    the body) move into the <head>. Returns the elements kept and, for a page cut, how far it
    was read."""
    elements = chars = kept = 0
    cut: HtmlElement | None = None
    whole = True                        # the element at the cut goes too, not only what follows
    for elem in tree.iter():
        elements += 1
        if cut is not None:
            continue
        text = "" if elem.tag in _NOT_TEXT else elem.text or ""
        tail = elem.tail or ""
        if elements > MAX_ELEMENTS:
            cut, kept = elem, elements - 1
        elif chars + len(text) + len(tail) > MAX_TEXT_CHARS:
            room = MAX_TEXT_CHARS - chars
            if text:
                elem.text = text[:room]
            elem.tail = tail[:max(room - len(text), 0)] or None
            cut, kept, whole = elem, elements, False
        chars += len(text) + len(tail)
    if cut is None:
        return elements, None
    doomed = [cut] if whole else list(cut)
    doomed += _following(cut)
    rescued = list(islice((m for d in doomed for m in d.iter("meta", "script") if m.tag == "meta"
                           or (m.get("type") or "").lower() == "application/ld+json"),
                          _MAX_RESCUED))
    for subtree in doomed:
        parent = subtree.getparent()
        if parent is not None:
            parent.remove(subtree)      # with its tail: the text after it is cut off too
    head = tree.find("head")
    if head is None:
        head = tree.makeelement("head", {})
        tree.insert(0, head)
    for meta in rescued:
        meta.tail = None
        head.append(meta)
    read = (f"the first {kept:,} of the page's {elements:,} elements" if whole else
            f"the first {MAX_TEXT_CHARS:,} characters of the page's text")
    return kept, read


def extract(url: str, html: str, *, now: datetime | None = None) -> Extracted | None:
    """None when the page holds no article text worth storing (an index page, a stub).
    `now` (default: the clock) bounds the publication times believed."""
    found = extract_or_reason(url, html, now=now)
    return found if isinstance(found, Extracted) else None


def extract_or_reason(url: str, html: str, *, now: datetime | None = None) -> Extracted | str:
    """As `extract`, with the reason a page has no article: of a page too large to read whole
    it says how far it was read (`Built.rejected`, remembered in rejected_url)."""
    page: str | HtmlElement = html
    kept, read = 0, None
    # Fewer elements than "<" and less text than characters: read whole, with no tree to count
    # (the 181 benchmark pages all pass; counting and trafilatura's copy of a tree cost ~3 ms).
    if html.count("<") > FULL_ELEMENTS or len(html) > MAX_TEXT_CHARS:
        if (tree := load_html(html)) is None:
            return NO_ARTICLE_TEXT
        page = tree
        kept, read = _within_budget(tree)
    doc = trafilatura.bare_extraction(page, url=url, fast=kept > FULL_ELEMENTS,
                                      with_metadata=True, include_comments=False,
                                      include_tables=False,
                                      date_extraction_params=_date_params())
    data = {} if doc is None else doc.as_dict() if hasattr(doc, "as_dict") else dict(doc)
    text = (data.get("text") or "").strip()
    if len(text.split()) < MIN_WORDS:
        return NO_ARTICLE_TEXT if read is None else f"no article text found in {read}"
    versions, defaults = _versions(url, html, data.get("url") or None)
    return Extracted(
        title=(data.get("title") or None),
        author=(data.get("author") or None),
        published_at=_meta_published(html, now),
        text=text,
        canonical_url=_declared_url(url, html, data.get("url") or None, defaults),
        guessed_at=_guessed(data.get("date"), now),
        alternates=versions,
    )

"""Feed, sitemap or listing-page bytes -> the article links they announce.

Feeds are parsed by feedparser, after defusedxml has checked that the bytes declare no
entities and reference nothing external (billion laughs, XXE); sitemaps by defusedxml itself;
listing pages by lxml's HTML parser. Nothing here touches the network. feedparser, lxml.html
and the date parser (trafilatura's module) are imported by the function that needs them: a
run whose feeds all answer 304 parses nothing and needs none of them.

Nothing a document contains makes these raise. A link that is no URL at all (`http://[oops`,
a port out of range) is passed on as written, resolved against nothing, for the harvest to
drop with one fetch-log row (`link_problem`); a feed or sitemap whose XML declaration names
an encoding that cannot read it (unknown to Python, `punycode`, or simply wrong) is read as
when it declares none (`readable_xml`).
"""

from __future__ import annotations

import calendar
import re
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit
from xml.etree.ElementTree import ParseError

import defusedxml.ElementTree as safe_et
from defusedxml import DefusedXmlException

from flows.stages.charset import charset_codec, decode
from flows.stages.models import FeedItem

if TYPE_CHECKING:
    import feedparser


def link_problem(url: str) -> str | None:
    """Why a link a feed, sitemap or listing page gave is no URL at all, or None: one urllib
    cannot read (an unclosed `[`: "Invalid IPv6 URL"), or whose port is no number 1-65535.
    Such a link can be neither known (its canonical URL) nor fetched; discovery drops it.
    A well-formed link that cannot be fetched (not http(s), a private address, a host that
    does not resolve) is not a problem here: fetching it says why, once."""
    try:
        port = urlsplit(url).port
    except ValueError as exc:
        return str(exc) or type(exc).__name__
    return "port 0" if port == 0 else None


def _absolute(base: str, link: str) -> str:
    """`link` resolved against the document's URL; a link that is no URL stays as written
    (`link_problem` names its fault)."""
    try:
        return urljoin(base, link)
    except ValueError:
        return link


_XML_DECLARATION = re.compile(
    rb"""^(\xef\xbb\xbf)?(\s*<\?xml[^>]*?\bencoding\s*=\s*)(["'])([^"'>]*)\3""")


def readable_xml(body: bytes) -> bytes:
    """The bytes of a feed or sitemap, made readable when their XML declaration names an
    encoding that cannot read them: one Python does not know (parsers raise LookupError),
    one that is no charset (`punycode`), or one that fails on these bytes. Those are decoded
    as a page declaring nothing is (flows/stages/charset.py: UTF-8, then windows-1251 or
    KOI8-R) and handed over as UTF-8, the declaration saying so. Bytes whose declaration
    reads them (or that have none) come back as they are."""
    m = _XML_DECLARATION.match(body)
    if not m:
        return body
    label = m.group(4).decode("ascii", errors="replace").strip()
    codec = charset_codec(label, in_document=True)
    if codec == "utf-8":
        return body       # the parsers' own case: broken bytes are theirs to report
    if codec is not None:
        try:
            body.decode(codec)
            return body
        except (LookupError, ValueError):
            pass
    text = decode(body[m.end():], None)
    return m.group(2) + m.group(3) + b"utf-8" + m.group(3) + text.encode("utf-8")


@dataclass(frozen=True)
class FeedParse:
    items: tuple[FeedItem, ...]
    error: str | None = None


def _when(entry: feedparser.FeedParserDict) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if value:
            return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    return None


def parse_feed(body: bytes, feed_url: str) -> FeedParse:
    """Parse RSS 0.9x/1.0/2.0 or Atom; a feed that yields nothing usable is an error value.

    feedparser tolerates small faults (the `bozo` flag); we keep whatever entries it
    recovered and report a feed as broken only when it recovered none.
    """
    import feedparser

    body = readable_xml(body)
    unsafe = xml_refusal(body)
    if unsafe:
        return FeedParse((), unsafe)
    parsed = feedparser.parse(body, sanitize_html=True, resolve_relative_uris=True)
    items: list[FeedItem] = []
    seen: set[str] = set()
    for entry in parsed.entries:
        link = entry.get("link") or ""
        if not link:
            for alt in entry.get("links", []):
                if alt.get("rel", "alternate") == "alternate" and alt.get("href"):
                    link = alt["href"]
                    break
        if not link:
            continue
        link = _absolute(feed_url, link.strip())
        if link in seen:
            continue
        seen.add(link)
        items.append(FeedItem(url=link, title=(entry.get("title") or None),
                              published_at=_when(entry), summary=entry.get("summary") or None))
    if not items:
        if parsed.get("bozo"):
            exc = parsed.get("bozo_exception")
            return FeedParse((), f"malformed feed: {type(exc).__name__}: {exc}")
        if not parsed.get("version"):
            return FeedParse((), "not an RSS or Atom feed")
    return FeedParse(tuple(items))


def xml_refusal(body: bytes) -> str | None:
    """Why these XML bytes must not be parsed (entities, external references), or None.

    Malformed XML is not refused here: feedparser recovers what it can from it.
    """
    try:
        safe_et.fromstring(body, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        return f"refused: the XML declares entities or external references ({exc})"
    except (ParseError, ValueError, LookupError):   # LookupError: an unknown encoding
        return None
    return None


@dataclass(frozen=True)
class SitemapParse:
    items: tuple[FeedItem, ...] = ()
    # Sitemaps listed by a sitemap index: the newest by their <lastmod> first, then the
    # undated ones, numbered archives highest first (`_undated_order`): the order
    # `[fetch] max_sitemaps` takes them in (flows/stages/rotation.py: the undated beyond
    # their first few take turns).
    children: tuple[str, ...] = ()
    error: str | None = None
    dated: int = 0     # how many of `children` (the first) had a <lastmod>


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse_sitemap(body: bytes, sitemap_url: str, max_bytes: int = 50_000_000,
                  since: datetime | None = None) -> SitemapParse:
    """A sitemap (or news sitemap, or gzipped one) -> its URLs; an index -> its sitemaps,
    newest first (`SitemapParse.children`).

    Entries whose lastmod/publication date is before `since` are dropped (the lookback).
    """
    from flows.stages.extract import parse_datetime

    if body.startswith(b"\x1f\x8b"):
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            body = inflater.decompress(body, max_bytes + 1)
        except zlib.error as exc:
            return SitemapParse(error=f"corrupt gzip sitemap: {exc}")
        if len(body) > max_bytes:
            return SitemapParse(error=f"sitemap inflates to more than {max_bytes} bytes")
    try:
        root = safe_et.fromstring(readable_xml(body), forbid_dtd=True)
    except DefusedXmlException as exc:
        return SitemapParse(error=f"refused: the sitemap declares a DTD or entities ({exc})")
    except (ParseError, ValueError, LookupError) as exc:
        return SitemapParse(error=f"malformed sitemap: {exc}")
    kind = _local(root.tag)
    if kind not in ("urlset", "sitemapindex"):
        return SitemapParse(error=f"not a sitemap (root element <{kind}>)")
    items: list[FeedItem] = []
    children: list[tuple[datetime | None, str]] = []
    for entry in root:
        fields: dict[str, str] = {}
        for el in entry.iter():
            name = _local(el.tag)
            if el.text and el.text.strip() and name not in fields:
                fields[name] = el.text.strip()
        loc = fields.get("loc")
        if not loc:
            continue
        loc = _absolute(sitemap_url, loc)
        if kind == "sitemapindex":
            children.append((parse_datetime(fields.get("lastmod")), loc))
            continue
        when = parse_datetime(fields.get("publication_date") or fields.get("lastmod"))
        if since and when and when < since:
            continue
        items.append(FeedItem(url=loc, title=fields.get("title"), published_at=when))
    return SitemapParse(tuple(items), tuple(_newest_first(children)),
                        dated=sum(when is not None for when, _url in children))


_NUMBER = re.compile(r"\d+")


def _newest_first(dated: list[tuple[datetime | None, str]]) -> list[str]:
    """The dated ones newest first, then the undated ones by `_undated_order`."""
    def key(k: int) -> tuple[float, int]:
        when = dated[k][0]
        assert when is not None
        return (-(when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp(), k)

    known = sorted((k for k, (when, _url) in enumerate(dated) if when is not None), key=key)
    return [dated[k][1] for k in known] + _undated_order(
        [url for when, url in dated if when is None])


def _undated_order(urls: list[str]) -> list[str]:
    """Undated sitemaps that differ only in their numbers (`wp-sitemap-posts-post-1.xml` …
    `-120.xml`, `sitemap-2026-11.xml`, `sitemap-2026-12.xml`) highest numbers first, each
    such family where its first member is listed; any other sitemap in the order listed.

    Such numbers count pages of an archive or its months, and an index lists them oldest
    first as often as not (WordPress's own sitemaps do): new articles land in the highest.
    Taken in the order listed, `[fetch] max_sitemaps` then kept an outlet of 120 such
    sitemaps on its oldest 50, every run, and its new articles were never read."""
    families: dict[str, list[str]] = {}
    for url in urls:
        families.setdefault(_NUMBER.sub("#", url), []).append(url)
    return [url for members in families.values()   # sorted() is stable: ties as listed
            for url in sorted(members, key=lambda u: [-int(n) for n in _NUMBER.findall(u)])]


_SCHEME = re.compile(r"^https?:", re.I)   # as urlsplit reads it, and for a link it cannot


def parse_listing(html: str, page_url: str, pattern: str) -> tuple[FeedItem, ...]:
    """Links on an HTML listing page whose absolute URL matches `pattern`, in page order."""
    import lxml.etree
    import lxml.html

    try:
        doc = lxml.html.document_fromstring(html)
    except (ValueError, lxml.etree.ParserError):
        return ()
    rx = re.compile(pattern)
    seen: set[str] = set()
    out: list[FeedItem] = []
    for a in doc.iter("a"):
        href = (a.get("href") or "").strip()
        if not href:
            continue
        url = _absolute(page_url, href).split("#", 1)[0]
        if _SCHEME.match(url) is None or url in seen or not rx.search(url):
            continue
        seen.add(url)
        title = " ".join(a.text_content().split()) or None
        out.append(FeedItem(url=url, title=title))
    return tuple(out)

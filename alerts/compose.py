"""Rows -> Digest -> email message. Pure: no database, no network.

Each article appears once, under its highest-scoring topic; its other topics are listed on the
item. A topic lists at most `max_per_topic` articles, newest first, and says how many more it
had ("and 3 more on Entry bans"): the digest stays short and nothing is left out unsaid.
Titles and snippets come from the web and are untrusted: the HTML template autoescapes them
(the highlighted evidence is a list of text segments, escaped one by one), and header values
are stripped of line breaks. Chat text is built in alerts/chat.py.

Dates are shown in the digest's time zone (`build_digest(tz=...)`: the operator's
`[schedule] timezone`, which is also their readers'), an article's date as the day it was
published there; in UTC, the default, each date says "UTC". The header chart counts stories
per day of `chart_tz` (the zone its counts were made in: UTC, as warehouse/sql/digest_daily.sql
counts them), and its caption names that zone when it is UTC or not the items' zone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape

from flows.stages.headline import headline_end
from flows.subscribers import ascii_address

TEMPLATES = Path(__file__).resolve().parent / "templates"
LANG_NAMES = {"en": "English", "ru": "Russian", "tg": "Tajik", "und": "undetermined"}
_env = Environment(loader=FileSystemLoader(TEMPLATES),
                   autoescape=select_autoescape(["html", "j2"], default=True),
                   trim_blocks=True, lstrip_blocks=True)


def safe_url(url: str) -> str:
    """Only http(s) links are clickable (no javascript:, data:); anything else becomes '#'."""
    return url if re.match(r"^https?://[^\s\"'<>]+$", url or "") else "#"


_env.filters["safe_url"] = safe_url
_text_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=False,
                        trim_blocks=True, lstrip_blocks=True)

# Names of UTC in the IANA database: a date in one of these is marked "UTC".
UTC_NAMES = frozenset({"utc", "etc/utc", "uct", "etc/uct", "universal", "etc/universal",
                       "zulu", "etc/zulu", "gmt", "etc/gmt", "gmt0", "etc/gmt0", "greenwich",
                       "etc/greenwich", "etc/gmt+0", "etc/gmt-0"})


def zone(name: str | tzinfo | None) -> tzinfo:
    """A time zone from its IANA name ("Asia/Dushanbe"); None or "UTC": UTC."""
    if name is None or isinstance(name, tzinfo):
        return name or UTC
    return UTC if name.lower() in UTC_NAMES else ZoneInfo(name)


def zone_name(tz: tzinfo) -> str:
    """"UTC", or the IANA name of the zone ("Asia/Dushanbe")."""
    if tz is UTC or str(tz).lower() in UTC_NAMES:
        return "UTC"
    return getattr(tz, "key", None) or str(tz)


def local(moment: datetime, tz: tzinfo) -> datetime:
    """`moment` in `tz`; a naive datetime is taken as UTC (as the warehouse stores it)."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(tz)


@dataclass(frozen=True)
class OtherVersion:
    """The story in another language: the first report in it (its link and outlet)."""

    lang: str
    url: str
    outlet: str

    @property
    def language(self) -> str:
        return LANG_NAMES.get(self.lang, self.lang)


@dataclass(frozen=True)
class DigestItem:
    article_id: int
    title: str
    url: str
    source: str
    outlet: str
    published_at: datetime | None
    lang: str
    snippet: str
    topics: tuple[str, ...]
    evidence: tuple[str, ...]
    also_reported_by: tuple[str, ...]
    highlighted: tuple[tuple[str, bool], ...] = ()   # snippet as (text, is_evidence) segments
    topic_labels: tuple[str, ...] = ()
    tz: tzinfo = UTC                                 # the zone its date is shown in
    also_in: tuple[OtherVersion, ...] = ()           # the story in other languages

    @property
    def language(self) -> str:
        return LANG_NAMES.get(self.lang, self.lang)

    @property
    def date(self) -> str:
        """The day of publication in the digest's zone ("07 Dec 2026"), marked "UTC" in UTC
        (a reader would otherwise take it for their own day)."""
        if not self.published_at:
            return "date unknown"
        day = local(self.published_at, self.tz).strftime("%d %b %Y")
        return f"{day} UTC" if zone_name(self.tz) == "UTC" else day


@dataclass(frozen=True)
class Section:
    topic: str
    label: str
    items: tuple[DigestItem, ...]
    more: int = 0              # new articles of this topic over the cap, not listed

    @property
    def total(self) -> int:
        return len(self.items) + self.more


@dataclass(frozen=True)
class ChartRow:
    topic: str
    label: str
    counts: tuple[int, ...]    # articles per day, oldest first, the last is today

    @property
    def bars(self) -> list[tuple[int, str, int]]:
        """(height px, colour, count) per day, scaled to the row's busiest day."""
        top = max(self.counts) or 1
        return [(max(2, round(22 * n / top)) if n else 2, "#3d6e9c" if n else "#dfe6ee", n)
                for n in self.counts]


@dataclass(frozen=True)
class Digest:
    recipient: str
    created_at: datetime
    sections: tuple[Section, ...]
    subscriber: str = ""
    cadence: str = "daily"
    chart: tuple[ChartRow, ...] = ()
    tz: tzinfo = UTC             # the zone dates are shown in
    chart_tz: tzinfo = UTC       # the zone whose days the chart's counts are

    @property
    def date(self) -> str:
        """The digest's day in its zone, for its header."""
        return local(self.created_at, self.tz).strftime("%d %b %Y")

    @property
    def zone(self) -> str:
        return zone_name(self.tz)

    @property
    def chart_days(self) -> str:
        """The chart's caption: its days named by zone when they are not the items' zone,
        or when that is UTC."""
        chart = zone_name(self.chart_tz)
        if chart == "UTC" or chart != self.zone:
            return f"Articles per day, last 14 days ({chart} days)"
        return "Articles per day, last 14 days"

    @property
    def items(self) -> list[DigestItem]:
        return [item for s in self.sections for item in s.items]

    @property
    def total(self) -> int:
        """New articles, listed or counted in an "and N more" line."""
        return sum(s.total for s in self.sections)


def snippet(text: str, limit: int = 240) -> str:
    flat = re.sub(r"\s+", " ", text).strip()
    if len(flat) <= limit:
        return flat
    cut = flat[:limit].rsplit(" ", 1)[0]
    return cut.rstrip(",;:-–—") + "…"


def _evidence_regex(evidence: Iterable[str]) -> re.Pattern[str] | None:
    """Topic-rule phrases (`entry ban*`) -> one case-insensitive regex over article text."""
    alts = []
    for phrase in evidence:
        if phrase.startswith("re:"):
            continue
        words = [w for w in re.split(r"[^\w*]+", phrase.lower()) if w.strip("*")]
        if words:
            alts.append(r"[\W_]+".join(re.escape(w.rstrip("*")).replace("е", "[её]")
                                        + (r"\w*" if w.endswith("*") else "") for w in words))
    if not alts:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(sorted(alts, key=len, reverse=True)) + r")(?!\w)",
                      re.IGNORECASE)


def highlight(text: str, evidence: Iterable[str], limit: int = 220
              ) -> tuple[tuple[str, bool], ...]:
    """About two lines of `text` around the first evidence match, as (segment, is_match)."""
    flat = re.sub(r"\s+", " ", text).strip()
    pattern = _evidence_regex(evidence)
    first = pattern.search(flat) if pattern else None
    start = 0
    if first and first.start() > limit // 3:
        start = flat.rfind(" ", 0, first.start() - limit // 4) + 1
    window = snippet(flat[start:], limit)
    if start:
        window = "…" + window
    if not pattern:
        return ((window, False),)
    parts: list[tuple[str, bool]] = []
    pos = 0
    for m in pattern.finditer(window):
        if m.start() > pos:
            parts.append((window[pos:m.start()], False))
        parts.append((m.group(0), True))
        pos = m.end()
    if pos < len(window):
        parts.append((window[pos:], False))
    return tuple(parts)


# A credit or caption that pages put above the article: "Photo: Reuters/…", "Фото: …",
# "Сурат: …" (Tajik), "Source: …", "© AP". PICTURE kinds only ever caption a picture; the
# others ("Source: the ministry said…") may begin a real sentence.
_PICTURE = r"photo|image|picture|illustration|фото|иллюстрация|сурат|акс|сурати"
_CREDIT = re.compile(rf"\s*(?:(?P<picture>(?:{_PICTURE})\s*:|©|\(c\))"
                     r"|(?:source|credit|источник|манбаъ)\s*:)", re.IGNORECASE)
CREDIT_MAX = 120    # characters: a credit line is short


def credit_end(title: str | None, text: str) -> int:
    """Where a credit or caption at the start of `text` ends, with the copy of the title that
    follows it if any; 0 when there is none. Taken only when the title follows it within
    CREDIT_MAX characters or, for a picture's caption ("Photo:", "©"), when it is a line of
    its own that short; a real first sentence ("Source: the ministry said…") is kept."""
    m = _CREDIT.match(text)
    if not m:
        return 0
    head = text[:m.end() + CREDIT_MAX]
    reach = 2 * len(title or "") + 50      # room for the title's copy, however spaced
    for p in range(m.end(), len(head)):
        if text[p].isspace() and not text[p - 1].isspace():
            end = headline_end(title, text[p:p + reach])
            if end:
                return p + end
    line = text.find("\n", m.end())
    if m.group("picture") and 0 < line < len(head) and text[m.end():line].strip():
        return line
    return 0


def body_text(title: str | None, text: str) -> str:
    """The article text without a leading copy of its title (extractors often keep it), nor
    a photo credit or caption in front of that copy, unless little else would be left for a
    snippet."""
    end = headline_end(title, text)
    end += credit_end(title, text[end:])
    rest = re.sub(r"\s+", " ", text[end:]).strip().lstrip(" .:—-")
    return rest if end and len(rest) > 40 else re.sub(r"\s+", " ", text).strip()


def one_line(value: str) -> str:
    """For headers and plain text: no CR/LF or control characters (no header injection)."""
    return re.sub(r"[\x00-\x1f\x7f]+", " ", value).strip()


@lru_cache(maxsize=50_000)
def _texts(title: str | None, text: str, evidence: tuple[str, ...]
           ) -> tuple[str, tuple[tuple[str, bool], ...]]:
    """Snippet and highlighted snippet of one article: cached, since many digests share it."""
    body = body_text(title, text)
    return snippet(body), highlight(body, evidence)


def build_digest(recipient: str, rows: Iterable[Mapping], labels: Mapping[str, str],
                 outlets: Mapping[str, str], created_at: datetime, max_per_topic: int = 20,
                 topic_order: Iterable[str] = (), subscriber: str = "", cadence: str = "daily",
                 daily: Mapping[str, tuple[int, ...]] | None = None,
                 tz: str | tzinfo | None = None, chart_tz: str | tzinfo | None = None
                 ) -> Digest:
    """rows: one per (article, topic), with keys id, title, url, source, published_at, lang,
    text, topic, score, evidence, also (sources of its copies), and optionally versions (the
    story's first report in each of its languages: lang, url, source; the row's own
    language is left out of "also in"). `tz`: the zone dates are
    shown in (an IANA name; default UTC); `chart_tz`: the zone whose days `daily` counts
    (default UTC, as warehouse/sql/digest_daily.sql counts them)."""
    shown_tz, counted_tz = zone(tz), zone(chart_tz)
    best: dict[int, Mapping] = {}
    topics: dict[int, list[str]] = {}
    for row in rows:
        aid = int(row["id"])
        topics.setdefault(aid, []).append(row["topic"])
        if aid not in best or row["score"] > best[aid]["score"]:
            best[aid] = row
    grouped: dict[str, list[Mapping]] = {}
    for row in best.values():
        grouped.setdefault(row["topic"], []).append(row)
    order = [t for t in topic_order if t in grouped] + sorted(set(grouped) - set(topic_order))
    sections = []
    for topic in order:   # newest first, capped, and only then rendered (the costly part)
        newest = sorted(grouped[topic], key=lambda r: (r["published_at"] is None,
                                                       -(r["published_at"] or created_at)
                                                       .timestamp()))
        kept = newest[:max_per_topic]
        items = []
        for row in kept:
            aid = int(row["id"])
            short, marked = _texts(row["title"], row["text"], tuple(row["evidence"] or ()))
            items.append(DigestItem(
                article_id=aid, title=one_line(row["title"] or row["url"]), url=row["url"],
                source=row["source"], outlet=outlets.get(row["source"], row["source"]),
                published_at=row["published_at"], lang=row["lang"], snippet=short,
                topics=tuple(topics[aid]), evidence=tuple(row["evidence"] or ())[:5],
                also_reported_by=tuple(outlets.get(s, s) for s in (row["also"] or ())),
                highlighted=marked, topic_labels=tuple(labels.get(t, t) for t in topics[aid]),
                tz=shown_tz, also_in=tuple(
                    OtherVersion(v["lang"], v["url"], outlets.get(v["source"], v["source"]))
                    for v in row.get("versions") or () if v["lang"] != row["lang"])))
        sections.append(Section(topic, labels.get(topic, topic), tuple(items),
                                len(newest) - len(kept)))
    chart = tuple(ChartRow(s.topic, s.label, tuple((daily or {}).get(s.topic, (0,) * 14)))
                  for s in sections)
    return Digest(recipient, created_at, tuple(sections), subscriber or recipient, cadence, chart,
                  shown_tz, counted_tz)


def subject(digest: Digest) -> str:
    counts = ", ".join(f"{s.label} ({s.total})" for s in digest.sections[:4])
    more = "…" if len(digest.sections) > 4 else ""
    n = digest.total
    return one_line(f"migwatch {digest.cadence}: {n} new article{'s' if n != 1 else ''} — "
                    f"{counts}{more}")


def unsubscribe_url(digest: Digest, sender: str) -> str:
    # an IDN domain as punycode: a header may not carry it raw, and an encoded word
    # (=?utf-8?...?=) in List-Unsubscribe is no URL a mail client can follow
    address = ascii_address(parseaddr(one_line(sender))[1] or "migwatch@localhost")
    who = re.sub(r"[^A-Za-z0-9_.@+-]", "", digest.subscriber)
    return f"mailto:{address}?subject=unsubscribe%20{who}"


def render_html(digest: Digest, digest_id: str, sender: str = "") -> str:
    context = {"digest": digest, "subject": subject(digest), "digest_id": digest_id,
               "unsubscribe": unsubscribe_url(digest, sender)}
    return _env.get_template("digest.html.j2").render(context)


def render_email(digest: Digest, sender: str, digest_id: str) -> EmailMessage:
    context = {"digest": digest, "subject": subject(digest), "digest_id": digest_id,
               "unsubscribe": unsubscribe_url(digest, sender)}
    msg = EmailMessage()
    msg["Subject"] = context["subject"]
    msg["From"] = ascii_address(one_line(sender))            # an IDN domain as punycode
    msg["To"] = ascii_address(one_line(digest.recipient))
    msg["Date"] = formatdate(digest.created_at.timestamp(), localtime=False)
    msg["Message-ID"] = make_msgid(idstring=digest_id, domain="migwatch.local")
    msg["X-Migwatch-Digest"] = one_line(digest_id)
    msg["List-Unsubscribe"] = f"<{context['unsubscribe']}>"
    msg.set_content(_text_env.get_template("digest.txt.j2").render(context))
    msg.add_alternative(_env.get_template("digest.html.j2").render(context), subtype="html")
    return msg

"""Rows -> Digest -> email message. Pure: no database, no network.

Each article appears once, under its highest-scoring topic; its other topics are listed on the
item. Titles and snippets come from the web and are untrusted: the HTML template autoescapes
them, and header values are stripped of line breaks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

TEMPLATES = Path(__file__).resolve().parent / "templates"
LANG_NAMES = {"en": "English", "ru": "Russian", "tg": "Tajik", "und": "undetermined"}
_env = Environment(loader=FileSystemLoader(TEMPLATES),
                   autoescape=select_autoescape(["html", "j2"], default=True),
                   trim_blocks=True, lstrip_blocks=True)
_text_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=False,
                        trim_blocks=True, lstrip_blocks=True)


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

    @property
    def language(self) -> str:
        return LANG_NAMES.get(self.lang, self.lang)

    @property
    def date(self) -> str:
        return self.published_at.strftime("%d %b %Y") if self.published_at else "date unknown"


@dataclass(frozen=True)
class Section:
    topic: str
    label: str
    items: tuple[DigestItem, ...]


@dataclass(frozen=True)
class Digest:
    recipient: str
    created_at: datetime
    sections: tuple[Section, ...]

    @property
    def items(self) -> list[DigestItem]:
        return [item for s in self.sections for item in s.items]


def snippet(text: str, limit: int = 240) -> str:
    flat = re.sub(r"\s+", " ", text).strip()
    if len(flat) <= limit:
        return flat
    cut = flat[:limit].rsplit(" ", 1)[0]
    return cut.rstrip(",;:-–—") + "…"


def one_line(value: str) -> str:
    """For headers and plain text: no CR/LF or control characters (no header injection)."""
    return re.sub(r"[\x00-\x1f\x7f]+", " ", value).strip()


def build_digest(recipient: str, rows: Iterable[Mapping], labels: Mapping[str, str],
                 outlets: Mapping[str, str], created_at: datetime, max_per_topic: int = 20,
                 topic_order: Iterable[str] = ()) -> Digest:
    """rows: one per (article, topic), with keys id, title, url, source, published_at, lang,
    text, topic, score, evidence, also (sources of its copies)."""
    best: dict[int, Mapping] = {}
    topics: dict[int, list[str]] = {}
    for row in rows:
        aid = int(row["id"])
        topics.setdefault(aid, []).append(row["topic"])
        if aid not in best or row["score"] > best[aid]["score"]:
            best[aid] = row
    grouped: dict[str, list[DigestItem]] = {}
    for aid, row in best.items():
        item = DigestItem(
            article_id=aid, title=one_line(row["title"] or row["url"]), url=row["url"],
            source=row["source"], outlet=outlets.get(row["source"], row["source"]),
            published_at=row["published_at"], lang=row["lang"],
            snippet=snippet(row["text"]), topics=tuple(topics[aid]),
            evidence=tuple(row["evidence"] or ())[:5],
            also_reported_by=tuple(outlets.get(s, s) for s in (row["also"] or ())))
        grouped.setdefault(row["topic"], []).append(item)
    order = [t for t in topic_order if t in grouped] + sorted(set(grouped) - set(topic_order))
    sections = []
    for topic in order:
        items = sorted(grouped[topic], key=lambda i: (i.published_at is None,
                                                      -(i.published_at or created_at).timestamp()))
        sections.append(Section(topic, labels.get(topic, topic), tuple(items[:max_per_topic])))
    return Digest(recipient, created_at, tuple(sections))


def subject(digest: Digest) -> str:
    counts = ", ".join(f"{s.label} ({len(s.items)})" for s in digest.sections[:4])
    more = "…" if len(digest.sections) > 4 else ""
    n = len(digest.items)
    return one_line(f"migwatch: {n} new article{'s' if n != 1 else ''} — {counts}{more}")


def render_email(digest: Digest, sender: str, digest_id: str) -> EmailMessage:
    context = {"digest": digest, "subject": subject(digest), "digest_id": digest_id}
    msg = EmailMessage()
    msg["Subject"] = context["subject"]
    msg["From"] = one_line(sender)
    msg["To"] = one_line(digest.recipient)
    msg["Date"] = formatdate(digest.created_at.timestamp(), localtime=False)
    msg["Message-ID"] = make_msgid(idstring=digest_id, domain="migwatch.local")
    msg["X-Migwatch-Digest"] = digest_id
    msg.set_content(_text_env.get_template("digest.txt.j2").render(context))
    msg.add_alternative(_env.get_template("digest.html.j2").render(context), subtype="html")
    return msg

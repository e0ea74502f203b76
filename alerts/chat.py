"""Digest -> chat markdown (split to each platform's limit) and structured JSON; the only
module that sends chat (through apprise) and webhooks (httpx).

Titles, outlets and snippets are untrusted: markdown control characters are backslash-escaped,
line breaks flattened, and links only ever point at http(s) URLs with `()<> ` percent-encoded,
so an article cannot inject links, mentions or formatting into the channel.

JSON webhooks and retries. A webhook that answers after the timeout (`[digest]
webhook_timeout`, 30 s by default) may still have processed the digest; migwatch cannot know,
so it releases the items and sends them again next run, in a digest with a new `digest_id`.
So that the receiver can tell, every webhook digest carries an idempotency key, in the
`Idempotency-Key` header and the payload's `idempotency_key`: a hash of the subscriber, the
channel key (never the secret URL) and the sorted ids of the articles listed. A retry of the
same items has the same key; a digest with other items (say one more article arrived in
between) has another. Each item's `id` (the story's lead article's warehouse id, the delivery
log's key; the item's `url` may be another member's, the first published) is stable too: a
receiver that deduplicates per item on (`subscriber`, `id`) needs nothing else.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import httpx

from alerts.compose import Digest, DigestItem, one_line, safe_url, subject

# Characters per message. Telegram's hard limit is 4,096; Slack allows far more but long
# messages are unreadable, so keep it short; Matrix is comfortable with long bodies.
LIMITS = {"tgram": 4096, "telegram": 4096, "slack": 3500, "mmost": 4000, "mmosts": 4000,
          "discord": 2000, "matrix": 16000, "matrixs": 16000}
DEFAULT_LIMIT = 4000
_MD_SPECIAL = re.compile(r"([\\`*_\[\]()<>#|~])")


def md_text(value: str) -> str:
    """Untrusted text as inert markdown: one line, markup characters escaped, and `@` followed
    by a zero-width space so `@channel`/`@here` cannot ping a whole chat."""
    return _MD_SPECIAL.sub(r"\\\1", one_line(value)).replace("@", "@\u200b")


def md_url(url: str) -> str:
    url = safe_url(url)
    return url.replace("(", "%28").replace(")", "%29").replace(" ", "%20")


def limit_for(scheme: str) -> int:
    return LIMITS.get(scheme, DEFAULT_LIMIT)


# Characters kept free at the end of every message of a split digest for "_N parts: i/N_".
PARTS_LINE = 20


def _item_line(item: DigestItem, room: int) -> str:
    """One item as a markdown line of at most `room` characters: a long title is shortened
    (never the link or an escape cut in half)."""
    rest = (f"({md_url(item.url)}) — {md_text(item.outlet)}, {md_text(item.date)}, "
            f"{item.lang}")
    if item.also_in:
        rest += " (also in " + ", ".join(f"[{md_text(v.language)}]({md_url(v.url)})"
                                         for v in item.also_in) + ")"
    if item.also_reported_by:
        rest += f" (also {md_text(', '.join(item.also_reported_by))})"
    title = md_text(item.title)
    line = f"• [{title}]{rest}"
    if len(line) <= room:
        return line
    keep = max(0, len(title) - (len(line) - room) - 1)
    short = title[:keep]
    if (len(short) - len(short.rstrip("\\"))) % 2:   # do not leave half an escape
        short = short[:-1]
    line = f"• [{short}…]{rest}"
    return line if len(line) <= room else line[:room]   # a URL longer than the message


def render_markdown(digest: Digest, limit: int = DEFAULT_LIMIT) -> list[str]:
    """One compact message per digest; more only when `limit` requires, split between items.
    A section's heading never ends a message: it goes with its first item, and a section
    carried over to the next message is headed there again ("… (3, continued)"). Its "and N
    more" line closes the section, after its last item, as in the email."""
    budget = limit - PARTS_LINE
    head = f"**{md_text(subject(digest))}**"
    cont = f"_{md_text('(continued)')}_"
    messages: list[str] = []
    current = head
    fresh = True            # nothing but the subject or the "(continued)" line yet
    for section in digest.sections:
        label = md_text(section.label)
        heading = f"**{label}** ({section.total})"
        again = f"**{label}** ({section.total}, continued)"
        more = (f"_{md_text(f'and {section.more} more on {section.label}')}_"
                if section.more else "")
        # every block below fits in a new message, whatever else it carries
        room = max(80, budget - max(len(head), len(cont)) - 4 - len(again) - len(more))
        lines = [_item_line(item, room) for item in section.items] or [""]
        for i, line in enumerate(lines):
            body = "\n".join(x for x in (line, more if i == len(lines) - 1 else "") if x)
            block = f"\n{heading}\n{body}".rstrip("\n") if i == 0 else body
            if not fresh and len(current) + 1 + len(block) > budget:
                messages.append(current)
                current = cont
                block = block if i == 0 else f"\n{again}\n{body}"
            current += "\n" + block
            fresh = False
    messages.append(current)
    if len(messages) > 1:
        messages = [f"{m}\n_{len(messages)} parts: {i}/{len(messages)}_"
                    for i, m in enumerate(messages, 1)]
    return messages


# Seconds to wait for a JSON webhook (connect, send, answer) when `[digest] webhook_timeout`
# is not set.
DEFAULT_WEBHOOK_TIMEOUT = 30.0


def idempotency_key(subscriber: str, channel: str, article_ids: Iterable[int]) -> str:
    """The same for every attempt to send the same articles to the same subscriber channel
    (`channel` is the delivery-log key: no secrets), different for any other set."""
    ids = ",".join(str(i) for i in sorted({int(i) for i in article_ids}))
    raw = f"migwatch-digest\n{subscriber}\n{channel}\n{ids}"
    return "migwatch-" + hashlib.sha256(raw.encode()).hexdigest()[:40]


def payload(digest: Digest, digest_id: str, key: str | None = None) -> dict[str, Any]:
    """The structured digest a JSON webhook receives (plain text; the receiver escapes).
    `key`: the idempotency key (see the module docstring); `digest_id` names this attempt."""

    def iso(d: datetime | None) -> str | None:
        return d.isoformat() if d else None

    return {
        "digest_id": digest_id, **({"idempotency_key": key} if key else {}),
        "subscriber": digest.subscriber, "cadence": digest.cadence,
        "created_at": iso(digest.created_at), "subject": subject(digest),
        # per topic, its new articles listed or not; `more`: those over the cap, not listed
        "counts": {s.topic: s.total for s in digest.sections},
        "topics": [{"topic": s.topic, "label": s.label, "more": s.more, "items": [
            {"id": i.article_id, "title": i.title, "url": i.url, "outlet": i.outlet,
             "source": i.source, "published_at": iso(i.published_at), "lang": i.lang,
             "snippet": i.snippet, "evidence": list(i.evidence), "topics": list(i.topics),
             "also_reported_by": list(i.also_reported_by),
             "also_in": [{"lang": v.lang, "language": v.language, "url": v.url,
                          "outlet": v.outlet} for v in i.also_in]} for i in s.items]}
            for s in digest.sections],
    }


def redact(url: str) -> str:
    """scheme://host for logs and the digest table: no tokens, passwords or paths."""
    m = re.match(r"^([a-z0-9+.-]+)://(?:[^@/]*@)?([^/?#]*)", url)
    return f"{m.group(1)}://{m.group(2)}" if m else "?"


def send_apprise(url: str, messages: list[str]) -> None:
    """Send every part through apprise; raise RuntimeError (with apprise's reason) on refusal.
    apprise is imported here, by the one function that sends through it: every ingest run
    imports this module for operator alerts, and most have nothing to send."""
    import apprise

    ap = apprise.Apprise()
    if not ap.add(url):
        raise RuntimeError(f"apprise does not understand the URL {redact(url)}")
    for n, body in enumerate(messages, 1):
        with apprise.LogCapture(level=apprise.logging.WARNING) as log:
            ok = ap.notify(body=body, body_format=apprise.NotifyFormat.MARKDOWN)
        if not ok:
            reason = one_line(log.getvalue())[-300:] or "not accepted"
            raise RuntimeError(f"{redact(url)}: part {n}/{len(messages)} refused: {reason}")


def send_webhook(url: str, body: dict[str, Any], timeout: float = DEFAULT_WEBHOOK_TIMEOUT,
                 idempotency_key: str | None = None) -> None:
    """POST the structured digest; any status other than 2xx raises. `idempotency_key` goes
    in the `Idempotency-Key` header."""
    target = url.split("+", 1)[1]
    headers = {"Content-Type": "application/json", "User-Agent": "migwatch-digest"}
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    response = httpx.post(target, content=json.dumps(body, ensure_ascii=False).encode(),
                          headers=headers, timeout=timeout, follow_redirects=False)
    if not 200 <= response.status_code < 300:
        raise RuntimeError(f"{redact(target)} answered HTTP {response.status_code}")

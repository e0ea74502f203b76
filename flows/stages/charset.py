"""Bytes -> text for pages and feeds in the encodings our outlets use (UTF-8, windows-1251,
KOI8-R), whatever they declare or fail to declare."""

from __future__ import annotations

import re

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_\-]+)""", re.I)
_XML_ENCODING = re.compile(rb"""<\?xml[^>]+encoding\s*=\s*["']([a-zA-Z0-9_\-]+)""", re.I)


def decode(body: bytes, content_type: str | None) -> str:
    """Bytes -> text: BOM, then HTTP charset, then <meta>/XML declaration, then UTF-8, then
    a guess between windows-1251 and KOI8-R (the two legacy Cyrillic encodings seen)."""
    for bom, enc in ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"),
                     (b"\xfe\xff", "utf-16-be")):
        if body.startswith(bom):
            return body[len(bom):].decode(enc, errors="replace")
    candidates: list[str] = []
    if content_type:
        m = re.search(r"charset\s*=\s*[\"']?([\w\-]+)", content_type, re.I)
        if m:
            candidates.append(m.group(1))
    for rx in (_META_CHARSET, _XML_ENCODING):
        m2 = rx.search(body[:4096])
        if m2:
            candidates.append(m2.group(1).decode("ascii"))
    for enc in candidates:
        try:
            return body.decode(enc)
        except (LookupError, UnicodeDecodeError):
            continue
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    lenient = body.decode("utf-8", errors="replace")
    if lenient.count("\ufffd") * 100 < max(1, len(lenient)):
        return lenient       # UTF-8 with a few broken bytes: keep the rest, mark the damage
    return max((body.decode(enc, errors="replace") for enc in ("cp1251", "koi8-r")),
               key=_cyrillic_score)


def _cyrillic_score(text: str) -> int:
    """Lower-case Cyrillic letters outnumber capitals in real prose; a wrong legacy decoding
    (KOI8-R read as cp1251 or the reverse) swaps the cases."""
    return sum(1 for ch in text if "а" <= ch <= "я") - sum(1 for ch in text if "А" <= ch <= "Я")

"""Bytes -> text for pages and feeds in the encodings our outlets use (UTF-8, windows-1251,
KOI8-R), whatever they declare or fail to declare.

A declared charset is a hint, never a reason to fail: one Python does not know, one that is
no charset for documents (`punycode`, `idna`, `unicode_escape`... which Python would accept),
one that fails on the bytes, and a UTF-16/32 label found by reading the bytes as ASCII (a
UTF-16 document cannot be read so: browsers take such a `<meta>` for UTF-8) are all passed
over, and the bytes are read as when nothing is declared."""

from __future__ import annotations

import codecs
import re

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_\-]+)""", re.I)
_XML_ENCODING = re.compile(rb"""<\?xml[^>]+encoding\s*=\s*["']([a-zA-Z0-9_\-]+)""", re.I)
# Codecs Python decodes bytes with that are no charset of a web page or feed: punycode and
# idna decode host names; the escapes read backslashes; `undefined` always fails.
_NOT_CHARSETS = frozenset({"punycode", "idna", "unicode-escape", "raw-unicode-escape",
                           "undefined"})


def charset_codec(label: str, in_document: bool = False) -> str | None:
    """The Python codec to read a document with, for the charset `label` it declares, or None
    when the label is to be passed over: unknown, no charset for documents, or (found inside
    the document by reading it as ASCII, `in_document`) a UTF-16/32 one."""
    try:
        info = codecs.lookup(label)
    except (LookupError, ValueError):
        return None
    name = info.name
    if not getattr(info, "_is_text_encoding", True):   # base64, rot13, zlib: bytes.decode
        return None                                     # refuses them anyway
    if name in _NOT_CHARSETS or (in_document and name.startswith(("utf-16", "utf-32"))):
        return None
    return name


def declared_charsets(body: bytes, content_type: str | None) -> list[str]:
    """The codecs the HTTP header, then a <meta> or the XML declaration, name for `body`
    (those `charset_codec` passes over left out)."""
    candidates: list[str] = []
    if content_type:
        m = re.search(r"charset\s*=\s*[\"']?([\w\-]+)", content_type, re.I)
        if m and (codec := charset_codec(m.group(1))):
            candidates.append(codec)
    for rx in (_META_CHARSET, _XML_ENCODING):
        m2 = rx.search(body[:4096])
        if m2 and (codec := charset_codec(m2.group(1).decode("ascii"), in_document=True)):
            candidates.append(codec)
    return candidates


def decode(body: bytes, content_type: str | None) -> str:
    """Bytes -> text: BOM, then HTTP charset, then <meta>/XML declaration, then UTF-8, then
    a guess between windows-1251 and KOI8-R (the two legacy Cyrillic encodings seen). Never
    raises: a declared charset that cannot decode the bytes is passed over."""
    for bom, enc in ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"),
                     (b"\xfe\xff", "utf-16-be")):
        if body.startswith(bom):
            return body[len(bom):].decode(enc, errors="replace")
    for enc in declared_charsets(body, content_type):
        try:
            return body.decode(enc)
        except (LookupError, ValueError):   # UnicodeError (a ValueError) too, not only
            continue                          # UnicodeDecodeError: some codecs raise it
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

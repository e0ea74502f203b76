"""URLs as shown to people and stored for them: without the secrets a URL may carry.

An outlet's feed may need credentials in its URL (`https://user:password@host/feed.xml`, or
`?api_key=...`). The real URL is what is fetched; everything written about it (the fetch
log, error messages, run summaries, logs, operator alerts) goes through `mask_url` or
`mask_text` first, where the message is made, so every output downstream is clean.

- userinfo: `user:password@` becomes `***@`. The user name goes too: tokens are often
  passed as the user name (`https://TOKEN@host/`, `https://TOKEN:x-oauth-basic@host/`).
- query (and fragment) parameters whose name looks secret (key, api_key, token,
  access_token, auth, password, secret, sig, signature, session, sid, X-Amz-Credential, ...,
  case-insensitive, after percent-decoding the name) keep their name, their value becomes
  `***`. Every other parameter, the scheme, host, port and path stay exactly as written.

A secret in the path itself (`/feeds/<token>/rss`) cannot be told from a path and is kept.

Chat and webhook channel URLs, whose tokens usually are the path, are shown in the stronger
form of alerts/chat.py `redact`: scheme://host only.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable
from urllib.parse import unquote, unquote_plus

MASK = "***"

# Words that make a parameter name secret: the name is split into words at anything not a
# letter or digit and at camelCase humps ("X-Amz-Signature", "sessionId", "client_secret").
_SECRET_WORDS = frozenset({
    "key", "apikey", "token", "auth", "password", "passwd", "pwd", "pass", "secret", "sig",
    "signature", "session", "sessionid", "sessid", "sid", "credential", "credentials", "jwt",
    "hmac", "otp", "private", "privatekey", "accesskey", "accesstoken", "authtoken",
    "apitoken", "bearer", "cookie", "ticket", "nonce",
})
# ...or its letters and digits alone end with one of these ("apikey", "PHPSESSID",
# "jsessionid", "subscriptionkey", "accesstoken"); "keyword" and "author" do not.
_SECRET_ENDINGS = ("apikey", "accesskey", "secretkey", "privatekey", "subscriptionkey",
                   "token", "secret", "password", "passwd", "signature", "sessionid", "sessid",
                   "credential", "credentials")
_HUMP = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)([^/?#\\]*)(.*)$", re.DOTALL)
# A URL inside free text (an error message): up to whitespace, a quote or an angle bracket.
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>`]+")
# Secret values shorter than this are not searched for in free text (too many false hits).
_MIN_SECRET = 4


def secret_name(name: str) -> bool:
    """Whether a query parameter called `name` (as written, possibly percent-encoded) is
    taken to carry a secret."""
    name = unquote_plus(name).strip()
    words = {w for w in re.split(r"[^A-Za-z0-9]+", _HUMP.sub("_", name).lower()) if w}
    if words & _SECRET_WORDS:
        return True
    flat = re.sub(r"[^a-z0-9]", "", name.lower())
    return flat in _SECRET_WORDS or flat.endswith(_SECRET_ENDINGS)


def _mask_params(text: str) -> str:
    """`a=1&api_key=x&b` -> `a=1&api_key=***&b`: only secret values change, byte for byte
    otherwise (no re-encoding, order and repeats kept)."""
    out = []
    for part in text.split("&"):
        name, eq, value = part.partition("=")
        out.append(f"{name}={MASK}" if eq and value and secret_name(name) else part)
    return "&".join(out)


def mask_url(url: str) -> str:
    """The URL as it may be shown or stored: see the module docstring. Idempotent; a URL
    with nothing secret comes back unchanged, and so does anything that is not a URL."""
    m = _URL.match(url)
    if not m:
        return url
    scheme, netloc, rest = m.groups()
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rpartition('@')[2]}"
    rest, hash_, fragment = rest.partition("#")
    path, question, query = rest.partition("?")
    if query:
        query = _mask_params(query)
    if "=" in fragment:        # `#access_token=...` (OAuth implicit flow) and the like
        fragment = _mask_params(fragment)
    return f"{scheme}{netloc}{path}{question}{query}{hash_}{fragment}"


def state_key(url: str) -> str:
    """What the warehouse stores for a URL it remembers something of (validators, an index's
    sitemaps, when a sitemap was asked: warehouse/feed_state.py): the URL itself, or for one
    with secrets the masked URL and a hash of the real one (a space never occurs in a URL, so
    no key of one kind is a key of the other). Here, not in the warehouse, because the
    harvest looks its sitemaps up in that memory by the same keys."""
    masked = mask_url(url)
    if masked == url:
        return url
    return f"{masked} sha256:{hashlib.sha256(url.encode()).hexdigest()[:32]}"


def has_secrets(url: str) -> bool:
    return mask_url(url) != url


def secrets_of(url: str) -> set[str]:
    """The secret strings in a URL, as written and percent-decoded: the userinfo's user and
    password and the values of secret parameters (for scrubbing them from free text)."""
    m = _URL.match(url)
    if not m:
        return set()
    _scheme, netloc, rest = m.groups()
    found: set[str] = set()
    if "@" in netloc:
        user, _, password = netloc.rpartition("@")[0].partition(":")
        found |= {user, password}
    rest, _, fragment = rest.partition("#")
    for part in (*rest.partition("?")[2].split("&"), *fragment.split("&")):
        name, eq, value = part.partition("=")
        if eq and value and secret_name(name):
            found.add(value)
    found |= {unquote(s) for s in found} | {unquote_plus(s) for s in found}
    return {s for s in found if len(s) >= _MIN_SECRET}


def _masked_match(m: re.Match[str]) -> str:
    """A URL found in text, masked; punctuation after it ("...xml?key=v: HTTP 404") is the
    sentence's, not the URL's."""
    url = m.group(0)
    end = len(url.rstrip(".,;:!?)]"))
    return mask_url(url[:end]) + url[end:]


def mask_text(text: str | None, urls: Iterable[str | None] = ()) -> str | None:
    """Free text (an error message, a reason) with every URL in it masked, and every secret
    of `urls` (the URLs it is about, which a library may have quoted in a form of its own)
    replaced by ***."""
    if not text:
        return text
    text = _URL_IN_TEXT.sub(_masked_match, text)
    for secret in sorted({s for u in urls if u for s in secrets_of(u)}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def without_userinfo(url: str) -> str:
    """The URL without `user:password@` (a link to show: not fetched with it again)."""
    m = _URL.match(url)
    if not m or "@" not in m.group(2):
        return url
    return f"{m.group(1)}{m.group(2).rpartition('@')[2]}{m.group(3)}"


class MaskingFilter(logging.Filter):
    """Masks the URLs in a log record's message, for a library's logger that quotes the URLs
    it requests (httpx logs `HTTP Request: GET <url> ...` at INFO)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def mask_logger(name: str) -> None:
    """Install MaskingFilter on the logger `name` (once)."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, MaskingFilter) for f in logger.filters):
        logger.addFilter(MaskingFilter())

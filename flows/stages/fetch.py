"""The one place that talks HTTP. The client is passed in; every outcome is a value.

Following the pattern of Media Cloud's rss-fetcher: a fetch never raises for anything an
outlet can do (time out, refuse, redirect in circles, send junk). It returns a FetchResult
whose `outcome` says whether trying again later makes sense (`soft`) or not (`hard`).
"""

from __future__ import annotations

import ipaddress
import re
import socket
import time
from urllib.parse import urljoin, urlsplit

import httpx

from flows.settings import FetchSettings
from flows.stages.models import FetchResult

PAGE_TYPES = ("text/html", "application/xhtml+xml")
FEED_TYPES = ("xml", "rss", "atom", "text/plain", "application/octet-stream")


def address_refusal(url: str, allow_private: bool) -> str | None:
    """Why this URL must not be fetched, or None. Checks every address the host resolves to."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return f"scheme {parts.scheme or '(none)'!r} is not allowed (http and https only)"
    host = parts.hostname
    if not host:
        return "URL has no host"
    if allow_private:
        return None
    try:
        infos = socket.getaddrinfo(host, parts.port or (443 if parts.scheme == "https" else 80),
                                   proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        return f"cannot resolve host {host!r}: {exc}"
    for info in infos:
        ip = ipaddress.ip_address(info[4][0])
        if (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast
                or ip.is_reserved or ip.is_unspecified):
            return (f"address {ip} of {host!r} is private/loopback/link-local "
                    "(set [fetch] allow_private_addresses = true to allow)")
    return None


def _type_ok(content_type: str, kind: str, body_start: bytes) -> bool:
    ctype = content_type.split(";")[0].strip().lower()
    if kind == "page":
        return ctype in PAGE_TYPES or (not ctype and b"<html" in body_start.lower())
    if any(t in ctype for t in FEED_TYPES) or ctype in ("", "text/html"):
        head = body_start.lstrip()[:512].lower()
        return head.startswith(b"<?xml") or b"<rss" in head or b"<feed" in head or \
            b"<rdf" in head or "xml" in ctype
    return False


def fetch(client: httpx.Client, url: str, settings: FetchSettings, kind: str = "page"
          ) -> FetchResult:
    """GET `url`, following redirects by hand so that every hop is checked."""
    started = time.monotonic()

    def result(outcome: str, **kw: object) -> FetchResult:
        elapsed = int((time.monotonic() - started) * 1000)
        return FetchResult(url=url, outcome=outcome, elapsed_ms=elapsed, **kw)  # type: ignore[arg-type]

    current = url
    for _hop in range(settings.max_redirects + 1):
        refusal = address_refusal(current, settings.allow_private_addresses)
        if refusal:
            return result("hard", final_url=current, reason=f"refused: {refusal}")
        try:
            with client.stream("GET", current, follow_redirects=False,
                               headers={"User-Agent": settings.user_agent}) as resp:
                if resp.is_redirect:
                    location = resp.headers.get("location")
                    if not location:
                        return result("hard", http_status=resp.status_code,
                                      reason="redirect without Location")
                    current = urljoin(current, location)
                    continue
                if resp.status_code >= 400:
                    outcome = "soft" if resp.status_code >= 500 or resp.status_code in (408, 429) \
                        else "hard"
                    return result(outcome, final_url=current, http_status=resp.status_code,
                                  reason=f"HTTP {resp.status_code} {resp.reason_phrase}".strip())
                body = bytearray()
                for chunk in resp.iter_bytes():
                    body.extend(chunk)
                    if len(body) > settings.max_bytes:
                        return result("hard", final_url=current, http_status=resp.status_code,
                                      reason=f"body larger than {settings.max_bytes} bytes")
                ctype = resp.headers.get("content-type", "")
                if not _type_ok(ctype, kind, bytes(body[:2048])):
                    return result("hard", final_url=current, http_status=resp.status_code,
                                  reason=f"unexpected content-type {ctype or '(none)'!r} for a "
                                         f"{kind}")
                return result("ok", final_url=current, http_status=resp.status_code,
                              body=bytes(body), content_type=ctype)
        except httpx.TimeoutException as exc:
            return result("soft", final_url=current, reason=f"timeout: {type(exc).__name__}")
        except httpx.TransportError as exc:
            return result("soft", final_url=current,
                          reason=f"connection failed: {type(exc).__name__}: {exc}")
        except httpx.HTTPError as exc:
            return result("hard", final_url=current, reason=f"{type(exc).__name__}: {exc}")
    return result("hard", final_url=current,
                  reason=f"more than {settings.max_redirects} redirects")


_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_\-]+)""", re.I)
_XML_ENCODING = re.compile(rb"""<\?xml[^>]+encoding\s*=\s*["']([a-zA-Z0-9_\-]+)""", re.I)


def decode(body: bytes, content_type: str | None) -> str:
    """Bytes -> text: BOM, then HTTP charset, then <meta>/XML declaration, then UTF-8, cp1251."""
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
        return body.decode("cp1251", errors="replace")


def make_client(settings: FetchSettings) -> httpx.Client:
    timeout = httpx.Timeout(settings.timeout, connect=min(settings.timeout, 10.0))
    limits = httpx.Limits(max_connections=settings.concurrency,
                          max_keepalive_connections=settings.concurrency)
    return httpx.Client(timeout=timeout, limits=limits, trust_env=False)

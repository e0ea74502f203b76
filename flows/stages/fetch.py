"""The one place that talks HTTP. The client is passed in; every outcome is a value.

Following the pattern of Media Cloud's rss-fetcher: a fetch never raises for anything an
outlet can do (time out, refuse, redirect in circles, drip, send junk or a gzip bomb). It
returns a FetchResult whose `outcome` says whether trying again later makes sense (`soft`)
or not (`hard`); `not_modified` answers a conditional GET.
"""

from __future__ import annotations

import functools
import ipaddress
import random
import socket
import ssl
import time
import zlib
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import replace
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit

import httpx

from flows.settings import FetchSettings
from flows.stages.charset import decode as decode  # re-exported: callers import it here
from flows.stages.models import FetchResult
from flows.stages.polite import HostGate
from flows.stages.redact import mask_logger

# httpx logs every request's URL (INFO "HTTP Request: GET <url> ..."): masked like ours.
mask_logger("httpx")

PAGE_TYPES = ("text/html", "application/xhtml+xml")
FEED_TYPES = ("xml", "rss", "atom", "text/plain", "application/octet-stream")
Resolver = Callable[[str, int], list[str]]
Validators = tuple[str | None, str | None]   # (ETag, Last-Modified)


def resolve(host: str, port: int) -> list[str]:
    return [str(info[4][0]) for info in
            socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)]


def url_refusal(url: str) -> str | None:
    """Why the URL itself can never be fetched (not http(s), no host, a bad port), or None."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return f"scheme {parts.scheme or '(none)'!r} is not allowed (http and https only)"
    if not parts.hostname:
        return "URL has no host"
    try:
        parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError:
        return "URL has an invalid port"
    return None


def address_refusal(url: str, allow_private: bool, allowed_hosts: tuple[str, ...] = (),
                    resolver: Resolver = resolve) -> str | None:
    """Why this URL must not be fetched, or None. Checks every address the host resolves to.

    `allowed_hosts` ("host:port") are exceptions an operator names one by one, e.g. an
    intranet mirror, without opening every private address to redirects from outside.
    """
    if refusal := url_refusal(url):
        return refusal
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if allow_private or f"{host}:{port}" in allowed_hosts:
        return None
    try:
        addresses = resolver(host, port)
    except (OSError, UnicodeError) as exc:
        return f"cannot resolve host {host!r}: {exc}"
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast
                or ip.is_reserved or ip.is_unspecified):
            return (f"address {ip} of {host!r} is private/loopback/link-local/multicast "
                    "(set [fetch] allow_private_addresses = true to allow)")
    return None


def _type_ok(content_type: str, kind: str, body_start: bytes) -> bool:
    ctype = content_type.split(";")[0].strip().lower()
    if kind == "page":
        return ctype in PAGE_TYPES or (not ctype and b"<html" in body_start.lower())
    if kind == "robots":
        return ctype in ("", "text/plain")
    if kind == "listing":
        return ctype in PAGE_TYPES or (not ctype and b"<html" in body_start.lower())
    if kind == "sitemap" and ("gzip" in ctype or body_start.startswith(b"\x1f\x8b")):
        return True      # sitemap.xml.gz; parse_sitemap inflates it within max_bytes
    if any(t in ctype for t in FEED_TYPES) or ctype in ("", "text/html"):
        head = body_start.lstrip(b"\xef\xbb\xbf \t\r\n")[:512].lower()
        return head.startswith(b"<?xml") or b"<rss" in head or b"<feed" in head or \
            b"<rdf" in head or b"<urlset" in head or b"<sitemapindex" in head or "xml" in ctype
    return False


def retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date), None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class _Stop(Exception):
    """Internal: a limit was hit while reading the body (carries outcome and reason)."""

    def __init__(self, outcome: str, reason: str) -> None:
        super().__init__(reason)
        self.outcome, self.reason = outcome, reason
        self.permanent = outcome == "hard"   # the body itself: too large, corrupt, a bomb


def _read_body(resp: httpx.Response, settings: FetchSettings, deadline: float) -> bytes:
    """Stream the body, decompressing ourselves so that size limits apply to what we keep."""
    encoding = resp.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("gzip", "x-gzip"):
        inflater: zlib._Decompress | None = zlib.decompressobj(16 + zlib.MAX_WBITS)
    elif encoding == "deflate":
        inflater = zlib.decompressobj()
    elif encoding in ("identity", ""):
        inflater = None
    else:
        raise _Stop("hard", f"unsupported content-encoding {encoding!r}")
    limit = settings.max_bytes
    body = bytearray()
    raw = 0
    for chunk in resp.iter_raw():
        raw += len(chunk)
        if time.monotonic() > deadline:
            raise _Stop("soft", f"deadline of {settings.deadline:g}s exceeded while reading "
                                f"the body ({len(body)} bytes so far)")
        if inflater is None:
            body.extend(chunk)
        else:
            data = chunk
            while data and len(body) <= limit:
                try:
                    body.extend(inflater.decompress(data, min(65_536, limit + 1 - len(body))))
                except zlib.error as exc:
                    raise _Stop("hard", f"corrupt {encoding} body: {exc}") from exc
                data = inflater.unconsumed_tail
                used = raw - len(data)
                if len(body) > 65_536 and len(body) > used * settings.max_decompression_ratio:
                    raise _Stop("hard", f"decompression bomb: {used} compressed bytes inflate to "
                                        f"over {len(body)} (more than "
                                        f"{settings.max_decompression_ratio}x)")
        if len(body) > limit:
            raise _Stop("hard", f"body larger than {limit} bytes")
    return bytes(body)


def _attempt(client: httpx.Client, url: str, settings: FetchSettings, kind: str,
             validators: Validators | None, deadline: float, resolver: Resolver,
             gate: HostGate | None) -> tuple[FetchResult, float | None]:
    """One attempt, following redirects by hand so every hop is checked; returns the result
    and the server's Retry-After, if any."""
    current = url
    headers = {"User-Agent": settings.user_agent, "Accept-Encoding": "gzip, deflate"}
    if validators and validators[0]:
        headers["If-None-Match"] = validators[0]
    if validators and validators[1]:
        headers["If-Modified-Since"] = validators[1]
    for _hop in range(settings.max_redirects + 1):
        if refusal := url_refusal(current):
            return FetchResult(url, "hard", final_url=current, reason=f"refused: {refusal}",
                               permanent=True), None
        refusal = address_refusal(current, settings.allow_private_addresses,
                                  settings.allowed_private_hosts, resolver)
        if refusal:   # what the host resolves to may change: not permanent
            return FetchResult(url, "hard", final_url=current, reason=f"refused: {refusal}"), None
        left = deadline - time.monotonic()
        if left <= 0:
            return FetchResult(url, "soft", final_url=current,
                               reason=f"deadline of {settings.deadline:g}s exceeded"), None
        timeout = httpx.Timeout(min(settings.timeout, left),
                                connect=min(settings.connect_timeout, left))
        try:
            with (gate.slot(current) if gate else nullcontext()), \
                    client.stream("GET", current, follow_redirects=False, headers=headers,
                                  timeout=timeout) as resp:
                status = resp.status_code
                if status == 304 and validators:
                    return FetchResult(url, "not_modified", final_url=current, http_status=304,
                                       reason="not modified since the last run",
                                       etag=validators[0], last_modified=validators[1]), None
                if resp.is_redirect:
                    location = resp.headers.get("location")
                    if not location:
                        return FetchResult(url, "hard", http_status=status,
                                           reason="redirect without Location",
                                           permanent=True), None
                    current = urljoin(current, location.strip())
                    continue
                if status >= 400:
                    outcome = "soft" if status >= 500 or status in (408, 429) else "hard"
                    return FetchResult(url, outcome, final_url=current, http_status=status,
                                       reason=f"HTTP {status} {resp.reason_phrase}".strip(),
                                       permanent=status in (404, 410)), \
                        retry_after(resp.headers.get("retry-after"))
                declared = resp.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > settings.max_bytes:
                    return FetchResult(url, "hard", final_url=current, http_status=status,
                                       reason=f"body larger than {settings.max_bytes} bytes "
                                              f"(Content-Length {declared})",
                                       permanent=True), None
                ctype = resp.headers.get("content-type", "")
                if ctype and not _type_ok(ctype, kind, b"<?xml"
                                          if kind not in ("page", "listing") else b"<html"):
                    return FetchResult(url, "hard", final_url=current, http_status=status,
                                       reason=f"unexpected content-type {ctype!r} for a "
                                              f"{kind}", permanent=True), None
                try:
                    body = _read_body(resp, settings, deadline)
                except _Stop as stop:
                    return FetchResult(url, stop.outcome, final_url=current, http_status=status,
                                       reason=stop.reason, permanent=stop.permanent), None
                if not _type_ok(ctype, kind, body[:2048]):
                    return FetchResult(url, "hard", final_url=current, http_status=status,
                                       reason=f"unexpected content-type {ctype or '(none)'!r} "
                                              f"for a {kind}", permanent=True), None
                return FetchResult(url, "ok", final_url=current, http_status=status, body=body,
                                   content_type=ctype, etag=resp.headers.get("etag"),
                                   last_modified=resp.headers.get("last-modified")), None
        except httpx.TimeoutException as exc:
            return FetchResult(url, "soft", final_url=current,
                               reason=f"timeout: {type(exc).__name__}"), None
        except httpx.TransportError as exc:
            return FetchResult(url, "soft", final_url=current,
                               reason=f"connection failed: {type(exc).__name__}: {exc}"), None
        except httpx.HTTPError as exc:
            return FetchResult(url, "hard", final_url=current,
                               reason=f"{type(exc).__name__}: {exc}"), None
    return FetchResult(url, "hard", final_url=current,
                       reason=f"more than {settings.max_redirects} redirects", permanent=True), None


def fetch(client: httpx.Client, url: str, settings: FetchSettings, kind: str = "page",
          validators: Validators | None = None, gate: HostGate | None = None,
          resolver: Resolver = resolve, sleep: Callable[[float], None] = time.sleep
          ) -> FetchResult:
    """GET `url` within the per-URL deadline, retrying soft failures with backoff + jitter.

    Retried: timeouts, connection errors, 5xx and 429 (waiting Retry-After when the server
    says, up to `retry_after_cap`). Other 4xx, refusals and limits are final at once.
    """
    started = time.monotonic()
    deadline = started + settings.deadline
    attempt = 0
    while True:
        attempt += 1
        res, wait = _attempt(client, url, settings, kind, validators, deadline, resolver, gate)
        retryable = res.outcome == "soft" and not (res.reason or "").startswith("deadline")
        if not retryable or attempt > settings.retries:
            break
        if wait is not None and wait > settings.retry_after_cap:
            res = replace(res, reason=f"{res.reason}; Retry-After {wait:g}s exceeds the cap of "
                                    f"{settings.retry_after_cap:g}s, not retried this run")
            break
        if wait is None:
            wait = settings.backoff * 2 ** (attempt - 1) * random.uniform(0.5, 1.5)
        if time.monotonic() + wait >= deadline:
            break
        sleep(wait)
    elapsed = int((time.monotonic() - started) * 1000)
    reason = res.reason
    if attempt > 1 and res.outcome != "ok":
        reason = f"{reason} (after {attempt} attempts)"
    return replace(res, elapsed_ms=elapsed, attempts=attempt, reason=reason)


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The verifying TLS context every client shares (httpx's default: certifi's CA bundle).
    Building one reads the bundle, ~15 ms of CPU; a run makes a client per outlet."""
    return httpx.create_ssl_context(trust_env=False)


def make_client(settings: FetchSettings) -> httpx.Client:
    timeout = httpx.Timeout(settings.timeout, connect=settings.connect_timeout)
    limits = httpx.Limits(max_connections=settings.concurrency * 2,
                          max_keepalive_connections=settings.concurrency)
    return httpx.Client(timeout=timeout, limits=limits, trust_env=False, verify=tls_context())

"""The one place that talks HTTP. The client is passed in; every outcome is a value.

Following the pattern of Media Cloud's rss-fetcher: a fetch never raises for anything an
outlet can do (time out, refuse, redirect in circles, drip, send junk or a gzip bomb). It
returns a FetchResult whose `outcome` says whether trying again later makes sense (`soft`)
or not (`hard`); `not_modified` answers a conditional GET.

The per-URL `deadline` bounds every phase of an attempt: a client from make_client() sends
through _DeadlineBackend, which gives each socket operation (connect, TLS handshake, send,
each read of the status line, headers and body) at most the time the running fetch() has
left, and so does every host lookup (resolve_within). The addresses a hop's host was checked
against (address_refusal) are the ones it connects to: a DNS answer that changes between the
check and the connection (DNS rebinding) cannot lead a request to a refused address.
httpx's own timeouts apply to one read each, so a server dripping a byte a second would
restart them for ever. No watchdog thread watches the sockets and nothing is closed from
outside: an operation cut short fails in the thread that made it, and httpcore drops that
connection.
"""

from __future__ import annotations

import functools
import ipaddress
import random
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Iterable
from contextlib import closing, nullcontext
from contextvars import ContextVar
from dataclasses import replace
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit

import httpcore
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


class ResolveTimeout(Exception):
    """A host lookup gave no answer within the time its fetch had left."""


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        return False
    return True


def resolve_within(host: str, port: int, seconds: float,
                   resolver: Resolver = resolve) -> list[str]:
    """`resolver(host, port)`, waited for at most `seconds`.

    getaddrinfo has no timeout of its own (the system resolver's, often 5 s per server and
    attempt, knows nothing of a fetch's deadline) and cannot be interrupted, so a lookup runs
    in a daemon thread that is left to finish on its own if it outlasts the wait: a host
    whose DNS hangs costs its fetch the time it had left, not the run. An IP literal needs
    no lookup and no thread."""
    if _is_ip_literal(host):
        return resolver(host, port)
    answer: list[list[str]] = []
    failure: list[BaseException] = []
    done = threading.Event()

    def lookup() -> None:
        try:
            answer.append(resolver(host, port))
        except BaseException as exc:   # handed to the waiting thread
            failure.append(exc)
        finally:
            done.set()

    threading.Thread(target=lookup, name=f"migwatch-dns-{host}", daemon=True).start()
    if not done.wait(max(0.0, seconds)):
        raise ResolveTimeout(f"no answer from DNS for {host!r} within {max(0.0, seconds):.3g}s")
    if failure:
        raise failure[0]
    return answer[0]


def _host_key(host: str, port: int) -> tuple[str, int]:
    """A host as both urlsplit (Unicode, lower case) and httpcore (IDNA) spell it."""
    host = host.strip("[]").lower()
    try:
        return host.encode("idna").decode("ascii"), port
    except UnicodeError:
        return host, port


def url_invalid(url: str) -> str | None:
    """Why `url` is no URL a request can be sent to, or None: a port out of range, a broken
    IPv6 literal, over 65,536 characters, a control character, an `xn--` label that is no
    valid IDNA, a host label empty or over 63 characters. Such a URL will never work."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
        parsed = httpx.URL(url)
        parsed.host  # noqa: B018 - decodes the xn-- labels: raises for an invalid one
        parsed.raw_host.decode("ascii").encode("idna")   # what socket.getaddrinfo will do
    except (httpx.InvalidURL, ValueError) as exc:        # UnicodeError and idna's: ValueErrors
        return f"invalid URL: {exc}"
    return None


def url_refusal(url: str) -> str | None:
    """Why the URL itself can never be fetched (invalid, not http(s), no host), or None."""
    if invalid := url_invalid(url):
        return invalid
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return f"scheme {parts.scheme or '(none)'!r} is not allowed (http and https only)"
    if not parts.hostname:
        return "URL has no host"
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
    if value.isascii() and value.isdigit():     # not float('²'), which str.isdigit() lets by
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


_BODY = "reading the body"


class _Watch:
    """The deadline of the fetch() running in this thread, and what its attempt is doing."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.phase = "waiting for a connection"
        self.cut = False        # the last socket operation was given less time than it asked
        # (host, port) -> the addresses address_refusal checked: the ones connected to
        self.pinned: dict[tuple[str, int], list[str]] = {}

    def checked_resolver(self, resolver: Resolver) -> Resolver:
        """`resolver` within the deadline, remembering what each host resolved to."""
        def bounded(host: str, port: int) -> list[str]:
            self.phase = "resolving the host"
            addresses = resolve_within(host, port, self.deadline - time.monotonic(), resolver)
            self.pinned[_host_key(host, port)] = addresses
            return addresses
        return bounded

    def timeout(self, asked: float | None, phase: str,
                expired: type[httpcore.TimeoutException]) -> float:
        """The timeout for the next socket operation: `asked`, or what is left if less."""
        self.phase = phase
        left = self.deadline - time.monotonic()
        if left <= 0:
            self.cut = True
            raise expired(f"deadline exceeded while {phase}")
        self.cut = asked is None or left < asked
        return left if asked is None or left < asked else asked

    def ended(self, exc: Exception) -> bool:
        """Whether `exc` ended the attempt because the deadline passed."""
        return (self.cut and isinstance(exc, httpx.TimeoutException)) or \
            time.monotonic() >= self.deadline

    def reason(self, settings: FetchSettings) -> str:
        return f"deadline of {settings.deadline:g}s exceeded while {self.phase}"


_WATCH: ContextVar[_Watch | None] = ContextVar("migwatch_fetch_deadline", default=None)


class _DeadlineStream(httpcore.NetworkStream):
    """A socket of a make_client() pool: each operation is held to the running fetch()'s
    deadline (in the thread doing it: a pooled connection serves one request at a time)."""

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        if (watch := _WATCH.get()) is not None:
            phase = _BODY if watch.phase == _BODY else "waiting for the response headers"
            timeout = watch.timeout(timeout, phase, httpcore.ReadTimeout)
        return self._stream.read(max_bytes, timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if (watch := _WATCH.get()) is not None:
            timeout = watch.timeout(timeout, "sending the request", httpcore.WriteTimeout)
        self._stream.write(buffer, timeout)

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        # CPython bounds the whole handshake by the socket's timeout, not each read of it.
        if (watch := _WATCH.get()) is not None:
            timeout = watch.timeout(timeout, "negotiating TLS", httpcore.ConnectTimeout)
        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> object:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's own sockets, as _DeadlineStreams; within a fetch() the host's addresses are
    tried one by one, each given what is left (socket.create_connection gives each address
    the whole connect timeout)."""

    def __init__(self) -> None:
        self._backend = httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None
                    ) -> httpcore.NetworkStream:
        if (watch := _WATCH.get()) is None:
            return _DeadlineStream(self._backend.connect_tcp(host, port, timeout,
                                                             local_address, socket_options))
        addresses = watch.pinned.get(_host_key(host, port))
        if addresses is None:   # not checked: a private host the operator allowed
            left = watch.timeout(timeout, "resolving the host", httpcore.ConnectTimeout)
            try:
                addresses = resolve_within(host, port, left)
            except ResolveTimeout as exc:
                raise httpcore.ConnectTimeout(str(exc)) from exc
            except (OSError, UnicodeError) as exc:
                raise httpcore.ConnectError(str(exc)) from exc
        error: Exception = httpcore.ConnectError(f"{host!r} has no address")
        for address in addresses:
            left = watch.timeout(timeout, "connecting", httpcore.ConnectTimeout)
            try:
                return _DeadlineStream(self._backend.connect_tcp(address, port, left,
                                                                 local_address, socket_options))
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        raise error

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None
                            ) -> httpcore.NetworkStream:   # pragma: no cover - not used
        return _DeadlineStream(self._backend.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


class _Stop(Exception):
    """Internal: a limit was hit while reading the body (carries outcome and reason)."""

    def __init__(self, outcome: str, reason: str) -> None:
        super().__init__(reason)
        self.outcome, self.reason = outcome, reason
        self.permanent = outcome == "hard"   # the body itself: too large, corrupt, a bomb


def _deflate_inflater(head: bytes) -> zlib._Decompress:
    """`deflate` means the zlib format (RFC 9110), but many servers send raw deflate without
    its header; both are read, as httpx and browsers do. A zlib stream's first two bytes say
    method 8 and a window of at most 32K, and make a multiple of 31 (RFC 1950)."""
    cmf, flg = head[0], head[1]
    wrapped = cmf & 0x0F == 8 and cmf >> 4 <= 7 and (cmf << 8 | flg) % 31 == 0
    return zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)


def _inflate(inflater: zlib._Decompress, chunk: bytes, body: bytearray, raw: int,
             encoding: str, settings: FetchSettings) -> None:
    """Inflate `chunk` onto `body` in bounded steps: at most max_bytes + 1 are ever kept, and
    a ratio beyond max_decompression_ratio (of the `raw` bytes read so far) is a bomb."""
    limit = settings.max_bytes
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


def _read_body(resp: httpx.Response, settings: FetchSettings, watch: _Watch) -> bytes:
    """Stream the body, decompressing ourselves so that size limits apply to what we keep."""
    encoding = resp.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("gzip", "x-gzip"):
        inflater: zlib._Decompress | None = zlib.decompressobj(16 + zlib.MAX_WBITS)
    elif encoding in ("deflate", "identity", ""):
        inflater = None         # deflate: chosen once the first two bytes are in
    else:
        raise _Stop("hard", f"unsupported content-encoding {encoding!r}")
    inflating = encoding not in ("identity", "")
    limit = settings.max_bytes
    body = bytearray()
    raw = 0
    held = b""          # deflate: the first bytes, until two are in to tell zlib from raw
    late = f"deadline of {settings.deadline:g}s exceeded while {_BODY}"
    try:
        for chunk in resp.iter_raw():
            raw += len(chunk)
            if time.monotonic() > watch.deadline:
                raise _Stop("soft", f"{late} ({len(body)} bytes so far)")
            if inflating and inflater is None:
                held += chunk
                if len(held) < 2:
                    continue
                inflater, chunk, held = _deflate_inflater(held), held, b""
            if inflater is None:
                body.extend(chunk)
            else:
                _inflate(inflater, chunk, body, raw, encoding, settings)
            if len(body) > limit:
                raise _Stop("hard", f"body larger than {limit} bytes")
    except httpx.TransportError as exc:
        if not watch.ended(exc):
            raise
        raise _Stop("soft", f"{late} ({len(body)} bytes so far)") from exc
    if inflating and raw and (inflater is None or not inflater.eof):
        # Cut off in the middle (Content-Length matching what was sent, or a closed
        # connection): the end of the stream is missing. Perhaps whole next time.
        raise _Stop("soft", f"truncated {encoding} body: the compressed stream stops "
                            f"unfinished after {raw} bytes")
    return bytes(body)


def _attempt(client: httpx.Client, url: str, settings: FetchSettings, kind: str,
             validators: Validators | None, watch: _Watch, resolver: Resolver,
             gate: HostGate | None) -> tuple[FetchResult, float | None]:
    """One attempt, following redirects by hand so every hop is checked; returns the result
    and the server's Retry-After, if any."""
    deadline = watch.deadline
    current = url
    headers = {"User-Agent": settings.user_agent, "Accept-Encoding": "gzip, deflate"}
    # Validators are echoed as the server sent them; one httpx cannot send (not ASCII) is
    # left out, and the answer is a full 200 instead of an exception every run.
    if validators and validators[0] and validators[0].isascii():
        headers["If-None-Match"] = validators[0]
    if validators and validators[1] and validators[1].isascii():
        headers["If-Modified-Since"] = validators[1]
    for _hop in range(settings.max_redirects + 1):
        if invalid := url_invalid(current):
            return FetchResult(url, "hard", final_url=current, reason=invalid,
                               permanent=True), None
        if refusal := url_refusal(current):
            return FetchResult(url, "hard", final_url=current, reason=f"refused: {refusal}",
                               permanent=True), None
        try:
            refusal = address_refusal(current, settings.allow_private_addresses,
                                      settings.allowed_private_hosts,
                                      watch.checked_resolver(resolver))
        except ResolveTimeout:
            return FetchResult(url, "soft", final_url=current,
                               reason=watch.reason(settings)), None
        if refusal:   # what the host resolves to may change: not permanent
            return FetchResult(url, "hard", final_url=current, reason=f"refused: {refusal}"), None
        if deadline - time.monotonic() <= 0:
            return FetchResult(url, "soft", final_url=current,
                               reason=f"deadline of {settings.deadline:g}s exceeded"), None
        try:
            with gate.slot(current) if gate else nullcontext():
                left = deadline - time.monotonic()
                if left <= 0:
                    return FetchResult(url, "soft", final_url=current,
                                       reason=f"deadline of {settings.deadline:g}s exceeded "
                                              "while waiting for a turn at the host"), None
                timeout = httpx.Timeout(min(settings.timeout, left),
                                        connect=min(settings.connect_timeout, left))
                try:
                    request = client.build_request("GET", current, headers=headers,
                                                   timeout=timeout)
                except ValueError as exc:
                    # Not the URL (url_invalid() passed it): a header httpx cannot send, such
                    # as a user_agent not in ASCII. Ours, not the URL's: not permanent.
                    return FetchResult(url, "hard", final_url=current,
                                       reason=f"cannot make the request: {exc}"), None
                watch.phase = "waiting for a connection"
                try:
                    resp = client.send(request, stream=True, follow_redirects=False)
                except (httpx.InvalidURL, httpx.RemoteProtocolError, ValueError) as exc:
                    # Not following, httpx still builds the request a redirect asks for: an
                    # invalid Location fails here (an IDNA error as itself).
                    invalid = str(exc).removeprefix("Invalid URL in location header: ")
                    if isinstance(exc, httpx.RemoteProtocolError) and invalid == str(exc):
                        raise
                    return FetchResult(url, "hard", final_url=current,
                                       reason=f"invalid URL: {invalid.rstrip('.')} (a "
                                              "redirect's Location)", permanent=True), None
                with closing(resp):
                    watch.phase = _BODY
                    status = resp.status_code
                    if status == 304 and validators:
                        return FetchResult(url, "not_modified", final_url=current,
                                           http_status=304,
                                           reason="not modified since the last run",
                                           etag=validators[0],
                                           last_modified=validators[1]), None
                    if resp.is_redirect:
                        location = resp.headers.get("location")
                        if not location:
                            return FetchResult(url, "hard", http_status=status,
                                               reason="redirect without Location",
                                               permanent=True), None
                        try:
                            current = urljoin(current, location.strip())
                        except ValueError as exc:   # others are checked at the next hop
                            return FetchResult(url, "hard", final_url=current,
                                               http_status=status,
                                               reason=f"invalid URL: {exc} (a redirect's "
                                                      "Location)", permanent=True), None
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
                                           reason=f"body larger than {settings.max_bytes} "
                                                  f"bytes (Content-Length {declared})",
                                           permanent=True), None
                    ctype = resp.headers.get("content-type", "")
                    if ctype and not _type_ok(ctype, kind, b"<?xml"
                                              if kind not in ("page", "listing") else b"<html"):
                        return FetchResult(url, "hard", final_url=current, http_status=status,
                                           reason=f"unexpected content-type {ctype!r} for a "
                                                  f"{kind}", permanent=True), None
                    try:
                        body = _read_body(resp, settings, watch)
                    except _Stop as stop:
                        return FetchResult(url, stop.outcome, final_url=current,
                                           http_status=status, reason=stop.reason,
                                           permanent=stop.permanent), None
                    if not _type_ok(ctype, kind, body[:2048]):
                        return FetchResult(url, "hard", final_url=current, http_status=status,
                                           reason=f"unexpected content-type "
                                                  f"{ctype or '(none)'!r} for a {kind}",
                                           permanent=True), None
                    return FetchResult(url, "ok", final_url=current, http_status=status,
                                       body=body, content_type=ctype,
                                       etag=resp.headers.get("etag"),
                                       last_modified=resp.headers.get("last-modified")), None
        except httpx.TransportError as exc:
            if watch.ended(exc):
                return FetchResult(url, "soft", final_url=current,
                                   reason=watch.reason(settings)), None
            if isinstance(exc, httpx.TimeoutException):
                return FetchResult(url, "soft", final_url=current,
                                   reason=f"timeout: {type(exc).__name__}"), None
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
    says, up to `retry_after_cap`). Other 4xx, refusals and limits are final at once. The
    deadline counts from here, across attempts, waits and the host's gate; with a client from
    make_client() no socket operation outlasts it (with another, it is checked between the
    body's chunks only).
    """
    started = time.monotonic()
    deadline = started + settings.deadline
    watch = _Watch(deadline)
    token = _WATCH.set(watch)
    try:
        attempt = 0
        while True:
            attempt += 1
            res, wait = _attempt(client, url, settings, kind, validators, watch, resolver,
                                 gate)
            retryable = res.outcome == "soft" and not (res.reason or "").startswith("deadline")
            if not retryable or attempt > settings.retries:
                break
            if wait is not None and wait > settings.retry_after_cap:
                res = replace(res, reason=f"{res.reason}; Retry-After {wait:g}s exceeds the cap "
                                          f"of {settings.retry_after_cap:g}s, not retried this run")
                break
            if wait is None:
                wait = settings.backoff * 2 ** (attempt - 1) * random.uniform(0.5, 1.5)
            if time.monotonic() + wait >= deadline:
                break
            sleep(wait)
    finally:
        _WATCH.reset(token)
    elapsed = int((time.monotonic() - started) * 1000)
    reason = res.reason
    if attempt > 1 and res.outcome != "ok":
        reason = f"{reason} (after {attempt} attempts)"
    return replace(res, elapsed_ms=elapsed, attempts=attempt, reason=reason)


_TLS_LOCK = threading.Lock()


@functools.cache
def _built_tls_context() -> ssl.SSLContext:
    return httpx.create_ssl_context(trust_env=False)


def tls_context() -> ssl.SSLContext:
    """The verifying TLS context every client shares (httpx's default: certifi's CA bundle).
    Building one reads the bundle, ~15 ms of CPU; a run makes a client per outlet, each in
    its own thread, all at once: without the lock each of them built its own (20 outlets:
    ~0.5 s of CPU at the start of every run, a no-op's included)."""
    with _TLS_LOCK:
        return _built_tls_context()


def make_client(settings: FetchSettings) -> httpx.Client:
    """The client fetch() expects: its pool sends through _DeadlineBackend, so the running
    fetch()'s deadline holds on every socket operation (see the module's docstring). The pool
    may be shared by threads: an HTTP/1.1 connection serves one request at a time, and the
    deadline applied to it is that of the thread using it (HTTP/2, which would multiplex
    threads' requests on one connection, stays off)."""
    timeout = httpx.Timeout(settings.timeout, connect=settings.connect_timeout)
    limits = httpx.Limits(max_connections=settings.concurrency * 2,
                          max_keepalive_connections=settings.concurrency)
    transport = httpx.HTTPTransport(verify=tls_context(), trust_env=False, limits=limits)
    # httpx takes no network backend: the pool it sends through is replaced by the one it
    # builds for these arguments, with ours (tests/test_fetch_faults.py fails without it).
    transport._pool = httpcore.ConnectionPool(
        ssl_context=tls_context(), max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry, network_backend=_DeadlineBackend())
    return httpx.Client(timeout=timeout, transport=transport, trust_env=False)

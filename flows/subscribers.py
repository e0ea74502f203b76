"""Digest subscribers: who gets what, where and how often (`[[subscribers]]` in sources.toml).

A subscriber has one or more channels: an email address, an apprise URL for chat
(`slack://…`, `tgram://…`, `mmost://…`, `matrix://…`, `json://…`) or a structured JSON webhook
(`webhook+https://host/path`). `${NAME}` in a URL is replaced by the environment variable NAME
when the digest is sent, so secrets never live in the file or the warehouse: the delivery log
keys a chat channel by scheme, host and a hash of the URL as written (before expansion).

Email addresses: a domain may be internationalised (`desk@пример.рф`); mail carries it as
punycode (`desk@xn--e1afmkfd.xn--p1ai`, `ascii_address`), which every server accepts. A local
part (before the `@`) that is not ASCII is refused when the file is read: it can only be sent
through servers that all speak SMTPUTF8, and a digest that a server cannot take would be
retried every run, never delivered. The sender (`[digest] sender`) is checked the same way.

The delivery log keys an email channel by `email_key`: the address lowercased with its domain
as punycode, so `desk@пример.рф` and `desk@xn--e1afmkfd.xn--p1ai` are one channel (one
mailbox: otherwise both spellings, or a spelling changed between two runs, would get every
item again). The local part is lowercased as it always was, so that keys logged by earlier
releases still match; migration 0018 rewrote keys logged under a Unicode domain.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import idna

CADENCES = {"hourly": timedelta(hours=1), "daily": timedelta(days=1),
            "weekly": timedelta(days=7)}
EMAIL_RE = re.compile(r"^[^@\s<>\"'()\[\],;:]+@[^@\s<>\"'()\[\],;:]+$")
URL_RE = re.compile(r"^([a-z][a-z0-9+.-]*)://\S+$")
ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,63}$")


class MissingSecret(LookupError):
    """A `${NAME}` in a channel URL names an environment variable that is not set."""


@dataclass(frozen=True)
class Channel:
    kind: str      # email | chat | webhook
    target: str    # the address, or the URL as written (with ${NAME} unexpanded)

    @property
    def key(self) -> str:
        """Stable id in the delivery log; never contains an expanded secret."""
        if self.kind == "email":
            return email_key(self.target)
        m = re.match(r"^([a-z0-9+.-]+)://([^/?#]*)", self.target)
        scheme, rest = (m.group(1), m.group(2)) if m else ("?", "")
        host = rest.rsplit("@", 1)[-1]   # drop user:password@
        if "$" in host or scheme in ("tgram", "slack", "discord"):
            host = ""                    # these carry tokens where a host would be
        digest = hashlib.sha256(self.target.encode()).hexdigest()[:10]
        return f"{self.kind}:{scheme}://{host}#{digest}"

    @property
    def scheme(self) -> str:
        return self.target.split("://", 1)[0] if self.kind != "email" else "email"

    def resolved(self, env: Mapping[str, str] | None = None) -> str:
        """The target with `${NAME}` expanded; raises MissingSecret naming the variable."""
        env = os.environ if env is None else env

        def sub(m: re.Match[str]) -> str:
            if m.group(1) not in env:
                raise MissingSecret(f"environment variable {m.group(1)} is not set")
            return env[m.group(1)]

        return ENV_RE.sub(sub, self.target)


@dataclass(frozen=True)
class Subscriber:
    name: str
    channels: tuple[Channel, ...]
    topics: tuple[str, ...] = ()       # empty: every topic
    languages: tuple[str, ...] = ()    # empty: every language
    outlets: tuple[str, ...] = ()      # source keys; empty: every outlet
    cadence: str = "daily"
    min_score: int = 0

    @property
    def period(self) -> timedelta:
        return CADENCES[self.cadence]


def ascii_domain(domain: str) -> str:
    """A mail domain as it goes on the wire: an internationalised one as punycode (IDNA 2008
    with the UTS #46 mapping, as browsers and mail clients use); raises idna.IDNAError when it
    cannot be one. ASCII domains are returned as they are."""
    if domain.isascii():
        return domain
    return idna.encode(domain, uts46=True).decode("ascii")


def email_key(address: str) -> str:
    """The delivery-log key of an email channel: one per mailbox however its domain is spelt
    (Unicode or punycode, any case). The local part is lowercased too, as keys always were
    (changing that would make every mixed-case address of an existing warehouse a new
    channel). A domain that is no valid IDN is kept as written (such addresses are refused
    when the file is read; this only runs over old log rows)."""
    local, _, domain = address.rpartition("@")
    with contextlib.suppress(idna.IDNAError):
        domain = ascii_domain(domain)
    return f"email:{local}@{domain}".lower()


def channel_key(key: str) -> str:
    """A delivery-log key as this release writes it: an email key by `email_key`, any other
    as it is. For the migration that rewrote keys logged before (warehouse/db.py)."""
    return email_key(key.removeprefix("email:")) if key.startswith("email:") else key


def sender_problem(sender: str) -> str | None:
    """Why `[digest] sender` (`address` or `Name <address>`) cannot go out by ordinary SMTP
    (it is the envelope sender as well as the From header), or None."""
    m = re.fullmatch(r"\s*(?:[^<>]*<([^<>]*)>|([^<>]*))\s*", sender)
    address = (m.group(1) if m and m.group(1) is not None else m.group(2) if m else "").strip()
    if not EMAIL_RE.match(address):
        return "not an email address (`address` or `Name <address>`)"
    return email_problem(address)


def email_problem(address: str) -> str | None:
    """Why an address that looks like one cannot be delivered by ordinary SMTP, or None."""
    local, _, domain = address.rpartition("@")
    if not local.isascii():
        return ("the part before @ is not ASCII: only mail servers that all speak SMTPUTF8 "
                "could deliver it; use an ASCII address for this mailbox")
    try:
        ascii_domain(domain)
    except idna.IDNAError as exc:
        return f"{domain!r} is not a valid internationalised domain name ({exc})"
    return None


def ascii_address(value: str) -> str:
    """An address, or `Name <address>`, with its internationalised domain as punycode; left as
    it is when the domain is ASCII or cannot be encoded."""
    m = re.search(r"@([^@\s<>]+)(>?\s*)$", value)
    if not m or m.group(1).isascii():
        return value
    try:
        domain = ascii_domain(m.group(1))
    except idna.IDNAError:
        return value
    return value[:m.start(1)] + domain + value[m.end(1):]


def channel_of(value: str) -> Channel | None:
    value = value.strip()
    if EMAIL_RE.match(value):
        return Channel("email", value)
    m = URL_RE.match(value)
    if not m:
        return None
    if m.group(1) in ("webhook+http", "webhook+https"):
        return Channel("webhook", value)
    return Channel("chat", value)


def _channels(r: Any) -> tuple[Channel, ...]:
    """The `email` and `chat` keys of a table (a string or a list each), in order, one per
    delivery-log key: an address written twice in different case is one mailbox, and two
    channels with one key would both claim the same items (a primary-key violation)."""
    channels: list[Channel] = []
    for key, kinds in (("email", ("email",)), ("chat", ("chat", "webhook"))):
        value = r.get(key, (str, list))
        values = [value] if isinstance(value, str) else r.strings(key)
        for v in values:
            ch = channel_of(v)
            if ch is None or ch.kind not in kinds:
                what = "an email address" if key == "email" else "an apprise or webhook URL"
                raise r.fail(key, f"not {what}: {v!r}")
            problem = email_problem(ch.target) if ch.kind == "email" else None
            if problem:
                raise r.fail(key, f"cannot deliver to {v!r}: {problem}")
            channels.append(ch)
    unique: dict[str, Channel] = {}
    for ch in channels:
        unique.setdefault(ch.key, ch)
    return tuple(unique.values())


def parse_operator(r: Any) -> tuple[Channel, ...]:
    """`[operator]`: the channels that receive outlet incidents (failing, gone quiet,
    recovered), in the subscribers' syntax; `r` is a settings `_Reader` for the table."""
    r.check_keys({"email", "chat"})
    return _channels(r)


def parse_subscribers(raw: Any, reader: Callable[[dict, int], Any],
                      fail: Callable[[str], Exception], source_keys: set[str],
                      langs: tuple[str, ...],
                      is_topic: Callable[[str], bool] | None = None,
                      topics_file: Path | None = None) -> tuple[Subscriber, ...]:
    """`reader(table, i)` gives a settings `_Reader` for the i-th [[subscribers]] table;
    `is_topic(name)` whether `topics_file` has that topic (None: not checked)."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise fail("subscribers must be an array of tables: [[subscribers]]")
    out: list[Subscriber] = []
    for i, table in enumerate(raw):
        r = reader(table, i)
        r.check_keys({"name", "email", "chat", "topics", "languages", "outlets", "cadence",
                      "min_score"})
        name = r.get("name", str, required=True)
        if not NAME_RE.match(name) or name in {s.name for s in out}:
            raise r.fail("name", f"{name!r} must be unique, 1-64 letters, digits or _.@+-")
        channels = _channels(r)
        if not channels:
            raise r.fail("email", "a subscriber needs at least one `email` or `chat` channel")
        languages = r.strings("languages")
        for lang in languages:
            if lang not in (*langs, "und"):
                raise r.fail("languages", f"{lang!r} is not one of {', '.join(langs)}, und")
        outlets = r.strings("outlets")
        for key in outlets:
            if key not in source_keys:
                raise r.fail("outlets", f"{key!r} is not the key of a [[sources]] entry")
        cadence = r.get("cadence", str, "daily")
        if cadence not in CADENCES:
            raise r.fail("cadence", f"{cadence!r} is not one of {', '.join(CADENCES)}")
        min_score = r.get("min_score", int, 0)
        if min_score < 0:
            raise r.fail("min_score", f"must be >= 0, got {min_score}")
        wanted = r.strings("topics")
        unknown = [t for t in wanted if is_topic is not None and not is_topic(t)]
        if unknown:
            raise r.fail("topics", f"{unknown[0]!r} is not a topic of {topics_file}")
        out.append(Subscriber(name, channels, wanted, languages, outlets, cadence, min_score))
    return tuple(out)


def legacy(recipients: tuple[str, ...], fail: Callable[[str], Exception] | None = None
           ) -> tuple[Subscriber, ...]:
    """`[digest] recipients`: each address is a daily email subscriber without filters, named by
    its address (so the log migrated from the foundation's `delivery` table still applies; an
    internationalised domain as punycode: `ascii_address`). An address spelt twice (another
    case, Unicode and punycode) is one subscriber, the first spelling.
    An address no ordinary SMTP server can take raises `fail(message)` (by default a
    ConfigError naming `[digest] recipients`)."""
    for addr in recipients:
        problem = email_problem(addr)
        if problem:
            message = f"cannot deliver to {addr!r}: {problem}"
            if fail is not None:
                raise fail(message)
            from flows.settings import ConfigError  # here: flows.settings imports this module

            raise ConfigError(f"[digest] recipients: {message}")
    unique: dict[str, Subscriber] = {}   # one per mailbox: an address spelt twice is one
    for addr in recipients:
        ch = Channel("email", addr)
        unique.setdefault(ch.key, Subscriber(ascii_address(addr), (ch,)))
    return tuple(unique.values())

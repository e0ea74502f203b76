"""The only module that sends mail: to an outbox folder by default, by SMTP when configured.

SMTP settings come from the environment only (secrets never live in committed files):
  MIGWATCH_SMTP_HOST       server name; when unset, digests go to the outbox folder
  MIGWATCH_SMTP_PORT       default 587 (starttls), 465 (ssl) or 25 (none)
  MIGWATCH_SMTP_SECURITY   starttls (default) | ssl | none
  MIGWATCH_SMTP_USER, MIGWATCH_SMTP_PASSWORD   optional login
  MIGWATCH_SMTP_TIMEOUT    seconds, default 30
  MIGWATCH_SMTP_CA_FILE    optional PEM file of CA certificates to trust (a private CA or a
                           self-signed server); the system's CAs otherwise

Internationalised domains in the address headers (`desk@пример.рф`) are written as punycode
before a message is sent or written to the outbox, so the headers and the SMTP envelope are
ASCII and no server needs SMTPUTF8 (flows/subscribers.py refuses non-ASCII local parts).
"""

from __future__ import annotations

import os
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from functools import lru_cache
from pathlib import Path

import idna

from flows.settings import ConfigError
from flows.subscribers import ascii_domain


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: str
    user: str | None = None
    password: str | None = None
    timeout: float = 30.0
    ca_file: str | None = None

    def describe(self) -> str:
        return f"smtp://{self.host}:{self.port} ({self.security})"


class SmtpEnvError(ConfigError):
    """A MIGWATCH_SMTP_* variable is set to something unusable; the message names it (a
    configuration error: the command exits 2)."""


def _number(env: Mapping[str, str], name: str, default: float, kind: type) -> float:
    value = env.get(name)
    if value is None or value == "":
        return default
    try:
        number = kind(value)
    except ValueError:
        raise SmtpEnvError(f"{name} must be a {'whole ' if kind is int else ''}number, "
                           f"not {value!r}") from None
    if number <= 0:
        raise SmtpEnvError(f"{name} must be positive, not {value!r}")
    return number


def smtp_from_env(env: Mapping[str, str] | None = None) -> SmtpSettings | None:
    env = os.environ if env is None else env
    host = env.get("MIGWATCH_SMTP_HOST")
    if not host:
        return None
    security = env.get("MIGWATCH_SMTP_SECURITY", "starttls").lower()
    if security not in ("starttls", "ssl", "none"):
        raise SmtpEnvError(
            f"MIGWATCH_SMTP_SECURITY must be starttls, ssl or none, not {security!r}")
    default_port = {"starttls": 587, "ssl": 465, "none": 25}[security]
    return SmtpSettings(host=host, port=int(_number(env, "MIGWATCH_SMTP_PORT", default_port, int)),
                        security=security, user=env.get("MIGWATCH_SMTP_USER") or None,
                        password=env.get("MIGWATCH_SMTP_PASSWORD") or None,
                        timeout=_number(env, "MIGWATCH_SMTP_TIMEOUT", 30.0, float),
                        ca_file=env.get("MIGWATCH_SMTP_CA_FILE") or None)


ADDRESS_HEADERS = ("From", "Sender", "Reply-To", "To", "Cc")


def ascii_domains(msg: EmailMessage) -> EmailMessage:
    """`msg` (changed in place) with every internationalised domain of its address headers
    as punycode; display names and ASCII addresses are left as they are."""
    for name in ADDRESS_HEADERS:
        header = msg.get(name)
        addresses = getattr(header, "addresses", ())
        if header is None or str(header).isascii() or not addresses:
            continue
        fixed = []
        for a in addresses:
            try:
                domain = ascii_domain(a.domain)
            except idna.IDNAError:
                domain = a.domain
            fixed.append(Address(a.display_name, a.username, domain))
        if [a.domain for a in fixed] != [a.domain for a in addresses]:
            msg.replace_header(name, ", ".join(str(a) for a in fixed))
    return msg


def write_outbox(msg: EmailMessage, outbox: Path, name: str) -> Path:
    """Atomic: the .eml appears whole or not at all (write, fsync, rename)."""
    ascii_domains(msg)
    outbox.mkdir(parents=True, exist_ok=True)
    final = outbox / f"{name}.eml"
    tmp = outbox / f".{name}.eml.tmp"
    with open(tmp, "wb") as fh:
        fh.write(msg.as_bytes())
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, final)
    return final


@lru_cache(maxsize=4)
def _tls_context(ca_file: str | None) -> ssl.SSLContext:
    """Loading the system's CAs costs ~50 ms: once per process, not once per message."""
    return ssl.create_default_context(cafile=ca_file)


def send_smtp(msg: EmailMessage, smtp: SmtpSettings) -> None:
    """Raises smtplib/OSError on failure: the caller records the digest as not delivered."""
    ascii_domains(msg)
    context = _tls_context(smtp.ca_file)
    client: smtplib.SMTP
    if smtp.security == "ssl":
        client = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=smtp.timeout, context=context)
    else:
        client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout)
    with client:
        if smtp.security == "starttls":
            client.starttls(context=context)
        if smtp.user:
            client.login(smtp.user, smtp.password or "")
        client.send_message(msg)

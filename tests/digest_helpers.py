"""Shared by the digest tests: a small filled warehouse, an SMTP sink (aiosmtpd) with optional
TLS and login, one slow to accept, a self-signed certificate, and an HTTP server that records
chat posts (and their headers), optionally answering late."""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import ipaddress
import json
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from flows.settings import Settings, parse_settings
from tests.conftest import free_port
from tests.helpers import RULES, article
from warehouse import store
from warehouse.db import connect, transaction

BAN = ("Russia extended the entry ban for {n} Tajik citizens, the Interior Ministry said. "
       "The entry ban applies to migrants with two administrative offences. ") * 4
EVIL = '<script>alert(1)</script> "><img onerror=alert(1)> [click](http://evil) @channel'


def settings_text(tmp_path: Path, extra: str = "") -> str:
    (tmp_path / "rules.toml").write_text(RULES, encoding="utf-8")
    return f"""
[digest]
recipients = ["a@example.org", "b@example.org"]
outbox = "{tmp_path / 'outbox'}"
[topics]
rules = "rules.toml"
[[sources]]
key = "asiaplus_en"
name = "Asia-Plus"
feeds = ["https://asiaplustj.info/en/rss"]
[[sources]]
key = "ozodi"
name = "Ozodi"
feeds = ["https://www.ozodi.org/rss"]
{extra}"""


def fill(db: Path, settings: Settings, items: list[tuple[str, str, str, str]],
         fetched_at: dt.datetime | None = None, is_seed: bool = False,
         published_at: list[dt.datetime | None] | None = None) -> list[int]:
    """Store (source, url, title, text) articles as ingest does (copies recognised, tagged),
    in this order, in one transaction; `fetched_at` pretends they were fetched then;
    `published_at`, one per item, what their pages state (default: nothing). Returns their
    ids."""
    from flows.stages.topics import load_rules

    con = connect(db)
    store.load_rules(con, load_rules(settings.topics_path))
    with transaction(con):
        ids = []
        for k, (source, url, title, text) in enumerate(items):
            art = replace(article(title, text, url), source=source, is_seed=is_seed)
            if fetched_at is not None:
                art = replace(art, fetched_at=fetched_at)
            if published_at is not None:
                art = replace(art, published_at=published_at[k])
            s = store.insert_article(con, art, None, 0.8, 4)
            assert s
            ids.append(s.id)
        store.apply_topics(con, ids)
    con.close()
    return ids


def filled_settings(tmp_path: Path, db: Path, extra: str = "") -> Settings:
    text = settings_text(tmp_path, extra)
    (tmp_path / "sources.toml").write_text(text, encoding="utf-8")
    settings = parse_settings(text, tmp_path / "sources.toml")
    fill(db, settings, [
        ("asiaplus_en", "https://asiaplustj.info/en/1", "Entry ban extended",
         BAN.format(n="5,000")),
        ("ozodi", "https://ozodi.org/a/2", "Entry ban extended (copy)", BAN.format(n="5,000")),
        ("asiaplus_en", "https://asiaplustj.info/en/3", f"{EVIL} remittances",
         "Tajik migrants sent remittances worth $2.5 billion; remittances fell. " * 3),
        ("asiaplus_en", "https://asiaplustj.info/en/4", "Football: Istiklol wins",
         "Istiklol won the Tajik league final on Sunday in Dushanbe. " * 8),
    ])
    return settings


def ban_rows(n: int, now: dt.datetime) -> list[dict[str, Any]]:
    """`n` candidate rows of one topic, long enough to fill a chat message's limit."""
    return [{"id": i, "title": f"Story {i} about entry bans " + "x" * 60,
             "url": f"https://e.org/{i}", "source": "ozodi", "published_at": now, "lang": "en",
             "text": "Entry ban story. " * 5, "topic": "entry_bans", "score": 5,
             "evidence": ["entry ban*"], "also": None} for i in range(n)]


def parse(path_or_bytes: Path | bytes) -> EmailMessage:
    raw = path_or_bytes.read_bytes() if isinstance(path_or_bytes, Path) else path_or_bytes
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def parts(msg: EmailMessage) -> tuple[str, str]:
    text = msg.get_body(preferencelist=("plain",))
    html = msg.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


class Sink:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.logins: list[str] = []
        self.refuse: set[str] = set()      # recipients answered 550

    async def handle_RCPT(self, server: object, session: object, envelope: object,
                          address: str, rcpt_options: list[str]) -> str:
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)  # type: ignore[attr-defined]
        return "250 OK"

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        self.messages.append(parse(envelope.content))  # type: ignore[attr-defined]
        return "250 OK"

    def authenticate(self, server: object, session: object, envelope: object, mechanism: str,
                     auth_data: object) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login == b"digest"
              and auth_data.password == b"s3cret")
        if ok:
            self.logins.append("digest")
        return AuthResult(success=ok)


class SlowSink(Sink):
    """An SMTP server slow to accept, under the test's control: from the `hold_from`-th
    message on, DATA is answered only once the test sets `go` (as a server taking 40 s a
    message would); `waiting` is set while a message is held. With `refuse_held`, a held
    message is refused (451) when let go instead of accepted."""

    def __init__(self, hold_from: int = 1) -> None:
        super().__init__()
        self.hold_from = hold_from
        self.seen = 0                      # messages that reached DATA
        self.waiting = threading.Event()
        self.go = threading.Event()
        self.refuse_held = False

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        self.seen += 1
        if self.seen >= self.hold_from and not self.go.is_set():
            self.waiting.set()
            while not self.go.is_set():
                await asyncio.sleep(0.05)
            if self.refuse_held:
                return "451 4.3.0 try again later"
        return await super().handle_DATA(server, session, envelope)


def tls_files(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (it is its own CA for the client)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "smtp.crt", tmp_path / "smtp.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@contextmanager
def smtp_server(security: str, cert: Path | None = None, key: Path | None = None,
                login: bool = False, sink: Sink | None = None) -> Iterator[tuple[Sink, int]]:
    """aiosmtpd on loopback: security none | starttls (required) | ssl (implicit TLS)."""
    sink = sink or Sink()
    port = free_port()
    kwargs: dict[str, Any] = {}
    if security != "none":
        assert cert and key
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert, key)
        kwargs = ({"tls_context": ctx, "require_starttls": True} if security == "starttls"
                  else {"ssl_context": ctx})
    if login:
        kwargs |= {"authenticator": sink.authenticate, "auth_required": True,
                   "auth_require_tls": security == "starttls"}
    controller = Controller(sink, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()


class ChatSink:
    """An HTTP server on loopback recording every POST (`posts`, and their headers in
    `headers`); `fail` paths answer 500; a path in `delay` answers that many seconds late
    (recorded all the same: the receiver took it, the sender may have given up)."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict[str, Any]]] = []
        self.headers: list[dict[str, str]] = []
        self.fail: set[str] = set()
        self.delay: dict[str, float] = {}
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                path = self.path.split("?")[0]
                status = 500 if path in sink.fail else 200
                if status == 200:
                    sink.posts.append((path, json.loads(body or b"{}")))
                    sink.headers.append(dict(self.headers.items()))
                time.sleep(sink.delay.get(path, 0.0))
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:   # the sender gave up waiting and closed the connection
                    pass

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> ChatSink:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def paths(self) -> list[str]:
        return [p for p, _ in self.posts]

"""Digests: composed from a real warehouse, written to an outbox or sent to a real SMTP
server on loopback, recorded so that no article is sent twice."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from dataclasses import replace
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from alerts.mailer import SmtpSettings, smtp_from_env
from flows.digest import deliver_one
from flows.settings import Settings, parse_settings
from tests.conftest import dead_port, free_port
from tests.helpers import RULES, article
from warehouse import deliveries, store
from warehouse.db import connect, transaction

BAN = ("Russia extended the entry ban for {n} Tajik citizens, the Interior Ministry said. "
       "The entry ban applies to migrants with two administrative offences. ") * 4


def _settings(tmp_path: Path) -> Settings:
    (tmp_path / "rules.toml").write_text(RULES, encoding="utf-8")
    text = f"""
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
"""
    return parse_settings(text, tmp_path / "sources.toml")


def _fill(db: Path, settings: Settings, items: list[tuple[str, str, str, str]]) -> None:
    from flows.stages.topics import load_rules

    con = connect(db)
    store.load_rules(con, load_rules(settings.topics_path))
    with transaction(con):
        ids = []
        for source, url, title, text in items:
            s = store.insert_article(con, replace(article(title, text, url), source=source),
                                     None, 0.8, 4)
            assert s
            ids.append(s.id)
        store.apply_topics(con, ids)
    con.close()


@pytest.fixture
def filled(tmp_path: Path, db_path: Path) -> Settings:
    settings = _settings(tmp_path)
    _fill(db_path, settings, [
        ("asiaplus_en", "https://asiaplustj.info/en/1", "Entry ban extended",
         BAN.format(n="5,000")),
        ("ozodi", "https://ozodi.org/a/2", "Entry ban extended (copy)", BAN.format(n="5,000")),
        ("asiaplus_en", "https://asiaplustj.info/en/3", "<script>alert(1)</script> remittances",
         "Tajik migrants sent remittances worth $2.5 billion; remittances fell. " * 3),
        ("asiaplus_en", "https://asiaplustj.info/en/4", "Football: Istiklol wins",
         "Istiklol won the Tajik league final on Sunday in Dushanbe. " * 8),
    ])
    return settings


def _parse(path: Path) -> EmailMessage:
    msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def _parts(msg: EmailMessage) -> tuple[str, str]:
    text = msg.get_body(preferencelist=("plain",))
    html = msg.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


def test_outbox_digest_reads_well_and_lists_each_article_once(filled: Settings, db_path: Path
                                                              ) -> None:
    result = deliver_one(db_path, filled, "a@example.org", None)
    assert result.error is None and result.n_items == 2 and result.location
    msg = _parse(Path(result.location))
    assert msg.get_content_type() == "multipart/alternative"
    assert "2 new articles" in msg["Subject"] and "Entry bans (1)" in msg["Subject"]
    text, html = _parts(msg)
    for part in (text, html):
        assert part.count("asiaplustj.info/en/1") == 1      # once, though two topics could
        assert "ozodi.org/a/2" not in part                  # the copy is not an item ...
        assert "Football" not in part                       # off-topic is not sent
    assert "Also reported by Ozodi" in html and "Also reported by: Ozodi" in text
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    assert html.index("Entry bans") < html.index("Remittances")


def test_no_article_twice_for_the_same_recipient(filled: Settings, db_path: Path) -> None:
    assert deliver_one(db_path, filled, "a@example.org", None).n_items == 2
    again = deliver_one(db_path, filled, "a@example.org", None)
    assert again.n_items == 0 and again.digest_id is None
    assert deliver_one(db_path, filled, "b@example.org", None).n_items == 2
    _fill(db_path, filled, [("ozodi", "https://ozodi.org/a/9", "New entry ban",
                             BAN.format(n="12,000 more") + " A different story altogether, "
                             "about a new list of banned Tajik citizens published in Moscow.")])
    assert deliver_one(db_path, filled, "a@example.org", None).n_items == 1


class Sink:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        raw = envelope.content  # type: ignore[attr-defined]
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        self.messages.append(msg)
        return "250 OK"


@pytest.fixture
def smtp_sink() -> Iterator[tuple[Sink, int]]:
    sink = Sink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()


def test_smtp_settings_come_from_the_environment() -> None:
    assert smtp_from_env({}) is None
    s = smtp_from_env({"MIGWATCH_SMTP_HOST": "mail.local", "MIGWATCH_SMTP_SECURITY": "ssl",
                       "MIGWATCH_SMTP_USER": "u", "MIGWATCH_SMTP_PASSWORD": "p"})
    assert s == SmtpSettings("mail.local", 465, "ssl", "u", "p", 30.0)
    with pytest.raises(ValueError, match="starttls, ssl or none"):
        smtp_from_env({"MIGWATCH_SMTP_HOST": "x", "MIGWATCH_SMTP_SECURITY": "tls1"})


def test_smtp_delivery_to_a_real_server(filled: Settings, db_path: Path,
                                        smtp_sink: tuple[Sink, int]) -> None:
    sink, port = smtp_sink
    smtp = SmtpSettings("127.0.0.1", port, "none", timeout=10)
    result = deliver_one(db_path, filled, "a@example.org", smtp)
    assert result.error is None and result.n_items == 2
    assert len(sink.messages) == 1
    msg = sink.messages[0]
    assert msg["To"] == "a@example.org" and msg.get_content_type() == "multipart/alternative"
    assert "Entry ban extended" in _parts(msg)[1]
    assert deliver_one(db_path, filled, "a@example.org", smtp).n_items == 0
    assert len(sink.messages) == 1


def test_a_refusing_server_is_retried_next_run(filled: Settings, db_path: Path,
                                               smtp_sink: tuple[Sink, int]) -> None:
    down = SmtpSettings("127.0.0.1", dead_port(), "none", timeout=5)
    failed = deliver_one(db_path, filled, "a@example.org", down)
    assert failed.error and "Connection refused" in failed.error and failed.n_items == 0
    sink, port = smtp_sink
    result = deliver_one(db_path, filled, "a@example.org", SmtpSettings("127.0.0.1", port, "none"))
    assert result.n_items == 2 and len(sink.messages) == 1


def test_a_crash_between_send_and_record_is_settled_next_run(filled: Settings, db_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    """Outbox written, process dies before `confirm`: next run confirms, sends nothing again."""

    def die(*_a: object, **_k: object) -> None:
        raise SystemExit("killed after writing the outbox file")

    monkeypatch.setattr(deliveries, "confirm", die)
    with pytest.raises(SystemExit):
        deliver_one(db_path, filled, "a@example.org", None)
    monkeypatch.undo()
    written = list((filled.digest.outbox).glob("*.eml"))
    assert len(written) == 1
    again = deliver_one(db_path, filled, "a@example.org", None)
    assert again.n_items == 0
    assert len(list(filled.digest.outbox.glob("*.eml"))) == 1
    con = connect(db_path, read_only=True)
    assert con.execute("SELECT status FROM digest").fetchall() == [("delivered",)]


def test_a_crash_before_the_send_releases_the_items(filled: Settings, db_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import flows.digest

    def die(*_a: object, **_k: object) -> None:
        raise SystemExit("killed before writing")

    monkeypatch.setattr(flows.digest, "write_outbox", die)
    with pytest.raises(SystemExit):
        deliver_one(db_path, filled, "a@example.org", None)
    monkeypatch.undo()
    assert deliver_one(db_path, filled, "a@example.org", None).n_items == 2


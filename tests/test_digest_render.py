"""How a digest reads: dates in the digest's time zone (and saying "UTC" in UTC), the chart's
days named, snippets without a photo credit and a second copy of the title, and addresses
with an internationalised domain delivered as punycode (to a real SMTP server on loopback
that, like many, does not offer SMTPUTF8) or refused when the file is read."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb
import pytest
from aiosmtpd.controller import Controller

from alerts.chat import render_markdown
from alerts.compose import body_text, build_digest, render_email, render_html
from alerts.mailer import SmtpSettings, write_outbox
from flows.digest import run_digests
from flows.settings import ConfigError, Settings, parse_settings
from tests.conftest import free_port
from tests.digest_helpers import (
    Sink,
    fill,
    filled_settings,
    parse,
    parts,
    settings_text,
    smtp_server,
)

DUSHANBE = timezone(timedelta(hours=5))
# 00:30 on 7 December in Dushanbe (and 22:30 on the 6th in Moscow): 19:30 UTC on the 6th
STAMP = datetime(2026, 12, 7, 0, 30, tzinfo=DUSHANBE)
TITLE = "Russia: Police raids on Moscow building sites end in entry bans for Tajiks"
BODY = ("Police in Moscow detained more than 600 Tajik workers during raids on construction "
        "sites this week; courts ordered deportations and most were handed an entry ban. ") * 3


def _row(**over: Any) -> dict[str, Any]:
    row = {"id": 1, "title": TITLE, "url": "https://e.org/1", "source": "ozodi",
           "published_at": STAMP, "lang": "en", "text": BODY, "topic": "entry_bans",
           "score": 5, "evidence": ["entry ban*"], "also": None}
    return row | over


def _digest(tz: str | None = None, chart_tz: str | None = None, rows: list | None = None,
            created_at: datetime = datetime(2026, 12, 6, 20, 0, tzinfo=UTC)) -> Any:
    return build_digest("desk@example.org", rows or [_row()], {"entry_bans": "Entry bans"},
                        {"ozodi": "Ozodi"}, created_at, daily={"entry_bans": (1,) * 14},
                        tz=tz, chart_tz=chart_tz)


def test_dates_are_days_of_the_digests_zone_and_say_so_in_utc(tmp_path: Path) -> None:
    # the operator's zone (their readers'): the day it was published there, in every format
    local = _digest(tz="Asia/Dushanbe", chart_tz="Asia/Dushanbe")
    assert [i.date for i in local.items] == ["07 Dec 2026"] and local.date == "07 Dec 2026"
    eml = write_outbox(render_email(local, "migwatch@localhost", "d1"), tmp_path, "d1")
    text, html = parts(parse(eml))
    assert "Ozodi · 07 Dec 2026 · English" in text and "06 Dec" not in text
    assert "Ozodi · 07 Dec 2026 · English" in html and "digest · 07 Dec 2026<" in html
    assert "Dates are in Asia/Dushanbe time." in text and "Asia/Dushanbe time" in html
    [chat] = render_markdown(local, 2000)
    assert "— Ozodi, 07 Dec 2026, en" in chat
    moscow = _digest(tz="Europe/Moscow")
    assert moscow.items[0].date == "06 Dec 2026"      # 22:30 in Moscow
    # UTC (the default): the UTC day, saying so
    utc = _digest()
    assert utc.items[0].date == "06 Dec 2026 UTC" and utc.zone == "UTC"
    text, html = parts(render_email(utc, "migwatch@localhost", "d2"))
    assert "Ozodi · 06 Dec 2026 UTC · English" in text and "Dates are in UTC time." in text
    assert "— Ozodi, 06 Dec 2026 UTC, en" in render_markdown(utc, 2000)[0]
    # a naive timestamp is UTC (as stored); no date: said so
    naive = _digest(tz="Asia/Dushanbe", rows=[_row(published_at=datetime(2026, 12, 6, 19, 30))])
    assert naive.items[0].date == "07 Dec 2026"
    assert _digest(rows=[_row(published_at=None)]).items[0].date == "date unknown"


def test_the_chart_names_the_zone_of_its_days_unless_it_is_the_items() -> None:
    # counted in UTC days (as the warehouse counts them today), shown in UTC: "UTC days"
    assert "last 14 days (UTC days)</td>" in render_html(_digest(), "d")
    # items in Dushanbe time, chart still in UTC days: the reader is told which days
    mixed = render_html(_digest(tz="Asia/Dushanbe"), "d")
    assert "last 14 days (UTC days)</td>" in mixed
    # both in Dushanbe days: consistent, nothing to say
    same = render_html(_digest(tz="Asia/Dushanbe", chart_tz="Asia/Dushanbe"), "d")
    assert "Articles per day, last 14 days</td>" in same


def _store_stamped(db: Path, settings: Settings, title: str, text: str,
                   published: datetime) -> int:
    [aid] = fill(db, settings, [("ozodi", "https://ozodi.org/a/77", title, text)])
    with duckdb.connect(str(db)) as con:
        con.execute("UPDATE doc SET published_at = ? WHERE id = ?", [published, aid])
    return aid


def test_a_digest_from_the_warehouse_shows_utc_dates_as_utc(tmp_path: Path, db_path: Path
                                                            ) -> None:
    settings = filled_settings(tmp_path, db_path)
    _store_stamped(db_path, settings, TITLE, BODY, STAMP)
    [result] = run_digests(db_path, settings, None, only="a@example.org")
    text, html = parts(parse(Path(result.location or "")))
    assert "Ozodi · 06 Dec 2026 UTC · English" in text and "06 Dec 2026 UTC" in html
    assert "Dates are in UTC time." in text and "(UTC days)" in html


def test_the_schedule_timezone_is_the_digests_zone(tmp_path: Path, db_path: Path) -> None:
    settings = filled_settings(tmp_path, db_path, '[schedule]\ntimezone = "Asia/Dushanbe"\n')
    _store_stamped(db_path, settings, TITLE, BODY, STAMP)
    [result] = run_digests(db_path, settings, None, only="a@example.org")
    text, _ = parts(parse(Path(result.location or "")))
    assert "Ozodi · 07 Dec 2026 · English" in text


@pytest.mark.parametrize("credit", [
    "Photo: Reuters/Maxim Shemetov", "Фото: Reuters/Максим Шеметов", "Сурат: Озодӣ",
    "Source: Eurasianet", "© AP Photo/Alexander Zemlianichenko",
])
def test_a_credit_line_and_the_title_after_it_are_not_the_snippet(credit: str) -> None:
    for text in (f"{TITLE}\n{credit}\n{TITLE}\n{BODY}",      # as the tester's page extracted
                 f"{credit}\n{TITLE}\n{BODY}",
                 f"{credit} {TITLE} {BODY}"):                 # one paragraph
        assert body_text(TITLE, text).startswith("Police in Moscow detained"), text


def test_a_credit_is_removed_only_where_it_cannot_be_a_real_sentence() -> None:
    # a picture's caption on a line of its own goes, title or not
    assert body_text(TITLE, f"Photo: Reuters\n{BODY}").startswith("Police in Moscow")
    # "Source:" may begin the article: kept unless the title follows
    first = "Source: the Interior Ministry said 5,000 Tajik citizens were banned this year."
    assert body_text(TITLE, f"{first}\n{BODY}").startswith(first)
    # a caption run into the text: where it ends is unknown, so nothing goes
    run_on = f"Photo: Reuters {BODY}"
    assert body_text(TITLE, run_on).startswith("Photo: Reuters Police")
    # words that only look like a credit
    looks = f"Photographs of the raids: {BODY}"
    assert body_text(TITLE, looks).startswith("Photographs of the raids")
    # nothing much left after them: the whole text, as before
    assert body_text(TITLE, f"Photo: AP\n{TITLE}\nShort.") == f"Photo: AP {TITLE} Short."


def test_the_snippet_in_a_sent_digest_skips_credit_and_title(tmp_path: Path, db_path: Path
                                                              ) -> None:
    settings = filled_settings(tmp_path, db_path)
    _store_stamped(db_path, settings, TITLE,
                   f"{TITLE}\nPhoto: Reuters/Maxim Shemetov\n{TITLE}\n{BODY}", STAMP)
    [result] = run_digests(db_path, settings, None, only="a@example.org")
    text, html = parts(parse(Path(result.location or "")))
    assert f"{TITLE}\n  Ozodi" in text and "Photo: Reuters" not in text
    assert text.count("Police raids on Moscow building sites") == 1
    assert "Photo: Reuters" not in html


IDN = "desk@пример.рф"
PUNY = "desk@xn--e1afmkfd.xn--p1ai"


class RecordingSink(Sink):
    """Remembers the SMTP envelope (MAIL FROM, RCPT TO) as the server received it."""

    def __init__(self) -> None:
        super().__init__()
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return await super().handle_DATA(server, session, envelope)


def _idn_settings(tmp_path: Path, db: Path) -> Settings:
    settings = filled_settings(tmp_path, db, f'[[subscribers]]\nname = "idn"\nemail = "{IDN}"\n')
    return replace(settings, digest=replace(settings.digest,
                                            sender="Мигвотч — дайджест <digest@пример.рф>"))


@contextmanager
def plain_smtp(sink: RecordingSink) -> Iterator[int]:
    """aiosmtpd on loopback that, like many servers, does not offer SMTPUTF8 (aiosmtpd's
    Controller, which tests.digest_helpers.smtp_server uses, offers it by default)."""
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port, enable_SMTPUTF8=False)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


def test_an_idn_address_is_delivered_as_punycode_without_smtputf8(tmp_path: Path,
                                                                   db_path: Path) -> None:
    settings = _idn_settings(tmp_path, db_path)
    sink = RecordingSink()
    with plain_smtp(sink) as port:
        smtp = SmtpSettings("127.0.0.1", port, "none", timeout=10)
        [result] = run_digests(db_path, settings, smtp, only="idn")
    assert result.error is None and result.n_items == 2
    assert sink.envelopes == [("digest@xn--e1afmkfd.xn--p1ai", [PUNY])]
    [msg] = sink.messages
    assert msg["To"] == PUNY
    assert msg["From"].addresses[0].domain == "xn--e1afmkfd.xn--p1ai"
    assert msg["From"].addresses[0].display_name == "Мигвотч — дайджест"
    assert f"for idn ({IDN})" in parts(msg)[0]       # the reader sees it as written
    # a server offering SMTPUTF8 gets the same ASCII envelope
    with smtp_server("none", sink=RecordingSink()) as (utf8_sink, port):
        assert isinstance(utf8_sink, RecordingSink)
        later = datetime.now(UTC) + timedelta(days=1)
        fill(db_path, settings, [("ozodi", "https://ozodi.org/a/78", "New entry ban list",
                                  BODY.replace("600", "900"))])
        [again] = run_digests(db_path, settings, SmtpSettings("127.0.0.1", port, "none",
                                                              timeout=10),
                              now=later, only="idn")
        assert again.error is None and again.n_items == 1
        assert [rcpt for _, rcpt in utf8_sink.envelopes] == [[PUNY]]


def test_an_idn_address_in_the_outbox_has_a_valid_to_header(tmp_path: Path, db_path: Path
                                                            ) -> None:
    settings = _idn_settings(tmp_path, db_path)
    [result] = run_digests(db_path, settings, None, only="idn")
    raw = Path(result.location or "").read_bytes()
    assert f"\nTo: {PUNY}\n".encode() in raw and b"=?utf-8?" not in raw.split(b"\nTo:")[1][:60]
    assert raw.isascii()
    # an operator alert (built elsewhere) is mended on its way out too
    from email.message import EmailMessage

    alert = EmailMessage()
    alert["From"], alert["To"], alert["Subject"] = "migwatch@localhost", IDN, "incident"
    alert.set_content("x")
    eml = write_outbox(alert, tmp_path / "ops", "operator-1")
    assert parse(eml)["To"] == PUNY


@pytest.mark.parametrize(("table", "where"), [
    ('[[subscribers]]\nname = "x"\nemail = ["ok@пример.рф", "дежурный@пример.рф"]\n',
     "subscribers[0]"),
    ('[operator]\nemail = "дежурный@example.org"\n', "operator"),
])
def test_a_non_ascii_local_part_is_refused_when_the_file_is_read(tmp_path: Path, table: str,
                                                                 where: str) -> None:
    text = settings_text(tmp_path, table)
    with pytest.raises(ConfigError, match="part before @ is not ASCII") as info:
        parse_settings(text, tmp_path / "sources.toml")
    message = str(info.value)
    assert "дежурный@" in message and where in message
    line = text.splitlines().index(next(t for t in text.splitlines() if "дежурный" in t)) + 1
    assert f"sources.toml:{line}" in message
    ok = settings_text(tmp_path, '[[subscribers]]\nname = "x"\nemail = "ok@Пример.РФ"\n')
    assert parse_settings(ok, tmp_path / "sources.toml").subscribers[0].channels[0].target == \
        "ok@Пример.РФ"


def test_a_non_ascii_local_part_in_the_legacy_recipients_is_refused(tmp_path: Path) -> None:
    text = settings_text(tmp_path).replace('"b@example.org"', '"дежурный@пример.рф"')
    with pytest.raises(ConfigError, match=r"sources\.toml:3: digest\.recipients: cannot deliver to "
                       "'дежурный@пример.рф': the part before @ is not ASCII"):
        parse_settings(text, tmp_path / "sources.toml")
    idn = settings_text(tmp_path).replace('"b@example.org"', f'"{IDN}"')
    # named by the address with its domain as punycode: one name for both spellings
    assert [s.name for s in parse_settings(idn, tmp_path / "sources.toml").subscribers] == [
        "a@example.org", PUNY]

"""Internationalised addresses beyond the recipients': the `[digest] sender` is checked when the
file is read (a non-ASCII local part could never be sent without SMTPUTF8) and its IDN domain
goes out as punycode, envelope and headers; and an email channel is one channel in the
delivery log however its domain is spelt (Unicode or punycode), in a new warehouse and in one
whose log an older release wrote under the Unicode spelling (migration 0018). Everything
through the real digest flow, a real DuckDB file and an SMTP server on loopback that, like
many, does not offer SMTPUTF8."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from alerts.mailer import SmtpSettings
from flows.digest import run_digests
from flows.settings import ConfigError, Settings, parse_settings
from tests.digest_helpers import fill, filled_settings, parts, settings_text
from tests.test_digest_render import IDN, PUNY, RecordingSink, plain_smtp

# A third article, stored between two runs: the only thing the second digest may hold.
LATER = ("ozodi", "https://ozodi.org/a/77", "Entry ban list grows",
         "A court in Yekaterinburg upheld the entry ban on a Tajik builder whose patent had "
         "lapsed; his lawyer said 9,000 such appeals are pending this winter. " * 3)


def _sender_text(tmp_path: Path, sender: str) -> str:
    return settings_text(tmp_path).replace(
        'recipients = ["a@example.org", "b@example.org"]',
        f'recipients = ["a@example.org", "b@example.org"]\nsender = "{sender}"')


@pytest.mark.parametrize(("sender", "problem"), [
    ("новости@пример.рф", "the part before @ is not ASCII"),
    ("Новости <новости@пример.рф>", "the part before @ is not ASCII"),
    ("digest@xn--.рф", "not a valid internationalised domain name"),
    ("migwatch", "not an email address"),
])
def test_a_sender_no_smtp_server_can_take_is_refused_when_the_file_is_read(
        tmp_path: Path, sender: str, problem: str) -> None:
    text = _sender_text(tmp_path, sender)
    line = text.splitlines().index(f'sender = "{sender}"') + 1
    with pytest.raises(ConfigError) as info:
        parse_settings(text, tmp_path / "sources.toml")
    assert isinstance(info.value, ValueError)      # what the CLI turns into exit status 2
    assert str(info.value).startswith(
        f"{tmp_path / 'sources.toml'}:{line}: digest.sender: cannot send from {sender!r}: ")
    assert problem in str(info.value)
    # a non-ASCII display name and an IDN domain are fine
    ok = _sender_text(tmp_path, "Новости <digest@Пример.РФ>")
    assert parse_settings(ok, tmp_path / "sources.toml").digest.sender == \
        "Новости <digest@Пример.РФ>"


def test_an_idn_sender_from_the_file_goes_out_as_punycode(tmp_path: Path, db_path: Path
                                                          ) -> None:
    filled_settings(tmp_path, db_path)
    text = _sender_text(tmp_path, "Новости <digest@пример.рф>")
    settings = parse_settings(text, tmp_path / "sources.toml")
    sink = RecordingSink()
    with plain_smtp(sink) as port:
        results = run_digests(db_path, settings, SmtpSettings("127.0.0.1", port, "none",
                                                              timeout=10))
    assert [r.error for r in results] == [None, None]
    sender = "digest@xn--e1afmkfd.xn--p1ai"
    assert sorted(sink.envelopes) == [(sender, ["a@example.org"]), (sender, ["b@example.org"])]
    for msg in sink.messages:
        assert msg["From"].addresses[0].addr_spec == sender
        assert msg["From"].addresses[0].display_name == "Новости"
        # the unsubscribe link is a URL a mail client can follow, in the header and the body
        assert msg["List-Unsubscribe"].strip().startswith(f"<mailto:{sender}?subject=unsubscribe")
        assert f"mailto:{sender}?" in parts(msg)[1]


def _urls(sink: RecordingSink) -> list[str]:
    """Every article link the digests received list (text parts), once per listing."""
    return [u for msg in sink.messages
            for u in re.findall(r"https://\S+/\d+\b", parts(msg)[0])]


def _subscriber(tmp_path: Path, db: Path, *emails: str, fill_db: bool = True) -> Settings:
    table = ('[[subscribers]]\nname = "desk"\nemail = [' + ", ".join(f'"{e}"' for e in emails)
             + ']\n')
    if fill_db:
        return filled_settings(tmp_path, db, table)
    return parse_settings(settings_text(tmp_path, table), tmp_path / "sources.toml")


def _send(db: Path, settings: Settings, now: datetime | None = None,
          only: str = "desk") -> tuple[RecordingSink, list[int]]:
    sink = RecordingSink()
    with plain_smtp(sink) as port:
        results = run_digests(db, settings, SmtpSettings("127.0.0.1", port, "none", timeout=10),
                              now=now, only=only)
    assert [r.error for r in results] == [None] * len(results)
    return sink, [r.n_items for r in results]


@pytest.mark.parametrize(("first", "then"), [(IDN, PUNY), (PUNY, IDN),
                                             ("desk@Пример.РФ", "DESK@XN--E1AFMKFD.xn--p1ai")])
def test_a_respelt_address_is_the_same_channel(tmp_path: Path, db_path: Path, first: str,
                                               then: str) -> None:
    sink, counts = _send(db_path, _subscriber(tmp_path, db_path, first))
    assert counts == [2] and sink.envelopes == [("migwatch@localhost", [PUNY])]
    before = _urls(sink)
    # the next day the address is written the other way, and one article is new
    respelt = _subscriber(tmp_path, db_path, then, fill_db=False)
    fill(db_path, respelt, [LATER])
    later = datetime.now(UTC) + timedelta(days=1)
    sink2, counts2 = _send(db_path, respelt, now=later)
    assert counts2 == [1] and _urls(sink2) == [LATER[1]]
    assert not set(before) & set(_urls(sink2))
    with duckdb.connect(str(db_path), read_only=True) as con:
        assert con.execute("SELECT DISTINCT channel FROM delivery_log").fetchall() == [
            (f"email:{PUNY}",)]


def test_both_spellings_in_one_list_are_one_channel(tmp_path: Path, db_path: Path) -> None:
    settings = _subscriber(tmp_path, db_path, IDN, PUNY)
    assert len(settings.subscribers[0].channels) == 1
    sink, counts = _send(db_path, settings)
    assert counts == [2] and len(sink.messages) == 1


def test_legacy_recipients_respelt_are_the_same_subscriber(tmp_path: Path, db_path: Path
                                                           ) -> None:
    settings = filled_settings(tmp_path, db_path)
    unicode = parse_settings(settings_text(tmp_path).replace('"b@example.org"', f'"{IDN}"'),
                             tmp_path / "sources.toml")
    _, counts = _send(db_path, unicode, only=PUNY)
    assert counts == [2]
    puny = parse_settings(settings_text(tmp_path).replace('"b@example.org"',
                                                          f'"{PUNY}", "{IDN}"'),
                          tmp_path / "sources.toml")
    assert [s.name for s in puny.subscribers] == ["a@example.org", PUNY]
    fill(db_path, settings, [LATER])
    sink2, counts2 = _send(db_path, puny, now=datetime.now(UTC) + timedelta(days=1), only=PUNY)
    assert counts2 == [1] and _urls(sink2) == [LATER[1]]


def _spelt(tmp_path: Path, address: str, legacy: bool) -> Settings:
    """The subscriber `desk` ([[subscribers]]) or the legacy recipient, with this address."""
    if legacy:
        text = settings_text(tmp_path).replace('"b@example.org"', f'"{address}"')
    else:
        text = settings_text(tmp_path, f'[[subscribers]]\nname = "desk"\nemail = "{address}"\n')
    return parse_settings(text, tmp_path / "sources.toml")


@pytest.mark.parametrize("legacy", [False, True], ids=["subscriber", "legacy"])
@pytest.mark.parametrize("then", [IDN, PUNY])
def test_a_log_written_under_the_unicode_spelling_still_counts(tmp_path: Path, db_path: Path,
                                                               then: str, legacy: bool) -> None:
    """A warehouse an older release wrote: keys as written (`email:desk@пример.рф`), a
    legacy subscriber named so too, an operator channel likewise; migration 0018 not
    applied."""
    settings = filled_settings(tmp_path, db_path, '[operator]\nemail = "ops@пример.рф"\n')
    name = PUNY if legacy else "desk"
    sink, counts = _send(db_path, _spelt(tmp_path, IDN, legacy), only=name)
    assert counts == [2]
    old_key = f"email:{IDN}"
    old_name = IDN if legacy else "desk"
    with duckdb.connect(str(db_path)) as con:
        con.execute("UPDATE delivery_log SET subscriber = ?, channel = ?", [old_name, old_key])
        con.execute("UPDATE digest SET recipient = ?, channel = ? WHERE channel LIKE 'email:%'",
                    [old_name, old_key])
        con.execute("INSERT INTO operator_channel VALUES ('email:ops@пример.рф', now())")
        con.execute("DELETE FROM schema_migration WHERE version = 18")   # 0018 alone pending
    fill(db_path, settings, [LATER])
    sink2, counts2 = _send(db_path, _spelt(tmp_path, then, legacy),
                           now=datetime.now(UTC) + timedelta(days=1), only=name)
    assert counts2 == [1] and _urls(sink2) == [LATER[1]]
    assert not set(_urls(sink)) & set(_urls(sink2))
    with duckdb.connect(str(db_path), read_only=True) as con:
        assert con.execute("SELECT DISTINCT subscriber, channel FROM delivery_log").fetchall() \
            == [(name, f"email:{PUNY}")]
        assert con.execute("SELECT channel FROM operator_channel").fetchall() == [
            ("email:ops@xn--e1afmkfd.xn--p1ai",)]

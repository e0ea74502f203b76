"""Email digests: composed from a real warehouse, written to an outbox or sent to a real SMTP
server on loopback (plain, STARTTLS and implicit TLS, with login), recorded so that no article
is sent twice to the same subscriber channel."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from alerts.mailer import SmtpSettings, smtp_from_env
from flows.digest import run_digests
from flows.settings import ConfigError, Settings
from tests.conftest import dead_port
from tests.digest_helpers import BAN, fill, filled_settings, parse, parts, smtp_server, tls_files
from warehouse import deliveries
from warehouse.db import connect


@pytest.fixture
def filled(tmp_path: Path, db_path: Path) -> Settings:
    return filled_settings(tmp_path, db_path)


def test_outbox_digest_reads_well_and_lists_each_article_once(filled: Settings, db_path: Path
                                                              ) -> None:
    [result] = run_digests(db_path, filled, None, only="a@example.org")
    assert result.error is None and result.n_items == 2 and result.location
    msg = parse(Path(result.location))
    assert msg.get_content_type() == "multipart/alternative"
    assert msg["Subject"].startswith("migwatch daily: 2 new articles")
    assert "Entry bans (1)" in msg["Subject"] and "Remittances (1)" in msg["Subject"]
    assert msg["List-Unsubscribe"].strip() == "<mailto:migwatch@localhost?subject=unsubscribe%20" \
        "a@example.org>"
    text, html = parts(msg)
    for part in (text, html):
        assert part.count("asiaplustj.info/en/1") == 1      # once, though two topics could
        assert "ozodi.org/a/2" not in part                  # the copy is not an item ...
        assert "Football" not in part                       # off-topic is not sent
    assert "Also reported by Ozodi" in html and "Also reported by: Ozodi" in text
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    assert '"><img' not in html and "&#34;&gt;&lt;img onerror" in html
    assert html.index("Entry bans") < html.index("Remittances")
    assert "Articles per day, last 14 days" in html and html.count("in 14 d<") == 2
    assert '<span style="background:#fff0a6;font-weight:bold;">entry ban</span>' in html
    assert "<script" not in html.replace("&lt;script", "")


def test_two_runs_in_a_row_send_nothing_the_second_time(filled: Settings, db_path: Path
                                                        ) -> None:
    now = datetime.now(UTC)
    first = run_digests(db_path, filled, None, now=now)
    assert [r.n_items for r in first] == [2, 2]
    again = run_digests(db_path, filled, None, now=now + timedelta(minutes=5))
    assert all(r.not_due and r.n_items == 0 for r in again)          # daily: not due yet
    later = run_digests(db_path, filled, None, now=now + timedelta(days=1))
    assert [r.n_items for r in later] == [0, 0]                     # due, but nothing new
    fill(db_path, filled, [("ozodi", "https://ozodi.org/a/9", "New entry ban",
                            BAN.format(n="12,000 more") + " A different story altogether, "
                            "about a new list of banned Tajik citizens published in Moscow.")])
    last = run_digests(db_path, filled, None, now=now + timedelta(days=2))
    assert [r.n_items for r in last] == [1, 1]
    assert len(list(filled.digest.outbox.glob("*.eml"))) == 4


def test_filters_topic_language_outlet_and_score(filled: Settings, db_path: Path) -> None:
    from flows.subscribers import Channel, Subscriber

    ch = (Channel("email", "f@example.org"),)
    subs = (Subscriber("remit", ch, topics=("remittances",)),
            Subscriber("tajik", ch, languages=("tg",)),
            Subscriber("ozodi", ch, outlets=("ozodi",)),
            Subscriber("strict", ch, min_score=1000))
    settings = replace(filled, subscribers=subs)
    results = {r.subscriber: r for r in run_digests(db_path, settings, None)}
    assert results["remit"].n_items == 1 and results["tajik"].n_items == 0
    assert results["strict"].n_items == 0
    html = parts(parse(Path(results["remit"].location or "")))[1]
    assert "Remittances" in html and "Entry ban extended" not in html
    # Ozodi only copied Asia-Plus's story: it is Ozodi's story too, shown once, as the original
    assert results["ozodi"].n_items == 1
    html = parts(parse(Path(results["ozodi"].location or "")))[1]
    assert "asiaplustj.info/en/1" in html and "Also reported by Ozodi" in html


def test_smtp_settings_come_from_the_environment() -> None:
    assert smtp_from_env({}) is None
    s = smtp_from_env({"MIGWATCH_SMTP_HOST": "mail.local", "MIGWATCH_SMTP_SECURITY": "ssl",
                       "MIGWATCH_SMTP_USER": "u", "MIGWATCH_SMTP_PASSWORD": "p"})
    assert s == SmtpSettings("mail.local", 465, "ssl", "u", "p", 30.0)
    with pytest.raises(ValueError, match="starttls, ssl or none"):
        smtp_from_env({"MIGWATCH_SMTP_HOST": "x", "MIGWATCH_SMTP_SECURITY": "tls1"})


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
@pytest.mark.parametrize("security", ["none", "starttls", "ssl"])
def test_smtp_delivery_to_a_real_server(filled: Settings, db_path: Path, tmp_path: Path,
                                        security: str) -> None:
    cert, key = tls_files(tmp_path)
    login = security != "none"
    with smtp_server(security, cert, key, login) as (sink, port):
        smtp = SmtpSettings("127.0.0.1", port, security, "digest" if login else None,
                            "s3cret" if login else None, 10, str(cert))
        result = run_digests(db_path, filled, smtp, only="a@example.org")[0]
        assert result.error is None and result.n_items == 2 and result.transport == "smtp"
        assert len(sink.messages) == 1
        msg = sink.messages[0]
        assert msg["To"] == "a@example.org" and msg.get_content_type() == "multipart/alternative"
        assert "Entry ban extended" in parts(msg)[1]
        assert sink.logins == (["digest"] if login else [])
        if login:
            wrong = replace(smtp, password="wrong", timeout=2)
            fill(db_path, filled, [("ozodi", "https://ozodi.org/a/7", "Another entry ban",
                                    BAN.format(n="77") + " Yet another, unrelated story.")])
            failed = run_digests(db_path, filled, wrong, only="b@example.org")[0]
            assert failed.error and failed.n_items == 0 and len(sink.messages) == 1
            assert sink.logins == ["digest"]                 # the wrong password got nowhere


def test_a_refusing_server_is_retried_next_run(filled: Settings, db_path: Path) -> None:
    down = SmtpSettings("127.0.0.1", dead_port(), "none", timeout=5)
    failed = run_digests(db_path, filled, down, only="a@example.org")[0]
    assert failed.error and "Connection refused" in failed.error and failed.n_items == 0
    with smtp_server("none") as (sink, port):
        result = run_digests(db_path, filled, SmtpSettings("127.0.0.1", port, "none"),
                             only="a@example.org")[0]
        assert result.n_items == 2 and len(sink.messages) == 1


def test_a_crash_between_send_and_record_is_settled_next_run(filled: Settings, db_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    """Outbox written, process dies before `confirm`: next run confirms, sends nothing again."""

    def die(*_a: object, **_k: object) -> None:
        raise SystemExit("killed after writing the outbox file")

    monkeypatch.setattr(deliveries, "confirm", die)
    with pytest.raises(SystemExit):
        run_digests(db_path, filled, None, only="a@example.org")
    monkeypatch.undo()
    assert len(list(filled.digest.outbox.glob("*.eml"))) == 1
    again = run_digests(db_path, filled, None, only="a@example.org")[0]
    assert again.n_items == 0
    assert len(list(filled.digest.outbox.glob("*.eml"))) == 1
    con = connect(db_path, read_only=True)
    assert con.execute("SELECT status FROM digest").fetchall() == [("delivered",)]
    assert con.execute("SELECT count(*) FROM delivery_log WHERE status = 'delivered'"
                       ).fetchone() == (2,)


def test_a_crash_after_smtp_accepted_is_the_one_resend(filled: Settings, db_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The documented repeat: the server accepted, the process died before recording."""

    def die(*_a: object, **_k: object) -> None:
        raise SystemExit("killed after the SMTP server accepted")

    with smtp_server("none") as (sink, port):
        smtp = SmtpSettings("127.0.0.1", port, "none")
        monkeypatch.setattr(deliveries, "confirm", die)
        with pytest.raises(SystemExit):
            run_digests(db_path, filled, smtp, only="a@example.org")
        monkeypatch.undo()
        assert len(sink.messages) == 1
        assert run_digests(db_path, filled, smtp, only="a@example.org")[0].n_items == 2
        assert len(sink.messages) == 2                       # sent again, nothing lost
        assert run_digests(db_path, filled, smtp, only="a@example.org")[0].n_items == 0


def test_a_crash_before_the_send_releases_the_items(filled: Settings, db_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import flows.digest

    def die(*_a: object, **_k: object) -> None:
        raise SystemExit("killed before writing")

    monkeypatch.setattr(flows.digest, "write_outbox", die)
    with pytest.raises(SystemExit):
        run_digests(db_path, filled, None, only="a@example.org")
    monkeypatch.undo()
    assert run_digests(db_path, filled, None, only="a@example.org")[0].n_items == 2


def test_unknown_subscriber_or_topic_is_a_configuration_error(filled: Settings, db_path: Path
                                                              ) -> None:
    with pytest.raises(ConfigError, match="no subscriber named 'nobody'"):
        run_digests(db_path, filled, None, only="nobody")
    bad = replace(filled, subscribers=(replace(filled.subscribers[0], topics=("footbal",)),))
    with pytest.raises(ConfigError, match="unknown topics footbal"):
        run_digests(db_path, bad, None)


def test_a_snippet_skips_the_headline_the_text_begins_with() -> None:
    from alerts.compose import body_text

    body = "Officials in Moscow said the measure takes effect in January for all migrants."
    assert body_text("Entry ban extended", f"Entry  ban\nextended.\n\n{body}") == body
    assert body_text("Entry ban", "Entry bans were extended. " + body).startswith("Entry bans")
    assert body_text("Entry ban extended", "Entry ban extended. Short.") == (
        "Entry ban extended. Short.")   # nothing else worth a snippet: kept whole

"""What a digest selects, against a real warehouse, a real SMTP server and a real HTTP receiver
on loopback: a channel's window starts at its last delivered digest (a refused first digest
and runs further apart than the cadence lose nothing); a capped topic says how many more it
had; an outlet filter matches the outlet's copies; a copy of a seed is news; the header chart
counts what the subscriber's filters select."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alerts.mailer import SmtpSettings
from flows.digest import DigestResult, run_digests
from flows.settings import Settings, parse_settings
from flows.subscribers import Channel, Subscriber
from tests.digest_helpers import (
    ChatSink,
    ban_rows,
    fill,
    filled_settings,
    parse,
    parts,
    settings_text,
    smtp_server,
)
from warehouse.db import connect

VOCAB = ("border", "officers", "migrants", "airport", "Moscow", "Dushanbe", "list", "ministry",
         "court", "appeal", "patent", "registration", "families", "workers", "flights",
         "Vnukovo", "Domodedovo", "lawyers", "officials", "complaint", "deadline", "fines",
         "documents", "citizens", "regional", "police")
RU_BAN = ("Россия продлила запрет на въезд для пяти тысяч граждан Таджикистана, сообщило МВД. "
          "Запрет на въезд касается мигрантов, у которых два административных нарушения. ") * 4


def ban(k: int) -> tuple[str, str]:
    """A title and text on entry bans, different enough from every other k not to be a copy."""
    rng = random.Random(k)
    body = " ".join(rng.choice(VOCAB) for _ in range(70))
    return (f"Entry ban story {k}",
            f"Officials confirmed an entry ban decision, number {k}. {body}. "
            "The entry ban was announced on Monday.")


def remit(k: int) -> tuple[str, str]:
    rng = random.Random(1000 + k)
    body = " ".join(rng.choice(VOCAB) for _ in range(70))
    return (f"Remittances story {k}",
            f"Tajik migrants sent remittances home, report {k}. {body}. Remittances fell.")


def bare_settings(tmp_path: Path, *subscribers: Subscriber, cap: int | None = None
                  ) -> Settings:
    """The test sources file (outlets asiaplus_en and ozodi), with these subscribers only."""
    text = settings_text(tmp_path)
    (tmp_path / "sources.toml").write_text(text, encoding="utf-8")
    settings = replace(parse_settings(text, tmp_path / "sources.toml"), subscribers=subscribers)
    if cap is not None:
        settings = replace(settings, digest=replace(settings.digest, max_items_per_topic=cap))
    return settings


def by_name(results: list[DigestResult]) -> dict[str, DigestResult]:
    return {r.subscriber: r for r in results}


def email(name: str, **kw: Any) -> Subscriber:
    return Subscriber(name, (Channel("email", f"{name}@example.org"),), **kw)


def text_and_html(result: DigestResult) -> tuple[str, str]:
    return parts(parse(Path(result.location or "")))


# -- windows -------------------------------------------------------------------------------

def test_a_refused_first_digest_is_sent_in_full_once_the_server_accepts(
        tmp_path: Path, db_path: Path) -> None:
    settings = filled_settings(tmp_path, db_path, """
[[subscribers]]
name = "analysts"
email = ["a1@example.org", "bad-one@example.org"]
cadence = "hourly"
""")
    now = datetime.now(UTC)
    with smtp_server("none") as (sink, port):
        smtp = SmtpSettings("127.0.0.1", port, "none", timeout=10)
        sink.refuse = {"bad-one@example.org"}
        first = run_digests(db_path, settings, smtp, now=now, only="analysts")
        assert first[0].n_items == 2 and first[1].error and "550" in first[1].error
        sink.refuse = set()
        # three hours later: more than one cadence period after the articles were stored
        later = run_digests(db_path, settings, smtp, now=now + timedelta(hours=3),
                            only="analysts")
        assert [(r.n_items, r.error) for r in later] == [(0, None), (2, None)]
        assert [m["To"] for m in sink.messages] == ["a1@example.org", "bad-one@example.org"]
        assert "Entry ban extended" in parts(sink.messages[1])[0]
        again = run_digests(db_path, settings, smtp, now=now + timedelta(hours=5),
                            only="analysts")
        assert [r.n_items for r in again] == [0, 0] and len(sink.messages) == 2


def test_an_hourly_subscriber_served_daily_misses_nothing_before_its_first_digest(
        tmp_path: Path, db_path: Path) -> None:
    """The shipped schedule runs the digest once a day; an hourly subscriber's first digest
    holds what came since the last run, not only the last hour, whether or not the first run
    had anything for it."""
    now = datetime.now(UTC)
    hourly = email("hourly", cadence="hourly")
    remits = email("remits", cadence="hourly", topics=("remittances",))
    settings = bare_settings(tmp_path, hourly, remits)
    fill(db_path, settings, [("asiaplus_en", "https://asiaplustj.info/en/1", *ban(1))],
         fetched_at=now - timedelta(hours=20))
    first = by_name(run_digests(db_path, settings, None, now=now))
    assert first["hourly"].n_items == 1 and first["remits"].n_items == 0
    # stored two hours after the run; the next run is a day later
    fill(db_path, settings, [("ozodi", "https://ozodi.org/a/2", *remit(2))],
         fetched_at=now + timedelta(hours=2))
    second = by_name(run_digests(db_path, settings, None, now=now + timedelta(days=1)))
    assert second["remits"].n_items == 1 and second["hourly"].n_items == 1
    assert "Remittances story 2" in text_and_html(second["remits"])[0]


def age(db: Path, by: timedelta) -> None:
    """Pretend `by` has passed: every stored article and digest that much older (the next
    run uses the real clock, as a scheduled one does)."""
    con = connect(db)
    for table, column in (("doc", "fetched_at"), ("digest", "created_at")):
        con.execute(f"UPDATE {table} SET {column} = {column} - to_seconds(?)",
                    [by.total_seconds()])
    con.close()


def logged(db: Path) -> list[tuple[str, int, str]]:
    con = connect(db, read_only=True)
    rows = con.execute("SELECT subscriber, doc_id, status FROM delivery_log ORDER BY ALL"
                       ).fetchall()
    con.close()
    return rows


def test_a_weekly_digest_run_an_hour_late_sends_what_was_stored_just_after_the_last_one(
        tmp_path: Path, db_path: Path) -> None:
    """`window_days = 7` is the weekly period: a weekly run a little more than a week after
    the last (behind an ingest, DST, a retry a day later) lost for good what was stored just
    after the last digest — never sent, never logged."""
    weekly = email("weekly", cadence="weekly", topics=("entry_bans",))
    settings = bare_settings(tmp_path, weekly)
    [first_story] = fill(db_path, settings, [("asiaplus_en", "https://asiaplustj.info/en/1",
                                              *ban(1))])
    assert [r.n_items for r in run_digests(db_path, settings, None)] == [1]
    [late_story] = fill(db_path, settings, [("ozodi", "https://ozodi.org/a/2", *ban(2))])
    age(db_path, timedelta(days=7, hours=1))
    [second] = run_digests(db_path, settings, None)
    assert second.n_items == 1 and "Entry ban story 2" in text_and_html(second)[0]
    age(db_path, timedelta(days=7))
    assert [r.n_items for r in run_digests(db_path, settings, None)] == [0]
    assert logged(db_path) == [("weekly", first_story, "delivered"),
                               ("weekly", late_story, "delivered")]


def test_a_channel_refused_for_longer_than_window_days_gets_all_since_its_last_digest(
        tmp_path: Path, db_path: Path) -> None:
    """Delivered to, then refused for ten days: the digest that finally goes through holds
    everything stored since the last one delivered, capped per topic with "and N more"
    (counted as sent), not only the last `window_days`."""
    settings = bare_settings(tmp_path, email("desk"), cap=1)
    assert settings.digest.window_days == 7
    with smtp_server("none") as (sink, port):
        smtp = SmtpSettings("127.0.0.1", port, "none", timeout=10)
        fill(db_path, settings, [("asiaplus_en", "https://asiaplustj.info/en/1", *ban(1))])
        assert [r.n_items for r in run_digests(db_path, settings, smtp)] == [1]
        fill(db_path, settings, [("ozodi", f"https://ozodi.org/a/{k}", *ban(k))
                                 for k in (2, 3, 4)]
             + [("ozodi", "https://ozodi.org/a/5", *remit(5))])
        sink.refuse = {"desk@example.org"}
        for _day in range(3):
            age(db_path, timedelta(days=3))
            [refused] = run_digests(db_path, settings, smtp)
            assert refused.error and "550" in refused.error
        age(db_path, timedelta(days=1))                     # ten days since the last digest
        sink.refuse = set()
        [caught_up] = run_digests(db_path, settings, smtp)
        assert caught_up.n_items == 2 and caught_up.error is None
        text = parts(sink.messages[-1])[0]
        assert "Remittances story 5" in text and "and 2 more on Entry bans" in text
        assert sink.messages[-1]["Subject"].startswith("migwatch daily: 4 new articles")
        age(db_path, timedelta(days=1))
        assert [r.n_items for r in run_digests(db_path, settings, smtp)] == [0]
        assert len(sink.messages) == 2


def test_a_first_digest_refused_for_longer_than_window_days_loses_nothing(
        tmp_path: Path, db_path: Path) -> None:
    """A channel never delivered to looks back `window_days` from its first attempt, not from
    now: what its refused first digest held is in the one that goes through ten days later."""
    settings = bare_settings(tmp_path, email("new"))
    now = datetime.now(UTC)
    fill(db_path, settings, [("asiaplus_en", "https://asiaplustj.info/en/1", *ban(1))],
         fetched_at=now - timedelta(days=8))                 # before the first look-back
    fill(db_path, settings, [("asiaplus_en", "https://asiaplustj.info/en/2", *ban(2))],
         fetched_at=now - timedelta(days=2))
    with smtp_server("none") as (sink, port):
        smtp = SmtpSettings("127.0.0.1", port, "none", timeout=10)
        sink.refuse = {"new@example.org"}
        [refused] = run_digests(db_path, settings, smtp)
        assert refused.error and "550" in refused.error
        age(db_path, timedelta(days=10))
        sink.refuse = set()
        [first] = run_digests(db_path, settings, smtp)
        assert first.n_items == 1
        text = parts(sink.messages[0])[0]
        assert "Entry ban story 2" in text and "Entry ban story 1" not in text


def test_a_subscriber_whose_topics_changed_gets_what_is_new_once(
        tmp_path: Path, db_path: Path) -> None:
    """After a change of topics the window still starts at the last digest: a story of the new
    topic stored since then is sent; one stored before it is not (it was not new then either),
    nor one the channel already had under its old topic."""
    remits = email("desk", topics=("remittances",))
    settings = bare_settings(tmp_path, remits)
    both = ("Remittances and entry bans", remit(1)[1] + " " + ban(1)[1])
    [before, sent] = fill(db_path, settings, [("ozodi", "https://ozodi.org/a/2", *ban(2)),
                                              ("ozodi", "https://ozodi.org/a/1", *both)])
    con = connect(db_path, read_only=True)
    assert con.execute("SELECT list(topic ORDER BY topic) FROM doc_topic WHERE doc_id = ?",
                       [sent]).fetchone() == (["entry_bans", "remittances"],)
    con.close()
    assert [r.n_items for r in run_digests(db_path, settings, None)] == [1]
    [after] = fill(db_path, settings, [("ozodi", "https://ozodi.org/a/3", *ban(3))])
    age(db_path, timedelta(days=2))
    bans = replace(settings, subscribers=(replace(remits, topics=("entry_bans",)),))
    [result] = run_digests(db_path, bans, None)
    assert result.n_items == 1 and "Entry ban story 3" in text_and_html(result)[0]
    assert logged(db_path) == [("desk", sent, "delivered"), ("desk", after, "delivered")]
    assert before not in {doc for _, doc, _ in logged(db_path)}


def test_where_a_window_starts() -> None:
    from alerts.select import window_start

    now = datetime(2026, 11, 25, 12, tzinfo=UTC)
    # at the last delivered digest, however long ago
    assert window_start(now - timedelta(days=30), now, 7) == now - timedelta(days=30)
    assert window_start(now - timedelta(days=30), now, 7, now - timedelta(days=90)) == (
        now - timedelta(days=30))
    # never delivered to: window_days before the first attempt, or before now
    assert window_start(None, now, 7) == now - timedelta(days=7)
    assert window_start(None, now, 7, now - timedelta(days=10)) == now - timedelta(days=17)


# -- capped topics ---------------------------------------------------------------------------

def _capped(tmp_path: Path, db_path: Path, *subscribers: Subscriber) -> Settings:
    settings = bare_settings(tmp_path, *subscribers, cap=1)
    fill(db_path, settings, [("asiaplus_en", f"https://asiaplustj.info/en/{k}", *ban(k))
                             for k in (1, 2, 3)]
         + [("ozodi", "https://ozodi.org/a/9", *remit(9))])
    return settings


def test_a_capped_topic_says_how_many_more_and_they_are_not_sent_again(
        tmp_path: Path, db_path: Path) -> None:
    settings = _capped(tmp_path, db_path, email("capped"))
    now = datetime.now(UTC)
    [result] = run_digests(db_path, settings, None, now=now)
    assert result.n_items == 2                               # one a topic listed
    msg = parse(Path(result.location or ""))
    assert msg["Subject"] == ("migwatch daily: 4 new articles — Entry bans (3), "
                              "Remittances (1)")
    text, html = text_and_html(result)
    assert text.count("Entry ban story") == 1 and "== Entry bans (3) ==" in text
    assert "and 2 more on Entry bans" in text and "more on Remittances" not in text
    assert "and 2 more on Entry bans" in html and "more on Remittances" not in html
    assert "4 new articles on" in html
    # the two not listed were counted: the next digest does not bring them back
    [nothing] = run_digests(db_path, settings, None, now=now + timedelta(days=1))
    assert nothing.n_items == 0 and nothing.error is None
    fill(db_path, settings, [("ozodi", "https://ozodi.org/a/4", *ban(4))],
         fetched_at=now + timedelta(hours=1))
    [new] = run_digests(db_path, settings, None, now=now + timedelta(days=2))
    text, html = text_and_html(new)
    assert new.n_items == 1 and "Entry ban story 4" in text and " more on " not in text


def test_chat_and_webhook_say_how_many_more(tmp_path: Path, db_path: Path) -> None:
    with ChatSink() as sink:
        desk = Subscriber("desk", (Channel("chat", f"json://127.0.0.1:{sink.port}/apprise"),
                                   Channel("webhook",
                                           f"webhook+http://127.0.0.1:{sink.port}/hook")))
        settings = _capped(tmp_path, db_path, desk)
        results = run_digests(db_path, settings, None)
        assert [(r.n_items, r.error) for r in results] == [(2, None), (2, None)]
        posts = dict(sink.posts)
        message = posts["/apprise"]["message"]
        assert message.count("Entry ban story") == 1
        assert "_and 2 more on Entry bans_" in message and "more on Remittances" not in message
        hook = posts["/hook"]
        assert hook["counts"] == {"entry_bans": 3, "remittances": 1}
        assert [(t["topic"], len(t["items"]), t["more"]) for t in hook["topics"]] == [
            ("entry_bans", 1, 2), ("remittances", 1, 0)]
        assert hook["subject"].startswith("migwatch daily: 4 new articles")


# -- copies and seeds ---------------------------------------------------------------------------

def test_an_outlet_filter_matches_its_outlets_copies_even_stored_later(
        tmp_path: Path, db_path: Path) -> None:
    now = datetime.now(UTC)
    everyone, ozodi = email("all", cadence="hourly"), email("oz", cadence="hourly",
                                                                outlets=("ozodi",))
    settings = bare_settings(tmp_path, everyone, ozodi)
    title, text = ban(1)
    [original] = fill(db_path, settings, [("asiaplus_en", "https://asiaplustj.info/en/1",
                                           title, text)], fetched_at=now - timedelta(minutes=30))
    fill(db_path, settings, [("ozodi", "https://ozodi.org/a/5", *remit(5))],
         fetched_at=now - timedelta(minutes=30))
    first = by_name(run_digests(db_path, settings, None, now=now))
    assert first["all"].n_items == 2 and first["oz"].n_items == 1
    assert "asiaplustj.info/en/1" not in text_and_html(first["oz"])[0]
    # Ozodi runs Asia-Plus's story after both digests went out
    [copy] = fill(db_path, settings, [("ozodi", "https://ozodi.org/a/6", f"{title} (Ozodi)",
                                       text)], fetched_at=now + timedelta(minutes=30))
    con = connect(db_path, read_only=True)
    assert con.execute("SELECT duplicate_of FROM doc WHERE id = ?", [copy]).fetchone() == (
        original,)
    con.close()
    second = by_name(run_digests(db_path, settings, None, now=now + timedelta(hours=2)))
    assert second["all"].n_items == 0                        # not news to them
    assert second["oz"].n_items == 1
    plain, html = text_and_html(second["oz"])
    assert "asiaplustj.info/en/1" in plain and "ozodi.org/a/6" not in plain
    assert "Also reported by: Ozodi" in plain and "Also reported by Ozodi" in html


def test_a_copy_of_a_seed_is_news_and_its_later_copies_are_also_reported(
        tmp_path: Path, db_path: Path) -> None:
    now = datetime.now(UTC)
    everyone, ozodi = email("all"), email("oz", outlets=("ozodi",))
    settings = bare_settings(tmp_path, everyone, ozodi)
    title, text = ban(7)
    fill(db_path, settings, [("seed", "https://seed.example/7", title, text)],
         fetched_at=now - timedelta(days=60), is_seed=True)
    fill(db_path, settings, [("asiaplus_en", "https://asiaplustj.info/en/7", title, text)],
         fetched_at=now - timedelta(hours=2))
    fill(db_path, settings, [("ozodi", "https://ozodi.org/a/7", title, text)],
         fetched_at=now - timedelta(hours=1))
    results = by_name(run_digests(db_path, settings, None, now=now))
    assert results["all"].n_items == 1 and results["oz"].n_items == 1
    for name in ("all", "oz"):
        plain, _ = text_and_html(results[name])
        assert plain.count("asiaplustj.info/en/7") == 1 and "seed.example" not in plain
        assert "ozodi.org/a/7" not in plain and "Also reported by: Ozodi" in plain


# -- the header chart --------------------------------------------------------------------------

def test_the_chart_counts_what_the_subscribers_filters_select(tmp_path: Path, db_path: Path
                                                               ) -> None:
    everyone = email("all")
    russian = email("ru", languages=("ru",))
    ozodi = email("oz", outlets=("ozodi",))
    settings = bare_settings(tmp_path, everyone, russian, ozodi)
    fill(db_path, settings, [
        ("asiaplus_en", "https://asiaplustj.info/en/1", *ban(1)),
        ("asiaplus_en", "https://asiaplustj.info/en/2", *ban(2)),
        ("ozodi", "https://ozodi.org/a/2", "Entry ban story 2 (copy)", ban(2)[1]),
        ("ozodi", "https://ozodi.org/a/3", "Запрет на въезд продлён", RU_BAN)])
    results = by_name(run_digests(db_path, settings, None))

    def chart_total(name: str) -> str:
        html = text_and_html(results[name])[1]
        assert html.count(" in 14 d<") == 1
        return html.split(" in 14 d<")[0].rsplit(">", 1)[1]

    assert chart_total("all") == "3"
    assert chart_total("ru") == "1"                          # the English two left out
    assert chart_total("oz") == "2"                          # its own and its copy
    assert [results[n].n_items for n in ("all", "ru", "oz")] == [3, 1, 2]


def test_the_more_lines_fit_a_chat_digest_split_into_parts() -> None:
    from alerts.chat import limit_for, render_markdown
    from alerts.compose import build_digest

    now = datetime.now(UTC)
    rows = ban_rows(120, now)
    digest = build_digest("chat", rows, {"entry_bans": "Entry bans"}, {}, now, 100)
    assert digest.sections[0].more == 20 and digest.total == 120
    parts = render_markdown(digest, limit_for("tgram"))
    assert len(parts) > 1 and all(len(p) <= 4096 for p in parts)
    last = parts[-1].splitlines()
    assert last[-2:] == ["_and 20 more on Entry bans_", f"_{len(parts)} parts: "
                                                           f"{len(parts)}/{len(parts)}_"]
    assert "**Entry bans** (120)" in parts[0]
    assert sum(p.count("(https://e.org/") for p in parts) == 100

"""Chat and webhook digests: apprise `json://` and `mmost://` (Mattermost, Slack-compatible
incoming webhooks) and the structured JSON webhook, all posting to a real HTTP server on
loopback; a failing channel retried while the others succeed; previews; secrets from env."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from alerts.chat import md_text, render_markdown
from alerts.compose import build_digest
from flows.cli import main
from flows.digest import run_digests
from flows.settings import ConfigError, Settings, parse_settings
from tests.digest_helpers import ChatSink, ban_rows, filled_settings, settings_text
from warehouse.db import connect


def _chat_settings(tmp_path: Path, db: Path, port: int) -> Settings:
    return filled_settings(tmp_path, db, f"""
[[subscribers]]
name = "desk"
chat = ["json://127.0.0.1:{port}/apprise-json",
        "mmost://127.0.0.1:{port}/${{MM_TOKEN}}",
        "webhook+http://127.0.0.1:{port}/hook"]
""")


def test_chat_and_webhook_receive_one_compact_digest_each(tmp_path: Path, db_path: Path
                                                          ) -> None:
    with ChatSink() as sink:
        settings = _chat_settings(tmp_path, db_path, sink.port)
        results = run_digests(db_path, settings, None, only="desk", env={"MM_TOKEN": "t0k3n"})
        assert [(r.transport, r.n_items, r.error) for r in results] == [
            ("apprise", 2, None), ("apprise", 2, None), ("webhook", 2, None)]
        assert sorted(sink.paths()) == ["/apprise-json", "/hook", "/hooks/t0k3n"]
        posts = dict(sink.posts)
        text = posts["/apprise-json"]["message"]
        assert "Entry bans" in text and "[Entry ban extended](https://asiaplustj.info/en/1)" in text
        assert "also Ozodi" in text and "ozodi.org/a/2" not in text
        assert "Entry ban extended" in posts["/hooks/t0k3n"]["text"]
        # untrusted title: no live link, no raw HTML, no @channel ping
        assert "[click](http://evil)" not in text and "\\[click\\]\\(http://evil\\)" in text
        assert "<script>" not in text and "@channel" not in text
        hook = posts["/hook"]
        assert hook["subscriber"] == "desk" and hook["counts"] == {"entry_bans": 1,
                                                                   "remittances": 1}
        item = hook["topics"][0]["items"][0]
        assert item["url"] == "https://asiaplustj.info/en/1" and item["also_reported_by"] == [
            "Ozodi"] and "entry ban" in item["evidence"]
        con = connect(db_path, read_only=True)
        rows = con.execute("SELECT DISTINCT channel FROM delivery_log").fetchall()
        channels = [c for (c,) in rows]
        assert len(channels) == 3 and not any("t0k3n" in c for c in channels)
        con.close()
        # second run in a row: nothing; a day later: due but nothing new
        assert all(r.not_due for r in run_digests(db_path, settings, None, only="desk",
                                                  env={"MM_TOKEN": "t0k3n"}))
        later = datetime.now(UTC) + timedelta(days=1)
        again = run_digests(db_path, settings, None, now=later, only="desk",
                            env={"MM_TOKEN": "t0k3n"})
        assert [r.n_items for r in again] == [0, 0, 0] and len(sink.posts) == 3


def test_a_failing_channel_is_retried_next_run_and_others_are_unaffected(
        tmp_path: Path, db_path: Path) -> None:
    with ChatSink() as sink:
        settings = _chat_settings(tmp_path, db_path, sink.port)
        sink.fail = {"/hook"}
        first = run_digests(db_path, settings, None, only="desk")   # MM_TOKEN missing too
        assert [r.n_items for r in first] == [2, 0, 0]
        assert first[1].error == "environment variable MM_TOKEN is not set"
        assert first[2].error and "HTTP 500" in first[2].error
        assert sink.paths() == ["/apprise-json"]
        sink.fail = set()
        second = run_digests(db_path, settings, None, only="desk", env={"MM_TOKEN": "x"})
        assert [(r.n_items, r.not_due) for r in second] == [(0, True), (2, False), (2, False)]
        assert sorted(sink.paths()) == ["/apprise-json", "/hook", "/hooks/x"]
        con = connect(db_path, read_only=True)
        assert con.execute("SELECT status, count(*) FROM digest GROUP BY 1 ORDER BY 1"
                           ).fetchall() == [("delivered", 3), ("failed", 1)]
        con.close()


def test_telegram_digests_are_split_below_4096_characters(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    rows = ban_rows(120, now)
    digest = build_digest("chat", rows, {"entry_bans": "Entry bans"}, {}, now, 200)
    parts = render_markdown(digest, 4096)
    assert len(parts) > 1 and all(len(p) <= 4096 for p in parts)
    joined = "\n".join(parts)
    assert all(joined.count(f"(https://e.org/{i})") == 1 for i in range(120))
    assert parts[-1].endswith(f"{len(parts)} parts: {len(parts)}/{len(parts)}_")


def _sections_rows(width: int, now: datetime) -> tuple[list[dict], dict[str, str]]:
    """Six topics of 1-4 stories whose titles are `width` characters longer than usual."""
    rows, labels = [], {}
    for t in range(6):
        labels[f"t{t}"] = f"Topic {t}"
        for k in range(1 + (t * 5 + width) % 4):
            i = t * 10 + k
            rows.append({"id": i, "title": f"Story {i} " + "y" * width,
                         "url": f"https://e.org/t{t}/{i}", "source": "ozodi",
                         "published_at": now - timedelta(hours=k), "lang": "en",
                         "text": "Entry ban story. " * 5, "topic": f"t{t}", "score": 5,
                         "evidence": ["entry ban*"], "also": None})
    return rows, labels


@pytest.mark.parametrize("limit", [2000, 4096])
def test_a_split_digest_keeps_headings_with_their_items_and_more_lines_under_them(
        limit: int) -> None:
    now = datetime.now(UTC)
    heading = re.compile(r"^\*\*Topic (\d)\*\* \((\d+)(, continued)?\)$")
    split = 0
    for width in range(0, 400, 9):
        rows, labels = _sections_rows(width, now)
        digest = build_digest("chat", rows, labels, {}, now, 3)
        parts = render_markdown(digest, limit)
        split += len(parts) > 1
        assert all(len(p) <= limit for p in parts)
        joined = "\n".join(parts)
        assert all(joined.count(f"({item.url})") == 1 for item in digest.items)
        for n, part in enumerate(parts):
            lines = [x for x in part.split("\n") if x][: -1 if len(parts) > 1 else None]
            if n:       # a continuation starts with a heading (repeated when carried over)
                assert lines[0] == "_\\(continued\\)_" and heading.match(lines[1]), part
            topic = None
            for i, line in enumerate(lines):
                m = heading.match(line)
                if m:
                    topic = m.group(1)
                    assert i + 1 < len(lines) and lines[i + 1].startswith("• ["), part
                elif line.startswith("• ["):
                    assert topic is not None and f"(https://e.org/t{topic}/" in line, part
                elif line.startswith("_and "):     # right under its section's last item
                    assert line == f"_and {line.split()[1]} more on Topic {topic}_", part
                    assert lines[i - 1].startswith("• [")
            assert not heading.match(lines[-1]), part
    assert split > 10


def test_a_title_longer_than_a_message_is_shortened_not_its_link() -> None:
    now = datetime.now(UTC)
    row = ban_rows(1, now)[0] | {"title": "Entry [ban] " * 400}
    digest = build_digest("chat", [row], {"entry_bans": "Entry bans"}, {}, now)
    [part] = render_markdown(digest, 2000)
    assert len(part) <= 2000 and "…](https://e.org/0) — ozodi, " in part
    assert "\\…" not in part                 # no escape cut in half


def test_markdown_neutralises_untrusted_text() -> None:
    assert md_text("a\r\nb [x](javascript:y) *bold* @here") == \
        "a b \\[x\\]\\(javascript:y\\) \\*bold\\* @\u200bhere"


def test_dry_run_previews_without_sending_or_recording(tmp_path: Path, db_path: Path,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    with ChatSink() as sink:
        settings = _chat_settings(tmp_path, db_path, sink.port)
        out = tmp_path / "preview"
        code = main(["digest", "--dry-run", "--config", str(settings.path), "--db",
                     str(db_path), "--out", str(out), "--subscriber", "desk"])
        assert code == 0 and sink.posts == []
        assert "preview only" in capsys.readouterr().out
        assert sorted(p.name for p in out.iterdir()) == [
            "desk-1-chat.md", "desk-2-chat.md", "desk-3-webhook.json"]
        code = main(["digest", "--dry-run", "--config", str(settings.path), "--db",
                     str(db_path), "--out", str(out), "--subscriber", "a@example.org"])
        assert (out / "a_example.org-1-email.eml").exists()
        html = (out / "a_example.org-1-email.html").read_text()
        assert "Entry ban extended" in html and "&lt;script&gt;" in html
        con = connect(db_path, read_only=True)
        assert con.execute("SELECT count(*) FROM delivery_log").fetchone() == (0,)
        assert con.execute("SELECT count(*) FROM digest").fetchone() == (0,)


@pytest.mark.parametrize(("snippet", "error"), [
    ('name = "x"\n', "needs at least one `email` or `chat` channel"),
    ('name = "x"\nemail = "not-an-address"\n', "not an email address"),
    ('name = "x"\nchat = ["nonsense"]\n', "not an apprise or webhook URL"),
    ('name = "x"\nemail = "a@b.c"\ncadence = "monthly"\n', "'monthly' is not one of hourly"),
    ('name = "x"\nemail = "a@b.c"\noutlets = ["tass"]\n', "'tass' is not the key"),
    ('name = "x"\nemail = "a@b.c"\nlanguage = ["ru"]\n', "unknown key"),
    ('name = "x"\nemail = "дежурный@пример.рф"\n', "'дежурный@пример.рф': the part before @"),
    ('name = "x"\nemail = "a@xn--.рф"\n', "not a valid internationalised domain"),
])
def test_bad_subscribers_are_reported_with_file_and_line(tmp_path: Path, snippet: str,
                                                         error: str) -> None:
    text = settings_text(tmp_path, "[[subscribers]]\n" + snippet)
    with pytest.raises(ConfigError, match=error) as info:
        parse_settings(text, tmp_path / "sources.toml")
    assert "sources.toml:" in str(info.value) and "subscribers[0]" in str(info.value)


def test_subscribers_replace_the_default_recipient(tmp_path: Path) -> None:
    text = settings_text(tmp_path, '[[subscribers]]\nname = "x"\nemail = "x@e.org"\n')
    s = parse_settings(text.replace('recipients = ["a@example.org", "b@example.org"]\n', ""),
                       tmp_path / "sources.toml")
    assert [sub.name for sub in s.subscribers] == ["x"]
    both = parse_settings(text, tmp_path / "sources.toml")
    assert [sub.name for sub in both.subscribers] == ["x", "a@example.org", "b@example.org"]
    assert replace(both.subscribers[0], name="y").channels[0].key == "email:x@e.org"


def test_cadence_decides_when_a_channel_is_due_and_where_its_window_starts() -> None:
    from alerts.select import is_due, window_start
    from flows.subscribers import Channel, Subscriber

    now = datetime(2026, 11, 25, 12, tzinfo=UTC)
    hourly = Subscriber("h", (Channel("email", "h@e.org"),), cadence="hourly")
    weekly = replace(hourly, cadence="weekly")
    assert is_due(hourly, None, now) and is_due(hourly, now - timedelta(minutes=55), now)
    assert not is_due(hourly, now - timedelta(minutes=40), now)
    assert not is_due(weekly, now - timedelta(days=6), now)
    # the window starts at the last delivered digest, whatever the cadence (the flow may run
    # less often than an hourly subscriber's cadence), however long ago; a channel never
    # delivered to looks back window_days
    assert window_start(now - timedelta(minutes=55), now, 7) == now - timedelta(minutes=55)
    assert window_start(now - timedelta(days=2), now, 7) == now - timedelta(days=2)
    assert window_start(now - timedelta(days=30), now, 7) == now - timedelta(days=30)
    assert window_start(None, now, 7) == now - timedelta(days=7)

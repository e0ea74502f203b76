"""How a digest shows a story reported by several outlets, against a real warehouse, the real
digest flow and a real HTTP receiver on loopback: as its first report — the member published
first, by the rule of the analysts' `clusters` view — with that article's outlet, link and
date, the other outlets as "also reported by"; not as whichever copy was stored first (within
one ingest run outlets are stored in the order of sources.toml). The delivery log keeps
keying the story by its lead, so a first report that arrives later sends nothing twice."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flows.digest import DigestResult, run_digests
from flows.subscribers import Channel, Subscriber
from tests.digest_helpers import ChatSink, fill
from tests.test_digest_windows import ban, bare_settings, email, remit, text_and_html
from warehouse.db import connect

NOV_28 = datetime(2026, 11, 28, 6, 20, tzinfo=UTC)    # Asia-Plus publishes
DEC_6 = datetime(2026, 12, 6, 13, 0, tzinfo=UTC)      # Ozodi reprints it


def _plain(result: DigestResult) -> str:
    return text_and_html(result)[0]


def _rows(db: Path, query: str, *params: object) -> list[tuple]:
    con = connect(db, read_only=True)
    try:
        return con.execute(query, list(params)).fetchall()
    finally:
        con.close()


def test_a_reprint_stored_first_in_the_same_run_is_not_shown_as_the_story(
        tmp_path: Path, db_path: Path) -> None:
    """Ozodi is read before Asia-Plus: its reprint of 6 December is stored first (the copy
    cluster's original, its lead), Asia-Plus's article of 28 November a moment later. The
    digest shows Asia-Plus's, as the `clusters` view does, to every subscriber, an Ozodi-only
    one included; the email, the chat message and the webhook alike."""
    now = datetime.now(UTC)
    with ChatSink() as sink:
        desk = Subscriber("desk", (
            Channel("email", "desk@example.org"),
            Channel("chat", f"json://127.0.0.1:{sink.port}/apprise"),
            Channel("webhook", f"webhook+http://127.0.0.1:{sink.port}/hook")))
        settings = bare_settings(tmp_path, desk, email("oz", outlets=("ozodi",)))
        title, text = ban(1)
        reprint, original = fill(db_path, settings, [
            ("ozodi", "https://ozodi.org/a/reprint", f"{title} (Ozodi)", text),
            ("asiaplus_en", "https://asiaplustj.info/en/1", title, text),
        ], fetched_at=now - timedelta(minutes=10), published_at=[DEC_6, NOV_28])
        assert _rows(db_path, "SELECT id, duplicate_of, is_lead FROM articles ORDER BY id") == [
            (reprint, None, True), (original, reprint, False)]
        assert _rows(db_path, "SELECT first_id FROM clusters") == [(original,)]

        results = run_digests(db_path, settings, None, now=now)
        assert [(r.subscriber, r.n_items, r.error) for r in results] == [
            ("desk", 1, None), ("desk", 1, None), ("desk", 1, None), ("oz", 1, None)]
        for result in (results[0], results[3]):
            plain = _plain(result)
            assert "https://asiaplustj.info/en/1" in plain and "ozodi.org/a/reprint" not in plain
            assert "(Ozodi)" not in plain                   # the reprint's headline
            assert "28 Nov 2026" in plain and "06 Dec 2026" not in plain
            assert "Also reported by: Ozodi" in plain
        message = dict(sink.posts)["/apprise"]["message"]
        assert "(https://asiaplustj.info/en/1)" in message and "reprint" not in message
        assert "— Asia-Plus, 28 Nov 2026" in message and "(also Ozodi)" in message
        [item] = dict(sink.posts)["/hook"]["topics"][0]["items"]
        assert (item["url"], item["outlet"], item["also_reported_by"]) == (
            "https://asiaplustj.info/en/1", "Asia-Plus", ["Ozodi"])
        assert item["published_at"].startswith("2026-11-28")
        # the story keeps its delivery-log key, the lead's id: stable as copies arrive
        assert item["id"] == reprint
        assert sorted(_rows(db_path, "SELECT DISTINCT doc_id FROM delivery_log")) == [(reprint,)]


def test_the_digest_shows_the_member_the_clusters_view_names_first(
        tmp_path: Path, db_path: Path) -> None:
    """Same rule as `clusters.first_id`: by publication time, an undated member after every
    dated one (by when it was stored), a tie to the member stored first."""
    now = datetime.now(UTC)
    settings = bare_settings(tmp_path, email("all"))
    oz, ap = "https://ozodi.org/a/", "https://asiaplustj.info/en/"
    stories = [  # (stored first, stored second, their publication times), one story each
        ((oz, ban(1)), (ap, ban(1)), (DEC_6, NOV_28)),    # a later reprint, stored first
        ((oz, ban(2)), (ap, ban(2)), (None, DEC_6)),      # an undated reprint, stored first
        ((oz, ban(3)), (ap, ban(3)), (NOV_28, NOV_28)),   # the same time
        ((ap, remit(4)), (oz, remit(4)), (None, None)),   # neither dated
    ]
    items: list[tuple[str, str, str, str]] = []
    published: list[datetime | None] = []
    for k, (stored_first, stored_second, dates) in enumerate(stories, 1):
        for site, (title, text) in (stored_first, stored_second):
            items.append(("ozodi" if site == oz else "asiaplus_en", f"{site}{k}", title, text))
        published.extend(dates)
    ids = fill(db_path, settings, items, fetched_at=now - timedelta(minutes=5),
               published_at=published)
    assert _rows(db_path, "SELECT id FROM articles WHERE is_lead ORDER BY id") == [
        (i,) for i in ids[0::2]]                               # each story's first stored
    first = sorted(url for (url,) in _rows(db_path, "SELECT first_url FROM clusters"))
    assert first == [f"{ap}1", f"{ap}2", f"{ap}4", f"{oz}3"]
    [result] = run_digests(db_path, settings, None, now=now)
    plain = _plain(result)
    assert result.n_items == 4
    assert sorted(url for _, url, _, _ in items if url in plain) == first


def test_a_first_report_stored_after_the_story_was_sent_sends_nothing_twice(
        tmp_path: Path, db_path: Path) -> None:
    """Ozodi's reprint is sent; a day later Asia-Plus's earlier article is stored (a copy of
    the reprint). The story is not new to those who had it, whatever it is shown as now; an
    Asia-Plus subscriber gets it, as Asia-Plus's; a new subscriber sees Asia-Plus's."""
    now = datetime.now(UTC)
    everyone = email("all")
    settings = bare_settings(tmp_path, everyone, email("ap", outlets=("asiaplus_en",)))
    title, text = ban(5)
    [reprint] = fill(db_path, settings, [("ozodi", "https://ozodi.org/a/5", title, text)],
                     fetched_at=now - timedelta(hours=1), published_at=[DEC_6])
    first = {r.subscriber: r for r in run_digests(db_path, settings, None, now=now)}
    assert first["all"].n_items == 1 and first["ap"].n_items == 0
    assert "https://ozodi.org/a/5" in _plain(first["all"])
    [original] = fill(db_path, settings, [("asiaplus_en", "https://asiaplustj.info/en/5",
                                           title, text)],
                      fetched_at=now + timedelta(hours=1), published_at=[NOV_28])
    assert _rows(db_path, "SELECT duplicate_of FROM doc WHERE id = ?", original) == [
        (reprint,)]
    later = replace(settings, subscribers=(*settings.subscribers, email("new")))
    second = {r.subscriber: r for r in run_digests(db_path, later, None,
                                                    now=now + timedelta(days=1))}
    assert second["all"].n_items == 0 and second["all"].error is None
    assert second["ap"].n_items == 1 and second["new"].n_items == 1
    for name in ("ap", "new"):
        plain = _plain(second[name])
        assert "https://asiaplustj.info/en/5" in plain and "ozodi.org/a/5" not in plain
        assert "Also reported by: Ozodi" in plain
    assert sorted(_rows(db_path, "SELECT subscriber, doc_id FROM delivery_log")) == [
        ("all", reprint), ("ap", reprint), ("new", reprint)]
    # and the preview of the one who had it stays empty
    preview = run_digests(db_path, later, None, now=now + timedelta(days=2), only="all",
                          preview=tmp_path / "preview")
    assert [r.n_items for r in preview] == [0]


def test_a_copy_of_a_seed_is_shown_as_the_first_copy_published_never_as_the_seed(
        tmp_path: Path, db_path: Path) -> None:
    """The seed is the story's first report in `clusters` (it states an older date), but it is
    never sent: of the news articles that copy it, the one published first is shown."""
    now = datetime.now(UTC)
    settings = bare_settings(tmp_path, email("all"))
    title, text = ban(9)
    [seed] = fill(db_path, settings, [("seed", "https://seed.example/9", title, text)],
                  fetched_at=now - timedelta(days=90), is_seed=True,
                  published_at=[datetime(2019, 5, 23, tzinfo=UTC)])
    fill(db_path, settings, [("ozodi", "https://ozodi.org/a/9", title, text),
                             ("asiaplus_en", "https://asiaplustj.info/en/9", title, text)],
         fetched_at=now - timedelta(minutes=5), published_at=[DEC_6, NOV_28])
    assert _rows(db_path, "SELECT first_id FROM clusters WHERE size > 1") == [(seed,)]
    [result] = run_digests(db_path, settings, None, now=now)
    plain = _plain(result)
    assert result.n_items == 1 and "seed.example" not in plain
    assert "https://asiaplustj.info/en/9" in plain and "ozodi.org/a/9" not in plain
    assert "Also reported by: Ozodi" in plain and "28 Nov 2026" in plain

"""One story in several languages is one story: a page's declared versions (`<link
rel="alternate" hreflang>`) join a translation to the story it translates, in the warehouse
(`translation_of`, doc_alternate), in the analysts' views and in the digest, against a real
DuckDB file, the real digest flow and, end to end, a real HTTP server on loopback."""

from __future__ import annotations

import dataclasses
import shutil
from datetime import UTC, datetime, timedelta
from functools import partial
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import duckdb
import pytest

from flows.digest import run_digests
from flows.ingest import ingest_flow
from flows.settings import load_settings
from flows.stages.dedup import canonical_url
from flows.stages.models import Article
from flows.stages.topics import load_rules
from flows.subscribers import Channel, Subscriber
from tests.digest_helpers import ChatSink, parse, parts
from tests.faultserver import FaultServer, send
from tests.helpers import article, memory_warehouse, rows
from tests.test_copies import _edited, _story
from tests.test_digest_windows import bare_settings, email, text_and_html
from warehouse import db as wdb
from warehouse import store
from warehouse.db import connect, transaction

RU, EN, TG = ("https://asiaplustj.info/ru/news/1", "https://asiaplustj.info/en/news/1",
              "https://asiaplustj.info/tj/news/1")
EN_BAN = ("Russia extended the entry ban for {n} Tajik citizens, the Interior Ministry said on "
          "Monday. The entry ban applies to migrants with two administrative offences, and "
          "lawyers in Dushanbe expect more appeals this winter. ") * 3
RU_BAN = ("Россия продлила запрет на въезд для {n} граждан Таджикистана, сообщило МВД в "
          "понедельник. Запрет на въезд касается мигрантов с двумя административными "
          "нарушениями, и юристы в Душанбе ждут новых обжалований этой зимой. ") * 3


def _version(title: str, text: str, url: str, *declared: tuple[str, str],
             source: str = "test") -> Article:
    """An article whose page declares these (language, URL) versions, as build_article
    leaves them: canonical URLs."""
    return dataclasses.replace(article(title, text, url, source), alternates=tuple(
        (lang, canonical_url(u)) for lang, u in declared))


def _insert(con: duckdb.DuckDBPyConnection, *batch: Article) -> list[int | None]:
    with transaction(con):
        stored = store.insert_articles(con, list(batch), "r", 0.5, 4)
    return [s.id if s else None for s in stored]


def _links(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[str | None, str | None]]:
    """url -> (url of duplicate_of, url of translation_of) of every stored article."""
    return {u: (d, t) for u, d, t in con.execute(
        "SELECT a.url, c.url, t.url FROM doc a LEFT JOIN doc c ON c.id = a.duplicate_of "
        "LEFT JOIN doc t ON t.id = a.translation_of WHERE NOT a.is_seed").fetchall()}


# --- the warehouse ------------------------------------------------------------------------

@pytest.mark.parametrize("declares", ["earlier", "later", "both"])
def test_a_later_version_points_at_the_earlier_whichever_page_declares_the_other(
        tmp_path: Path, declares: str) -> None:
    con = memory_warehouse(tmp_path)
    ru_says = (("en", EN),) if declares in ("earlier", "both") else ()
    en_says = (("ru", RU),) if declares in ("later", "both") else ()
    [ru] = _insert(con, _version("Запрет на въезд", RU_BAN.format(n=500), RU, *ru_says))
    [en] = _insert(con, _version("Entry ban", EN_BAN.format(n=500), EN, *en_says))
    assert _links(con) == {RU: (None, None), EN: (None, RU)}
    assert con.execute("SELECT id, cluster_id, is_lead, translation_of, similarity FROM "
                       "articles ORDER BY id").fetchall() == [
        (ru, ru, True, None, None), (en, ru, False, ru, None)]
    assert con.execute("SELECT cluster_id, size, langs FROM clusters").fetchall() == [
        (ru, 2, ["en", "ru"])]
    declared = sorted(con.execute("SELECT doc_id, lang, canonical_url FROM doc_alternate"
                                  ).fetchall())
    assert declared == sorted([(ru, "en", EN)] * bool(ru_says) + [(en, "ru", RU)] * bool(en_says))


@pytest.mark.parametrize("order", ["ru first", "en first"])
def test_versions_stored_in_one_batch_are_one_story_in_either_order(
        tmp_path: Path, order: str) -> None:
    con = memory_warehouse(tmp_path)
    ru = _version("Запрет", _story(1), RU, ("en", EN), ("x", "ignored"))
    en = _version("Ban", _story(2), EN)          # only the Russian page declares the other
    first, second = (ru, en) if order == "ru first" else (en, ru)
    ids = _insert(con, first, second, article("Other", _story(3), "https://e.org/3"))
    assert _links(con) == {first.url: (None, None), second.url: (None, first.url),
                           "https://e.org/3": (None, None)}
    assert con.execute("SELECT id FROM articles WHERE is_lead ORDER BY id").fetchall() == [
        (ids[0],), (ids[2],)]


def test_a_story_has_one_lead_whatever_joins_it_and_a_near_copy_beats_a_translation(
        tmp_path: Path) -> None:
    """A Tajik version declaring the English one (itself a translation) and an English reprint
    (a near-copy of the English version) belong to the Russian lead's story. A page that is a
    near-copy of one story and declares another stays in its text's story."""
    con = memory_warehouse(tmp_path)
    ru_text, en_text, tg_text, other = _story(1), _story(2), _story(3), _story(4)
    [ru] = _insert(con, _version("Запрет", ru_text, RU, ("en", EN)))
    _insert(con, _version("Ban", en_text, EN), article("Other", other, "https://e.org/other"))
    _insert(con, _version("Манъ", tg_text, TG, ("en", EN)),
            article("Ban (reprint)", _edited(en_text), "https://reprint.org/1", "eurasianet"),
            # copies the other story, declares this one's Russian page
            _version("Other again", _edited(other), "https://e.org/other-again", ("ru", RU)))
    assert _links(con) == {
        RU: (None, None),
        EN: (None, RU),
        "https://e.org/other": (None, None),
        TG: (None, RU),                                   # the story's lead, not EN
        "https://reprint.org/1": (EN, RU),                # its text's original, RU's story
        "https://e.org/other-again": ("https://e.org/other", None),   # the copy wins
    }
    assert con.execute("SELECT count(*), count(*) FILTER (WHERE is_lead) FROM articles "
                       "WHERE cluster_id = ?", [ru]).fetchall() == [(4, 1)]
    assert con.execute("SELECT size, outlets FROM clusters WHERE cluster_id = ?",
                       [ru]).fetchall() == [(4, ["eurasianet", "test"])]
    # the copy search counts copies, not translations
    assert con.execute("SELECT count(duplicate_of), count(translation_of) FROM doc"
                       ).fetchall() == [(2, 3)]


def test_a_version_found_through_a_feed_link_alias(tmp_path: Path) -> None:
    """A page may declare its versions by a URL other than their canonical one (the link the
    outlet's feed gives, remembered in url_alias)."""
    con = memory_warehouse(tmp_path)
    en = dataclasses.replace(article("Ban", _story(2), EN), url=f"{EN}-short")
    _insert(con, en)
    _insert(con, _version("Запрет", _story(1), RU, ("en", f"{EN}-short")))
    assert _links(con) == {f"{EN}-short": (None, None), RU: (None, f"{EN}-short")}


def test_storing_again_changes_nothing(tmp_path: Path) -> None:
    con = memory_warehouse(tmp_path)
    batch = [_version("Запрет", _story(1), RU, ("en", EN), ("tg", TG)),
             _version("Ban", _story(2), EN, ("ru", RU))]
    ids = _insert(con, *batch)
    before = (_links(con), con.execute("SELECT * FROM doc_alternate ORDER BY ALL").fetchall())
    assert _insert(con, *batch) == [None, None]
    assert _insert(con, *reversed(batch)) == [None, None]
    assert (_links(con), con.execute("SELECT * FROM doc_alternate ORDER BY ALL").fetchall()
            ) == before
    assert before[0] == {RU: (None, None), EN: (None, RU)}
    assert len(before[1]) == 3 and ids[1] is not None


def test_an_old_warehouse_migrates_and_its_articles_can_be_translated(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A warehouse of the release before (migrations up to 0018) with a copy cluster: after
    migration 0019 its articles are no translations, its stories as they were, and a new page
    declaring one of them joins that story."""
    before = tmp_path / "migrations"
    before.mkdir()
    for f in wdb.MIGRATIONS.glob("*.sql"):
        if int(f.name[:4]) < 19:
            shutil.copy(f, before / f.name)
    monkeypatch.setattr(wdb, "MIGRATIONS", before)
    monkeypatch.setattr(wdb, "VIEWS", tmp_path / "no-views")
    path = tmp_path / "old.duckdb"
    con = wdb.connect(path)
    text = _story(5)
    for k, (url, dup) in enumerate([(EN, None), ("https://reprint.org/5", 1)], 1):
        con.execute("INSERT INTO doc (id, source, url, canonical_url, fetched_at, lang, text, "
                    "text_hash, n_words, duplicate_of) VALUES (?, 'test', ?, ?, now(), 'en', "
                    "?, ?, 160, ?)", [k, url, url, text, f"h{k}", dup])
    con.execute("SELECT setval('doc_id_seq', 2)")
    con.close()
    monkeypatch.undo()

    con = wdb.connect(path)
    assert con.execute("SELECT id, cluster_id, is_lead, translation_of FROM articles "
                       "ORDER BY id").fetchall() == [(1, 1, True, None), (2, 1, False, None)]
    [ru] = _insert(con, _version("Запрет", _story(6), RU, ("en", EN)))
    assert con.execute("SELECT translation_of, cluster_id, is_lead FROM articles WHERE id = ?",
                       [ru]).fetchall() == [(1, 1, False)]
    assert con.execute("SELECT count(*) FROM clusters").fetchall() == [(1,)]
    con.close()


# --- the digest ---------------------------------------------------------------------------

NOV_28 = datetime(2026, 11, 28, 6, 20, tzinfo=UTC)
DEC_6 = datetime(2026, 12, 6, 13, 0, tzinfo=UTC)


def _store(db: Path, topics: Path, *batch: Article) -> list[int]:
    """Store and tag as ingest does, in one transaction."""
    con = connect(db)
    try:
        store.load_rules(con, load_rules(topics))
        with transaction(con):
            stored = store.insert_articles(con, list(batch), None, 0.8, 4)
            ids = [s.id for s in stored if s]
            store.apply_topics(con, ids)
    finally:
        con.close()
    return ids


def test_the_digest_lists_a_story_once_with_its_other_languages_linked(
        tmp_path: Path, db_path: Path) -> None:
    """Ozodi's Russian report of 28 November and Asia-Plus's English version of 6 December,
    which declares it: one item, shown as the first report with "also in English" and its
    link, to everyone; to a subscriber who reads only English, as the English version with
    "also in Russian". One delivery-log key, the story's lead, for all."""
    now = datetime.now(UTC)
    with ChatSink() as sink:
        desk = Subscriber("desk", (
            Channel("email", "desk@example.org"),
            Channel("chat", f"json://127.0.0.1:{sink.port}/apprise"),
            Channel("webhook", f"webhook+http://127.0.0.1:{sink.port}/hook")))
        settings = bare_settings(tmp_path, desk, email("en", languages=("en",)),
                                 email("ru", languages=("ru",)))
        at = now - timedelta(minutes=5)
        ru = dataclasses.replace(_version("Запрет на въезд продлён", RU_BAN.format(n="5 000"),
                                          RU, source="ozodi"), published_at=NOV_28, fetched_at=at)
        en = dataclasses.replace(_version("Entry ban extended", EN_BAN.format(n="5,000"), EN,
                                          ("ru", RU), source="asiaplus_en"),
                                 published_at=DEC_6, fetched_at=at)
        lead, _ = _store(db_path, settings.topics_path, ru, en)
        assert rows(db_path, "SELECT lang, is_lead FROM articles ORDER BY id") == [
            ("ru", True), ("en", False)]
        assert rows(db_path, "SELECT sum(articles) FROM topic_daily") == [(1,)]

        results = {(r.subscriber, r.transport): r for r in run_digests(db_path, settings, None,
                                                                        now=now)}
        assert {k: r.n_items for k, r in results.items()} == {
            ("desk", "outbox"): 1, ("desk", "apprise"): 1, ("desk", "webhook"): 1,
            ("en", "outbox"): 1, ("ru", "outbox"): 1}
        for name in ("desk", "ru"):
            plain, html = text_and_html(results[(name, "outbox")])
            assert plain.count("Запрет на въезд продлён") == 1 and "Entry ban extended" not in plain
            assert f"Also in English (Asia-Plus): {EN}" in plain
            assert "Also reported by" not in plain              # Asia-Plus is named above
            assert f'<a href="{EN}" style="color:#0b5394;text-decoration:none;">English</a>' \
                in html
        plain, _ = text_and_html(results[("en", "outbox")])
        assert "Entry ban extended" in plain and "Запрет" not in plain
        assert f"{EN}\n" in plain and f"Also in Russian (Ozodi): {RU}" in plain
        assert "06 Dec 2026" in plain and "Asia-Plus · 06 Dec 2026 UTC · English" in plain
        message = dict(sink.posts)["/apprise"]["message"]
        assert message.count("Запрет на въезд продлён") == 1
        assert f"(also in [English]({EN}))" in message
        [item] = dict(sink.posts)["/hook"]["topics"][0]["items"]
        assert (item["id"], item["url"], item["also_reported_by"], item["also_in"]) == (
            lead, RU, [], [{"lang": "en", "language": "English", "url": EN,
                            "outlet": "Asia-Plus"}])
    assert sorted(rows(db_path, "SELECT subscriber, doc_id FROM delivery_log")) == [
        ("desk", lead)] * 3 + [("en", lead), ("ru", lead)]


# --- end to end ---------------------------------------------------------------------------

def _answer(h: BaseHTTPRequestHandler, body: bytes) -> None:
    send(h, 200, body)


def _page(lang: str, title: str, text: str, head: str) -> bytes:
    return (f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8" />'
            f"<title>{title}</title>{head}</head><body><header><nav>Home</nav></header>"
            f"<article><h1>{title}</h1>"
            + "".join(f"<p>{p}.</p>" for p in text.split(". ") if p.strip())
            + "</article><footer>© Outlet</footer></body></html>").encode()


@pytest.mark.usefixtures("prefect_harness")
def test_an_outlet_publishing_a_story_in_russian_and_english_is_one_digest_item(
        tmp_path: Path) -> None:
    """A real ingest of an outlet whose feed lists the Russian and the English version of one
    story, each page declaring the other (one href relative, one absolute, with x-default and
    itself), then a real digest: the story is listed once, its English version named."""
    with FaultServer({}) as srv:
        ru_path, en_path = "/ru/news/patent-1", "/en/news/patent-1"
        declared = (f'<link rel="alternate" hreflang="ru" href="{ru_path}" />'
                    f'<link rel="alternate" hreflang="en" href="{srv.base}{en_path}" />'
                    f'<link rel="alternate" hreflang="x-default" href="{srv.base}/" />')
        pages = {
            ru_path: _page("ru", "Запрет на въезд продлён", RU_BAN.format(n="5 000"), declared),
            en_path: _page("en", "Entry ban extended", EN_BAN.format(n="5,000"), declared)}
        feed = ("<?xml version=\"1.0\" encoding=\"utf-8\"?><rss version=\"2.0\"><channel>"
                "<title>Outlet</title>" + "".join(
                    f"<item><title>{p}</title><link>{srv.base}{p}</link></item>" for p in pages)
                + "</channel></rss>").encode()
        srv.routes["/rss.xml"] = lambda h: send(h, 200, feed, "application/rss+xml")
        for p, body in pages.items():
            srv.routes[p] = partial(_answer, body=body)
        cfg, db = tmp_path / "sources.toml", tmp_path / "w.duckdb"
        cfg.write_text(
            f'[fetch]\nallowed_private_hosts = ["{srv.base.removeprefix("http://")}"]\n'
            "retries = 0\nhost_delay = 0\ntimeout = 5\n\n[runner]\nkind = \"threads\"\n\n"
            f'[digest]\noutbox = "{tmp_path / "outbox"}"\n\n'
            f'[[sources]]\nkey = "asiaplus"\nname = "Asia-Plus"\nfeeds = ["{srv.base}/rss.xml"]\n'
            '\n[[subscribers]]\nname = "desk"\nemail = ["desk@example.org"]\n', "utf-8")

        report = ingest_flow(str(cfg), str(db))
        assert (report.status, report.new_articles) == ("ok", 2)
        assert report.sources[0].duplicates == 0
        ru_url, en_url = canonical_url(srv.base + ru_path), canonical_url(srv.base + en_path)
        stored = dict(rows(db, "SELECT lang, canonical_url FROM articles WHERE NOT is_seed"))
        assert stored == {"ru": ru_url, "en": en_url}
        assert sorted(rows(db, "SELECT d.lang, a.lang, a.canonical_url FROM doc_alternate a "
                               "JOIN doc d ON d.id = a.doc_id")) == [
            ("en", "ru", ru_url), ("ru", "en", en_url)]
        assert rows(db, "SELECT count(*), count(*) FILTER (WHERE is_lead), "
                        "count(DISTINCT cluster_id) FROM articles WHERE NOT is_seed") == [(2, 1, 1)]
        assert rows(db, "SELECT langs FROM clusters WHERE size > 1") == [(["en", "ru"],)]

        [result] = run_digests(db, load_settings(cfg), None)
        assert (result.n_items, result.error) == (1, None)
        plain, _html = parts(parse(Path(result.location or "")))
        assert plain.count("Entry ban extended") + plain.count("Запрет на въезд продлён") == 1
        other = (("English", srv.base + en_path) if "Запрет" in plain
                 else ("Russian", srv.base + ru_path))
        assert f"Also in {other[0]} (Asia-Plus): {other[1]}" in plain
        assert "migwatch daily: 1 new article" in plain

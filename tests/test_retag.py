"""`migwatch retag` after a rule change: history re-tagged, changes reported per topic; with
`--language`, labels stored under an older language rule detected again first."""

from __future__ import annotations

import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

from flows.cli import main
from flows.retag import (
    Relabel,
    StoredDoc,
    _store_relabels,
    detected_language,
    redetect,
    summarise,
)
from flows.stages.article import build_article, seed_article
from flows.stages.models import Extracted, FeedItem
from tests.conftest import ROOT
from tests.helpers import RULES, article, memory_warehouse, rows
from warehouse import store
from warehouse.db import connect, transaction


def test_a_rule_change_retags_history_and_reports_it(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    con = memory_warehouse(tmp_path)
    arts = [article("Russia lifts entry bans on 4,200 Tajiks", "Officials said the entry bans "
                    "on Tajik citizens were lifted. " * 3, "https://e.org/1"),
            article("Migrants barred from returning", "Thousands of Tajik migrants are barred "
                    "from returning; the barred migrants were told at the border. " * 3,
                    "https://e.org/2"),
            article("Remittances fall", "Remittances from Tajik migrants fell by a tenth. " * 3,
                    "https://e.org/3")]
    store.store_seeds(con, arts, 0.8, 4)
    before = con.execute("SELECT doc_id, topic FROM doc_topic ORDER BY 1, 2").fetchall()
    assert before == [(1, "entry_bans"), (3, "remittances")]
    con.execute("DELETE FROM figure")   # as if stored before figures were extracted
    con.close()

    # the change: "barred" becomes an entry-ban term, remittances need "remittances from Russia"
    rules = RULES.replace('"banned from entering"', '"banned from entering", "barred"')
    rules = rules.replace('context = { en = ["migrant*", "tajik*"] }',
                          'context = { en = ["from russia"] }')
    (tmp_path / "rules.toml").write_text(rules, encoding="utf-8")
    config = tmp_path / "sources.toml"
    config.write_text('[topics]\nrules = "rules.toml"\n\n[[sources]]\nkey = "xx"\nname = "X"\n'
                      'feeds = ["https://example.org/rss"]\n', encoding="utf-8")
    assert main(["retag", "--db", str(tmp_path / "w.duckdb"), "--config", str(config)]) == 0

    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[1:]}
    assert rows["entry_bans"] == ["1", "2", "1", "0"]      # before, after, added, removed
    assert rows["remittances"] == ["1", "0", "0", "1"]
    con = connect(tmp_path / "w.duckdb")
    after = con.execute("SELECT article_id, topic FROM article_topics ORDER BY 1, 2").fetchall()
    assert after == [(1, "entry_bans"), (2, "entry_bans")]
    # the pass also backfills the figures of articles stored without them
    assert con.execute("SELECT value, unit FROM figures WHERE article_id = 1").fetchall() == [
        (4200.0, "people")]


# --- `migwatch retag --language` -------------------------------------------------------------

RU_BAN = ("Министерство внутренних дел России сообщило, что запрет на въезд для трудовых "
          "мигрантов из Таджикистана сохранится. ") * 6
EN_MONEY = ("Remittances from Tajik migrants in Russia fell by a tenth this year, officials "
            "said. ") * 4
TG_TEXT = ("Вазорати меҳнат, муҳоҷират ва шуғли аҳолии Тоҷикистон хабар дод, ки шумораи "
           "муҳоҷирони меҳнатӣ дар Русия кам шудааст. ") * 3
LANGUAGE_SOURCES = ('[topics]\nrules = "rules.toml"\n\n'
                    '[[sources]]\nkey = "ru_outlet"\nname = "R"\nlanguage = "ru"\n'
                    'feeds = ["https://example.org/ru/rss"]\n\n'
                    '[[sources]]\nkey = "en_outlet"\nname = "E"\nlanguage = "en"\n'
                    'feeds = ["https://example.org/en/rss"]\n')


def _language_warehouse(tmp_path: Path) -> tuple[Path, Path]:
    """A warehouse as an older release left it: a Russian and an English article that name a
    Tajik official or Radio Ozodi stored as `tg` (the old rule: one Tajik letter was enough),
    a seed stored under a wrong label, and a Tajik and an English article labelled right."""
    con = memory_warehouse(tmp_path)
    arts = [
        article("Запрет на въезд сохранится", RU_BAN + "Об этом сообщил глава ведомства "
                "Ҷамшед Раҳимов.", "https://r.org/1", "ru_outlet"),
        article("Remittances from migrants fall", EN_MONEY + "(Radio Ozodi, Радиои Озодӣ)",
                "https://e.org/1", "en_outlet"),
        article("Муҳоҷирон", TG_TEXT, "https://r.org/2", "ru_outlet"),
        article("Entry ban lifted", "Officials said the entry ban on Tajik citizens was "
                "lifted. " * 3, "https://e.org/2", "en_outlet"),
        seed_article(store.seed_files()[0]),
    ]
    store.store_seeds(con, arts, 0.8, 4)
    assert [r[0] for r in con.execute("SELECT lang FROM doc ORDER BY id").fetchall()] == [
        "ru", "en", "tg", "en", "en"]
    con.execute("UPDATE doc SET lang = 'tg', lang_confidence = 0.91 WHERE id IN (1, 2)")
    con.execute("UPDATE doc SET lang = 'ru' WHERE is_seed")
    con.execute("DELETE FROM doc_topic")   # and tags out of date, as after a rule change
    con.close()
    config = tmp_path / "sources.toml"
    config.write_text(LANGUAGE_SOURCES, encoding="utf-8")
    return tmp_path / "w.duckdb", config


def test_retag_language_fixes_labels_of_the_old_rule_then_tags_and_a_rerun_changes_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db, config = _language_warehouse(tmp_path)
    assert main(["retag", "--language", "--db", str(db), "--config", str(config)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "language: 3 changed (ru→en 1, tg→en 1, tg→ru 1)"
    rows = {line.split()[0]: line.split()[1:] for line in out[2:]}
    assert rows["entry_bans"] == ["0", "2", "2", "0"]      # before, after, added, removed

    con = connect(db)
    assert con.execute("SELECT id, lang, lang_confidence > 0.6 FROM articles ORDER BY id"
                       ).fetchall() == [(1, "ru", True), (2, "en", True), (3, "tg", True),
                                        (4, "en", True), (5, "en", True)]
    assert con.execute("SELECT article_id, topic FROM article_topics ORDER BY 1, 2"
                       ).fetchall() == [(1, "entry_bans"), (2, "remittances"),
                                        (4, "entry_bans")]
    assert con.execute("SELECT lang, topic, sum(articles) FROM topic_daily GROUP BY ALL "
                       "ORDER BY ALL").fetchall() == [("en", "entry_bans", 1),
                                                      ("en", "remittances", 1),
                                                      ("ru", "entry_bans", 1)]
    con.close()

    # a second pass, as a user runs it: nothing left to change
    proc = subprocess.run([sys.executable, "-m", "flows.cli", "retag", "--language", "--db",
                           str(db), "--config", str(config)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "language: 0 changed"
    assert all(line.split()[3:] == ["0", "0"] for line in lines[2:]), lines


def test_retag_without_language_keeps_stored_labels(tmp_path: Path) -> None:
    db, config = _language_warehouse(tmp_path)
    assert main(["retag", "--db", str(db), "--config", str(config)]) == 0
    assert rows(db, "SELECT lang FROM doc ORDER BY id") == [("tg",), ("tg",), ("tg",),
                                                            ("en",), ("ru",)]


def test_a_failure_after_the_labels_rolls_them_back(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Labels and tags are written in one transaction: a failure while tagging (injected
    here) leaves every label as it was, and the next pass does it all."""
    db, config = _language_warehouse(tmp_path)

    def broken(*_args: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(store, "apply_topics", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        main(["retag", "--language", "--db", str(db), "--config", str(config)])
    assert rows(db, "SELECT lang FROM doc ORDER BY id") == [("tg",), ("tg",), ("tg",),
                                                            ("en",), ("ru",)]
    monkeypatch.undo()
    assert main(["retag", "--language", "--db", str(db), "--config", str(config)]) == 0
    assert rows(db, "SELECT lang FROM doc ORDER BY id") == [("ru",), ("en",), ("tg",),
                                                            ("en",), ("en",)]


def test_a_label_changed_since_it_was_read_rolls_the_whole_batch_back(tmp_path: Path) -> None:
    db, _config = _language_warehouse(tmp_path)
    con = connect(db)
    stale = [Relabel(1, "tg", "ru", 0.99), Relabel(2, "ru", "en", 0.99)]   # 2 is tg, not ru
    with pytest.raises(RuntimeError, match="1 of 2 documents updated"), transaction(con):
        _store_relabels(con, stale)
    assert con.execute("SELECT lang FROM doc WHERE id IN (1, 2) ORDER BY id").fetchall() == [
        ("tg",), ("tg",)]
    con.close()


def test_redetect_is_a_plain_function_of_stored_rows_and_hints() -> None:
    docs = [StoredDoc(1, "ru_outlet", "Запрет на въезд", RU_BAN + " Ҷамшед Раҳимов.", "tg"),
            StoredDoc(2, "gone", None, TG_TEXT, "tg"),
            StoredDoc(3, "seed", "Remittances", EN_MONEY, "en"),
            StoredDoc(4, "en_outlet", None, "Ок.", "ru")]
    found = list(redetect(docs, {"ru_outlet": "ru"}))
    assert [(r.id, r.before, r.after) for r in found] == [(1, "tg", "ru"), (4, "ru", "und")]
    assert summarise(found).line() == "language: 2 changed (ru→und 1, tg→ru 1)"
    assert summarise([]).line() == "language: 0 changed"


@pytest.mark.parametrize("hint", [None, "ru", "en", "tg"])
def test_the_pass_detects_what_ingest_stores(hint: str | None) -> None:
    """Held to build_article (what ingest and the seeds store): the same input (title,
    newline, text, NFC) and hint give the same label and confidence, including a title
    that comes from the feed item and text that arrives with combining marks."""
    cases = [Extracted("Запрет на въезд", None, None, RU_BAN + " Ҷамшед Раҳимов."),
             Extracted(None, None, None, "Муҳоҷирон\n" + TG_TEXT),
             Extracted("Mixed", None, None, EN_MONEY + RU_BAN[:200]),
             Extracted("Вазорат", None, None, unicodedata.normalize("NFD", TG_TEXT))]
    item = FeedItem("https://r.org/x", title="Муҳоҷирон дар Русия")
    for extracted in cases:
        art = build_article("ru_outlet", "https://r.org/x", extracted, item, hint)
        assert detected_language(art.title, art.text, hint) == (art.lang, art.lang_confidence)
        raw_title = extracted.title or item.title   # the title before NFC, as extracted
        assert detected_language(raw_title, extracted.text, hint) == (art.lang,
                                                                      art.lang_confidence)

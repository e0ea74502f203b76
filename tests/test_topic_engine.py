"""The rule engine's mechanics, on a small rule file written here (the shipped rules are
checked in test_topic_rules.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.stages.topics import RulesError, compile_term, load_rules
from tests.helpers import RULES, article, memory_warehouse, tags
from warehouse import store
from warehouse.db import transaction

FILLER = " Officials gave no further details on Tuesday."


def _tag(tmp_path: Path, *arts: tuple[str, str]) -> dict[int, set[str]]:
    con = memory_warehouse(tmp_path)
    with transaction(con):
        ids = [store.insert_article(con, article(t, x, f"https://e.org/{i}"), None, 1.01, 4)
               for i, (t, x) in enumerate(arts)]
        store.apply_topics(con, [s.id for s in ids if s])
    found = tags(con)
    return {i: found.get(s.id, set()) for i, s in enumerate(ids) if s}


def test_russian_inflections_match_a_stem(tmp_path: Path) -> None:
    got = _tag(tmp_path, ("Новости", "Власти ввели запрет на въезд. Запрета на въезд не было. "
                          "Грозят запретом на въезд." + FILLER * 3))
    assert got[0] == {"entry_bans"}


def test_one_passing_word_is_not_a_topic_but_a_headline_is(tmp_path: Path) -> None:
    got = _tag(tmp_path,
               ("Weather in Dushanbe", "Rain is expected. One entry ban was mentioned." + FILLER),
               ("Russia extends entry ban", "The measure was announced." + FILLER))
    assert got[0] == set() and got[1] == {"entry_bans"}


def test_whole_words_only(tmp_path: Path) -> None:
    got = _tag(tmp_path, ("Remittances", "premittancesx remittancefoo." + FILLER))
    assert "remittances" not in got[0]


def test_context_is_required_and_exclusions_subtract(tmp_path: Path) -> None:
    got = _tag(tmp_path,
               ("Remittances rise", "Remittances from abroad grew. Remittances again." + FILLER),
               ("Remittances rise", "Tajik migrants sent remittances home." + FILLER),
               ("Smoking ban", "A smoking ban and another smoking ban; smoking ban." + FILLER))
    assert got[0] == set()
    assert got[1] == {"remittances"}
    assert got[2] == set()


def test_evidence_and_score_are_kept(tmp_path: Path) -> None:
    con = memory_warehouse(tmp_path)
    with transaction(con):
        s = store.insert_article(con, article("Entry ban lifted",
                                              "The entry ban on 5,000 people ended." + FILLER),
                                 None, 1.01, 4)
        assert s
        store.apply_topics(con, [s.id])
    row = con.execute(
        "SELECT score, evidence FROM article_topics WHERE article_id = ?", [s.id]).fetchone()
    assert row is not None
    score, evidence = row
    assert evidence == ["entry ban"] and score == 3 + 1


def test_retag_applies_changed_rules_to_history(tmp_path: Path) -> None:
    con = memory_warehouse(tmp_path)
    with transaction(con):
        s = store.insert_article(con, article("Blacklist grows",
                                              "The blacklist now has 3,000 names." + FILLER),
                                 None, 1.01, 4)
        assert s
        store.apply_topics(con, [s.id])
    assert tags(con) == {}
    path = tmp_path / "rules.toml"
    path.write_text(RULES.replace('"banned from entering"', '"banned from entering", '
                                  '"blacklist*"'), encoding="utf-8")
    store.load_rules(con, load_rules(path))
    with transaction(con):
        store.apply_topics(con, None)
    assert tags(con) == {s.id: {"entry_bans"}}


def test_compile_term() -> None:
    assert compile_term("entry ban*") == r"entry +ban[^ ]*"
    assert compile_term("Запрет* на въезд") == r"запрет[^ ]* +на +въезд"


@pytest.mark.parametrize(("text", "message"), [
    ("[topics.xx]\nlabel = 'X'\n", "at least one term"),
    ("[topics.xx]\nterms = { fr = ['a'] }\n", "unknown language"),
    ("[topics.xx]\nterms = { en = ['a'] }\nextra = 1\n", "unknown keys"),
    ("[defaults]\nmin_scor = 2\n", "unknown keys"),
    ("", "no \\[topics"),
])
def test_bad_rules_are_clear_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "t.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RulesError, match=message):
        load_rules(path)


def test_decomposed_tajik_letters_and_apostrophes_still_match(tmp_path: Path) -> None:
    rules = RULES.replace('en = ["remittance*", "money transfer*"]',
                          'en = ["remittance*", "workers\' rights"], tg = ["интиқолӣ"]')
    con = memory_warehouse(tmp_path, rules)
    decomposed = "интиқол" + "и\u0304"   # и + combining macron, as some pages send ӣ
    with transaction(con):
        a = store.insert_article(con, article("Маблағҳои " + decomposed,
                                              "Tajik migrants: workers' rights." + FILLER,
                                              "https://e.org/tg"), None, 1.01, 4)
        assert a
        store.apply_topics(con, [a.id])
    row = con.execute("SELECT evidence FROM article_topics WHERE article_id = ?",
                      [a.id]).fetchone()
    assert row is not None and set(row[0]) == {"интиқолӣ", "workers rights"}


def test_inflected_forms_of_one_phrase_score_as_one_phrase(tmp_path: Path) -> None:
    """Russian and Tajik inflect: six mentions in three case forms are one phrase, capped like
    six mentions of an English phrase, not three phrases scoring separately."""
    con = memory_warehouse(tmp_path)
    body = ("Мигрантам грозит запрет на въезд. Запрета на въезд можно избежать. "
            "С запретом на въезд столкнулись тысячи. ") * 2
    store.store_seeds(con, [article("Новости", body)], 0.8, 4)
    assert con.execute("SELECT score FROM doc_topic WHERE topic = 'entry_bans'"
                       ).fetchone() == (3,)

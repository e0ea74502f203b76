"""The Python phrase finder against RE2 in DuckDB, the engine the rules are written for:
for every rule of the shipped topics.toml, the same phrases in the same order."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from flows.settings import load_settings
from flows.stages.topic_match import TopicMatcher, token_words
from flows.stages.topics import load_rules, rule_rows, rule_terms
from tests.helpers import article, memory_warehouse
from warehouse import store
from warehouse.db import migrate, transaction

DATA = Path(__file__).parent / "data"
# What apply_topics.sql tagged before the phrases were found in Python (its step 1 and 2).
TOKEN_SQL = ("' ' || regexp_replace(replace(lower(nfc_normalize($s)), 'ё', 'е'), "
             "'[^\\pL\\pN]+', '  ', 'g') || ' '")
TRICKY = [
    "",
    "!!! --- ...",
    "Entry ban, entry-ban, ENTRY BAN; entry  ban. Entry bans! re-entry ban",
    "Запрет на въезд, запрета на въезд; запретом на въезд. Запрет-на-въезд",
    "Амнистия для 3 трудовых мигрантов; amnesty for 2,000 labour migrants; amnesty migrants",
    "Вуруд ба Русия манъ шуд. Вуруди онҳо манъ аст. мухоҷирон ва муҳоҷирон",
    "агентства занятости, агентство по занятости; агентии шуғл; агенти давлатии шуғли",
    "remittances remittance remittancesx xremittances money transfers",
    "Ёлка ёж Ё ӣ ӯ ҷ Ӣ ӯ и\u0306 у\u0306 migrant_workers migrants’ deportation_ deported",
]


def _texts() -> list[str]:
    texts = [p.read_text(encoding="utf-8") for p in store.seed_files()]
    for name in ("topic_eval.jsonl", "topic_heldout.jsonl"):
        for line in (DATA / name).read_text("utf-8").splitlines():
            row = json.loads(line)
            texts += [row.get("title") or "", row["text"]]
    return texts + TRICKY


@pytest.fixture(scope="module")
def rules() -> tuple:
    return rule_terms(load_rules(load_settings(None).topics_path))


def _duckdb_tokens(con: duckdb.DuckDBPyConnection, texts: list[str]) -> None:
    con.execute("CREATE TABLE token AS SELECT i, " + TOKEN_SQL.replace("$s", "s") + " AS t "
                "FROM (SELECT unnest(range(len($texts))) AS i, unnest($texts) AS s)",
                {"texts": texts})


def test_token_words_are_the_words_of_what_duckdb_made() -> None:
    con, texts = duckdb.connect(), _texts()
    _duckdb_tokens(con, texts)
    for i, made in con.execute("SELECT i, t FROM token ORDER BY i").fetchall():
        assert token_words(texts[i]) == made.split(), texts[i][:80]


def test_every_rule_finds_what_re2_finds(rules: tuple) -> None:
    con, texts = duckdb.connect(), _texts()
    _duckdb_tokens(con, texts)
    matcher = TopicMatcher(rules)
    mine: dict[tuple[str, str, int], list[str]] = {}
    for i, text in enumerate(texts):
        for topic, kind, _part, phrase in matcher.part_hits("body", text):
            mine.setdefault((topic, kind, i), []).append(phrase)
    phrases = 0
    for rule in rule_rows(load_rules(load_settings(None).topics_path)):
        for i, found in con.execute("SELECT i, regexp_extract_all(t, $p, 1) FROM token "
                                    "ORDER BY i", {"p": rule.pattern}).fetchall():
            assert mine.get((rule.topic, rule.kind, i), []) == found, (rule.topic, rule.kind,
                                                                       texts[i][:80])
            phrases += len(found)
    assert phrases > 1000   # the corpus exercises the rules


def test_title_and_body_are_told_apart(rules: tuple) -> None:
    hits = TopicMatcher(rules).hits("Entry ban extended", "No details were given.")
    assert ("entry_bans", "terms", "title", "entry  ban") in hits
    assert not [h for h in hits if h[2] == "body"]



def test_a_body_that_repeats_the_headline_is_matched_without_it(rules: tuple) -> None:
    """Extracted text often begins with the headline; matched again as body, a headline
    phrase scored 3 + 1 and passed a subscriber's `min_score = 4` on the headline alone."""
    matcher = TopicMatcher(rules)
    title = "Депортация мигрантов: что изменится в январе"
    hits = matcher.hits(title, f"{title}\n\nМиграционный центр меняет часы работы.")
    assert [h[2:] for h in hits if h[:2] == ("deportations", "terms")] == [
        ("title", "депортация")]
    # the same phrase later in the body still counts as body
    hits = matcher.hits(title, "Часы работы меняются. Депортация мигрантов обсуждалась.")
    assert [h[2:] for h in hits if h[:2] == ("deportations", "terms")] == [
        ("title", "депортация"), ("body", "депортация")]


@pytest.mark.parametrize(("title", "text", "end"), [
    ("Entry ban extended", "Entry ban extended\nThe measure...", 18),
    ("Entry  ban\nextended", "  entry ban EXTENDED. The measure", 20),
    ("Patent", "Patents cost more", 0),            # ends inside a word
    ("Entry ban extended", "The entry ban was extended", 0),
    (None, "Anything", 0),
    ("Запрет на въезд", "ЗАПРЕТ НА ВЪЕЗД продлён", 15),
])
def test_headline_end(title: str | None, text: str, end: int) -> None:
    from flows.stages.headline import headline_end
    assert headline_end(title, text) == end

def test_workers_and_the_writer_use_the_same_rules(tmp_path: Path, rules: tuple) -> None:
    """A worker gets the rules from the file (BuildSpec.topics), the writer from the
    warehouse (topic_rule): they must be equal, or the two would tag differently."""
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    migrate(con)
    store.load_rules(con, load_rules(load_settings(None).topics_path))
    assert store.stored_rules(con) == rules


def test_tagging_everything_refuses_uncommitted_documents(tmp_path: Path) -> None:
    con = memory_warehouse(tmp_path)
    with pytest.raises(RuntimeError, match="commit"), transaction(con):
        store.insert_article(con, article("Entry ban", "Entry ban for migrants. " * 5,
                                          "https://e.org/1"), None, 1.01, 4)
        store.apply_topics(con, None)


def test_phrase_forms_are_what_re2_made_of_every_phrase_found(rules: tuple) -> None:
    """The writer's phrase keys (warehouse/store.py phrase_forms) against the two
    regexp_replace that apply_topics.sql used: on every phrase the rules find in the seeds,
    the evaluation sets and the tricky texts, and on letters of every script we read."""
    finder = TopicMatcher(rules)
    phrases = sorted({hit[3] for text in _texts() for hit in finder.hits(None, text)})
    phrases += ["запрета  на въезд", "ӯҳӣҷ ғқҳ ҒҚҲӮ", "a1bcdefg h_ijklmn", "ﬁnancial  ², Ⅻabcdef",
                "и\u0306ииии\u0306и", "straße Ὀδυσσεύς 移民劳工問題", "x" * 12]
    assert len(phrases) > 100
    made = duckdb.connect().execute(
        "SELECT regexp_replace(p, ' +', ' ', 'g'), regexp_replace(regexp_replace(p, ' +', ' ', "
        "'g'), '(\\pL{5})\\pL*', '\\1', 'g') FROM unnest($p) t(p)", {"p": phrases}).fetchall()
    assert [store.phrase_forms(p) for p in phrases] == [tuple(row) for row in made]

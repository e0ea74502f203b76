"""The shipped rules (topics.toml) on the labelled set and on the seed corpus."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.eval_topics import DEFAULT_DATA, DEFAULT_RULES, evaluate
from flows.stages.article import seed_article
from flows.stages.topics import load_rules
from warehouse import store
from warehouse.db import connect

TOPICS = {"agreements", "entry_bans", "deportations", "legal_status", "recruitment_training",
          "remittances", "rights_abuse", "returnees", "war_recruitment"}


def test_the_nine_topics_have_rules_in_three_languages() -> None:
    rules = load_rules(DEFAULT_RULES)
    assert set(rules.keys()) == TOPICS
    for topic in rules.topics:
        assert {"en", "ru", "tg"} <= set(topic.terms), topic.key


def test_per_topic_f1_on_the_labelled_set_stays_above_its_floor() -> None:
    """Floors sit a little under what the rules reach today (0.93 at the lowest), so a rule
    change that loses ground fails here."""
    scores = evaluate(DEFAULT_RULES, DEFAULT_DATA)
    assert set(scores) >= TOPICS
    low = {t: round(s["f1"], 3) for t, s in scores.items() if t in TOPICS and s["f1"] < 0.88}
    assert not low


@pytest.mark.parametrize(("seed", "must", "must_not"), [
    ("000_3acafe03320e2b48", {"recruitment_training", "legal_status"}, {"war_recruitment"}),
    ("002_60169047c1025eae", {"legal_status"}, {"war_recruitment", "deportations"}),
    ("003_bb74ea62c49834b3", {"agreements", "recruitment_training"}, {"remittances"}),
    ("004_8b515f939acf059f", {"agreements", "recruitment_training"}, {"war_recruitment"}),
])
def test_seeds_are_tagged_as_a_reader_would(tmp_path: Path, seed: str, must: set[str],
                                            must_not: set[str]) -> None:
    con = connect(tmp_path / "w.duckdb")
    store.load_rules(con, load_rules(DEFAULT_RULES))
    path = next(p for p in store.seed_files() if p.stem == seed)
    store.store_seeds(con, [seed_article(path)], 0.8, 4)
    got = {r[0] for r in con.execute("SELECT topic FROM article_topics").fetchall()}
    assert must <= got and not (must_not & got), got

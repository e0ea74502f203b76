"""`migwatch retag`: re-apply the current topic rules to every stored article, in one pass."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flows.stages.topics import load_rules
from warehouse import store
from warehouse.db import opened, transaction


@dataclass(frozen=True)
class TopicChange:
    topic: str
    before: int
    after: int
    added: int
    removed: int


def retag(db: Path, rules_path: Path) -> list[TopicChange]:
    rules = load_rules(rules_path)
    with opened(db) as con:
        before = set(con.execute("SELECT doc_id, topic FROM doc_topic").fetchall())
        store.load_rules(con, rules)
        with transaction(con):
            store.apply_topics(con, None)
        after = set(con.execute("SELECT doc_id, topic FROM doc_topic").fetchall())
        store.refresh_figures(con)
    topics = sorted({t for _, t in before | after} | set(rules.keys()))
    return [TopicChange(t, sum(1 for _, x in before if x == t), sum(1 for _, x in after if x == t),
                        sum(1 for _, x in after - before if x == t),
                        sum(1 for _, x in before - after if x == t)) for t in topics]

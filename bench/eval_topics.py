"""Evaluate the topic rules against a labelled set of articles.

Loads `topics.toml`, builds an in-memory warehouse with the project's own schema, inserts every
labelled article through the ingest code path, tags them with the real `apply_topics.sql`, and
compares the tags with the human labels.

    .venv/bin/python bench/eval_topics.py [--rules topics.toml] [--data tests/data/topic_eval.jsonl]
                                          [--errors]

Prints per-topic TP/FP/FN, precision, recall and F1, micro-averaged figures and, per language,
the share of articles whose whole topic set was predicted exactly. `--errors` also lists every
wrong article with the phrases that scored. Tests import `evaluate`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from flows.stages.article import build_article
from flows.stages.models import Extracted
from flows.stages.topics import load_rules
from warehouse import store
from warehouse.db import connect, transaction

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_RULES = ROOT / "topics.toml"
DEFAULT_DATA = ROOT / "tests" / "data" / "topic_eval.jsonl"
LANGS = ("en", "ru", "tg")


@dataclass(frozen=True)
class Example:
    id: str
    lang: str
    title: str
    text: str
    topics: frozenset[str]


@dataclass
class Prediction:
    example: Example
    topics: frozenset[str]
    evidence: dict[str, tuple[int, list[str]]] = field(default_factory=dict)


@dataclass(frozen=True)
class Counts:
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def support(self) -> int:
        return self.tp + self.fn


def load_examples(data_path: Path) -> list[Example]:
    """Read the JSONL set; fail loudly on a malformed line rather than skip it."""
    examples = []
    seen: set[str] = set()
    for n, line in enumerate(data_path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            ex = Example(id=str(row["id"]), lang=str(row["lang"]), title=str(row["title"]),
                         text=str(row["text"]), topics=frozenset(row["topics"]))
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"{data_path}:{n}: bad example: {exc}") from exc
        if ex.id in seen:
            raise ValueError(f"{data_path}:{n}: duplicate id {ex.id!r}")
        seen.add(ex.id)
        examples.append(ex)
    if not examples:
        raise ValueError(f"{data_path}: no examples")
    return examples


def predict(rules_path: Path, examples: list[Example]) -> tuple[list[str], list[Prediction]]:
    """Tag the examples with the real SQL; return the rule topics and one prediction each."""
    rules = load_rules(rules_path)
    con = connect(":memory:")
    try:
        store.load_rules(con, rules)
        doc_ids: dict[int, Example] = {}
        with transaction(con):
            for ex in examples:
                art = build_article("eval", f"https://eval.local/{ex.id}",
                                    Extracted(ex.title, None, None, ex.text))
                # A threshold above 1 disables near-duplicate detection: every row is scored.
                stored = store.insert_article(con, art, None, 1.01, 4)
                if stored is None:
                    raise ValueError(f"example {ex.id!r} was not stored")
                doc_ids[stored.id] = ex
        with transaction(con):
            store.apply_topics(con, None)
        found: dict[int, dict[str, tuple[int, list[str]]]] = defaultdict(dict)
        for doc_id, topic, score, evidence in con.execute(
                "SELECT doc_id, topic, score, evidence FROM doc_topic").fetchall():
            found[int(doc_id)][str(topic)] = (int(score), list(evidence))
    finally:
        con.close()
    predictions = [Prediction(ex, frozenset(found[i]), found[i]) for i, ex in doc_ids.items()]
    return list(rules.keys()), predictions


def count(topics: list[str], predictions: list[Prediction]) -> dict[str, Counts]:
    out = {}
    for t in topics:
        tp = sum(t in p.topics and t in p.example.topics for p in predictions)
        fp = sum(t in p.topics and t not in p.example.topics for p in predictions)
        fn = sum(t not in p.topics and t in p.example.topics for p in predictions)
        out[t] = Counts(tp, fp, fn)
    return out


def _topics(rule_topics: list[str], examples: list[Example]) -> list[str]:
    labelled = sorted({t for ex in examples for t in ex.topics} - set(rule_topics))
    return rule_topics + labelled  # a label with no rule counts as all misses


def evaluate(rules_path: Path, data_path: Path) -> dict[str, dict[str, float]]:
    """topic -> {"precision", "recall", "f1", "support"} for the rules on the labelled set."""
    examples = load_examples(data_path)
    rule_topics, predictions = predict(rules_path, examples)
    return {t: {"precision": c.precision, "recall": c.recall, "f1": c.f1,
                "support": float(c.support)}
            for t, c in count(_topics(rule_topics, examples), predictions).items()}


def _report(rules_path: Path, data_path: Path, show_errors: bool) -> None:
    examples = load_examples(data_path)
    rule_topics, predictions = predict(rules_path, examples)
    topics = _topics(rule_topics, examples)
    counts = count(topics, predictions)
    width = max(len(t) for t in [*topics, "micro average"])
    print(f"rules: {rules_path}\ndata:  {data_path} ({len(examples)} articles)\n")
    head = f"{'topic':<{width}}  {'TP':>3} {'FP':>3} {'FN':>3}  {'prec':>5} {'rec':>5} {'F1':>5}"
    print(head)
    print("-" * len(head))
    for t in topics:
        c = counts[t]
        print(f"{t:<{width}}  {c.tp:>3} {c.fp:>3} {c.fn:>3}  "
              f"{c.precision:5.2f} {c.recall:5.2f} {c.f1:5.2f}")
    micro = Counts(sum(c.tp for c in counts.values()), sum(c.fp for c in counts.values()),
                   sum(c.fn for c in counts.values()))
    macro_f1 = sum(c.f1 for c in counts.values()) / len(counts)
    print("-" * len(head))
    print(f"{'micro average':<{width}}  {micro.tp:>3} {micro.fp:>3} {micro.fn:>3}  "
          f"{micro.precision:5.2f} {micro.recall:5.2f} {micro.f1:5.2f}")
    print(f"{'macro F1':<{width}}  {'':>11}  {'':>5} {'':>5} {macro_f1:5.2f}\n")

    print("exact topic-set accuracy by language")
    langs = sorted({p.example.lang for p in predictions}, key=lambda x: (x not in LANGS, x))
    for lang in [*langs, "all"]:
        group = [p for p in predictions if lang in ("all", p.example.lang)]
        right = sum(p.topics == p.example.topics for p in group)
        print(f"  {lang:<4} {right:>3}/{len(group):<3} {right / len(group):6.1%}")

    if show_errors:
        print("\nerrors (+ false tag, - missed tag; score and evidence of predicted tags)")
        for p in predictions:
            if p.topics == p.example.topics:
                continue
            extra = sorted(p.topics - p.example.topics)
            missed = sorted(p.example.topics - p.topics)
            marks = " ".join([*(f"+{t}" for t in extra), *(f"-{t}" for t in missed)])
            print(f"  {p.example.id}: {marks}")
            for t in sorted(p.topics):
                score, evidence = p.evidence[t]
                print(f"      {t} {score}: {', '.join(evidence)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Evaluate topic rules on a labelled set.")
    parser.add_argument("--rules", type=Path, default=DEFAULT_RULES, help="topics TOML file")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="labelled JSONL set")
    parser.add_argument("--errors", action="store_true", help="list misclassified articles")
    args = parser.parse_args(argv)
    _report(args.rules, args.data, args.errors)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Every quality figure in one run: topics (per-topic P/R/F1 on both labelled sets),
duplicates (pairwise precision/recall at the configured threshold) and language (accuracy
per language on the shared langid paragraphs, when `../shared/data` is present).

    .venv/bin/python bench/evaluate.py

The details (sweeps, errors) are in eval_topics.py, eval_dedup.py and eval_language.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))   # run as a script: make `bench` importable

from bench import eval_dedup, eval_language, eval_topics  # noqa: E402

TOPIC_SETS = [ROOT / "tests" / "data" / "topic_eval.jsonl",
              ROOT / "tests" / "data" / "topic_heldout.jsonl"]


def main() -> int:
    for data in TOPIC_SETS:
        if not data.exists():
            continue
        scores = eval_topics.evaluate(eval_topics.DEFAULT_RULES, data)
        print(f"topics on {data.name}")
        print(f"  {'topic':<22} {'P':>5} {'R':>5} {'F1':>5} {'n':>4}")
        for topic, s in scores.items():
            print(f"  {topic:<22} {s['precision']:5.2f} {s['recall']:5.2f} {s['f1']:5.2f} "
                  f"{s['support']:4.0f}")
        print(f"  {'lowest F1':<22} {'':>11} {min(s['f1'] for s in scores.values()):5.2f}\n")
    d = eval_dedup.evaluate()
    print(f"duplicates on {eval_dedup.DEFAULT_DATA.name} at threshold {d.threshold}: "
          f"precision {d.precision:.3f} recall {d.recall:.3f} "
          f"({d.pairs_found} pairs found, {d.pairs_true} true)\n")
    para = eval_language.DEFAULT_DATA / "langid_paragraphs.tsv"
    if para.exists():
        langs, rate = eval_language.evaluate(para)
        print(f"language on {para.name} ({rate:.0f} samples/s)")
        for lang, s in langs.items():
            print(f"  {lang:<3} accuracy {s['accuracy']:.3f}  called Tajik {s['as_tg']:.3f}")
    else:
        print(f"language: {eval_language.DEFAULT_DATA} absent, not measured")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Language identification on the shared langid samples: accuracy per language and speed.

Reads `../shared/data/langid/langid_{sentences,paragraphs,short5}.tsv` (lang<TAB>text; en, ru,
tg and the look-alikes kk, ky, uk) and runs `detect_language` on every line. Prints, per file
and language, the share detected correctly, the share called `und`, the share called Tajik
(the error that matters: Kazakh, Kyrgyz or Russian taken for Tajik), and samples per second.

    .venv/bin/python bench/eval_language.py [--data ../shared/data/langid]

Tests import `evaluate`.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

from flows.stages.language import detect_language

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "langid"
FILES = ("paragraphs", "sentences", "short5")


def evaluate(path: Path) -> tuple[dict[str, dict[str, float]], float]:
    """lang -> {n, accuracy, und, as_tg} for one TSV file, and samples per second."""
    n: Counter[str] = Counter()
    right: Counter[str] = Counter()
    und: Counter[str] = Counter()
    as_tg: Counter[str] = Counter()
    start = time.perf_counter()
    for line in path.read_text(encoding="utf-8").splitlines():
        lang, _, text = line.partition("\t")
        if not text or lang == "lang":  # the header line
            continue
        got = detect_language(text)[0]
        n[lang] += 1
        right[lang] += got == lang
        und[lang] += got == "und"
        as_tg[lang] += got == "tg"
    elapsed = time.perf_counter() - start
    return ({lang: {"n": n[lang], "accuracy": right[lang] / n[lang], "und": und[lang] / n[lang],
                    "as_tg": as_tg[lang] / n[lang]} for lang in sorted(n)},
            sum(n.values()) / elapsed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args(argv)
    if not args.data.exists():
        print(f"{args.data} is absent: nothing to measure")
        return 0
    detect_language("warm up the profiles of langdetect before timing anything")
    for name in FILES:
        path = args.data / f"langid_{name}.tsv"
        if not path.exists():
            continue
        scores, rate = evaluate(path)
        print(f"{path.name}: {rate:.0f} samples/s")
        print(f"  {'lang':<5} {'n':>5} {'accuracy':>9} {'und':>6} {'as tg':>6}")
        for lang, s in scores.items():
            print(f"  {lang:<5} {s['n']:>5.0f} {s['accuracy']:>9.3f} {s['und']:>6.3f} "
                  f"{s['as_tg']:>6.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Build the labelled duplicate set `tests/data/dup_eval.jsonl` (deterministic; re-run to
regenerate after changing the recipe).

Originals: the five seed documents and the 96 articles of `tests/data/topic_eval.jsonl`
(English, Russian, Tajik; on the nine topics, so articles on the same topic are look-alikes:
different articles on the same subject). Copies, each labelled with its original's group:
  furniture  the text inside another outlet's page furniture (menu, share buttons, "read also"
             links to other headlines, copyright), with a changed headline;
  truncated  the first 55-70% of the sentences (a syndicated teaser), changed headline;
  edited     10-20% of the sentences rewritten (half their words replaced);
  mixed      furniture + edited 15% + the last sentence dropped.
Every line: {"id", "group", "kind" (original | furniture | truncated | edited | mixed),
"lang", "title", "text"}; documents with the same group are copies of each other.
"""

from __future__ import annotations

import json
import random
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "data" / "dup_eval.jsonl"
SEEDS = ROOT / "warehouse" / "seeds"
FURNITURE = {
    "en": (["Home | News | Central Asia | Migration", "Share on Facebook  Share on X",
            "Listen to this article"],
           ["Subscribe to our newsletter", "Read also:", "© 2026 {outlet}. All rights "
            "reserved. Reproduction only with a link to the source."]),
    "ru": (["Главная / Новости / Миграция", "Поделиться: ВКонтакте Telegram WhatsApp",
            "Время чтения: 3 минуты"],
           ["Подписывайтесь на наш канал в Telegram", "Читайте также:", "© 2026 {outlet}. "
            "Все права защищены. Перепечатка только со ссылкой на источник."]),
    "tg": (["Асосӣ / Хабарҳо / Муҳоҷират", "Мубодила: Facebook Telegram",
            "Вақти хондан: 2 дақиқа"],
           ["Ба канали мо дар Telegram обуна шавед", "Инчунин хонед:", "© 2026 {outlet}. "
            "Ҳамаи ҳуқуқҳо ҳифз шудаанд."]),
}
OUTLETS = ["Migrant News", "Dushanbe Daily", "CA Wire", "Регион Медиа"]
FILLER = {"en": "officials told reporters on condition of anonymity that day",
          "ru": "как сообщили журналистам на условиях анонимности в тот день",
          "tg": "чунон ки ба хабарнигорон бо шарти ифшо нашудани ном гуфтанд"}


def split_sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?»”])\s+", text.strip()) if s]


def edit(text: str, share: float, lang: str, rnd: random.Random) -> str:
    sentences = split_sentences(text)
    k = max(1, round(len(sentences) * share))
    for i in rnd.sample(range(len(sentences)), k):
        words = sentences[i].split()
        keep = len(words) // 2
        sentences[i] = " ".join([*words[:keep], *rnd.sample(FILLER[lang].split(), 5)]) + "."
    return " ".join(sentences)


def frame(text: str, lang: str, others: list[str], rnd: random.Random) -> str:
    head, foot = FURNITURE[lang]
    outlet = rnd.choice(OUTLETS)
    links = rnd.sample(others, 2)
    return "\n".join([*head, "", text, "", foot[0], foot[1], *links,
                      foot[2].format(outlet=outlet)])


def retitle(title: str, lang: str, rnd: random.Random) -> str:
    prefix = {"en": ["UPDATE: ", "Report: ", ""], "ru": ["Срочно: ", "СМИ: ", ""],
              "tg": ["Хабари нав: ", ""]}[lang]
    words = title.split()
    return rnd.choice(prefix) + " ".join(words[: max(4, len(words) - 2)])


def originals() -> list[dict]:
    meta = tomllib.loads((SEEDS / "seeds.toml").read_text("utf-8"))
    out = [{"id": f"seed-{p.stem[:3]}", "lang": "en", "title": meta[p.stem]["title"],
            "text": p.read_text("utf-8").strip()} for p in sorted(SEEDS.glob("*.txt"))]
    for line in (ROOT / "tests" / "data" / "topic_eval.jsonl").read_text("utf-8").splitlines():
        row = json.loads(line)
        out.append({"id": row["id"], "lang": row["lang"], "title": row["title"],
                    "text": row["text"]})
    return out


def build() -> list[dict]:
    rnd = random.Random(5)
    base = originals()
    titles = {lang: [o["title"] for o in base if o["lang"] == lang] for lang in FURNITURE}
    rows = []
    for n, o in enumerate(base):
        rows.append({**o, "group": o["id"], "kind": "original"})
        lang = o["lang"]
        kinds = ["furniture", "truncated", "edited", "mixed"] if o["id"].startswith("seed") \
            else [["furniture", "truncated", "edited", "mixed"][n % 4]] if n % 3 else []
        for kind in kinds:
            text, title = o["text"], retitle(o["title"], lang, rnd)
            if kind == "furniture":
                text = frame(text, lang, titles[lang], rnd)
            elif kind == "truncated":
                sentences = split_sentences(text)
                text = " ".join(sentences[: max(2, round(len(sentences) * rnd.uniform(.55, .7)))])
            elif kind == "edited":
                text, title = edit(text, rnd.uniform(0.1, 0.2), lang, rnd), o["title"]
            else:
                sentences = split_sentences(edit(text, 0.15, lang, rnd))
                text = frame(" ".join(sentences[:-1]), lang, titles[lang], rnd)
            rows.append({"id": f"{o['id']}~{kind}", "group": o["id"], "kind": kind,
                         "lang": lang, "title": title, "text": text})
    return rows


if __name__ == "__main__":
    rows = build()
    OUT.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    print(f"{OUT}: {len(rows)} documents, {sum(r['kind'] != 'original' for r in rows)} copies")

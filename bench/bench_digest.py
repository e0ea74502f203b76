"""Time to build and send digests for 1,000 subscribers over 10,000 articles (prints figures).

    .venv/bin/python bench/bench_digest.py [--subscribers 1000] [--articles 10000]

Articles are written straight into a fresh warehouse (doc + doc_topic rows; the ingest
pipeline has its own benchmarks), spread over the last 7 days, 10% of them copies. Each
subscriber has one email channel and random topic/language/outlet filters. Three runs are
timed: outbox delivery (render, write .eml, record), the same run again (nothing is due), and
SMTP delivery to an aiosmtpd server on loopback on a copy of the warehouse.
"""

from __future__ import annotations

import argparse
import random
import shutil
import socket
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiosmtpd.controller import Controller

from alerts.mailer import SmtpSettings
from flows.digest import run_digests
from flows.settings import DEFAULT_TOPICS, LANGS, Settings, load_settings
from flows.stages.topics import load_rules
from flows.subscribers import Channel, Subscriber
from warehouse import store
from warehouse.db import connect, transaction

WORDS = ("migrant", "patent", "Moscow", "Dushanbe", "remittances", "entry", "ban", "deported",
         "labour", "contract", "registration", "border", "Vnukovo", "agreement", "returnees")


def fill(db: Path, n: int, topics: list[str], sources: list[str], rng: random.Random) -> None:
    con = connect(db)
    store.load_rules(con, load_rules(DEFAULT_TOPICS))
    now = datetime.now(UTC)
    docs, tags = [], []
    for i in range(1, n + 1):
        fetched = now - timedelta(seconds=rng.uniform(0, 7 * 86400))
        text = " ".join(rng.choice(WORDS) for _ in range(90))
        dup = rng.randint(1, i - 1) if i > 10 and rng.random() < 0.1 else None
        docs.append([i, rng.choice(sources), f"https://e.org/{i}", f"https://e.org/{i}",
                     f"Story {i}: {' '.join(rng.choice(WORDS) for _ in range(8))}",
                     fetched - timedelta(hours=2), fetched, rng.choice(LANGS), text,
                     f"h{i}", 90, dup])
        for t in rng.sample(topics, rng.choice((1, 1, 2))):
            tags.append([i, t, rng.randint(3, 12), ["entry ban", "patent"]])
    doc_cols = list(zip(*docs, strict=True))
    tag_cols = list(zip(*tags, strict=True))
    with transaction(con):   # column-wise unnest: executemany is ~1,000x slower here
        con.execute("INSERT INTO doc (id, source, url, canonical_url, title, published_at, "
                    "fetched_at, lang, text, text_hash, n_words, duplicate_of) SELECT "
                    + ", ".join(f"unnest(${i + 1})" for i in range(12)),
                    [list(c) for c in doc_cols])
        con.execute("INSERT INTO doc_topic SELECT unnest($1), unnest($2), unnest($3), "
                    "unnest($4::VARCHAR[][])", [list(c) for c in tag_cols])
    con.close()


def subscribers(n: int, topics: list[str], sources: list[str], rng: random.Random
                ) -> tuple[Subscriber, ...]:
    out = []
    for i in range(n):
        out.append(Subscriber(
            f"s{i}", (Channel("email", f"s{i}@example.org"),),
            topics=tuple(rng.sample(topics, rng.randint(1, 4))) if rng.random() < 0.7 else (),
            languages=(rng.choice(LANGS),) if rng.random() < 0.3 else (),
            outlets=tuple(rng.sample(sources, 2)) if rng.random() < 0.2 else (),
            cadence=rng.choice(("hourly", "daily", "daily", "weekly"))))
    return tuple(out)


class Count:
    def __init__(self) -> None:
        self.n = 0

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        self.n += 1
        return "250 OK"


def timed(label: str, settings: Settings, db: Path, smtp: SmtpSettings | None) -> None:
    t0 = time.perf_counter()
    results = run_digests(db, settings, smtp)
    dt = time.perf_counter() - t0
    sent = [r for r in results if r.n_items]
    items = sum(r.n_items for r in sent)
    errors = sum(1 for r in results if r.error)
    print(f"{label:<38} {dt:7.2f} s  {len(sent):5d} digests  {items:6d} items  "
          f"{errors} errors  {1000 * dt / max(1, len(results)):6.1f} ms/channel")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--subscribers", type=int, default=1000)
    p.add_argument("--articles", type=int, default=10_000)
    args = p.parse_args()
    rng = random.Random(4)
    base = load_settings()
    topics = list(load_rules(base.topics_path).keys())
    sources = [s.key for s in base.sources]
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.duckdb"
        t0 = time.perf_counter()
        fill(db, args.articles, topics, sources, rng)
        print(f"warehouse with {args.articles} articles: {time.perf_counter() - t0:.1f} s")
        shutil.copy(db, Path(tmp) / "copy.duckdb")
        settings = Settings(path=base.path, sources=base.sources, topics_path=base.topics_path,
                            digest=base.digest.__class__(outbox=Path(tmp) / "outbox"),
                            subscribers=subscribers(args.subscribers, topics, sources, rng))
        print(f"{args.subscribers} subscribers, one email channel each")
        timed("outbox: select, render, write, record", settings, db, None)
        timed("same again (nothing due)", settings, db, None)
        sink = Count()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        controller = Controller(sink, hostname="127.0.0.1", port=port)
        controller.start()
        try:
            timed("smtp to aiosmtpd on loopback", settings, Path(tmp) / "copy.duckdb",
                  SmtpSettings("127.0.0.1", port, "none"))
        finally:
            controller.stop()
        print(f"messages the SMTP server received: {sink.n}")


if __name__ == "__main__":
    main()

"""`migwatch demo`: the whole pipeline against an offline replica of six outlets."""

from __future__ import annotations

import errno
import time
from pathlib import Path

from flows.replica.server import ReplicaServer, days_to_today, demo_config
from flows.settings import PROJECT_ROOT
from warehouse.db import opened


def _server(port: int) -> ReplicaServer:
    """The replica, its dates moved so that its newest articles are from yesterday."""
    try:
        return ReplicaServer(port=port, shift_days=days_to_today()).start()
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        print(f"port {port} is busy; serving the replica on a free port instead "
              "(a rerun on another port sees new URLs but recognises the same texts)")
        return ReplicaServer(port=0, shift_days=days_to_today()).start()


def _report(db: Path) -> str:
    with opened(db, read_only=True, retry_seconds=10) as con:
        def table(title: str, query: str) -> list[str]:
            rows = con.execute(query).fetchall()
            return [title] + ["  " + "  ".join(f"{v!s:<22}" for v in r).rstrip() for r in rows]

        out = table("articles per outlet (non-seed):",
                    "SELECT source, count(*) FROM articles WHERE NOT is_seed GROUP BY 1 ORDER BY 1")
        out += table("articles per language:",
                     "SELECT lang, count(*) FROM articles WHERE NOT is_seed GROUP BY 1 ORDER BY 1")
        out += table("articles per topic (originals and copies):",
                     "SELECT topic, count(*) FROM article_topics t JOIN articles a "
                     "ON a.id = t.article_id WHERE NOT a.is_seed GROUP BY 1 ORDER BY 2 DESC, 1")
        out += table("duplicates found (copy -> original):",
                     "SELECT a.source || ': ' || left(a.title, 40), '-> ' || o.source || ': ' "
                     "|| left(o.title, 40), a.similarity FROM articles a JOIN articles o "
                     "ON o.id = a.duplicate_of ORDER BY a.id")
        out += table("untagged articles:",
                     "SELECT source, left(title, 60) FROM articles a WHERE NOT is_seed AND "
                     "NOT EXISTS (SELECT 1 FROM article_topics t WHERE t.article_id = a.id)")
        return "\n".join(out)


def run_demo(db: Path, port: int = 8765, keep_serving: bool = False) -> int:
    from flows.cli import _print_digest, _print_ingest
    from flows.digest import digest_flow
    from flows.ingest import ingest_flow

    server = _server(port)
    try:
        config = PROJECT_ROOT / "var" / "demo-sources.toml"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(demo_config(server.base_url), encoding="utf-8")
        print(f"replica of 6 outlets serving at {server.base_url}; config {config}")
        report = ingest_flow(config_path=str(config), db_path=str(db))
        _print_ingest(report)
        print(f"article pages fetched from the replica this run: {server.article_hits()}")
        digest_code = _print_digest(digest_flow(config_path=str(config), db_path=str(db)))
        print()
        print(_report(db))
        print(f"\nwarehouse: {db}\ntry: migwatch sql \"select lang, count(*) from articles "
              "where not is_seed group by 1\"")
        if keep_serving:
            print(f"replica still serving at {server.base_url} (Ctrl-C to stop); "
                  f"`migwatch run --config {config}` ingests it again")
            while True:
                time.sleep(3600)
        return report.exit_code or digest_code
    finally:
        server.stop()

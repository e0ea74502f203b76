"""Small builders shared by tests (no fixtures here)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from uuid import UUID

import duckdb

from flows.stages.article import build_article
from flows.stages.models import Article, Extracted
from flows.stages.topics import load_rules
from warehouse import store
from warehouse.db import connect

RULES = """
[defaults]
min_score = 3
[topics.entry_bans]
label = "Entry bans"
terms = { en = ["entry ban*", "banned from entering"], ru = ["запрет* на въезд", "запрет* въезд*"] }
exclude = { en = ["smoking ban*"] }
[topics.remittances]
label = "Remittances"
terms = { en = ["remittance*", "money transfer*"] }
context = { en = ["migrant*", "tajik*"] }
"""


def article(title: str, text: str, url: str = "https://example.org/a", source: str = "test"
            ) -> Article:
    return build_article(source, url, Extracted(title, None, None, text))


def memory_warehouse(tmp_path: Path, rules: str = RULES) -> duckdb.DuckDBPyConnection:
    path = tmp_path / "rules.toml"
    path.write_text(rules, encoding="utf-8")
    con = connect(tmp_path / "w.duckdb")
    store.load_rules(con, load_rules(path))
    return con


def tags(con: duckdb.DuckDBPyConnection) -> dict[int, set[str]]:
    out: dict[int, set[str]] = {}
    for doc_id, topic in con.execute("SELECT doc_id, topic FROM doc_topic").fetchall():
        out.setdefault(doc_id, set()).add(topic)
    return out


def task_runs(name: str, flow_run_id: UUID | None = None) -> list:
    """Prefect's task runs whose name starts with `name` (of one flow run, when given), read
    from the API the tests' harness runs."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterId,
        TaskRunFilter,
        TaskRunFilterName,
    )

    flows = FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])) if flow_run_id else None
    with get_client(sync_client=True) as client:
        return client.read_task_runs(flow_run_filter=flows, task_run_filter=TaskRunFilter(
            name=TaskRunFilterName(like_=name)))


def rows(db: Path, query: str) -> list[tuple]:
    """A query's rows, read the way an analyst does (another read-only connection)."""
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(query).fetchall()


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/api/health" else 404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def health_only_api() -> Iterator[tuple[str, ThreadingHTTPServer]]:
    """(API URL, server) of a loopback server that answers only Prefect's health check: an API
    that is up, for code that asks it nothing else. `server.shutdown()` takes it down."""
    with ThreadingHTTPServer(("127.0.0.1", 0), _Health) as srv:
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        yield f"http://127.0.0.1:{srv.server_address[1]}/api", srv

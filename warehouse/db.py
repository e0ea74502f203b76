"""Open the warehouse and bring its schema up to date.

Migrations are numbered `.sql` files applied in order, each in one transaction together with
its ledger row: DuckDB rolls DDL back, so a half-applied migration cannot exist. Analyst views
are re-created after every migration pass so that their definitions always match the code.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import duckdb
import numpy as np

HERE = Path(__file__).resolve().parent
MIGRATIONS = HERE / "migrations"
VIEWS = HERE / "views"
SQL = HERE / "sql"
_MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


def sql(name: str) -> str:
    """The text of `warehouse/sql/<name>.sql`."""
    return (SQL / f"{name}.sql").read_text(encoding="utf-8")


def migrations() -> list[tuple[int, str, Path]]:
    found = []
    for path in sorted(MIGRATIONS.glob("*.sql")):
        m = _MIGRATION_NAME.match(path.name)
        if not m:
            raise RuntimeError(f"migration file name must be NNNN_name.sql: {path.name}")
        found.append((int(m.group(1)), m.group(2), path))
    return found


def migrate(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Apply pending migrations, then re-create views; return the names applied."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migration ("
        " version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
    )
    done = {row[0] for row in con.execute("SELECT version FROM schema_migration").fetchall()}
    applied = []
    pending = [m for m in migrations() if m[0] not in done]
    if pending:
        _register_functions(con)
    try:
        for version, name, path in pending:
            con.execute("BEGIN TRANSACTION")
            try:
                con.execute(path.read_text(encoding="utf-8"))
                con.execute("INSERT INTO schema_migration VALUES (?, ?, now())",
                            [version, name])
                con.execute("COMMIT")
            except Exception:
                con.execute("ROLLBACK")
                raise
            applied.append(f"{version:04d}_{name}")
    finally:
        if pending:
            for fn in _FUNCTIONS:
                con.remove_function(fn)
    # Views are re-created only when their definitions changed (or a migration ran): DuckDB
    # binds a view when it is queried, so writing the same ones again changed nothing, yet
    # cost every writer's open a transaction (~40 ms of CPU here) and its close a checkpoint
    # — a dozen times in a run that finds nothing new.
    texts = _view_texts()
    if applied or not _views_current(con, texts):
        create_views(con, texts)
    return applied


# Scalar functions the migrations may call, for what SQL cannot do: 0018 rewrites delivery-log
# keys with the code that builds them (punycode has no DuckDB function). Registered on the
# migrating connection only, and removed after.
_FUNCTIONS = ("migwatch_channel_key",)


def _register_functions(con: duckdb.DuckDBPyConnection) -> None:
    # imported only when a migration is pending
    from flows.subscribers import channel_key

    con.create_function("migwatch_channel_key", channel_key, ["VARCHAR"], "VARCHAR",
                        side_effects=False)


def _view_texts() -> list[str]:
    return [path.read_text(encoding="utf-8") for path in sorted(VIEWS.glob("*.sql"))]


def views_fingerprint(texts: list[str] | None = None) -> str:
    """Which definitions of the analyst views this code has (`texts`: `_view_texts()`, when
    already read)."""
    texts = _view_texts() if texts is None else texts
    return hashlib.sha1("\0".join(texts).encode("utf-8")).hexdigest()[:16]


def create_views(con: duckdb.DuckDBPyConnection, texts: list[str] | None = None) -> None:
    """Re-create the analyst views, noting which definitions they are (table view_version),
    so that a reader can tell views written by an older migwatch. `texts`: `_view_texts()`,
    when already read."""
    texts = _view_texts() if texts is None else texts
    con.execute("BEGIN TRANSACTION")
    try:
        for text in texts:
            con.execute(text)
        con.execute("CREATE TABLE IF NOT EXISTS view_version (fingerprint VARCHAR NOT NULL)")
        con.execute("DELETE FROM view_version")
        con.execute("INSERT INTO view_version VALUES (?)", [views_fingerprint(texts)])
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise


class OutdatedWarehouse(duckdb.Error):
    """The warehouse was written by an older migwatch, and a reader could not upgrade it."""


def pending_migrations(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The migrations this code has that the warehouse has not applied."""
    try:
        done = {r[0] for r in con.execute("SELECT version FROM schema_migration").fetchall()}
    except duckdb.CatalogException:
        done = set()
    return [f"{version:04d}_{name}" for version, name, _ in migrations() if version not in done]


_VIEW_NAME = re.compile(r"CREATE OR REPLACE VIEW\s+(\w+)", re.IGNORECASE)


def _views_current(con: duckdb.DuckDBPyConnection, texts: list[str]) -> bool:
    """The warehouse has this code's views: their fingerprint, and each of them (one dropped
    by hand is created again)."""
    try:
        rows = con.execute("SELECT max(fingerprint) FROM view_version").fetchall()
    except duckdb.CatalogException:
        return False
    if rows != [(views_fingerprint(texts),)]:
        return False
    names = [m.group(1).lower() for text in texts for m in _VIEW_NAME.finditer(text)]
    found = con.execute("SELECT count(*) FROM duckdb_views() WHERE NOT internal AND NOT "
                        "temporary AND lower(view_name) IN (SELECT unnest($n))",
                        {"n": names}).fetchall()
    return found == [(len(set(names)),)]


def _as_current(con: duckdb.DuckDBPyConnection, path: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection on a warehouse that this code's schema and views describe.

    Read-only commands (sql, status, export, health) used to fail on a warehouse written by
    an older migwatch until a writer had run: missing tables, views without their new
    columns. Views out of date are replaced, for this connection only, by temporary ones of
    the current definitions (nothing is written). Migrations pending need a writer: the file
    is upgraded now, if it can be opened for writing within a few seconds (the upgrade any
    writer does first), else the reader is told what to run."""
    pending = pending_migrations(con)
    if pending:
        con.close()
        try:
            with opened(path, retry_seconds=min(lock_wait(), 10.0)):
                pass   # a writer's open applies the migrations and re-creates the views
        except (duckdb.Error, OSError) as exc:
            raise OutdatedWarehouse(
                f"{path} was written by an older migwatch: {len(pending)} schema migrations "
                f"to apply ({pending[0]} first), and it cannot be upgraded now ({exc}). Run "
                f"`migwatch migrate --db {path}` where the file is writable.") from exc
        return connect(path, read_only=True, retry_seconds=0)
    texts = _view_texts()
    if not _views_current(con, texts):
        for text in texts:
            con.execute(text.replace("CREATE OR REPLACE VIEW", "CREATE OR REPLACE TEMP VIEW"))
    return con


def memory_limit() -> str:
    """DuckDB's buffer pool cap (default 80% of RAM): without one a long-running writer's
    resident memory grows with the warehouse. MIGWATCH_DB_MEMORY_LIMIT overrides it."""
    return os.environ.get("MIGWATCH_DB_MEMORY_LIMIT", "1GB")


# Seconds a writer waits for the file lock when MIGWATCH_LOCK_WAIT is not set: longer than any
# analyst query should take, shorter than the ingest interval.
DEFAULT_LOCK_WAIT = 120.0


def lock_wait() -> float:
    """How long a writer waits for another process's lock (an analyst's read-only query, an
    export, the scheduled ingest) before failing: MIGWATCH_LOCK_WAIT seconds, default 120."""
    raw = os.environ.get("MIGWATCH_LOCK_WAIT")
    if raw is None or not raw.strip():
        return DEFAULT_LOCK_WAIT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise ValueError(f"MIGWATCH_LOCK_WAIT must be a number of seconds >= 0, not {raw!r}")
    return value


# One DuckDB connect at a time in this process. Two threads opening the same file at once
# (the writer and an outlet's known-URL lookup) may both find no open instance; DuckDB's
# Python client can then hand one of them the other's instance before it has registered its
# Python table functions, and `register` (warehouse.db.scanned) fails with "Table Function
# with name pandas_scan does not exist" (10 in 300 simultaneous opens here; none with this
# lock, tests/test_warehouse.py). An open costs ~17 ms of CPU: the lock costs nothing else.
_CONNECT_LOCK = threading.Lock()


def connect(path: Path | str, read_only: bool = False, retry_seconds: float | None = None,
            migrate_schema: bool = True) -> duckdb.DuckDBPyConnection:
    """Open the warehouse; a writer also migrates it unless told the schema is current.

    DuckDB lets a file have one writing process or any number of reading processes. Every
    writer (ingest, digest, retag, operator alerts) therefore waits for the lock by default,
    `lock_wait()` seconds, so an analyst's query never makes it fail; readers wait only when
    they pass `retry_seconds` (for a writer's short commit phase). `retry_seconds` overrides
    the default either way; 0 fails at once.
    """
    path = Path(path)
    if read_only and not path.exists():
        raise FileNotFoundError(f"no warehouse at {path}: run `migwatch run` or `migwatch demo`")
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    if retry_seconds is None:
        retry_seconds = 0.0 if read_only else lock_wait()
    deadline = time.monotonic() + retry_seconds
    while True:
        try:
            with _CONNECT_LOCK:
                con = duckdb.connect(str(path), read_only=read_only,
                                     config={"memory_limit": memory_limit()})
            break
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() >= deadline:
                raise
            time.sleep(0.2)
    # No progress bar: a long migration or query would fill the scheduler's logs.
    con.execute("SET enable_progress_bar = false")
    if not read_only and migrate_schema:
        migrate(con)
    elif read_only:
        con = _as_current(con, path)
    return con


@contextmanager
def opened(path: Path | str, read_only: bool = False, retry_seconds: float | None = None,
           migrate_schema: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
    """`connect` as a context manager: the connection (and the file lock) is released on exit."""
    con = connect(path, read_only=read_only, retry_seconds=retry_seconds,
                  migrate_schema=migrate_schema)
    try:
        yield con
    finally:
        con.close()


def int_list(values: Iterable[int]) -> str:
    """Integers as a SQL literal list, for statements where DuckDB must see constants to
    filter a scan by id (int() makes anything else fail, never inject)."""
    return ", ".join(str(int(v)) for v in values)


@contextmanager
def scanned(con: duckdb.DuckDBPyConnection, name: str, names: Sequence[str],
            rows: Sequence[Sequence[object]]) -> Iterator[str]:
    """Rows as a table named `name` that DuckDB scans in place, for one INSERT ... SELECT of
    a whole batch: one NumPy array per column, registered on the connection, then dropped.

    DuckDB converts a list parameter value by value in Python (`unnest($x::T[])`); it reads
    an array of objects in C, about five times faster: the writer went from 0.76-0.84 to
    0.48-0.55 ms an article. Object arrays, so that None stays NULL and DuckDB infers each column's
    type from its values; the statements cast to the table's types all the same."""
    data = {}
    for k, column in enumerate(names):
        array = np.empty(len(rows), dtype=object)
        array[:] = [row[k] for row in rows]   # slice assignment: never a 2-D array
        data[column] = array
    con.register(name, data)
    try:
        yield name
    finally:
        con.unregister(name)


def insert_many(con: duckdb.DuckDBPyConnection, statement: str, rows: list[list]) -> None:
    """executemany that accepts an empty batch (DuckDB refuses one)."""
    if rows:
        con.executemany(statement, rows)


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """All or nothing: a crash inside leaves no partial rows."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")

"""Copies of the warehouse for readers: the analyst views as Parquet, and a consistent backup.

Both open the warehouse read-only. DuckDB lets a file have one writing process or any number
of reading processes, never both, so while this connection is open no ingest is writing: what
is copied is exactly the state after the last committed outlet batch. The writer waits (it
retries its lock) for the copy to finish instead of failing.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from warehouse.db import opened

# Every analyst view (tests/test_ops.py holds this to the views' contract) -> the timestamp
# that gives it a month partition (None: one file: small, or without a date of its own).
EXPORTED_VIEWS: dict[str, str | None] = {
    "articles": "coalesce(published_at, fetched_at)",
    "article_topics": None,
    "figures": None,
    "clusters": None,
    "topic_daily": "day",
    "runs": "started_at",
    "fetches": "logged_at",
    "outlet_runs": "logged_at",
    "outlet_health": None,
    "outlet_activity": None,
    "failing_outlets": None,
}
WAIT_FOR_WRITER = 120.0


@dataclass(frozen=True)
class Exported:
    view: str
    rows: int
    path: Path


def _quote(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def export_parquet(db: Path, out_dir: Path) -> list[Exported]:
    """Write each analyst view under out_dir/<view>/ (month=YYYY-MM/ partitions where dated).

    Each view is written to a temporary folder first and then renamed into place, so a reader
    of out_dir sees the previous export or the new one, not a mix within a view.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    done: list[Exported] = []
    with opened(db, read_only=True, retry_seconds=WAIT_FOR_WRITER) as con:
        con.execute("SET TimeZone = 'UTC'")
        for view, when in EXPORTED_VIEWS.items():
            tmp = out_dir / f".{view}.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            row = con.execute(f"SELECT count(*) FROM {view}").fetchone()
            if when is None:
                tmp.mkdir()
                con.execute(f"COPY (SELECT * FROM {view}) TO "
                            f"{_quote(tmp / f'{view}.parquet')} (FORMAT parquet)")
            else:
                con.execute(f"COPY (SELECT *, strftime({when}, '%Y-%m') AS month FROM {view}) "
                            f"TO {_quote(tmp)} (FORMAT parquet, PARTITION_BY (month))")
                tmp.mkdir(exist_ok=True)  # an empty view writes no partition
            final = out_dir / view
            shutil.rmtree(final, ignore_errors=True)
            os.replace(tmp, final)
            done.append(Exported(view=view, rows=int(row[0]) if row else 0, path=final))
    return done


def backup(db: Path, target: Path) -> int:
    """Copy every table, view and sequence into a new DuckDB file at target; return tables.

    Written beside target and renamed into place: target is either absent or complete.
    """
    if target.exists():
        raise FileExistsError(f"{target} exists: choose a new backup path")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.partial")
    tmp.unlink(missing_ok=True)
    with opened(db, read_only=True, retry_seconds=WAIT_FOR_WRITER) as con:
        name = con.execute("SELECT current_database()").fetchone()
        assert name is not None
        con.execute(f"ATTACH {_quote(tmp)} AS migwatch_backup (READ_WRITE)")
        try:
            con.execute(f'COPY FROM DATABASE "{name[0]}" TO migwatch_backup')
            tables = con.execute("SELECT count(*) FROM duckdb_tables() "
                                 "WHERE database_name = 'migwatch_backup'").fetchone()
        finally:
            con.execute("DETACH migwatch_backup")
    os.replace(tmp, target)
    return int(tables[0]) if tables else 0

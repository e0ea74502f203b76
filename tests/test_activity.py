"""outlet_activity and the "gone quiet" lines of `migwatch status`, on a real DuckDB file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from flows.activity import quiet_outlets, render_quiet
from warehouse.db import connect


def _store(con: object, source: str, hours_ago: list[float]) -> None:
    now = datetime.now(UTC)
    for i, h in enumerate(hours_ago):
        con.execute(  # type: ignore[attr-defined]
            "INSERT INTO doc (source, url, canonical_url, fetched_at, published_at, lang, text,"
            " text_hash, n_words) VALUES (?, ?, ?, ?, ?, 'en', 't', ?, 1)",
            [source, f"https://{source}/{i}", f"{source}/{i}", now, now - timedelta(hours=h),
             f"{source}{i}"])


def test_an_outlet_silent_for_many_usual_gaps_has_gone_quiet(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    con = connect(db)
    _store(con, "daily", [2, 26, 50, 74])                  # every day, last one 2 h ago
    _store(con, "hourly_gone", [30, 31, 32, 33, 34])       # hourly, silent for 30 h
    _store(con, "hourly_lull", [5, 6, 7, 8])               # hourly, 5 h: under the 24 h floor
    _store(con, "weekly", [200, 368, 536])                 # weekly, 8 days: within 3 gaps
    _store(con, "new", [900])                              # one article: cadence unknown
    _store(con, "dated_only", [30] * 10)    # ten pages giving only yesterday's date
    _store(con, "dated_daily", [30, 30, 54, 54, 78])       # dates only, a few a day
    rows = {r[0]: r[1:] for r in con.execute(
        "SELECT source, articles, round(typical_gap_hours), gone_quiet FROM outlet_activity"
    ).fetchall()}
    con.close()
    assert rows == {"daily": (4, 24, False), "hourly_gone": (5, 1, True),
                    "hourly_lull": (4, 1, False), "weekly": (3, 168, False),
                    "new": (1, None, False), "dated_only": (10, None, False),
                    "dated_daily": (5, 24, False)}
    assert [q[0] for q in quiet_outlets(db)] == ["hourly_gone"]
    assert "hourly_gone" in render_quiet(db) and "daily" not in render_quiet(db)


def test_no_quiet_outlet_says_so(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    connect(db).close()
    assert render_quiet(db).startswith("gone quiet: none")

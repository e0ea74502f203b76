"""`migwatch status`: outlet health and recent runs, read from the warehouse views."""

from __future__ import annotations

from pathlib import Path

from warehouse.db import connect

FAILING_AFTER = 3   # consecutive failed runs before an outlet is flagged


def render_status(db: Path) -> tuple[str, int]:
    """Text for the operator, and exit status 3 when some outlet is failing now."""
    con = connect(db, read_only=True, retry_seconds=30)
    try:
        outlets = con.execute(
            "SELECT source, name, last_ok, consecutive_failures, last_success_at, articles,"
            " last_new_articles, last_error FROM outlet_health ORDER BY source").fetchall()
        runs = con.execute(
            "SELECT run_id, flow, started_at, finished_at, status FROM runs "
            "ORDER BY started_at DESC LIMIT 5").fetchall()
        totals = con.execute(
            "SELECT count(*) FILTER (WHERE NOT is_seed), count(*) FILTER (WHERE is_seed),"
            " count(*) FILTER (WHERE duplicate_of IS NOT NULL) FROM articles").fetchone()
    finally:
        con.close()
    lines = [f"warehouse {db}"]
    if totals:
        lines.append(f"{totals[0]} articles, {totals[1]} seeds, {totals[2]} duplicates")
    lines += ["", f"{'outlet':<16} {'health':<14} {'articles':>8} {'last new':>8}  "
                  f"{'last success':<20} last error"]
    failing = 0
    for source, _name, ok, streak, last_success, n, last_new, error in outlets:
        if ok:
            health = "ok"
        else:
            failing += 1
            health = f"FAILING x{streak}" if streak >= FAILING_AFTER else f"failed x{streak}"
        when = last_success.strftime("%Y-%m-%d %H:%M UTC") if last_success else "never"
        err = "" if ok else (error or "")[:100]
        lines.append(f"{source:<16} {health:<14} {n:>8} {last_new:>8}  {when:<20} {err}")
    if not outlets:
        lines.append("(no ingest run yet)")
    lines += ["", "last runs:"]
    for run_id, flow, started, finished, status in runs:
        took = f"{(finished - started).total_seconds():.1f}s" if finished else "-"
        lines.append(f"  {started:%Y-%m-%d %H:%M:%S} {flow:<7} {status:<12} {took:>7}  {run_id}")
    return "\n".join(lines), (3 if failing else 0)

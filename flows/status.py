"""`migwatch status`: outlet health and recent runs, read from the warehouse views."""

from __future__ import annotations

from pathlib import Path

import duckdb

from warehouse.db import opened

FAILING_AFTER = 3   # consecutive failed runs before an outlet is flagged ([fetch] failing_after)


def render_status(db: Path) -> tuple[str, int]:
    """Text for the operator, and exit status 3 when some outlet is failing now."""
    with opened(db, read_only=True, retry_seconds=30) as con:
        outlets = con.execute(
            "SELECT source, name, last_ok, consecutive_failures, last_success_at, articles,"
            " last_new_articles, last_error, configured FROM outlet_health"
            " ORDER BY NOT configured, source").fetchall()
        runs = con.execute(
            "SELECT run_id, flow, started_at, finished_at, status FROM runs "
            "ORDER BY started_at DESC LIMIT 5").fetchall()
        setting = con.execute("SELECT max(failing_after) FROM health_setting").fetchone()
        latest = {r[0]: r[1:] for r in con.execute(
            "SELECT source, requests, ok_requests + not_modified, soft + hard, bytes "
            "FROM outlet_runs WHERE run_id = (SELECT max_by(run_id, logged_at) FROM source_run)"
        ).fetchall()}
        totals = con.execute(
            "SELECT count(*) FILTER (WHERE NOT is_seed), count(*) FILTER (WHERE is_seed),"
            " count(*) FILTER (WHERE duplicate_of IS NOT NULL) FROM articles").fetchone()
    lines = [f"warehouse {db}"]
    if totals:
        lines.append(f"{totals[0]} articles, {totals[1]} seeds, {totals[2]} duplicates")
    failing_after = setting[0] if setting and setting[0] else FAILING_AFTER
    lines += ["", f"{'outlet':<16} {'health':<14} {'articles':>8} {'last new':>8} "
                  f"{'requests':>8} {'failed':>6} {'bytes':>9}  {'last success':<20} last error"]
    failing = 0
    for source, _name, ok, streak, last_success, n, last_new, error, configured in outlets:
        if not configured:   # removed from the sources file: its history, not a failure
            health, ok = "removed", True
        elif ok:
            health = "ok"
        else:
            failing += 1
            health = f"FAILING x{streak}" if streak >= failing_after else f"failed x{streak}"
        when = last_success.strftime("%Y-%m-%d %H:%M UTC") if last_success else "never"
        err = "" if ok else (error or "")[:100]
        requests, _good, bad, size = latest.get(source, (0, 0, 0, 0))
        lines.append(f"{source:<16} {health:<14} {n:>8} {last_new:>8} {requests:>8} {bad:>6} "
                     f"{size:>9}  {when:<20} {err}")
    if not outlets:
        lines.append("(no ingest run yet)")
    if failing:
        lines.append(f"(FAILING = failed in the last {failing_after} runs or more; "
                     "see the failing_outlets view)")
    lines += ["", "last runs:"]
    for run_id, flow, started, finished, status in runs:
        took = f"{(finished - started).total_seconds():.1f}s" if finished else "-"
        lines.append(f"  {started:%Y-%m-%d %H:%M:%S} {flow:<7} {status:<12} {took:>7}  {run_id}")
    return "\n".join(lines), (3 if failing else 0)


def render_alert_state(db: Path) -> str:
    """Open incidents (flows/oncall.py) and each operator channel's last alert; a failed alert
    is sent again after the next ingest run or `migwatch status --alert`."""
    with opened(db, read_only=True, retry_seconds=30) as con:
        try:
            still = con.execute("SELECT source, kind, opened_at FROM operator_incident "
                                "WHERE closed_at IS NULL ORDER BY kind, source").fetchall()
            last = con.execute(
                "SELECT channel, arg_max(status, created_at), max(created_at), "
                "arg_max(error, created_at) FROM operator_alert GROUP BY channel "
                "ORDER BY channel").fetchall()
        except duckdb.CatalogException:   # a warehouse no writer has migrated yet
            return "operator alerts: none yet"
    line = f"operator alerts: {len(still)} open incidents"
    if still:
        line += ": " + ", ".join(f"{s} {k} since {t:%Y-%m-%d %H:%M}" for s, k, t in still)
    lines = [line]
    for channel, status, at, error in last:
        why = f" ({error[:100]})" if error else ""
        lines.append(f"  last alert to {channel}: {status} {at:%Y-%m-%d %H:%M}{why}")
    return "\n".join(lines)

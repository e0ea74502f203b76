"""Outlet incidents and the operator alerts about them (tables of migration 0006).

`detect` compares what the health views say now with the incidents still open: a new failing
or quiet outlet opens an incident, an outlet out of the view again closes its incident. Each
incident has two events, `opened` and `closed`, and each event goes to each operator channel
once, with the digest's protocol (warehouse/deliveries.py):
  1. claim   – one transaction: a `pending` operator_alert row and one operator_alert_event
               row per event (no longer pending for that channel, so a rerun sends nothing);
  2. send;
  3. confirm – `delivered`; or release – `failed` with the error, the event rows removed, so
               the next run sends them again.
An alert left `pending` by a crash is settled at the next pass: an outbox alert whose file
exists is confirmed, any other released and sent again. The one possible repeat is the same
as the digest's: the server accepted the message and the process died before step 3.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

import duckdb

from alerts.incident import Incident, parse_detail
from warehouse.db import sql, transaction
from warehouse.deliveries import ClaimLog


def note_channels(con: duckdb.DuckDBPyConnection, keys: list[str], now: datetime
                  ) -> dict[str, datetime]:
    """When each channel first appeared in [operator] (recorded now for a new one)."""
    with transaction(con):
        for key in keys:
            con.execute("INSERT INTO operator_channel VALUES (?, ?) ON CONFLICT DO NOTHING",
                        [key, now])
    rows = con.execute("SELECT channel, first_seen_at FROM operator_channel").fetchall()
    return {k: t for k, t in rows if k in keys}


def detect(con: duckdb.DuckDBPyConnection, sources: Collection[str], now: datetime
           ) -> tuple[int, int]:
    """Open and close incidents to match the views, in one transaction; (opened, closed).
    Outlets not in `sources` (removed from the sources file) open nothing and are closed."""
    with transaction(con):
        current = {(s, k): d for s, k, d in con.execute(sql("incident_current")).fetchall()
                   if s in sources}
        still_open = {(s, k): i for i, s, k in con.execute(
            "SELECT incident_id, source, kind FROM operator_incident "
            "WHERE closed_at IS NULL").fetchall()}
        opened = [key for key in current if key not in still_open]
        for source, kind in opened:
            con.execute("INSERT INTO operator_incident (source, kind, opened_at, detail) "
                        "VALUES (?, ?, ?, ?)", [source, kind, now, current[(source, kind)]])
        closed = [(key, i) for key, i in still_open.items() if key not in current]
        for (source, _kind), incident_id in closed:
            con.execute("UPDATE operator_incident SET closed_at = ?, closed_reason = ? "
                        "WHERE incident_id = ?",
                        [now, "recovered" if source in sources else "removed", incident_id])
    return len(opened), len(closed)


def _incident(row: tuple) -> Incident:
    incident_id, source, kind, opened_at, closed_at, detail, reason = row
    return Incident(int(incident_id), source, kind, opened_at, closed_at, parse_detail(detail),
                    reason)


def pending(con: duckdb.DuckDBPyConnection, channel: str, since: datetime
            ) -> list[tuple[Incident, str]]:
    """(incident, event) pairs this channel has not been sent (nor has claimed)."""
    rows = con.execute(sql("incident_pending"), {"channel": channel, "since": since}).fetchall()
    return [(_incident((r[0], *r[2:])), r[1]) for r in rows]


def open_incidents(con: duckdb.DuckDBPyConnection) -> list[Incident]:
    rows = con.execute("SELECT incident_id, source, kind, opened_at, closed_at, detail, "
                       "closed_reason FROM operator_incident WHERE closed_at IS NULL "
                       "ORDER BY kind, source").fetchall()
    return [_incident(r) for r in rows]


def claim(con: duckdb.DuckDBPyConnection, alert_id: str, channel: str, transport: str,
          events: list[tuple[Incident, str]], now: datetime) -> None:
    with transaction(con):
        con.execute("INSERT INTO operator_alert VALUES (?, ?, ?, ?, 'pending', ?, NULL, NULL)",
                    [alert_id, channel, transport, now, len(events)])
        con.execute("INSERT INTO operator_alert_event SELECT ?, unnest(?::BIGINT[]), "
                    "unnest(?::VARCHAR[]), ?, 'pending'",
                    [channel, [i.incident_id for i, _ in events], [e for _, e in events],
                     alert_id])


# Sent, confirmed and settled after a crash exactly as digests are (warehouse/deliveries.py).
ALERTS = ClaimLog("operator_alert", "operator_alert_event", "alert_id", "sent again")
confirm, release, recover = ALERTS.confirm, ALERTS.release, ALERTS.recover


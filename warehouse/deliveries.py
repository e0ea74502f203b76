"""The delivery log: which article went to which recipient, written around each send.

Protocol, so that a crash never loses an item and almost never repeats one:
  1. claim   – one transaction: a `pending` digest row and a `pending` row per item
               (the items are then no longer selected for another digest);
  2. send    – write the outbox file atomically, or hand the message to SMTP;
  3. confirm – one transaction: digest and items become `delivered`.
     or release – the send failed: the rows are removed, the items are selected next run.
A digest found `pending` at the next run was interrupted between 1 and 3: an outbox digest
whose file exists is confirmed, any other is released and its items sent again. The one
possible repeat is an SMTP digest the server accepted just before the process died.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb

from warehouse.db import insert_many, transaction


def claim(con: duckdb.DuckDBPyConnection, digest_id: str, recipient: str, channel: str,
          items: list[tuple[int, str]]) -> None:
    with transaction(con):
        con.execute("INSERT INTO digest VALUES (?, ?, ?, ?, 'pending', NULL, ?, NULL)",
                    [digest_id, recipient, channel, datetime.now(UTC), len(items)])
        insert_many(con, "INSERT INTO delivery VALUES (?, ?, ?, ?, 'pending')",
                        [[recipient, doc_id, digest_id, topic] for doc_id, topic in items])


def confirm(con: duckdb.DuckDBPyConnection, digest_id: str, location: str) -> None:
    with transaction(con):
        con.execute("UPDATE digest SET status = 'delivered', location = ? WHERE digest_id = ?",
                    [location, digest_id])
        con.execute("UPDATE delivery SET status = 'delivered' WHERE digest_id = ?", [digest_id])


def release(con: duckdb.DuckDBPyConnection, digest_id: str, error: str) -> None:
    with transaction(con):
        con.execute("UPDATE digest SET status = 'failed', error = ? WHERE digest_id = ?",
                    [error[:2000], digest_id])
        con.execute("DELETE FROM delivery WHERE digest_id = ?", [digest_id])


def recover(con: duckdb.DuckDBPyConnection, recipient: str, outbox: Path) -> list[str]:
    """Settle digests left `pending` by an interrupted run; return what was done."""
    done = []
    pending = con.execute(
        "SELECT digest_id, channel FROM digest WHERE recipient = ? AND status = 'pending'",
        [recipient]).fetchall()
    for digest_id, channel in pending:
        path = outbox / f"{digest_id}.eml"
        if channel == "outbox" and path.exists():
            confirm(con, digest_id, str(path))
            done.append(f"{digest_id}: confirmed (outbox file was written)")
        else:
            release(con, digest_id, "interrupted before delivery was confirmed")
            done.append(f"{digest_id}: released (items will be sent again)")
    return done

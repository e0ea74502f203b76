"""The delivery log: which article went to which subscriber channel, written around each send.

Protocol, so that a crash never loses an item and almost never repeats one:
  1. claim   – one transaction: a `pending` digest row and a `pending` delivery_log row per
               item (the items are then no longer selected for another digest on that channel);
  2. send    – write the outbox file atomically, or hand the message to SMTP / apprise / the
               webhook, and wait for it to be accepted;
  3. confirm – one transaction: digest and items become `delivered`.
     or release – the send failed: the digest becomes `failed`, its items are removed from the
               log and selected again next run. Other channels are unaffected.
A digest found `pending` at the next run was interrupted between 1 and 3: an outbox digest
whose file exists is confirmed, any other is released and its items sent again. The one
possible repeat: a server (SMTP, chat, webhook) accepted the message and the process died
before step 3 — the window is one network round-trip plus one local transaction. A chat digest
split into several messages is all-or-nothing the same way: when a later part fails, the
earlier parts are sent again next run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from warehouse.db import transaction


def claim(con: duckdb.DuckDBPyConnection, digest_id: str, subscriber: str, channel: str,
          transport: str, items: list[tuple[int, str]]) -> None:
    with transaction(con):
        con.execute("INSERT INTO digest (digest_id, recipient, channel, created_at, status, "
                    "location, n_items, error, transport) "
                    "VALUES (?, ?, ?, ?, 'pending', NULL, ?, NULL, ?)",
                    [digest_id, subscriber, channel, datetime.now(UTC), len(items), transport])
        if items:
            con.execute("INSERT INTO delivery_log SELECT ?, ?, unnest(?::BIGINT[]), ?, "
                        "unnest(?::VARCHAR[]), 'pending'",
                        [subscriber, channel, [i for i, _ in items], digest_id,
                         [t for _, t in items]])


@dataclass(frozen=True)
class ClaimLog:
    """Steps 3 and recovery of the protocol above for one pair of tables: a header row per
    message (`status`, `location`, `error`, `transport`, `created_at`) and a row per item it
    carries, both keyed by `key`. Digests and operator alerts keep the same protocol in their
    own tables. Table and column names are the constants below, never input."""

    header: str
    items: str
    key: str
    resent: str            # what happens to a released message's items, for `recover`

    def confirm(self, con: duckdb.DuckDBPyConnection, message_id: str, location: str) -> None:
        with transaction(con):
            con.execute(f"UPDATE {self.header} SET status = 'delivered', location = ? "
                        f"WHERE {self.key} = ?", [location, message_id])
            con.execute(f"UPDATE {self.items} SET status = 'delivered' WHERE {self.key} = ?",
                        [message_id])

    def release(self, con: duckdb.DuckDBPyConnection, message_id: str, error: str) -> None:
        with transaction(con):
            con.execute(f"UPDATE {self.header} SET status = 'failed', error = ? "
                        f"WHERE {self.key} = ?", [error[:2000], message_id])
            con.execute(f"DELETE FROM {self.items} WHERE {self.key} = ?", [message_id])

    def recover(self, con: duckdb.DuckDBPyConnection, outbox: Path) -> list[str]:
        """Settle messages left `pending` by an interrupted run; return what was done."""
        done = []
        pending = con.execute(f"SELECT {self.key}, transport FROM {self.header} "
                              "WHERE status = 'pending' ORDER BY created_at").fetchall()
        for message_id, transport in pending:
            path = outbox / f"{message_id}.eml"
            if transport == "outbox" and path.exists():
                self.confirm(con, message_id, str(path))
                done.append(f"{message_id}: confirmed (outbox file was written)")
            else:
                self.release(con, message_id, "interrupted before delivery was confirmed")
                done.append(f"{message_id}: released ({self.resent})")
        return done


DIGESTS = ClaimLog("digest", "delivery_log", "digest_id", "items will be sent again")
confirm, release, recover = DIGESTS.confirm, DIGESTS.release, DIGESTS.recover

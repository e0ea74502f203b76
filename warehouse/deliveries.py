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

The warehouse is open (read-write: DuckDB's exclusive file lock) only for short database
steps, never during 2: the digest flow reads in one connection, composes with none, claims
every channel in a second one (one transaction), sends with no connection open, and reopens
it briefly to confirm or release (flows/digest.py). Step 2 can take minutes (a slow SMTP
server); analysts and ingest use the file meanwhile. What the old "lock held for the whole
run" guaranteed is kept without it:
  - `run_lock`: a sending run holds an advisory lock (`flock`) on `<warehouse>.digest-lock`
    from before its `recover` to after its last confirm. A second run waits for it, so it
    never takes the first run's in-flight claims for a crash's leftovers (releasing and
    re-sending them) nor selects what the first has read but not yet claimed; and a
    `pending` row that `recover` sees is always an interrupted run's: the kernel drops the
    lock when its holder exits, however it exits (kill -9 included). On top of that the
    delivery log's primary key (subscriber, channel, article) refuses a second claim.
  - the window: a digest's `created_at` (where its channel's next window starts) is the time
    its candidates were read, taken under the lock before the reads, not the claim's. Ingest
    stamps `fetched_at` under its own lock, so whatever it stores after the read (between
    read and claim, or during the send) is later than `created_at`: the next digest has it.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

from warehouse.db import transaction


class DigestRunBusy(RuntimeError):
    """Another process (or thread) is sending digests (or operator alerts) for this
    warehouse."""


def lock_path(db: Path, kind: str = "digest") -> Path:
    return db.with_name(f"{db.name}.{kind}-lock")


@contextmanager
def run_lock(db: Path, wait: float, kind: str = "digest") -> Iterator[None]:
    """Hold `<warehouse>.<kind>-lock` (an exclusive `flock`) for a sending run, waiting up to
    `wait` seconds for another run to finish; raise DigestRunBusy after that. Released on
    exit, and by the kernel when the process dies. Digests and operator alerts ("alert")
    have a lock each: their claims are in different tables."""
    path = lock_path(Path(db), kind)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise DigestRunBusy(
                        f"another {kind} run is sending for {db} (lock {path} held; waited "
                        f"{wait:g} s, MIGWATCH_LOCK_WAIT)") from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Claim:
    digest_id: str
    subscriber: str
    channel: str
    transport: str
    items: tuple[tuple[int, str], ...]   # (article id, topic)


def claim_all(con: duckdb.DuckDBPyConnection, claims: Iterable[Claim], read_at: datetime
              ) -> None:
    """Step 1 for several channels in one transaction (all claimed, or none). `read_at`:
    when the candidates were read, under the lock (the digests' `created_at`, where each
    channel's next window starts)."""
    with transaction(con):
        for c in claims:
            _insert_claim(con, c.digest_id, c.subscriber, c.channel, c.transport,
                          list(c.items), read_at)


def _insert_claim(con: duckdb.DuckDBPyConnection, digest_id: str, subscriber: str,
                  channel: str, transport: str, items: list[tuple[int, str]],
                  created_at: datetime) -> None:
    con.execute("INSERT INTO digest (digest_id, recipient, channel, created_at, status, "
                "location, n_items, error, transport) "
                "VALUES (?, ?, ?, ?, 'pending', NULL, ?, NULL, ?)",
                [digest_id, subscriber, channel, created_at, len(items), transport])
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

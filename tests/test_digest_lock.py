"""The digest holds the warehouse only for short database steps, never across a send: with an
SMTP server slow to accept (a real one on loopback, holding each message until the test lets
it go), other processes read the warehouse and store articles while the digest waits on the
server; deliveries are still recorded exactly once, a crash mid-send loses and repeats
nothing, two runs at once never send the same items, and an article stored during the send is
in the next digest."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from alerts.mailer import SmtpSettings
from flows.digest import DigestResult, run_digests
from flows.settings import Settings
from tests.conftest import ROOT
from tests.digest_helpers import SlowSink, filled_settings, smtp_server
from warehouse import deliveries
from warehouse.db import connect

# Another process: open the warehouse read-only at once (no waiting for the lock: a lock
# error fails the test at once) and count the articles, as `migwatch sql` would.
READER = """
import sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
print(con.execute("SELECT count(*) FROM articles").fetchone()[0], flush=True)
con.close()
"""

# Another process: store one new article read-write, as an ingest's store step would,
# failing at once rather than waiting for the lock.
WRITER = """
import os, sys
os.environ["MIGWATCH_LOCK_WAIT"] = "0"
from pathlib import Path
from flows.settings import load_settings
from tests.digest_helpers import fill
settings = load_settings(sys.argv[2])
text = ("Kazakhstan imposed an entry ban on 300 Kyrgyz seasonal workers after inspections "
        "at construction sites in Almaty; the entry ban lasts five years. ") * 4
[doc_id] = fill(Path(sys.argv[1]), settings,
                [("ozodi", "https://ozodi.org/a/99", "Kazakhstan entry ban", text)])
print(doc_id, flush=True)
"""

# Another process: a digest run against the SMTP server, to be killed mid-send.
DIGEST = """
import sys
from pathlib import Path
from alerts.mailer import SmtpSettings
from flows.digest import run_digests
from flows.settings import load_settings
settings = load_settings(sys.argv[2])
run_digests(Path(sys.argv[1]), settings, SmtpSettings("127.0.0.1", int(sys.argv[3]), "none"))
"""


def _python(script: str, *args: object, timeout: float = 60) -> str:
    done = subprocess.run([sys.executable, "-c", script, *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


class _Run(threading.Thread):
    """run_digests in a thread; its result or exception kept for the test."""

    def __init__(self, call: Callable[[], list[DigestResult]]) -> None:
        super().__init__(daemon=True)
        self.call = call
        self.results: list[DigestResult] | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.results = self.call()
        except BaseException as exc:  # reported by the test
            self.error = exc

    def outcome(self) -> list[DigestResult]:
        self.join(timeout=60)
        assert not self.is_alive(), "the digest run did not finish"
        if self.error is not None:
            raise self.error
        assert self.results is not None
        return self.results


def _log(db: Path) -> tuple[list[tuple], list[tuple]]:
    con = connect(db, read_only=True)
    try:
        digests = con.execute("SELECT recipient, status FROM digest ORDER BY 1").fetchall()
        log = con.execute("SELECT subscriber, doc_id, status FROM delivery_log ORDER BY 1, 2"
                          ).fetchall()
    finally:
        con.close()
    return digests, log


@pytest.fixture
def filled(tmp_path: Path, db_path: Path) -> Settings:
    return filled_settings(tmp_path, db_path)      # a@ and b@, 2 stories each


def test_the_warehouse_is_free_while_the_smtp_server_is_slow_to_accept(
        filled: Settings, db_path: Path, tmp_path: Path) -> None:
    with smtp_server("none", sink=SlowSink()) as (sink, port):
        assert isinstance(sink, SlowSink)
        smtp = SmtpSettings("127.0.0.1", port, "none", timeout=60)
        run = _Run(lambda: run_digests(db_path, filled, smtp))
        run.start()
        try:
            assert sink.waiting.wait(30), "the digest never reached the SMTP server"
            # The digest waits on the server: an analyst reads, an ingest stores.
            assert int(_python(READER, db_path)) == 4
            new_id = int(_python(WRITER, db_path, tmp_path / "sources.toml"))
            assert int(_python(READER, db_path)) == 5
            assert run.is_alive() and not sink.messages
        finally:
            sink.go.set()
        results = run.outcome()
        assert [(r.subscriber, r.n_items, r.error) for r in results] == [
            ("a@example.org", 2, None), ("b@example.org", 2, None)]
        assert sorted(m["To"] for m in sink.messages) == ["a@example.org", "b@example.org"]
        digests, log = _log(db_path)
        assert digests == [("a@example.org", "delivered"), ("b@example.org", "delivered")]
        assert len(log) == 4 and {s for *_, s in log} == {"delivered"}
        assert len(set(log)) == 4                              # each item recorded once
        # The article stored while the digest was sending is in the next digest, not lost.
        later = datetime.now(UTC) + timedelta(days=1)
        again = run_digests(db_path, filled, smtp, now=later)
        assert [(r.n_items, r.error) for r in again] == [(1, None), (1, None)]
        digests, log = _log(db_path)
        assert sorted(d for s, d, _ in log if s == "a@example.org")[-1] == new_id
        assert len(log) == 6 and len(sink.messages) == 4


def test_a_second_run_waits_and_never_sends_the_first_runs_items(
        filled: Settings, db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with smtp_server("none", sink=SlowSink()) as (sink, port):
        assert isinstance(sink, SlowSink)
        smtp = SmtpSettings("127.0.0.1", port, "none", timeout=60)
        first = _Run(lambda: run_digests(db_path, filled, smtp))
        first.start()
        try:
            assert sink.waiting.wait(30)
            # With no wait allowed, a second run says another one is sending.
            monkeypatch.setenv("MIGWATCH_LOCK_WAIT", "0")
            with pytest.raises(deliveries.DigestRunBusy, match="another digest run"):
                run_digests(db_path, filled, smtp)
            monkeypatch.delenv("MIGWATCH_LOCK_WAIT")
            second = _Run(lambda: run_digests(db_path, filled, smtp))
            second.start()
            deadline = time.monotonic() + 3
            while sink.seen == 1 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert sink.seen == 1 and second.is_alive()     # waiting, nothing sent
            digests, log = _log(db_path)                     # the first run's claims stand
            assert {s for _, s in digests} == {"pending"} and len(log) == 4
        finally:
            sink.go.set()
        assert [r.n_items for r in first.outcome()] == [2, 2]
        assert all(r.not_due for r in second.outcome())
        assert len(sink.messages) == 2
        digests, log = _log(db_path)
        assert [s for _, s in digests] == ["delivered", "delivered"] and len(log) == 4


def test_a_run_killed_mid_send_loses_nothing_and_repeats_nothing_confirmed(
        filled: Settings, db_path: Path, tmp_path: Path) -> None:
    sink = SlowSink(hold_from=2)           # a@ is accepted; b@ waits, the run is killed
    with smtp_server("none", sink=sink) as (_, port):
        proc = subprocess.Popen([sys.executable, "-c", DIGEST, str(db_path),
                                 str(tmp_path / "sources.toml"), str(port)], cwd=ROOT)
        try:
            assert sink.waiting.wait(60), "the digest never reached the second message"
            proc.kill()
            proc.wait(timeout=30)
        finally:
            proc.kill()
            sink.refuse_held = True        # the server never accepted b@'s first digest
            sink.go.set()
        assert [m["To"] for m in sink.messages] == ["a@example.org"]
        digests, _ = _log(db_path)
        assert digests == [("a@example.org", "delivered"), ("b@example.org", "pending")]
        # The next run (the killed run's lock went with it) settles b@ and sends it again.
        results = run_digests(db_path, filled, SmtpSettings("127.0.0.1", port, "none"),
                              now=datetime.now(UTC) + timedelta(days=1))
        assert [(r.subscriber, r.n_items) for r in results] == [
            ("a@example.org", 0), ("b@example.org", 2)]
        assert sorted(m["To"] for m in sink.messages) == ["a@example.org", "b@example.org"]
        digests, log = _log(db_path)
        assert sorted(digests) == [("a@example.org", "delivered"),
                                   ("b@example.org", "delivered"), ("b@example.org", "failed")]
        assert len(log) == 4 and {s for *_, s in log} == {"delivered"}


def test_an_article_stored_between_read_and_claim_is_in_the_next_digest(
        filled: Settings, db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
        ) -> None:
    """The digest reads, lets go of the warehouse while composing, then claims: an ingest
    storing in between is not in this digest, and must be in the next one."""
    import flows.digest

    stored: list[int] = []
    compose = flows.digest._compose

    def ingest_then_compose(*args: Any, **kwargs: Any) -> Any:
        stored.append(int(_python(WRITER, db_path, tmp_path / "sources.toml")))
        return compose(*args, **kwargs)

    monkeypatch.setattr(flows.digest, "_compose", ingest_then_compose)
    first = run_digests(db_path, filled, None)
    monkeypatch.undo()
    assert [r.n_items for r in first] == [2, 2] and len(stored) == 1
    later = datetime.now(UTC) + timedelta(days=1)
    again = run_digests(db_path, filled, None, now=later)
    assert [r.n_items for r in again] == [1, 1]
    _, log = _log(db_path)
    assert sorted(d for s, d, _ in log if s == "b@example.org")[-1] == stored[0]

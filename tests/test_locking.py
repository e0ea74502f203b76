"""Writers wait for readers: while another process holds a read-only connection (an analyst's
long query), the digest flow and `migwatch retag` wait for the lock instead of failing."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest

from alerts.mailer import smtp_from_env
from flows.cli import main
from flows.digest import digest_flow, run_digests
from tests.conftest import ROOT
from tests.digest_helpers import filled_settings
from warehouse.db import connect, lock_wait

# A separate process that opens the warehouse read-only, runs a query, says so, holds the
# connection (and so the file lock) for a few seconds, and exits.
HOLDER = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
con.execute("SELECT count(*) FROM articles").fetchall()
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
con.close()
"""


@contextmanager
def reader_holding(db: Path, seconds: float = 3.0) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(db), str(seconds)], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "holding"
        yield proc
    finally:
        proc.kill()
        proc.wait(timeout=30)


@pytest.mark.usefixtures("prefect_harness")
def test_the_digest_flow_waits_for_a_reader_instead_of_failing(tmp_path: Path, db_path: Path
                                                               ) -> None:
    filled_settings(tmp_path, db_path)
    with reader_holding(db_path) as reader:
        assert reader.poll() is None                 # the lock is held as the digest starts
        results = digest_flow(str(tmp_path / "sources.toml"), str(db_path))
    assert [r.error for r in results] == [None, None]
    assert all(r.n_items == 2 for r in results)
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 2
    con = connect(db_path, read_only=True)
    assert con.execute("SELECT status FROM runs WHERE flow = 'digest'").fetchall() == [("ok",)]
    con.close()


def test_retag_waits_for_a_reader_instead_of_failing(tmp_path: Path, db_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    filled_settings(tmp_path, db_path)
    with reader_holding(db_path) as reader:
        assert reader.poll() is None
        code = main(["retag", "--config", str(tmp_path / "sources.toml"), "--db", str(db_path)])
    assert code == 0
    out = capsys.readouterr().out
    assert "entry_bans" in out and "remittances" in out


def test_without_waiting_a_writer_fails_while_the_reader_holds_the_lock(
        tmp_path: Path, db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = filled_settings(tmp_path, db_path)
    monkeypatch.setenv("MIGWATCH_LOCK_WAIT", "0")
    with reader_holding(db_path, seconds=30), pytest.raises(duckdb.IOException, match="lock"):
        run_digests(db_path, settings, smtp_from_env())
    assert run_digests(db_path, settings, None)[0].n_items == 2   # released: works again


def test_lock_wait_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert lock_wait() == 120.0
    monkeypatch.setenv("MIGWATCH_LOCK_WAIT", "2.5")
    assert lock_wait() == 2.5
    for bad in ("soon", "-1", "nan"):
        monkeypatch.setenv("MIGWATCH_LOCK_WAIT", bad)
        with pytest.raises(ValueError, match="MIGWATCH_LOCK_WAIT"):
            lock_wait()

"""What a run that finds nothing new needs (issue 8, bench/bench_noop.py): no library it
does not use, and Prefect's temporary API started before the imports, recording runs as
Prefect's own would and gone when the command ends."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from flows.prefect_api import EarlyAPI
from flows.replica.server import ReplicaServer
from tests.conftest import ROOT


def test_the_run_command_imports_no_parser_or_sender_it_may_not_use() -> None:
    """Extraction, language detection and feed parsing are imported when a page is built or
    a feed is read in full, apprise when a chat alert is sent: a no-op run does neither."""
    code = ("import sys, flows.cli, flows.ingest\n"
            "print(sorted(m for m in ('trafilatura', 'langdetect', 'feedparser', 'apprise',"
            " 'lxml.html') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.slow
def test_migwatch_run_starts_prefect_api_early_records_the_run_and_stops_it(
        demo_cfg: Path, db_path: Path, replica: ReplicaServer) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env["PREFECT_LOGGING_LEVEL"] = "INFO"
    # capture_output: run() returns only when every holder of the pipes has exited, so a
    # server left running would hold it until the timeout.
    proc = subprocess.run([sys.executable, "-m", "flows.cli", "run", "--config", str(demo_cfg),
                           "--db", str(db_path)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "new articles from 6 of 6 outlets" in proc.stdout
    assert "Starting temporary server" not in proc.stderr   # Prefect did not start another
    assert "View at" not in proc.stderr                     # no link to a UI that is gone
    # Recorded where Prefect's own temporary server records (the session's PREFECT_HOME).
    con = sqlite3.connect(Path(os.environ["PREFECT_HOME"]) / "prefect.db")
    runs = con.execute("SELECT id, state_type FROM flow_run WHERE parameters LIKE ?",
                       [f"%{db_path}%"]).fetchall()
    run_id = runs[0][0] if runs else ""
    tasks = con.execute("SELECT count(*) FROM task_run WHERE flow_run_id = ? AND "
                        "state_type = 'COMPLETED'", [run_id]).fetchone()
    events = dict(con.execute("SELECT event, count(*) FROM events WHERE resource_id = ? "
                              "GROUP BY 1", [f"prefect.flow-run.{run_id}"]).fetchall())
    con.close()
    assert [state for _id, state in runs] == ["COMPLETED"]
    # harvest per outlet, at least one store (ready outlets are stored together), and 3 more
    assert tasks is not None and tasks[0] >= 6 + 1 + 3
    # No heartbeats for a server that ends with the run (they cost up to 1 s at its end).
    assert "prefect.flow-run.Completed" in events and "prefect.flow-run.heartbeat" not in events


def test_an_api_named_in_prefect_settings_stops_the_early_server(
        prefect_harness: None) -> None:
    api = EarlyAPI()          # no PREFECT_API_URL in the environment: one is started ...
    assert api.server is not None
    assert api.ready() is None   # ... and stopped, as the harness's settings name an API
    assert api.server.proc.poll() is not None and "PREFECT_API_URL" not in os.environ


def test_an_early_server_that_fails_leaves_prefect_to_start_its_own(
        capsys: pytest.CaptureFixture[str]) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    api = EarlyAPI()
    assert api.server is not None
    api.server.proc.kill()
    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        assert api.ready() is None
    assert "PREFECT_API_URL" not in os.environ
    assert "letting Prefect start its own" in capsys.readouterr().err


def test_with_prefect_api_url_set_nothing_is_started(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    api = EarlyAPI()
    assert api.server is None and api.ready() is None


@pytest.mark.slow
def test_the_temporary_api_migrates_prefects_database_only_when_it_must(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A migrating start leaves a note; the next start skips Alembic while the installed
    Prefect and the database's revision still match it, and migrates again otherwise."""
    from flows.prefect_api import MIGRATED, TemporaryAPI

    monkeypatch.setenv("PREFECT_HOME", str(tmp_path))
    monkeypatch.delenv("PREFECT_API_URL", raising=False)

    def start() -> TemporaryAPI:
        api = TemporaryAPI()
        try:
            api.wait(120)
            with urllib.request.urlopen(f"{api.url}/flows/filter", data=b"{}") as resp:
                assert resp.status == 200   # the schema is there: the API can query it
        finally:
            api.stop()
        return api

    assert start().migrates   # a new database
    note = json.loads((tmp_path / MIGRATED).read_text("utf-8"))
    assert note["revision"] and note["prefect"]
    assert not start().migrates
    (tmp_path / MIGRATED).write_text(json.dumps({**note, "prefect": "0.0.1"}), "utf-8")
    assert start().migrates   # another Prefect wrote the note: an upgrade
    assert not start().migrates
    (tmp_path / "prefect.db").unlink()
    assert start().migrates   # the database was removed: created anew


@pytest.mark.slow
def test_migwatch_run_beside_serve_uses_the_prefect_server_serve_started(
        demo_cfg: Path, db_path: Path, replica: ReplicaServer, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A run typed by hand while serve runs for the same warehouse is recorded on serve's own
    server (its own PREFECT_HOME here, to tell the two apart), and boots no server of its
    own: no second server writing serve's Prefect database, no boot on the run's path."""
    from flows.prefect_api import TemporaryAPI
    from flows.serve_state import announced
    from tests.conftest import migrated_prefect_home

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    with monkeypatch.context() as patch:   # "serve's" server: a database of its own
        patch.setenv("PREFECT_HOME", str(migrated_prefect_home(tmp_path / "serve-home")))
        server = TemporaryAPI()
    try:
        server.wait(180)
        env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
        with announced(db_path, server.url, own=True):   # this process plays the serve
            proc = subprocess.run([sys.executable, "-m", "flows.cli", "run", "--config",
                                   str(demo_cfg), "--db", str(db_path)], cwd=ROOT, env=env,
                                  capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "new articles from 6 of 6 outlets" in proc.stdout
        assert f"using the Prefect API of the migwatch serve running for this warehouse " \
               f"({server.url})" in proc.stderr
        req = urllib.request.Request(f"{server.url}/flow_runs/filter", data=b"{}",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req) as resp:
            runs = json.loads(resp.read())
        assert [(r["flow_id"] is not None, r["state_type"]) for r in runs
                if str(db_path) in json.dumps(r["parameters"])] == [(True, "COMPLETED")]
    finally:
        server.stop()
    # Not on the server a run by hand starts for itself (the session's PREFECT_HOME).
    con = sqlite3.connect(Path(os.environ["PREFECT_HOME"]) / "prefect.db")
    mine = con.execute("SELECT count(*) FROM flow_run WHERE parameters LIKE ?",
                       [f"%{db_path}%"]).fetchone()
    con.close()
    assert mine == (0,)


def test_a_run_borrows_only_a_live_loopback_server_that_serve_started_itself(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not an API serve was given (PREFECT_API_URL: maybe Prefect Cloud, with credentials
    this shell lacks), nor one of a serve that is gone, nor one that does not answer: then
    the run starts its temporary API, as without serve."""
    from flows.serve_state import announced, own_local_api, state_path
    from tests.helpers import health_only_api

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    db = tmp_path / "w.duckdb"
    assert own_local_api(db) is None
    with health_only_api() as (url, srv):
        with announced(db, url, own=False):
            assert own_local_api(db) is None
        with announced(db, url.replace("127.0.0.1", "prefect.example"), own=True):
            assert own_local_api(db) is None
        with announced(db, url, own=True):
            assert own_local_api(db) == url
            api = EarlyAPI(db)
            assert api.server is None and api.served == url   # nothing started
            srv.shutdown()
            api = EarlyAPI(db)      # serve's server died: the run starts its own
            assert api.server is not None and api.served is None
            api.server.stop()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    state_path(db).write_text(json.dumps({"pid": int(dead.stdout), "api_url": url,
                                          "own": True}))
    assert own_local_api(db) is None

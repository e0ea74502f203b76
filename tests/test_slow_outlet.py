"""One outlet whose feed hangs, listed first, does not keep the other outlets' finished results
out of the warehouse (flows/ingest.py STORE_GRACE): they are stored while it hangs, seen by
another process, and a kill then keeps them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

import flows.ingest
from flows.ingest import ingest_flow
from flows.replica.server import ReplicaServer, demo_config
from tests.conftest import ROOT
from tests.faultserver import FaultServer, send
from tests.helpers import task_runs
from warehouse.db import connect

pytestmark = pytest.mark.usefixtures("prefect_harness")

FAST = {"asiaplus_ru": 3, "fergana": 3}   # the replica's articles of the two other outlets
HANG = 120.0     # seconds the slow feed answers after at most (the test releases it earlier)
WATCH = 60.0     # seconds the other process looks for the fast outlets' articles
GRACE = 1.0      # STORE_GRACE in these runs

# Another process: opens the warehouse read-only every 0.3 s (waiting out the writer's lock,
# as an analyst's query does) until both outlets have articles or its time is up, and prints
# the articles per outlet it saw last.
WATCHER = """
import json, sys, time, duckdb
db, want, deadline = sys.argv[1], set(sys.argv[2].split(",")), time.monotonic() + float(sys.argv[3])
seen = {}
while time.monotonic() < deadline:
    try:
        con = duckdb.connect(db, read_only=True)
        try:
            seen = dict(con.execute("SELECT source, count(*) FROM articles WHERE NOT is_seed "
                                    "GROUP BY 1").fetchall())
        finally:
            con.close()
    except duckdb.Error:   # not there yet, being migrated, or the writer holds the lock
        pass
    if want <= set(seen):
        break
    time.sleep(0.3)
print(json.dumps(seen), flush=True)
"""

# The ingest flow in its own process, with a short STORE_GRACE, against the tests' Prefect API.
RUN = """
import sys
import flows.ingest
flows.ingest.STORE_GRACE = float(sys.argv[3])
flows.ingest.ingest_flow(sys.argv[1], sys.argv[2])
"""


class HangingFeed:
    """A feed that answers (an empty channel) only when released, or after HANG seconds."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.released = threading.Event()
        self.ended = threading.Event()

    def __call__(self, h: BaseHTTPRequestHandler) -> None:
        self.started.set()
        self.released.wait(HANG)
        self.ended.set()
        send(h, 200, b'<?xml version="1.0"?><rss version="2.0"><channel><title>Slow</title>'
                     b"</channel></rss>", "application/rss+xml")


def _config(tmp_path: Path, replica: ReplicaServer, slow: FaultServer) -> Path:
    """The slow outlet first, then Asia-Plus (Russian) and Fergana (which copies one of its
    stories); timeouts longer than the hang, so the slow feed is read, not given up on."""
    text = demo_config(replica.base_url).replace("timeout = 10", "timeout = 300\ndeadline = 300")
    head = text[:text.index("[[sources]]")]
    sources = (f'[[sources]]\nkey = "slow"\nname = "Slow outlet"\nfeeds = ["{slow.base}/rss.xml"]'
               "\n\n")
    for key, folder in (("asiaplus_ru", "asiaplus-ru"), ("fergana", "fergana")):
        sources += (f'[[sources]]\nkey = "{key}"\nname = "{key}"\n'
                    f'feeds = ["{replica.base_url}/{folder}/rss.xml"]\nlanguage = "ru"\n\n')
    path = tmp_path / "sources.toml"
    path.write_text(head + sources, encoding="utf-8")
    return path


def _watch(db: Path) -> dict[str, int]:
    """What another process sees stored of the fast outlets within WATCH seconds."""
    out = subprocess.run([sys.executable, "-c", WATCHER, str(db), ",".join(FAST), str(WATCH)],
                         cwd=ROOT, capture_output=True, text=True, timeout=WATCH + 120)
    assert out.returncode == 0, out.stderr
    seen: dict[str, int] = json.loads(out.stdout)
    return seen


def test_outlets_finished_while_the_first_one_hangs_are_stored_before_it_answers(
        replica: ReplicaServer, tmp_path: Path, db_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(flows.ingest, "STORE_GRACE", GRACE, raising=False)
    feed = HangingFeed()
    seen: dict[str, int] = {}
    during_hang: list[bool] = []

    def look_then_release() -> None:
        try:
            if feed.started.wait(HANG):
                seen.update(_watch(db_path))
                during_hang.append(not feed.ended.is_set())
        finally:
            feed.released.set()

    with FaultServer({"/rss.xml": feed}) as slow:
        cfg = _config(tmp_path, replica, slow)
        looker = threading.Thread(target=look_then_release, daemon=True)
        looker.start()
        try:
            state = ingest_flow(str(cfg), str(db_path), return_state=True)
        finally:
            feed.released.set()
            looker.join(timeout=WATCH + 180)
    # Both outlets were in the warehouse, whole, while the first one's feed still hung.
    assert during_hang == [True]
    assert seen == FAST
    report = state.result()
    assert report.status == "ok" and report.new_articles == sum(FAST.values())
    assert [s.source for s in report.sources] == ["slow", *FAST]   # the configuration's order
    assert len(task_runs("store_harvests", state.state_details.flow_run_id)) >= 2
    con = connect(db_path, read_only=True)
    try:   # the two stored together keep their order: Fergana's story is Asia-Plus's copy
        copies = con.execute(
            "SELECT a.source, o.source FROM articles a JOIN articles o ON o.id = a.duplicate_of "
            "WHERE NOT o.is_seed").fetchall()
        slow_runs = con.execute("SELECT ok FROM source_run WHERE source = 'slow'").fetchall()
    finally:
        con.close()
    assert copies == [("fergana", "asiaplus_ru")]
    assert slow_runs == [(True,)]


def test_a_kill_while_the_first_outlet_hangs_keeps_the_finished_outlets(
        replica: ReplicaServer, tmp_path: Path, db_path: Path) -> None:
    """The tester's `timeout -s KILL 60 migwatch run`: the others had been harvested in
    seconds, yet the warehouse held no article and no fetch."""
    from prefect.settings import PREFECT_API_URL

    feed = HangingFeed()
    with FaultServer({"/rss.xml": feed}) as slow:
        cfg = _config(tmp_path, replica, slow)
        env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())}
        run = subprocess.Popen([sys.executable, "-c", RUN, str(cfg), str(db_path), str(GRACE)],
                               cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            assert feed.started.wait(HANG), "the run never asked for the slow feed"
            _watch(db_path)   # until both outlets are stored, or WATCH seconds
            hanging = not feed.ended.is_set()
            run.send_signal(signal.SIGKILL)
            run.wait(timeout=60)
        finally:
            if run.poll() is None:
                run.kill()
                run.wait(timeout=60)
            feed.released.set()
    assert hanging and run.returncode == -signal.SIGKILL
    con = connect(db_path, read_only=True)
    try:
        articles = dict(con.execute("SELECT source, count(*) FROM articles WHERE NOT is_seed "
                                    "GROUP BY 1").fetchall())
        fetched = {s for (s,) in con.execute("SELECT DISTINCT source FROM fetches").fetchall()}
        outlets = {s for (s,) in con.execute("SELECT source FROM source_run").fetchall()}
    finally:
        con.close()
    assert articles == FAST
    assert fetched == outlets == set(FAST)   # the slow one: nothing, fetched again next run

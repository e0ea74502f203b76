"""Operator alerts: outlets newly failing, gone quiet or recovered, sent once per incident to
the [operator] channels — a real SMTP server (aiosmtpd), a real webhook receiver and apprise's
json:// on loopback, a real DuckDB file, and a real process killed in the middle of a send."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from alerts.mailer import SmtpSettings
from flows.cli import main
from flows.digest import run_digests
from flows.oncall import OperatorReport, after_ingest_run, run_operator_alerts
from flows.replica.server import SITE, ReplicaServer
from flows.settings import ConfigError, Settings, parse_settings
from flows.stages.models import Harvest
from tests.conftest import ROOT, dead_port
from tests.digest_helpers import ChatSink, smtp_server
from tests.helpers import RULES
from warehouse import store
from warehouse.db import connect

NAMES = {"asiaplus_en": "Asia-Plus", "ozodi": "Ozodi", "cabar": "CABAR"}
EVIL = "refused [click](http://evil) @channel <b>x</b>"


def _config(tmp_path: Path, operator: str, digest: str = "") -> Settings:
    (tmp_path / "rules.toml").write_text(RULES, encoding="utf-8")
    sources = "".join(f'[[sources]]\nkey = "{k}"\nname = "{n}"\nfeeds = ["https://{k}.org/rss"]\n'
                      for k, n in NAMES.items())
    text = (f'[fetch]\nfailing_after = 2\n[digest]\nrecipients = ["desk@example.org"]\n'
            f'outbox = "{tmp_path / "outbox"}"\n{digest}\n[topics]\nrules = "rules.toml"\n'
            f"{operator}\n{sources}")
    (tmp_path / "sources.toml").write_text(text, encoding="utf-8")
    return parse_settings(text, tmp_path / "sources.toml")


def _run(db: Path, failing: set[str], error: str = "connection failed: refused") -> None:
    """One ingest run as the writer records it: each outlet ok or failed."""
    con = connect(db)
    run_id = store.start_run(con, "ingest")
    for key, name in NAMES.items():
        bad = key in failing
        store.store_harvest(con, Harvest(key, name, (), (), feeds_ok=0 if bad else 1,
                                         error=error if bad else None), run_id, 0.5, 4)
    store.finish_run(con, run_id, "partial" if failing else "ok", {})
    con.close()


def _rows(db: Path, query: str) -> list[tuple]:
    con = connect(db, read_only=True)
    try:
        return con.execute(query).fetchall()
    finally:
        con.close()


def _body(msg: object) -> str:
    return msg.get_body(preferencelist=("plain",)).get_content()  # type: ignore[attr-defined]


def test_failing_alerts_once_stays_quiet_while_failing_and_says_when_recovered(
        tmp_path: Path, db_path: Path) -> None:
    with smtp_server("none") as (mail, port), ChatSink() as hook:
        settings = _config(tmp_path, f'[operator]\nemail = "ops@example.org"\n'
                                     f'chat = ["webhook+http://127.0.0.1:{hook.port}/ops",\n'
                                     f'        "json://127.0.0.1:{hook.port}/chat"]')
        smtp = SmtpSettings("127.0.0.1", port, "none", timeout=10)

        def alert() -> OperatorReport:
            return run_operator_alerts(db_path, settings, smtp)

        _run(db_path, {"ozodi"}, EVIL)                       # 1 failure: under failing_after
        first = alert()
        assert (first.opened, [r.n_incidents for r in first.results]) == (0, [0, 0, 0])
        assert mail.messages == [] and hook.posts == []

        _run(db_path, {"ozodi"}, EVIL)                       # 2 in a row: failing
        second = alert()
        assert second.opened == 1 and [r.error for r in second.results] == [None] * 3
        assert [(r.transport, r.n_incidents) for r in second.results] == [
            ("smtp", 1), ("webhook", 1), ("apprise", 1)]
        assert len(mail.messages) == 1 and len(hook.posts) == 2
        msg = mail.messages[0]
        assert msg["To"] == "ops@example.org" and msg["Subject"] == "migwatch operator: 1 failing"
        assert "Ozodi (ozodi): failed 2 runs in a row (alert after 2); last success never; " \
               f"last error: {EVIL}" in _body(msg)
        posts = dict(hook.posts)
        event = posts["/ops"]["incidents"][0]
        assert (event["event"], event["kind"], event["source"], event["name"]) == (
            "opened", "failing", "ozodi", "Ozodi")
        assert event["detail"]["consecutive_failures"] == 2
        text = posts["/chat"]["message"]
        assert "Ozodi" in text and "[click](http://evil)" not in text and "@channel" not in text

        _run(db_path, {"ozodi"}, EVIL)                       # still failing: nothing new
        third = alert()
        assert third.opened == 0 and all(r.alert_id is None for r in third.results)
        assert len(mail.messages) == 1 and len(hook.posts) == 2

        _run(db_path, set())                                 # ok again: recovered, once
        fourth = alert()
        assert fourth.closed == 1 and [r.n_incidents for r in fourth.results] == [1, 1, 1]
        assert len(mail.messages) == 2 and len(hook.posts) == 4
        assert mail.messages[1]["Subject"] == "migwatch operator: 1 recovered"
        assert "Ozodi (ozodi): runs ok again at" in _body(mail.messages[1])
        assert hook.posts[2][1]["incidents"][0]["event"] == "closed"

        _run(db_path, set())
        assert all(r.alert_id is None for r in alert().results)
        assert len(mail.messages) == 2 and len(hook.posts) == 4
    # operator alerts never reach the subscribers' digests or their delivery log
    assert all(m["To"] == "ops@example.org" for m in mail.messages)
    assert _rows(db_path, "SELECT count(*) FROM digest") == [(0,)]
    assert [r.n_items for r in run_digests(db_path, settings, None)] == [0]
    assert _rows(db_path, "SELECT status, n_events FROM operator_alert ORDER BY created_at") == [
        ("delivered", 1)] * 6


def test_a_failed_delivery_is_recorded_and_sent_at_the_next_pass(tmp_path: Path,
                                                                 db_path: Path) -> None:
    with ChatSink() as hook:
        settings = _config(tmp_path, f'[operator]\nemail = "ops@example.org"\n'
                                     f'chat = "webhook+http://127.0.0.1:{hook.port}/ops"')
        _run(db_path, {"cabar"})
        _run(db_path, {"cabar"})
        hook.fail = {"/ops"}
        first = run_operator_alerts(db_path, settings, None)
        assert first.results[0].error is None and first.results[0].transport == "outbox"
        assert first.results[1].error == ("RuntimeError: http://127.0.0.1:"
                                          f"{hook.port} answered HTTP 500")
        assert _rows(db_path, "SELECT channel, status, error IS NOT NULL FROM operator_alert "
                              "ORDER BY channel") == [
            ("email:ops@example.org", "delivered", False),
            (settings.operator[1].key, "failed", True)]
        assert "OperatorAlert" not in "".join(first.lines())
        assert any("NOT delivered" in line for line in first.lines())
        hook.fail = set()
        _run(db_path, {"cabar"})                          # no new incident: only the retry
        second = run_operator_alerts(db_path, settings, None)
        assert [r.n_incidents for r in second.results] == [0, 1]
        assert hook.paths() == ["/ops"] and hook.posts[0][1]["incidents"][0]["source"] == "cabar"
        assert [r.alert_id for r in run_operator_alerts(db_path, settings, None).results] == [
            None, None]
    files = list((tmp_path / "outbox").glob("operator-*.eml"))
    assert len(files) == 1 and "CABAR (cabar): failed 2 runs" in files[0].read_text("utf-8")


def test_an_outlet_gone_quiet_and_back(tmp_path: Path, db_path: Path) -> None:
    with ChatSink() as hook:
        settings = _config(tmp_path, f'[operator]\nchat = "webhook+http://127.0.0.1:'
                                     f'{hook.port}/ops"')
        con = connect(db_path)
        now = datetime.now(UTC)
        for i, h in enumerate([30, 31, 32, 33, 34]):      # hourly, silent for 30 h
            con.execute("INSERT INTO doc (source, url, canonical_url, fetched_at, published_at,"
                        " lang, text, text_hash, n_words) VALUES ('asiaplus_en', ?, ?, ?, ?, "
                        "'en', 't', ?, 1)", [f"https://a/{i}", f"a/{i}", now,
                                             now - timedelta(hours=h), f"h{i}"])
        con.close()
        run_operator_alerts(db_path, settings, None)
        event = hook.posts[0][1]["incidents"][0]
        assert (event["kind"], event["source"]) == ("quiet", "asiaplus_en")
        assert hook.posts[0][1]["subject"] == "migwatch operator: 1 gone quiet"
        assert event["text"].startswith("nothing new for 1.2 days, usually every 1.0 h")
        _run(db_path, {"ozodi"})
        _run(db_path, {"ozodi"})
        run_operator_alerts(db_path, settings, None)      # another incident: context given
        assert [e["source"] for e in hook.posts[1][1]["incidents"]] == ["ozodi"]
        assert [(e["source"], e["kind"]) for e in hook.posts[1][1]["still_open"]] == [
            ("asiaplus_en", "quiet")]
        con = connect(db_path)
        con.execute("INSERT INTO doc (source, url, canonical_url, fetched_at, published_at, "
                    "lang, text, text_hash, n_words) VALUES ('asiaplus_en', 'https://a/new', "
                    "'a/new', now(), now(), 'en', 't', 'new', 1)")
        con.close()
        run_operator_alerts(db_path, settings, None)
        assert len(hook.posts) == 3
        assert hook.posts[2][1]["incidents"][0]["text"].startswith("publishes again at")


def test_a_channel_added_later_is_told_what_is_open_not_the_history(tmp_path: Path,
                                                                   db_path: Path) -> None:
    quiet = _config(tmp_path, "")
    _run(db_path, {"ozodi"})
    _run(db_path, {"ozodi", "cabar"})
    run_operator_alerts(db_path, quiet, None)                # no channel: tracked only
    _run(db_path, {"cabar"})
    report = run_operator_alerts(db_path, quiet, None)       # nobody told
    assert (report.opened, report.closed, report.results) == (1, 1, ())   # cabar, ozodi
    _run(db_path, {"cabar"})
    with ChatSink() as hook:
        later = _config(tmp_path, f'[operator]\nchat = "webhook+http://127.0.0.1:'
                                  f'{hook.port}/ops"')
        run_operator_alerts(db_path, later, None)
        assert [(e["source"], e["event"]) for e in hook.posts[0][1]["incidents"]] == [
            ("cabar", "opened")]


def test_an_outlet_removed_from_the_sources_file_closes_its_incident(tmp_path: Path,
                                                                     db_path: Path) -> None:
    with ChatSink() as hook:
        op = f'[operator]\nchat = "webhook+http://127.0.0.1:{hook.port}/ops"'
        settings = _config(tmp_path, op)
        _run(db_path, {"ozodi"})
        _run(db_path, {"ozodi"})
        run_operator_alerts(db_path, settings, None)
        del NAMES["ozodi"]
        try:
            run_operator_alerts(db_path, _config(tmp_path, op), None)
        finally:
            NAMES["ozodi"] = "Ozodi"
        closed = hook.posts[1][1]["incidents"][0]
        assert (closed["event"], closed["closed_reason"]) == ("closed", "removed")
        assert "no longer in the sources file" in closed["text"]
    # Its history stays, but it is no longer failing: `status` (whose exit status monitoring
    # reads) and the failing_outlets view agree with the alert.
    assert _rows(db_path, "SELECT source, configured FROM outlet_health ORDER BY source") == [
        ("asiaplus_en", True), ("cabar", True), ("ozodi", False)]
    assert _rows(db_path, "SELECT count(*) FROM failing_outlets") == [(0,)]
    assert main(["status", "--db", str(db_path)]) == 0


# Runs one alert pass in its own process, for the test that kills it in the middle of a send.
PASS = """
import sys
from flows.oncall import run_operator_alerts
from flows.settings import load_settings
run_operator_alerts(sys.argv[1], load_settings(sys.argv[2]), None)
"""


def test_operator_webhooks_wait_as_long_as_digest_webhooks(tmp_path: Path,
                                                           db_path: Path) -> None:
    """`[digest] webhook_timeout` is the one setting for JSON webhooks, operator ones too."""
    with ChatSink() as hook:
        hook.delay = {"/ops": 3.0}
        settings = _config(tmp_path, f'[operator]\nchat = "webhook+http://127.0.0.1:'
                                     f'{hook.port}/ops"', digest="webhook_timeout = 1")
        _run(db_path, {"cabar"})
        _run(db_path, {"cabar"})
        late = run_operator_alerts(db_path, settings, None).results[0]
        assert late.error is not None and "Timeout" in late.error
        hook.delay = {}
        assert run_operator_alerts(db_path, settings, None).results[0].n_incidents == 1
    assert _rows(db_path, "SELECT status FROM operator_alert ORDER BY created_at") == [
        ("failed",), ("delivered",)]


@contextmanager
def hanging_receiver() -> Iterator[tuple[int, threading.Event, list[str]]]:
    """A webhook that records each request and never answers the first one."""
    arrived, bodies = threading.Event(), []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            bodies.append(self.rfile.read(int(self.headers["Content-Length"])).decode())
            if len(bodies) == 1:
                arrived.set()
                time.sleep(60)                 # the sender is killed while it waits here
                return
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1], arrived, bodies
    finally:
        server.shutdown()
        server.server_close()


def test_a_pass_killed_mid_send_loses_nothing_and_the_rerun_sends_it_once(
        tmp_path: Path, db_path: Path) -> None:
    with hanging_receiver() as (port, arrived, bodies):
        settings = _config(tmp_path, f'[operator]\nchat = "webhook+http://127.0.0.1:{port}/o"')
        _run(db_path, {"ozodi"})
        _run(db_path, {"ozodi"})
        proc = subprocess.Popen([sys.executable, "-c", PASS, str(db_path),
                                 str(settings.path)], cwd=ROOT)
        try:
            assert arrived.wait(60)
            proc.kill()
        finally:
            proc.wait(timeout=30)
        assert _rows(db_path, "SELECT status FROM operator_alert") == [("pending",)]
        rerun = run_operator_alerts(db_path, settings, None)
        assert rerun.settled[0].endswith("released (sent again)")
        assert rerun.results[0].n_incidents == 1 and len(bodies) == 2
        assert bodies[0] != bodies[1] and '"source": "ozodi"' in bodies[1]
        assert run_operator_alerts(db_path, settings, None).results[0].alert_id is None
    assert _rows(db_path, "SELECT status FROM operator_alert ORDER BY created_at") == [
        ("failed",), ("delivered",)]


def test_status_shows_incidents_and_alert_sends_them(tmp_path: Path, db_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    settings = _config(tmp_path, '[operator]\nemail = ["ops@example.org"]')
    _run(db_path, {"ozodi"})
    _run(db_path, {"ozodi"})
    args = ["--config", str(settings.path), "--db", str(db_path)]
    assert main(["status", *args]) == 3
    assert "operator alerts: 0 open incidents" in capsys.readouterr().out   # not yet checked
    assert main(["status", "--alert", *args]) == 3
    out = capsys.readouterr().out
    assert "operator alerts: 1 incidents opened, 0 closed" in out
    assert "email:ops@example.org: 1 incidents -> " in out
    assert len(list((tmp_path / "outbox").glob("operator-*.eml"))) == 1
    assert main(["status", *args]) == 3
    out = capsys.readouterr().out
    assert "FAILING x2" in out               # the alert pass applied [fetch] failing_after
    assert "operator alerts: 1 open incidents: ozodi failing since" in out
    assert "last alert to email:ops@example.org: delivered" in out
    assert main(["status", "--alert", *args]) == 3
    assert "email:ops@example.org: nothing new" in capsys.readouterr().out


def test_after_ingest_never_raises_and_reports_why(tmp_path: Path, db_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _config(tmp_path, '[operator]\nchat = "webhook+https://${OPS_HOOK}/x"')
    _run(db_path, {"ozodi"})
    _run(db_path, {"ozodi"})
    notes = after_ingest_run(db_path, settings)
    assert "WARNING webhook:webhook+https://#" in notes[-1]
    assert notes[-1].endswith("MissingSecret: environment variable OPS_HOOK is not set")
    monkeypatch.setenv("MIGWATCH_SMTP_SECURITY", "carrier-pigeon")  # smtp_from_env raises
    monkeypatch.setenv("MIGWATCH_SMTP_HOST", "127.0.0.1")
    notes = after_ingest_run(db_path, settings)
    assert notes == ["WARNING operator alerts not sent: SmtpEnvError: MIGWATCH_SMTP_SECURITY "
                     "must be starttls, ssl or none, not 'carrier-pigeon' (tried again after "
                     "the next run)"]


@pytest.mark.parametrize(("body", "message"), [
    ('email = "not-an-address"', "not an email address"),
    ('chat = ["nothing"]', "not an apprise or webhook URL"),
    ("pager = true", "unknown key"),
])
def test_operator_settings_are_checked(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _config(tmp_path, f"[operator]\n{body}")


@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.slow
def test_the_ingest_flow_alerts_after_its_run_and_a_failed_alert_never_fails_it(
        demo_cfg: Path, db_path: Path, replica: ReplicaServer) -> None:
    from flows.ingest import ingest_flow

    with ChatSink() as hook:
        text = demo_cfg.read_text("utf-8").replace("[fetch]\n", "[fetch]\nfailing_after = 1\n")
        demo_cfg.write_text(text + '\n[storage]\nkeep_raw_html = true\n'
                            'raw_html_max_age_days = 30\n'
                            f'[operator]\nchat = "webhook+http://127.0.0.1:{hook.port}/ops"\n'
                            f'[[sources]]\nkey = "dead"\nname = "Dead outlet"\n'
                            f'feeds = ["http://127.0.0.1:{dead_port()}/rss.xml"]\n', "utf-8")
        hook.fail = {"/ops"}
        first = ingest_flow(str(demo_cfg), str(db_path))
        assert first.status == "partial" and first.exit_code == 3    # the dead outlet, only
        assert first.new_articles > 0
        assert _rows(db_path, "SELECT status, error LIKE '%HTTP 500%' FROM operator_alert") == [
            ("failed", True)]
        assert _rows(db_path, f"SELECT status FROM runs WHERE run_id = '{first.run_id}'") == [
            ("partial",)]
        hook.fail = set()
        second = ingest_flow(str(demo_cfg), str(db_path))
        assert second.status == "partial" and second.new_articles == 0
        # Failing incidents only: the replica's articles have fixed dates, so a few days
        # after they were written its outlets have also "gone quiet" (outlet_activity).
        assert [[(e["source"], e["event"]) for e in body["incidents"] if e["kind"] == "failing"]
                for _, body in hook.posts] == [[("dead", "opened")]]
    # raw HTML through the whole flow: one row per stored article, byte for byte as served
    kept = _rows(db_path, "SELECT d.url, h.html FROM doc_html h JOIN doc d ON d.id = h.doc_id")
    assert len(kept) == first.new_articles
    for url, html in kept:
        path = url.removeprefix(replica.base_url).split("?")[0]
        served = (SITE / path.lstrip("/")).read_bytes().replace(b"{{BASE}}",
                                                               replica.base_url.encode())
        assert html == served, url


def test_the_warehouse_is_free_while_an_operator_alert_waits_on_the_smtp_server(
        tmp_path: Path, db_path: Path) -> None:
    """As digests: the pass holds the warehouse to detect and claim, and to confirm, never
    while the SMTP server takes its time (an analyst's query in another process would fail
    on the lock, and the next ingest wait)."""
    from tests.digest_helpers import SlowSink

    reader = ("import sys, duckdb\ncon = duckdb.connect(sys.argv[1], read_only=True)\n"
              "print(con.execute('SELECT count(*) FROM outlet_health').fetchone()[0])")
    with smtp_server("none", sink=SlowSink()) as (mail, port):
        assert isinstance(mail, SlowSink)
        settings = _config(tmp_path, '[operator]\nemail = "ops@example.org"')
        smtp = SmtpSettings("127.0.0.1", port, "none", timeout=60)
        _run(db_path, {"ozodi"})
        _run(db_path, {"ozodi"})
        done: list[OperatorReport] = []
        pass_ = threading.Thread(target=lambda: done.append(
            run_operator_alerts(db_path, settings, smtp)), daemon=True)
        pass_.start()
        try:
            assert mail.waiting.wait(30), "the alert never reached the SMTP server"
            read = subprocess.run([sys.executable, "-c", reader, str(db_path)],
                                  capture_output=True, text=True, timeout=60)
            assert read.returncode == 0 and read.stdout.strip() == "3", read.stderr[-2000:]
        finally:
            mail.go.set()
        pass_.join(60)
    [report] = done
    assert [(r.n_incidents, r.error) for r in report.results] == [(1, None)]
    assert _rows(db_path, "SELECT status FROM operator_alert") == [("delivered",)]

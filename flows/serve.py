"""`migwatch serve`: the ingest and digest flows as long-running Prefect deployments.

One process serves both deployments with `limit=1`: the runner starts at most one flow run at a
time, so an ingest never overlaps the previous ingest nor a digest (DuckDB has one writing
process). Each deployment also carries a server-side concurrency limit of 1 with collision
strategy CANCEL_NEW, which holds even when a second `migwatch serve` (or a `prefect.yaml`
worker) serves the same deployment against the same Prefect API: a run due while the previous
one is still going is cancelled, not queued behind it. SIGTERM (systemd, `docker stop`) stops
the runner: it cancels a flow run in progress (whose finished outlets are already committed)
and exits 0.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

from flows import warm_runs
from flows.prefect_api import StartupCancelled, free_port, stop_process, wait_for_health
from flows.procs import children, descendants
from flows.serve_state import announced, served_api
from flows.settings import ScheduleSettings, Settings

INGEST_DEPLOYMENT, DIGEST_DEPLOYMENT = "ingest", "digest"


def schedules(schedule: ScheduleSettings, flow: str) -> list[Any]:
    """One flow's schedules, in the configured timezone (an empty list: on demand only).

    Schedule objects, not `to_deployment(cron=..., interval=...)`: those keywords take no
    timezone, and passing one beside them fails (Prefect 3.9)."""
    from prefect.schedules import Cron, Interval

    tz = schedule.timezone
    if flow == "ingest":
        if schedule.ingest_cron:
            return [Cron(schedule.ingest_cron, timezone=tz)]
        assert schedule.ingest_interval_minutes is not None
        return [Interval(timedelta(minutes=schedule.ingest_interval_minutes), timezone=tz)]
    return [Cron(schedule.digest_cron, timezone=tz)] if schedule.digest_cron else []


def deployment_specs(settings: Settings, db_path: Path) -> list[tuple[Any, dict[str, Any]]]:
    """Each flow `migwatch serve` runs with its deployment's settings (parameters: this config
    and warehouse), as `Flow.to_deployment` and `Runner.add_flow` take them."""
    from prefect.client.schemas.objects import (
        ConcurrencyLimitConfig,
        ConcurrencyLimitStrategy,
    )

    from flows.digest import digest_flow
    from flows.ingest import ingest_flow

    params = {"config_path": str(Path(settings.path).resolve()),
              "db_path": str(Path(db_path).resolve())}
    one_at_a_time = ConcurrencyLimitConfig(
        limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW)
    return [(flow, {"name": name, "parameters": params, "concurrency_limit": one_at_a_time,
                    "schedules": schedules(settings.schedule, name),
                    "description": f"migwatch {name} ({settings.path})", "tags": ["migwatch"]})
            for name, flow in ((INGEST_DEPLOYMENT, ingest_flow), (DIGEST_DEPLOYMENT, digest_flow))]


def deployments(settings: Settings, db_path: Path) -> list[Any]:
    """The RunnerDeployments `migwatch serve` registers."""
    return [flow.to_deployment(**spec) for flow, spec in deployment_specs(settings, db_path)]


def describe(settings: Settings) -> str:
    s = settings.schedule
    ingest = (f"cron {s.ingest_cron!r}" if s.ingest_cron
              else f"every {s.ingest_interval_minutes:g} min")
    digest = f"cron {s.digest_cron!r}" if s.digest_cron else "on demand only"
    return f"ingest: {ingest}; digest: {digest} ({s.timezone}); one flow run at a time"


class _Tail:
    """Reads a child's stderr for as long as it runs, keeping its last lines: a pipe nobody
    reads fills at 64 KB, and the child then blocks on its next write (a Prefect server that
    logs errors for a few weeks would hang, unnoticed). The last lines say why it died."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.lines: deque[str] = deque(maxlen=200)
        self.thread = threading.Thread(target=self._drain, args=(stream,), daemon=True,
                                       name="prefect-server-stderr")
        self.thread.start()

    def _drain(self, stream: IO[bytes]) -> None:
        for line in iter(stream.readline, b""):
            self.lines.append(line.decode(errors="replace"))

    def text(self) -> str:
        self.thread.join(1.0)   # the child has exited: what it wrote last is in the pipe
        return "".join(self.lines)


@dataclass
class LocalServer:
    url: str
    proc: subprocess.Popen
    stderr: _Tail


@contextmanager
def local_prefect_server(startup_timeout: float = 120.0,
                         cancel: threading.Event | None = None) -> Iterator[LocalServer]:
    """A `prefect server start` child on 127.0.0.1 for as long as the block runs.

    Prefect's temporary in-process API does not run the scheduler service, so scheduled
    deployments need a real server: the operator's (PREFECT_API_URL), or this one. It runs in
    its own session: the runner cancels a flow run by signalling that run's process group, and
    the server must survive that. It is started through flows.orphan_guard, so that it stops
    too if serve is killed without a chance to stop it. `cancel`: a stop asked for while it
    starts (StartupCancelled).
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    proc = subprocess.Popen([sys.executable, "-m", "flows.orphan_guard", "--", sys.executable,
                             "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                             "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)  # not in the group the runner signals
    assert proc.stderr is not None
    tail = _Tail(proc.stderr)
    try:
        wait_for_health(proc, url, startup_timeout, 0.5, "prefect server", tail.text, cancel)
        yield LocalServer(url, proc, tail)
    finally:
        stop_process(proc, 20)


def serve(settings: Settings, db_path: Path) -> int:
    """Block serving the deployments until SIGTERM or Ctrl-C; 0 on a stop, 1 when the Prefect
    server serve started itself has died (so that systemd or Docker restart serve: without
    it nothing would ever be scheduled again, and the process would look alive)."""
    # From the start: a stop while the server boots or the deployments register is a stop.
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    print(f"migwatch serve: {describe(settings)}; warehouse {db_path}", flush=True)
    died: str | None = None
    try:
        if api := os.environ.get("PREFECT_API_URL"):
            with announced(db_path, api):
                clean, died = _serve(settings, db_path, stop)
        else:
            with local_prefect_server(cancel=stop) as server, \
                    announced(db_path, server.url, own=True):
                print(f"migwatch serve: no PREFECT_API_URL, started a Prefect server at "
                      f"{server.url}", flush=True)
                os.environ["PREFECT_API_URL"] = server.url
                clean, died = _serve(settings, db_path, stop, server)
    except StartupCancelled:
        clean = True
    if died:
        print(f"migwatch serve: {died}; stopped (exit 1, for the service manager to restart "
              "it)", file=sys.stderr, flush=True)
    else:
        print("migwatch serve: stopped" if clean else
              "migwatch serve: stopped (without waiting for the runner's own shutdown)",
              flush=True)
    if not clean:  # a runner thread still hangs on shutdown: do not wait for it
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1 if died else 0)
    return 1 if died else 0


STOP_GRACE = 30.0   # seconds the runner gets to cancel a run in progress and pause schedules
KILL_AFTER = 10.0   # seconds a run in progress gets to end on its own before it is killed
AFTER_KILL = 5.0    # seconds the runner then gets to finish its shutdown


def flow_run_processes(parent: int, tree: dict[int, list[int]] | None = None) -> list[int]:
    """The flow-run processes the runner started: the children of the fork server
    (flows.warm_runs), or its own children when runs start as new interpreters."""
    tree = children() if tree is None else tree
    found = []
    for pid in tree.get(parent, []):
        with suppress(OSError):
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            if warm_runs.is_fork_server(cmdline):
                found += tree.get(pid, [])
            elif b"multiprocessing.spawn" in cmdline or b"prefect.engine" in cmdline:
                found.append(pid)
    return found


def kill_flow_runs(parent: int) -> list[int]:
    """SIGKILL every flow run of the runner with the processes it started (worker
    processes). Prefect cancels a run cooperatively: the run ends only when the task in
    flight returns (an outlet's harvest, up to a fetch timeout per page), which can outlast
    any stop grace, and the run's process would then go on, unowned, after serve exits. A
    kill is safe: each outlet's batch is one transaction, and the next run fetches again what
    the killed one did not store."""
    tree = children()
    runs = flow_run_processes(parent, tree)
    for pid in {p for run in runs for p in descendants(run, tree)}:
        with suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    return runs


def _serve(settings: Settings, db_path: Path, stop: threading.Event,
           server: LocalServer | None = None) -> tuple[bool, str | None]:
    """Run Prefect's runner in a thread; the main thread owns the signals and the deadline.

    `prefect.serve` handles SIGTERM itself, but when the signal lands while a flow run is
    finishing its shutdown can hang; here a stop is requested and waited for at most
    STOP_GRACE seconds. Returns (True when the runner stopped by itself, why serve must stop
    with an error: the Prefect server it started has died, or None).
    """
    import asyncio

    from prefect.runner import Runner

    def server_died() -> str | None:
        if server is None or (code := server.proc.poll()) is None:
            return None
        last = server.stderr.text().strip().splitlines()[-5:]
        return (f"the Prefect server it started exited (status {code})"
                + (": " + " | ".join(last) if last else ""))

    if why := warm_runs.install():
        print(f"migwatch serve: each flow run starts a new interpreter ({why})", flush=True)
    runner = Runner(name="migwatch", limit=1, pause_on_shutdown=True)
    try:
        for flow, spec in deployment_specs(settings, db_path):
            # add_flow, not add_deployment: the runner then runs the flow object it holds
            # (forked from the warm fork server), not `python -m prefect.engine`, which
            # imports everything again and loads the flow from its file.
            runner.add_flow(flow, **spec)
    except Exception:
        if gone := server_died():   # while the deployments were registered
            return True, gone
        raise
    if stop.is_set():   # asked to stop while the deployments were registered
        return True, None
    finished = threading.Event()

    def run() -> None:
        try:
            asyncio.run(runner.start())
        finally:
            finished.set()

    thread = threading.Thread(target=run, name="migwatch-runner", daemon=True)
    thread.start()
    died: str | None = None
    while not stop.wait(0.5):
        if finished.is_set():
            raise RuntimeError("the Prefect runner stopped on its own; see the log above")
        if died := server_died():
            break
    print("migwatch serve: " + ("stopping" if died else
                                "stop requested, cancelling any run in progress"), flush=True)
    deadline = time.monotonic() + STOP_GRACE
    while not runner.started and not finished.is_set() and time.monotonic() < deadline:
        time.sleep(0.2)   # a signal during start-up: let it start, then stop it
    if runner.started:
        runner.execute_in_background(runner.astop)
    if finished.wait(KILL_AFTER):
        return True, died
    if killed := kill_flow_runs(os.getpid()):
        print(f"migwatch serve: the run in progress did not stop within {KILL_AFTER:g} s; "
              f"killed it (process {', '.join(map(str, killed))} and its children): "
              "stored outlets stay stored, the rest is fetched again next run", flush=True)
        # The runner's own bookkeeping of the killed run (its cancellation hooks and final
        # state) may wait on Prefect for much longer; the warehouse shows the run as
        # interrupted after the next one either way.
        return finished.wait(AFTER_KILL), died
    return finished.wait(max(0.0, deadline - time.monotonic())), died


def health(db_path: Path) -> tuple[str, int]:
    """The container HEALTHCHECK: the warehouse opens for reading (or does not exist yet) and
    the Prefect API answers: PREFECT_API_URL's, else that of the `migwatch serve` running for
    this warehouse (the server it started itself). Exit status 0 healthy, 1 not."""
    from warehouse.db import opened

    lines, code = [], 0
    if db_path.exists():
        try:
            with opened(db_path, read_only=True, retry_seconds=20) as con:
                row = con.execute("SELECT max(started_at) FILTER (WHERE flow = 'ingest'),"
                                  " count(*) FROM runs").fetchone()
            last = row[0] if row else None
            lines.append(f"warehouse {db_path}: readable, last ingest "
                         f"{last:%Y-%m-%d %H:%M UTC}" if last else
                         f"warehouse {db_path}: readable, no ingest yet")
        except Exception as exc:
            code = 1
            lines.append(f"warehouse {db_path}: NOT readable: {exc}")
    else:
        lines.append(f"warehouse {db_path}: not created yet (first ingest pending)")
    api = os.environ.get("PREFECT_API_URL")
    if not api:
        served, why = served_api(db_path)
        api = served.api_url if served else None
        if why:
            lines.append(f"Prefect API: none to check ({why}; PREFECT_API_URL not set)")
    if api:
        try:
            with urllib.request.urlopen(f"{api.rstrip('/')}/health", timeout=10):
                lines.append(f"Prefect API {api}: ok")
        except OSError as exc:
            code = 1
            lines.append(f"Prefect API {api}: NOT answering: {exc}")
    return "\n".join(lines), code

"""Prefect's temporary API for a one-off `migwatch run` or `digest`, started before the heavy
imports instead of after them.

With no Prefect API configured, Prefect starts a temporary API server the first time a flow
needs one: it imports its whole server package into this process (1-2 s) only to launch a
subprocess, then waits for that subprocess to boot (2-3 s), all after our own imports and on
the critical path of every run — most of a run that finds nothing new. Here the same
subprocess is launched first thing, so it boots on another core while this process imports
the pipeline, and this process never imports the server package. The server itself is what
Prefect would have started (the command and environment of Prefect 3.9's
`SubprocessASGIServer`): runs are recorded in PREFECT_HOME as before, and it is stopped at
exit, after Prefect has flushed its logs and events (those flush before `atexit` hooks run).
"""

from __future__ import annotations

import atexit
import importlib
import importlib.metadata
import json
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager, suppress
from pathlib import Path

from flows.orphan_guard import die_with_parent


class StartupCancelled(RuntimeError):
    """Asked to stop while waiting for a server to answer."""


def wait_for_health(proc: subprocess.Popen, url: str, timeout: float, interval: float,
                    name: str, stderr_tail: Callable[[], str] | None = None,
                    cancel: threading.Event | None = None) -> None:
    """Block until the API server `proc` answers `{url}/health`; fail if it exits first (with
    the end of its stderr: `stderr_tail()`, else the pipe's) or does not answer within
    `timeout` s; raise StartupCancelled when `cancel` is set meanwhile."""
    deadline = time.monotonic() + timeout
    while True:
        if cancel is not None and cancel.is_set():
            raise StartupCancelled(f"stopped while waiting for {name} to answer on {url}")
        if proc.poll() is not None:
            err = stderr_tail()[-2000:] if stderr_tail else \
                proc.stderr.read().decode(errors="replace")[-2000:] if proc.stderr else ""
            raise RuntimeError(f"{name} exited with status {proc.returncode} before answering "
                               f"on {url}" + (f": {err}" if err else ""))
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not answer on {url} within {timeout:g} s")
        time.sleep(interval)


def stop_process(proc: subprocess.Popen, grace: float) -> None:
    """SIGTERM, and SIGKILL if `proc` has not exited within `grace` seconds."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


MIGRATED = "migwatch-prefect-migrated.json"   # in PREFECT_HOME, next to prefect.db


def _default_prefect_db() -> Path | None:
    """Prefect's own SQLite database in PREFECT_HOME, unless anything we can see configures
    another database (then None: the server migrates as it always does)."""
    if any("DATABASE" in k or k == "PREFECT_PROFILES_PATH"
           for k in os.environ if k.startswith("PREFECT_")):
        return None
    home = Path(os.environ.get("PREFECT_HOME", "~/.prefect")).expanduser()
    for config in (home / "profiles.toml", Path("prefect.toml")):
        with suppress(OSError):
            if "database" in config.read_text(errors="replace").lower():
                return None
    with suppress(OSError):
        if "tool.prefect" in Path("pyproject.toml").read_text(errors="replace"):
            return None
    return home / "prefect.db"


def _schema_revision(db: Path) -> str | None:
    """The Alembic revision Prefect's database is at (None: no database, or not readable)."""
    if not db.exists():
        return None
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)) as con:
            row = con.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error:
        return None
    return str(row[0]) if row else None


def _migrated_as(db: Path) -> dict[str, str | None]:
    """What this installation's Prefect left its database at: (Prefect version, revision)."""
    return {"prefect": importlib.metadata.version("prefect"), "revision": _schema_revision(db)}


class TemporaryAPI:
    """A Prefect API server child on 127.0.0.1, stopped when this process exits.

    Migrating Prefect's database on start is skipped when this installation's Prefect has
    already migrated it: Alembic loads all of Prefect's 100-odd migration scripts to find
    there is nothing to do, ~0.5 s of the server's boot, which is on the critical path of
    every `migwatch run`. The proof is a note in PREFECT_HOME written after a migrating start
    (Prefect's version and the database's revision) that must match both the installed
    Prefect and the revision the database is at now; anything else (an upgrade, a new or reset
    database, a database configured elsewhere) migrates as Prefect always does.
    """

    def __init__(self) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}/api"
        env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
        # As Prefect's own temporary server: no UI, only the services it needs.
        env.update(PREFECT_UI_ENABLED="0", PREFECT__SERVER_EPHEMERAL="1",
                   PREFECT__SERVER_FINAL="1")
        # Block types are registered for the UI and for saving blocks, neither of which a
        # server that lives for one run serves; even when the registry is unchanged, checking
        # it imports every Prefect collection (prefect-dask pulls in Dask's `distributed`)
        # and hashes the registry: ~0.5 s of CPU on the path of every run. An operator may
        # still turn either back on in the environment.
        env.setdefault("PREFECT_SERVER_REGISTER_BLOCKS_ON_START", "false")
        env.setdefault("PREFECT_SERVER_MEMOIZE_BLOCK_AUTO_REGISTRATION", "false")
        self.db = _default_prefect_db()
        self.migrates = True
        if self.db is not None:
            note = self.db.parent / MIGRATED
            with suppress(OSError, ValueError):
                seen = json.loads(note.read_text(encoding="utf-8"))
                self.migrates = not seen.get("revision") or seen != _migrated_as(self.db)
        if not self.migrates:
            env["PREFECT_API_DATABASE_MIGRATE_ON_START"] = "false"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "prefect.server.api.server:create_app",
             "--host", "127.0.0.1", "--port", str(port), "--log-level", "error",
             "--lifespan", "on"], env=env, stdin=subprocess.DEVNULL,
            # killed outright (SIGKILL, the OOM killer), this process cannot stop it
            preexec_fn=die_with_parent() if threading.current_thread() is
            threading.main_thread() else None)
        atexit.register(self.stop)

    def wait(self, timeout: float) -> None:
        """Block until the server answers its health check (having migrated its database,
        if it did: note that)."""
        wait_for_health(self.proc, self.url, timeout, 0.05, "Prefect's temporary API server")
        if self.migrates and self.db is not None:
            with suppress(OSError):
                (self.db.parent / MIGRATED).write_text(json.dumps(_migrated_as(self.db)),
                                                        encoding="utf-8")

    def stop(self) -> None:
        stop_process(self.proc, 5)


class EarlyAPI:
    """`EarlyAPI(db)` first thing; `with api.serving():` around the flow call: it points
    Prefect at an API and Prefect then behaves as if PREFECT_API_URL had been set, or, when
    Prefect's own settings (a profile, prefect.toml) name an API or forbid temporary servers,
    it changes nothing and Prefect behaves exactly as without this class.

    Which API, unless PREFECT_API_URL names one: that of a `migwatch serve` running for the
    same warehouse `db`, when serve started it itself (flows.serve_state.own_local_api) and it
    answers; else a temporary API, started here and now so that it boots while this process
    imports the pipeline."""

    def __init__(self, db: Path | None = None) -> None:
        self.server: TemporaryAPI | None = None
        self.served: str | None = None
        if os.environ.get("PREFECT_API_URL"):
            return
        if db is not None:
            from flows.serve_state import own_local_api

            url = own_local_api(db)
            if url and _answers(url):
                self.served = url
                return
        self.server = TemporaryAPI()

    def ready(self) -> str | None:
        """The API URL this process now uses if this class chose it, else None."""
        if self.server is None and self.served is None:
            return None
        from prefect.context import refresh_global_settings_context
        from prefect.settings import get_current_settings

        settings = get_current_settings()
        if self.served is not None:
            if settings.api.url:
                return None
            url = self.served
        else:
            assert self.server is not None
            if settings.api.url or not settings.server.ephemeral.enabled:
                self.server.stop()
                return None
            _import_first_call_modules()   # while the server boots
            try:
                self.server.wait(float(settings.server.ephemeral.startup_timeout_seconds))
            except RuntimeError as exc:   # e.g. its port was taken meanwhile: Prefect's way
                self.server.stop()
                print(f"migwatch: {exc}; letting Prefect start its own", file=sys.stderr)
                return None
            url = self.server.url
        os.environ["PREFECT_API_URL"] = url
        if self.server is not None:   # it serves no UI: no "View at" link to nowhere
            os.environ["PREFECT_UI_URL"] = ""
        refresh_global_settings_context()
        return url

    @contextmanager
    def serving(self) -> Iterator[str | None]:
        """`ready()`, and for a flow run on the early server no heartbeats: they let a
        lasting server notice a crashed run, and this one ends with the run. (Prefect stops
        its heartbeat thread on whole seconds, which costs a short flow run up to 1 s.) Nor
        the client's API version check, a round trip before the flow run is created: the
        server is this installation's Prefect, started by this process. A run on serve's
        server keeps both, as on any lasting server."""
        url = self.ready()
        if url is None or self.server is None:
            if url is not None:
                print(f"migwatch: using the Prefect API of the migwatch serve running for "
                      f"this warehouse ({url})", file=sys.stderr, flush=True)
            yield url
            return
        from prefect.settings import (
            PREFECT_CLIENT_SERVER_VERSION_CHECK_ENABLED,
            PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
            temporary_settings,
        )

        with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None,
                                         PREFECT_CLIENT_SERVER_VERSION_CHECK_ENABLED: False}):
            yield url


def _answers(url: str) -> bool:
    """The API at `url` answers its health check now (a serve whose server just died does
    not: this run then starts its own)."""
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


# Imported by Prefect only when a process makes its first flow call (fastapi's encoder
# serialises the flow's parameters: ~0.15 s of CPU), then on the critical path of a run;
# imported instead while this process only waits for the early server to answer.
FIRST_CALL_MODULES = ("fastapi.encoders", "prefect.utilities.visualization")


def _import_first_call_modules() -> None:
    for name in FIRST_CALL_MODULES:
        with suppress(ImportError):   # a later Prefect may not need it: nothing lost
            importlib.import_module(name)

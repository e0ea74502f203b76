"""Shared fixtures: real servers on loopback, a real DuckDB file, one Prefect harness."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

# Prefect reads its settings at import: isolate it before anything imports prefect.
_PREFECT_HOME = tempfile.mkdtemp(prefix="migwatch-prefect-")
os.environ["PREFECT_HOME"] = _PREFECT_HOME
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.pop("PREFECT_API_URL", None)
# Prefect's 20 s for its temporary API to answer is short on a loaded 2-core machine running
# tests in parallel (a fresh database's migrations alone can take that long there).
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
for _var in [v for v in os.environ if v.startswith("MIGWATCH_")]:
    os.environ.pop(_var)

import pytest  # noqa: E402

from flows.replica.server import SITE, ReplicaServer, demo_config  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"


# --- Prefect databases migrated once per session ---------------------------------------------
# Creating Prefect's SQLite database runs its 100-odd Alembic migrations: ~5-15 s of CPU for
# every fresh PREFECT_HOME, harness and `migwatch serve` of a test, none of which tests
# migrations. One database is migrated at the start of the session (in the background, by
# the process that starts the xdist workers) and copied where a test's Prefect would create
# one. Tests of migrating itself (tests/test_noop.py) start from an empty PREFECT_HOME.
TEMPLATE_VAR = "TESTS_PREFECT_DB_TEMPLATE"   # not MIGWATCH_*: those are cleared above
BUILD_TEMPLATE = """
import json, os, subprocess, sys
from pathlib import Path
from flows.prefect_api import MIGRATED, _migrated_as
final = Path(sys.argv[1])
home = final / "build"
home.mkdir()
proc = subprocess.run([sys.executable, "-m", "prefect", "server", "database", "upgrade", "-y"],
                      env={**os.environ, "PREFECT_HOME": str(home)}, capture_output=True,
                      text=True)
db = home / "prefect.db"
if proc.returncode or not db.is_file():
    (final / "failed").write_text(proc.stdout + proc.stderr, "utf-8")
    sys.exit(1)
(final / MIGRATED).write_text(json.dumps(_migrated_as(db)), "utf-8")
db.replace(final / "prefect.db")   # whole, or not there: the sign that it is ready
"""


def pytest_configure(config: pytest.Config) -> None:
    """In the process that runs or distributes the tests (not in an xdist worker, which
    inherits TEMPLATE_VAR): start migrating the session's template database."""
    if os.environ.get("PYTEST_XDIST_WORKER") or os.environ.get(TEMPLATE_VAR):
        return
    where = tempfile.mkdtemp(prefix="migwatch-prefect-template-")
    os.environ[TEMPLATE_VAR] = where
    proc = subprocess.Popen([sys.executable, "-c", BUILD_TEMPLATE, where], cwd=ROOT,
                            stdin=subprocess.DEVNULL)

    def cleanup() -> None:
        proc.kill()
        proc.wait()
        shutil.rmtree(where, ignore_errors=True)

    config.add_cleanup(cleanup)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests marked `slow` (tens of seconds each) first, in their order: run in parallel
    (pytest-xdist's `--dist load` hands tests out in this order), the workers then finish
    together instead of one running a long test alone at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def _prefect_template(timeout: float = 600) -> Path | None:
    """The session's migrated Prefect database, once ready; None if there is none."""
    where = os.environ.get(TEMPLATE_VAR)
    if not where:
        return None
    db, failed = Path(where) / "prefect.db", Path(where) / "failed"
    deadline = time.monotonic() + timeout
    while not db.is_file():
        if failed.exists() or time.monotonic() > deadline:
            why = failed.read_text("utf-8")[-2000:] if failed.exists() else "timed out"
            warnings.warn(f"no migrated Prefect database to copy (tests migrate their own, "
                          f"slower): {why}", stacklevel=2)
            os.environ.pop(TEMPLATE_VAR)
            return None
        time.sleep(0.1)
    return db


def migrated_prefect_home(home: Path) -> Path:
    """`home`, created if need be, as a PREFECT_HOME whose database this installation's
    Prefect has migrated already (with the note flows/prefect_api.py leaves after migrating,
    as after any earlier `migwatch run`)."""
    from flows.prefect_api import MIGRATED

    home.mkdir(parents=True, exist_ok=True)
    template = _prefect_template()
    if template is not None:
        shutil.copyfile(template, home / "prefect.db")
        shutil.copyfile(template.parent / MIGRATED, home / MIGRATED)
    return home


@pytest.fixture(scope="session", autouse=True)
def _session_prefect_home() -> None:
    """This process's PREFECT_HOME (set at import), with a migrated database: the Prefect API
    of every `migwatch run` a test starts records there."""
    if not (Path(_PREFECT_HOME) / "prefect.db").exists():
        migrated_prefect_home(Path(_PREFECT_HOME))


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One temporary Prefect API for the whole session (starting one costs seconds), on a
    copy of the session's migrated database."""
    from prefect.testing import utilities
    from prefect.testing.utilities import prefect_test_harness

    def migrated_mkdtemp() -> str:
        """Prefect's harness puts its database in a new directory, `prefect-test.db`."""
        where = tempfile.mkdtemp(prefix="migwatch-harness-")
        template = _prefect_template()
        if template is not None:
            shutil.copyfile(template, Path(where) / "prefect-test.db")
        return where

    harness = prefect_test_harness(server_startup_timeout=180)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(utilities, "mkdtemp", migrated_mkdtemp)
        harness.__enter__()
    try:
        yield
    finally:
        harness.__exit__(None, None, None)


@pytest.fixture
def replica() -> Iterator[ReplicaServer]:
    with ReplicaServer(SITE) as server:
        yield server


@pytest.fixture
def demo_cfg(replica: ReplicaServer, tmp_path: Path) -> Path:
    """The demo configuration pointed at this test's replica, outbox under tmp_path."""
    text = demo_config(replica.base_url)
    text = text.replace("[digest]\n", f'[digest]\noutbox = "{tmp_path / "outbox"}"\n', 1)
    path = tmp_path / "sources.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "warehouse.duckdb"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def dead_port() -> int:
    """A loopback port nobody listens on (connection refused at once)."""
    return free_port()

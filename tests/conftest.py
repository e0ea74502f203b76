"""Shared fixtures: real servers on loopback, a real DuckDB file, one Prefect harness."""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

# Prefect reads its settings at import: isolate it before anything imports prefect.
_PREFECT_HOME = tempfile.mkdtemp(prefix="migwatch-prefect-")
os.environ["PREFECT_HOME"] = _PREFECT_HOME
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.pop("PREFECT_API_URL", None)
for _var in [v for v in os.environ if v.startswith("MIGWATCH_")]:
    os.environ.pop(_var)

import pytest  # noqa: E402

from flows.replica.server import SITE, ReplicaServer, demo_config  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One temporary Prefect API for the whole session (starting one costs seconds)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


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

"""Served flow runs start warm: each is a fork of a process that imported Prefect and the flows
once, not a new interpreter that imports them again.

Prefect's runner starts every run of a flow it holds in memory (`Runner.add_flow`, what
`flow.serve` does) through `multiprocessing`'s "spawn": a fresh interpreter that imports
Prefect, trafilatura, DuckDB and migwatch again before the flow's first line, 1.5-2.5 s of
every scheduled run on this project's 2-core reference machine, more than a run with nothing
new spends on its own work. A fork of `migwatch serve` itself is not safe (it runs the
runner's threads and event loop); a fork server is: multiprocessing starts it as a fresh,
single-threaded interpreter, it imports `PRELOAD` once, and every run is a fork of it. The run
itself is Prefect's own code, unchanged (`run_flow_in_subprocess`): only the process it runs
in comes from the fork server.

The price is the fork server's memory, ~150 MB resident beside serve, shared copy-on-write
with the runs it forks.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver
from typing import Any

PRELOAD = ["flows.ingest", "flows.digest"]


class _SpawnFromForkserver:
    """Stands in for the `multiprocessing` module inside `prefect.flow_engine`, whose
    `run_flow_in_subprocess` asks it for the "spawn" context: it gets the fork server's."""

    def __getattr__(self, name: str) -> Any:
        return getattr(multiprocessing, name)

    @staticmethod
    def get_context(method: str | None = None) -> Any:
        return multiprocessing.get_context("forkserver" if method == "spawn" else method)


def install() -> str | None:
    """Start the fork server and make the runner's flow runs fork from it; the reason when it
    cannot (then each run starts an interpreter of its own, as Prefect does by default).

    Call it once the process's environment is final (PREFECT_API_URL set): the fork server
    keeps the environment it started with, and Prefect hands each run only the variables
    the runner sets or changes."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return "this platform has no fork server"
    import prefect.flow_engine as engine
    import prefect.runner._starter_direct as direct

    # Prefect's override point for how the runner starts a run is the module-level
    # reference in _starter_direct (its docstring says so); check that the function it
    # holds is still the one that asks `multiprocessing` for its context.
    if direct.run_flow_in_subprocess is not engine.run_flow_in_subprocess or not (
            engine.multiprocessing is multiprocessing
            or isinstance(engine.multiprocessing, _SpawnFromForkserver)):
        return "this Prefect version starts its runs differently"
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    engine.multiprocessing = _SpawnFromForkserver()  # type: ignore[assignment]
    multiprocessing.forkserver.ensure_running()   # it imports PRELOAD while serve starts
    return None


def is_fork_server(cmdline: bytes) -> bool:
    """Whether a process's /proc cmdline is that of a multiprocessing fork server."""
    return b"multiprocessing.forkserver" in cmdline

"""Run a command that dies with the process that started it.

`python -m flows.orphan_guard -- CMD ...` asks Linux to send the command SIGTERM when its
parent dies (prctl PR_SET_PDEATHSIG, which survives exec), then becomes the command. Why:
`migwatch serve` starts its own `prefect server`; if serve is killed outright (SIGKILL, the
OOM killer) it cannot stop that server, which would otherwise run on, unowned, holding its
port and Prefect's database. `die_with_parent()` does the same for a child started with
subprocess.Popen (the temporary API of `migwatch run` and `migwatch digest`). Elsewhere than
Linux the command simply runs.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable

PR_SET_PDEATHSIG = 1


def _ask_for_sigterm_when_parent_dies(parent: int, prctl: Callable[..., int] | None) -> bool:
    """False when the parent is already gone (it died before prctl took effect)."""
    if prctl is not None and prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        print(f"orphan_guard: prctl failed: {os.strerror(ctypes.get_errno())}", file=sys.stderr)
    return os.getppid() == parent


def _prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    return prctl


def die_with_parent() -> Callable[[], None]:
    """A `preexec_fn` for subprocess.Popen that does what this module's command does, without
    starting an interpreter first (the temporary API of `migwatch run` is on the critical path
    of every run). libc is looked up here, before the fork: the child only calls it. Linux
    sends the signal when the *thread* that started the child ends, so use it from a
    process's main thread only."""
    parent, prctl = os.getpid(), _prctl()

    def preexec() -> None:
        if not _ask_for_sigterm_when_parent_dies(parent, prctl):
            os._exit(1)

    return preexec


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] != "--":
        print("usage: python -m flows.orphan_guard -- COMMAND [ARG...]", file=sys.stderr)
        return 2
    if not _ask_for_sigterm_when_parent_dies(os.getppid(), _prctl()):
        return 1
    os.execvp(argv[1], argv[1:])
    return 127   # not reached: execvp replaces this process or raises


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

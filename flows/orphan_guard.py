"""Run a command that dies with the process that started it.

`python -m flows.orphan_guard -- CMD ...` asks Linux to send the command SIGTERM when its
parent dies (prctl PR_SET_PDEATHSIG, which survives exec), then becomes the command. Why:
`migwatch serve` starts its own `prefect server`; if serve is killed outright (SIGKILL, the
OOM killer) it cannot stop that server, which would otherwise run on, unowned, holding its
port and Prefect's database. Elsewhere than Linux the command simply runs.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] != "--":
        print("usage: python -m flows.orphan_guard -- COMMAND [ARG...]", file=sys.stderr)
        return 2
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
            print(f"orphan_guard: prctl failed: {os.strerror(ctypes.get_errno())}",
                  file=sys.stderr)
        if os.getppid() != parent:   # the parent died before prctl took effect
            return 1
    os.execvp(argv[1], argv[1:])
    return 127   # not reached: execvp replaces this process or raises


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""What a running `migwatch serve` tells other processes of the same warehouse: which Prefect
API it uses, in a small file beside the warehouse.

Two kinds of process read it. The container's HEALTHCHECK runs in a process of its own, which
cannot otherwise know the port of the server serve started. And a `migwatch run` or `digest`
typed by hand next to a running serve uses serve's own Prefect server instead of booting a
temporary one: booting is most of a run that finds nothing new, and a second server would
write the same Prefect database as serve's (both live in PREFECT_HOME).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit


def state_path(db_path: Path) -> Path:
    """The state file of the serve running for the warehouse at `db_path`."""
    return db_path.with_name(db_path.name + ".serve.json")


@contextmanager
def announced(db_path: Path, api_url: str, own: bool = False) -> Iterator[None]:
    """The state file for as long as the block runs (written whole, by rename). `own`: serve
    started this API server itself (on loopback, with its PREFECT_HOME), rather than being
    given one by PREFECT_API_URL."""
    path = state_path(db_path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(json.dumps({"pid": os.getpid(), "api_url": api_url, "own": own}),
                       "utf-8")
        tmp.replace(path)
    except OSError as exc:   # a read-only directory: serve runs, the check cannot see it
        print(f"migwatch serve: cannot write {path}: {exc.strerror}", file=sys.stderr)
    try:
        yield
    finally:
        with suppress(OSError):
            path.unlink()


@dataclass(frozen=True)
class Served:
    api_url: str
    own: bool      # the server serve started itself, not one PREFECT_API_URL gave it


def served_api(db_path: Path) -> tuple[Served | None, str | None]:
    """(what the serve running for this warehouse uses, or None; why there is none)."""
    path = state_path(db_path)
    try:
        state = json.loads(path.read_text("utf-8"))
        pid, url, own = int(state["pid"]), str(state["api_url"]), bool(state.get("own"))
    except FileNotFoundError:
        return None, "no migwatch serve running for this warehouse"
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        return None, f"unreadable {path}: {exc}"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None, f"the migwatch serve of {path} (pid {pid}) is not running"
    except PermissionError:
        pass   # alive, another user's
    return Served(url, own), None


def own_local_api(db_path: Path) -> str | None:
    """The URL of the Prefect server a running serve of this warehouse started itself on
    loopback, if there is one; else None. An API that serve was given (PREFECT_API_URL: a
    Prefect server elsewhere, Prefect Cloud) is not borrowed: it may need credentials this
    process does not have, and an operator who wants runs by hand recorded there sets
    PREFECT_API_URL for them too."""
    served, _why = served_api(db_path)
    if served is None or not served.own:
        return None
    return served.api_url if urlsplit(served.api_url).hostname == "127.0.0.1" else None

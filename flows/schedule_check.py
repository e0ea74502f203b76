"""Whether a `[schedule]` cron expression and timezone are ones Prefect's schedules accept,
checked when the configuration is read: `migwatch serve` builds its Prefect schedules only
after it has started a Prefect server (~20 s), and a value Prefect refuses would then end it
with a traceback instead of a `file:line: schedule.key` error."""

from __future__ import annotations

import functools
import importlib
import importlib.util
import re
import sys
from pathlib import Path
from typing import Any

_CRON = re.compile(r"^\S+(\s+\S+){4}$")


@functools.cache
def _croniter() -> Any:
    """The croniter class Prefect's Cron schedules validate with (prefect vendors it as
    `prefect._vendor.croniter`), or None when it cannot be found.

    Importing it through the package imports prefect (1.5-2.5 s on every command); its module
    file alone costs ~30 ms (pytz, dateutil), so it is loaded from the file. A croniter
    installed on its own is the fallback should Prefect stop vendoring it."""
    loaded = sys.modules.get("prefect._vendor.croniter")
    if loaded is not None:
        return loaded.croniter
    try:
        spec = importlib.util.find_spec("prefect")   # finds the package, does not import it
        if spec is not None and spec.origin:
            source = Path(spec.origin).parent / "_vendor" / "croniter" / "croniter.py"
            if source.is_file():
                vendored = importlib.util.spec_from_file_location("_migwatch_croniter", source)
                if vendored is not None and vendored.loader is not None:
                    module = importlib.util.module_from_spec(vendored)
                    vendored.loader.exec_module(module)
                    return module.croniter
        return importlib.import_module("croniter").croniter
    except Exception:   # no croniter to be found: the field count is all that is checked
        return None


_PLAIN_FIELD = re.compile(r"^(?:\*|0|[1-9][0-9]?)$")
_FIELD_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))   # minute hour day month weekday


def _plainly_valid(expr: str) -> bool:
    """Every field `*` or a number in its range, as in the shipped "0 6 * * *": valid for
    croniter too, and known without loading it (~30 ms of every command)."""
    fields = expr.split()
    return len(fields) == 5 and all(
        _PLAIN_FIELD.match(f) and (f == "*" or lo <= int(f) <= hi)
        for f, (lo, hi) in zip(fields, _FIELD_RANGES, strict=True))


def cron_problem(expr: str) -> str | None:
    """Why Prefect's Cron schedule would refuse `expr` (prefect/_internal/schemas/
    validators.py validate_cron_string: croniter's is_valid, no random or hashed fields)."""
    if not _CRON.match(expr.strip()):
        return f"not a 5-field cron expression: {expr!r}"
    if _plainly_valid(expr):
        return None
    croniter = _croniter()
    if croniter is not None:
        try:
            croniter.expand(expr)   # what is_valid does, keeping croniter's reason
        except Exception as exc:  # croniter's errors, and whatever odd input makes it raise
            return f"not a valid cron expression: {expr!r} ({exc})"
    if any(f.casefold() in ("r", "h") for f in expr.split()):
        return f"random (R) and hashed (H) fields are not supported by Prefect: {expr!r}"
    return None


def timezone_problem(tz: str) -> str | None:
    """Why Prefect would refuse `tz` as a schedule's timezone (it wants a name of
    zoneinfo.available_timezones(), which takes ~40 ms to list: ZoneInfo is asked instead,
    and the names it knows that the list leaves out are refused here)."""
    if tz == "UTC":
        return None
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return "not an IANA timezone (such as 'UTC' or 'Asia/Dushanbe')"
    if tz == "posixrules" or tz.startswith(("posix/", "right/")):
        return "not an IANA timezone Prefect accepts (such as 'UTC' or 'Asia/Dushanbe')"
    return None

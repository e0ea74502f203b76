"""The "gone quiet" part of `migwatch status`: outlets that stopped publishing.

An outlet can answer every request and still be dead to the reader (a feed frozen by a CMS
migration, a site that moved): `outlet_health` shows it healthy. `outlet_activity` compares the
time since its newest article with its usual cadence instead.
"""

from __future__ import annotations

from pathlib import Path

from warehouse.db import opened


def quiet_outlets(db: Path) -> list[tuple[str, float, float]]:
    """(source, hours quiet, typical gap in hours) of each outlet that has gone quiet."""
    with opened(db, read_only=True, retry_seconds=30) as con:
        rows = con.execute("SELECT source, quiet_hours, typical_gap_hours FROM outlet_activity "
                           "WHERE gone_quiet ORDER BY quiet_hours DESC").fetchall()
    return [(s, float(q), float(g)) for s, q, g in rows]


def render_quiet(db: Path) -> str:
    quiet = quiet_outlets(db)
    if not quiet:
        return "gone quiet: none (every outlet published within 3 of its usual gaps)"
    lines = ["gone quiet (nothing new for more than 3 usual gaps):"]
    lines += [f"  {s:<16} quiet {q / 24:.1f} days, usually every {g:.1f} h"
              for s, q, g in quiet]
    return "\n".join(lines)

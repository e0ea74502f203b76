"""The floor that ingest is held to (issue 8): each page's bytes decoded, through trafilatura
and language detection, and nothing else. One definition for bench_ingest.py (timed alone,
and on two CPUs at once) and cpu_per_page.py (CPU per page), so that they time the same work.
"""

from __future__ import annotations

from flows.stages.charset import decode
from flows.stages.extract import extract
from flows.stages.language import detect_language


def floor_pages(bodies: list[tuple[str, bytes]]) -> int:
    """The floor's work on (url, body) pages; how many held article text."""
    found = 0
    for url, body in bodies:
        ex = extract(url, decode(body, "text/html; charset=utf-8"))
        if ex is not None:
            detect_language(f"{ex.title or ''}\n{ex.text}")
            found += 1
    return found

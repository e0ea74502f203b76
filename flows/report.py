"""The per-outlet table of an ingest run as Markdown (the run's Prefect artifact)."""

from __future__ import annotations

from warehouse.store import SourceSummary


def ingest_markdown(run_id: str, status: str, summaries: list[SourceSummary]) -> str:
    """The same counts and errors as the run's `runs.summary`, one table row per outlet."""
    lines = [f"# Ingest {run_id}: {status}", "",
             "| outlet | status | new | duplicates | pages fetched | pages failed | error |",
             "|---|---|---:|---:|---:|---:|---|"]
    for s in summaries:
        error = (s.error or "").replace("|", "\\|").replace("\n", " ")[:200]
        lines.append(f"| {s.source} | {'ok' if s.ok else 'FAILED'} | {s.new_articles} | "
                     f"{s.duplicates} | {s.pages_fetched} | {s.pages_failed} | {error} |")
    total = sum(s.new_articles for s in summaries)
    ok = sum(1 for s in summaries if s.ok)
    lines += ["", f"{total} new articles from {ok} of {len(summaries)} outlets."]
    return "\n".join(lines)

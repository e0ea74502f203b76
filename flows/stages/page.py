"""Fetched page -> Article (or the reason there is none): the CPU-heavy half of ingest.

Decoding, trafilatura, language detection and the MinHash bands need no network and no
database, so they run wherever the runner puts them: in the fetching thread, in a worker
process or on a Dask worker. Everything here is plain, picklable data and module-level
functions, so a worker imports this module (not httpx, DuckDB or Prefect) and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from urllib.parse import urljoin, urlsplit

import lxml.html
from htmldate.extractors import external_date_parser
from trafilatura.external import try_justext

from flows.stages.article import build_article, kept_html
from flows.stages.charset import decode
from flows.stages.dedup import canonical_url
from flows.stages.extract import extract_or_reason
from flows.stages.models import Article, Extracted, FeedItem, FetchEvent
from flows.stages.redact import mask_text
from flows.stages.topics import RuleTerms


@dataclass(frozen=True)
class PageJob:
    """A page fetched for one outlet, waiting to be built; `ok_event` is its fetch-log row."""

    canon: str                 # the feed's canonical URL for the page
    item: FeedItem
    url: str                   # where the page was fetched from, after redirects
    body: bytes
    content_type: str | None
    ok_event: FetchEvent


@dataclass(frozen=True)
class Built:
    """A page's outcome: an Article, or a rejection (canonical URL, reason) and its log row."""

    event: FetchEvent
    article: Article | None = None
    rejected: tuple[str, str] | None = None


@dataclass(frozen=True)
class BuildSpec:
    """What building needs to know about the outlet and the dedup settings."""

    source: str
    language: str | None = None
    shingle_size: int = 4
    keep_raw_html: bool = False        # [storage]: keep the page's bytes with the article
    raw_html_max_bytes: int = 1_000_000
    topics: RuleTerms = ()             # the topic rules: their phrases are found here too


def page_canonical(url: str, declared: str | None, fallback: str) -> str:
    """The page's own <link rel=canonical> (same site only: a page may not claim another
    site's article), else its AMP-less URL, else the feed's canonical URL."""
    if declared:
        target = urljoin(url, declared)
        host = lambda u: (urlsplit(u).hostname or "").removeprefix("www.")  # noqa: E731
        if urlsplit(target).scheme in ("http", "https") and host(target) == host(url):
            return canonical_url(target)
    parts = urlsplit(url)
    if parts.path.endswith("/amp") or "/amp/" in parts.path or "amp=1" in parts.query:
        path = parts.path.removesuffix("/amp").replace("/amp/", "/")
        return canonical_url(parts._replace(path=path, query=parts.query.replace(
            "amp=1", "")).geturl())
    return fallback


def build_page(spec: BuildSpec, job: PageJob) -> Built:
    """Never raises for what a page contains: a page that breaks the extractor is rejected."""
    try:
        found = extract_or_reason(job.url, decode(job.body, job.content_type))
    except Exception as exc:  # a page that breaks the extractor must not end the run
        found = mask_text(f"extraction failed: {type(exc).__name__}: {exc}",
                          (job.url, job.item.url)) or ""
    extracted, reason = (found, "") if isinstance(found, Extracted) else (None, found)
    if extracted is None:
        return Built(replace(job.ok_event, outcome="hard", reason=reason),
                     rejected=(job.canon, reason))
    canon = page_canonical(job.url, extracted.canonical_url, job.canon)
    art = build_article(spec.source, job.item.url, extracted, job.item, spec.language,
                        spec.shingle_size, canonical=canon,
                        raw_html=kept_html(job.body, spec.keep_raw_html,
                                           spec.raw_html_max_bytes), topics=spec.topics)
    return Built(job.ok_event, article=art)


def build_pages(spec: BuildSpec, jobs: list[PageJob]) -> list[Built]:
    """One batch, in order: what a worker process or a Dask task runs."""
    return [build_page(spec, job) for job in jobs]


WARM_UP_PAGE = (
    "<html><head><title>Warm-up</title></head><body><article>"
    "<p>Migrant workers from Tajikistan send money home from Russia every month.</p>"
    "<p>In 2024 about 17,000 Tajik migrants were deported, officials said on Monday.</p>"
    "<p>Remittances reached $4.7 billion, nearly half of the country's economy.</p>"
    "<p>Families in Khatlon and Sughd depend on them for food, schooling and housing.</p>"
    "<p>Many workers renew their patents each year and queue for days in Moscow.</p>"
    "</article></body></html>")


def warm_up() -> None:
    """Run one page through every stage, so that the one-time loading (trafilatura's,
    langdetect's profiles, dateparser's locales, jusText's stoplists:
    about 2 s of CPU) happens once, before a worker forks, not in every worker of every run.
    The page must be built into an article (tests/test_runners.py), or the stages after
    extraction would stay cold."""
    build_page(BuildSpec("warm-up"), PageJob("https://example.org/w", FeedItem(
        "https://example.org/w"), "https://example.org/w", WARM_UP_PAGE.encode(), "text/html",
        FetchEvent("warm-up", "page", "https://example.org/w", "ok")))
    # Paths only some pages take: trafilatura's date search hands strings it cannot read to
    # dateparser, whose first unreadable string loads every locale (~1 s); its jusText rescue
    # builds the stoplist of every language the first time (~0.6 s).
    external_date_parser("Warm-up 0", "%Y-%m-%d")
    try_justext(lxml.html.fromstring(WARM_UP_PAGE), None, None)

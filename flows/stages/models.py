"""Plain data that flows between the stages."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from flows.stages.figures import Figure


@dataclass(frozen=True)
class FeedItem:
    """One link announced by a feed; the feed's date and title are fallbacks for the page's."""

    url: str
    title: str | None = None
    published_at: datetime | None = None
    summary: str | None = None


@dataclass(frozen=True)
class FetchResult:
    """The outcome of one HTTP fetch: never an exception, always a value to log.

    outcome: ok | not_modified | soft (may work next time) | hard (will not) | skipped
    permanent: a `hard` failure that is a lasting property of the URL itself (gone, not a
    page, too large, a corrupt body, a redirect loop, not an http(s) URL), so asking again
    will not change it; not the refusals that say "not you" or "not now" (401, 403, a refused
    address), which a later run may get past.
    """

    url: str
    outcome: str
    final_url: str | None = None
    http_status: int | None = None
    reason: str | None = None
    body: bytes = b""
    content_type: str | None = None
    elapsed_ms: int = 0
    etag: str | None = None             # validators for the next conditional GET
    last_modified: str | None = None
    attempts: int = 1
    permanent: bool = False

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


@dataclass(frozen=True)
class Extracted:
    """What trafilatura found on a page. `published_at` is only a time the page states in its
    meta tags or JSON-LD; `guessed_at` is htmldate's date from the page's URL and markup,
    which ranks below the feed's date (flows/stages/article.py `publication_time`)."""

    title: str | None
    author: str | None
    published_at: datetime | None
    text: str
    canonical_url: str | None = None
    guessed_at: datetime | None = None
    # The page's declared language versions, (language tag, absolute URL): its <link
    # rel="alternate" hreflang> but the page itself and x-default (extract.alternates).
    alternates: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class RawHtml:
    """A fetched page as `[storage] keep_raw_html` keeps it: the body byte for byte as received
    (after Content-Encoding is undone, before any charset decoding), or only its size when it
    is larger than `raw_html_max_bytes` (`body` is then None)."""

    n_bytes: int
    body: bytes | None = field(repr=False, default=None)


@dataclass(frozen=True)
class Article:
    """An article ready to store: extracted, language known, dedup keys computed."""

    source: str
    url: str
    canonical_url: str
    title: str | None
    author: str | None
    published_at: datetime | None
    text: str
    lang: str
    lang_confidence: float
    text_hash: str
    n_words: int
    bands: tuple[int, ...] = field(repr=False, default=())
    is_seed: bool = False
    fetched_at: datetime | None = None   # None: when the writer stores it (warehouse/store.py)
    raw_html: RawHtml | None = field(repr=False, default=None)   # None: not kept
    # Found where the article is built (in a worker, when there are workers), not by the
    # single writer; None = not extracted yet (the writer extracts them).
    figures: tuple[Figure, ...] | None = field(repr=False, default=None)
    # The topic rules' phrases (flows/stages/topic_match.py), found where the article is
    # built; None = not looked for (the writer does it).
    topic_hits: tuple[tuple[str, str, str, str], ...] | None = field(repr=False, default=None)
    # The versions of this article in other languages its page declares, (language tag,
    # canonical URL), its own canonical URL left out: how translations of one story are
    # recognised (warehouse/translations.py).
    alternates: tuple[tuple[str, str], ...] = field(repr=False, default=())


@dataclass(frozen=True)
class FetchEvent:
    """One row of the fetch log."""

    source: str
    kind: str
    url: str
    outcome: str
    http_status: int | None = None
    reason: str | None = None
    n_bytes: int | None = None
    elapsed_ms: int | None = None
    at: datetime | None = None


@dataclass(frozen=True)
class Harvest:
    """Everything one outlet gave in one run, handed to the single writer."""

    source: str
    name: str
    articles: tuple[Article, ...]
    events: tuple[FetchEvent, ...]
    rejected: tuple[tuple[str, str], ...] = ()   # (canonical_url, reason): not fetched again
    feeds_ok: int = 0
    feeds_failed: int = 0
    pages_fetched: int = 0
    pages_failed: int = 0
    error: str | None = None
    feed_states: tuple[FeedState, ...] = ()   # validators to keep when the batch is stored
    # The outlet's sitemap rotation memory after this run (flows/stages/rotation.py): rows
    # (sitemap, the index that listed it, when last asked), URLs as `state_key`; None: as was
    sitemap_memory: tuple[tuple[str, str, datetime], ...] | None = None


@dataclass(frozen=True)
class FeedState:
    """What a conditional GET of one feed/sitemap/listing URL needs next time."""

    url: str
    etag: str | None = None
    last_modified: str | None = None
    children: tuple[str, ...] = ()     # a sitemap index: the sitemaps it listed
    dated: int = 0                     # ... of which the first `dated` had a <lastmod>

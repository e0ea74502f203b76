"""Which sitemaps to ask when an outlet's indexes list more than `[fetch] max_sitemaps`: the
newest every run, the undated others in turn.

An index's sitemaps come newest first by their <lastmod>, then the undated ones, numbered
archives highest first (discover.py `_undated_order`): new articles land at that head. Cut
at the cap in that order alone, the tail of a large undated index (WordPress's
`wp-sitemap-posts-post-1.xml` ... `-120.xml`: the lowest numbers) was never read, run after
run; with `lookback_days` it is usually too old to matter, but an outlet whose numbering is
not chronological, or a backfill with `lookback_days = 0`, lost it for good. So each run asks
what is pinned (the configured sitemaps, an index's dated ones, and the first `head_size` of
its undated ones), and gives the room left to the undated others never asked, then to those
asked longest ago: with R places for them, every one of N is asked within ceil(N / R) runs.
An index within the cap is asked whole, in its order, as before.

Pure: the memory (per outlet, sitemap -> the index that listed it and when it was last
asked) comes in and goes out as plain data, its URLs as the warehouse keys them
(redact.state_key); warehouse/feed_state.py keeps it (table sitemap_asked).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

# Sitemap key -> (key of the index that listed it, when it was last asked).
Memory = Mapping[str, tuple[str, datetime]]


@dataclass(frozen=True)
class Listed:
    """A sitemap to ask this run, if there is room: configured, or listed by an index."""

    url: str
    index: str | None = None   # the index that listed it (None: configured)
    pinned: bool = True        # asked before any that takes turns (see the module docstring)


def head_size(max_sitemaps: int) -> int:
    """How many of an index's undated sitemaps are asked every run, before the others take
    turns: a tenth of the cap (5 of the default 50), at least one. The highest numbers take
    an archive's new articles; a few rather than one, because a site may spread them over
    several families (posts, pages, news) or fill more than one a day."""
    return max(1, max_sitemaps // 10)


def listed_by(index: str, children: Sequence[str], dated: int, head: int) -> list[Listed]:
    """An index's sitemaps in its order (dated ones first, `dated` of them), the dated ones
    and the first `head` undated ones pinned."""
    return [Listed(url, index, k < dated + head) for k, url in enumerate(children)]


def to_ask(level: Sequence[Listed], room: int, last_asked: Mapping[str, datetime]
           ) -> list[Listed]:
    """At most `room` of `level`, in the order of `level` (the order they are asked in): the
    pinned ones first, then those never asked (`last_asked`, by URL), then the ones asked
    longest ago; ties in the order of `level`. When all fit, all of them: nothing changes for
    an index within the cap."""
    if len(level) <= room:
        return list(level)

    def turn(k: int) -> tuple[int, float, int]:
        if level[k].pinned:
            return (0, 0.0, k)
        when = last_asked.get(level[k].url)
        return (1, 0.0, k) if when is None else (2, when.timestamp(), k)

    chosen = set(sorted(range(len(level)), key=turn)[:max(0, room)])
    return [e for k, e in enumerate(level) if k in chosen]


def remember(memory: Memory, asked: Iterable[tuple[str, str]],
             lists: Mapping[str, Collection[str]], known: Collection[str] | None,
             now: datetime) -> dict[str, tuple[str, datetime]]:
    """The memory after a run, keys as in `memory`.

    `asked`: (index, sitemap) for each listed sitemap asked this run (a request was sent,
    whatever the answer: one that keeps failing does not hold a place every run). `lists`:
    for each sitemap read this run (in full, or 304 with its list remembered), what it
    lists. `known`: every sitemap of the outlet's tree this run (configured, or listed by
    one read), or None when one failed or was not read (its list unknown).

    A sitemap is forgotten when the index that listed it was read and no longer lists it,
    or, `known` given, when that index is no longer in the tree: the memory holds at most
    what the outlet's indexes list. One whose index was not read this run is kept as it was.
    """
    kept = {url: (index, at) for url, (index, at) in memory.items()
            if (url in lists[index] if index in lists else known is None or index in known)}
    kept.update({url: (index, now) for index, url in asked})
    return kept

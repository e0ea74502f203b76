"""Which publication time an article gets: the time its page states in its metadata, else the
date its feed or sitemap item gives, else htmldate's date from the page's URL and markup.

A footer's "© 2026" once came out as 2026-01-01 and outranked the feed's pubDate of an article
published on 6 December: the digest showed the newest article as of 1 January, sorted last.
"""

from __future__ import annotations

import gzip
import json
import re
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from flows.stages.article import build_article
from flows.stages.discover import parse_feed
from flows.stages.extract import extract
from flows.stages.models import FeedItem
from tests.conftest import SHARED_DATA

BODY = "<p>" + " ".join(["Tajik migrant workers renewed their patents in Moscow."] * 8) + "</p>"
FOOTER = "<footer><p>© 2026 Radio Ozodi. All rights reserved.</p></footer>"
URL = "https://news.example/a/patents.html"
# The tester's feed item: Sun, 06 Dec 2026 14:00 +0500
FEED_TIME = datetime(2026, 12, 6, 14, 0, tzinfo=timezone(timedelta(hours=5)))


def _page(head: str = "", body: str = BODY, after: str = "") -> str:
    return (f"<html><head><title>Patents</title>{head}</head><body><article><h1>Patents</h1>"
            f"{body}</article>{after}</body></html>")


def _ld(value: str) -> str:
    return ('<script type="application/ld+json">{"@type": "NewsArticle", '
            f'"datePublished": "{value}"}}</script>')


def _stored(html: str, item: FeedItem | None = None, url: str = URL) -> datetime | None:
    """The publication time ingest would store for this page announced by this item."""
    extracted = extract(url, html)
    assert extracted is not None
    return build_article("ozodi", url, extracted, item).published_at


def test_a_footer_copyright_year_does_not_override_the_feed_date() -> None:
    """The tester's case, from the feed's own text to the stored time."""
    rss = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>Ozodi</title><item>'
           b"<title>Patents</title><link>" + URL.encode() + b"</link>"
           b"<pubDate>Sun, 06 Dec 2026 14:00 +0500</pubDate></item></channel></rss>")
    item = parse_feed(rss, "https://news.example/rss.xml").items[0]
    assert _stored(_page(after=FOOTER), item) == FEED_TIME


def test_the_time_the_page_states_outranks_the_feed_date() -> None:
    html = _page(_ld("2026-12-06T10:30:00+05:00"), after=FOOTER)
    assert _stored(html, FeedItem(URL, published_at=FEED_TIME)) == datetime(
        2026, 12, 6, 5, 30, tzinfo=UTC)


@pytest.mark.parametrize("stated, expected", [
    ("2026-12-06", FEED_TIME),                    # the page's day, the feed's time on it
    ("2026-12-05", datetime(2026, 12, 5, tzinfo=UTC)),   # another day: the page's word
    ("2026-12-06T09:15:00Z", datetime(2026, 12, 6, 9, 15, tzinfo=UTC)),   # a time: the page's
])
def test_a_page_stating_only_its_day_takes_the_feeds_time_on_that_day(
        stated: str, expected: datetime) -> None:
    html = _page(_ld(stated))
    assert _stored(html, FeedItem(URL, published_at=FEED_TIME)) == expected


@pytest.mark.parametrize("listed", [datetime(1, 1, 1, tzinfo=UTC),
                                    datetime(9999, 12, 31, tzinfo=UTC)])
def test_an_impossible_feed_date_is_passed_over(listed: datetime) -> None:
    url = "https://news.example/2026/12/05/patents.html"
    assert _stored(_page(), FeedItem(url, published_at=listed), url) == datetime(
        2026, 12, 5, tzinfo=UTC)


def test_a_date_in_the_url_does_not_outrank_the_feed_date() -> None:
    """htmldate's most reliable guess, the URL's date, is still a guess: the feed dates its
    item on purpose (and to the minute)."""
    url = "https://news.example/2026/12/05/patents.html"
    assert _stored(_page(), FeedItem(url, published_at=FEED_TIME), url) == FEED_TIME


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00Z", "1970-01-01T00:00:00Z"])
def test_a_placeholder_stated_time_is_passed_over(value: str) -> None:
    """5 of the 181 benchmark pages (USA Today, Detroit News, Florida Today) state
    "0001-01-01T00:00:00Z" in their JSON-LD; they were stored as published in year 1."""
    assert _stored(_page(_ld(value)), FeedItem(URL, published_at=FEED_TIME)) == FEED_TIME


def test_a_stated_time_far_in_the_future_is_passed_over() -> None:
    ahead = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    assert _stored(_page(_ld(ahead.isoformat())),
                   FeedItem(URL, published_at=FEED_TIME)) == FEED_TIME


@pytest.mark.parametrize(("html", "url", "expected"), [
    # no date anywhere
    (_page(), URL, None),
    # only a footer's copyright year: not 2026-01-01
    (_page(after=FOOTER), URL, None),
    # a date mentioned in the text is what the article is about, not when it was published
    (_page(body=BODY[:-4] + " The rule adopted on 12 March 2025 still applies.</p>"),
     URL, None),
    # a reader's comment is later than the article
    (_page(after='<div class="comment"><p>Karim, 13 November 2026, 17:02: true.</p></div>'),
     URL, None),
    # a full date from a reliable place: the URL, a meta tag htmldate reads
    (_page(after=FOOTER), "https://news.example/2026/11/20/patents.html",
     datetime(2026, 11, 20, tzinfo=UTC)),
    (_page('<meta itemprop="dateCreated" content="2026-11-20">', after=FOOTER), URL,
     datetime(2026, 11, 20, tzinfo=UTC)),
])
def test_without_a_stated_or_feed_date_only_a_reliable_full_date_is_used(
        html: str, url: str, expected: datetime | None) -> None:
    assert _stored(html, FeedItem(url), url) == expected
    assert _stored(html, None, url) == expected


def test_a_guess_of_new_years_day_or_beyond_tomorrow_is_not_used() -> None:
    """htmldate reads a bare year as January 1st, and a date past the clock cannot be a
    publication time yet (a day of slack for time zones east of UTC)."""
    from flows.stages.extract import _guessed

    now = datetime(2026, 12, 7, 11, 0, tzinfo=UTC)
    assert _guessed("2026-01-01", now) is None
    assert _guessed("2026-12-09", now) is None
    assert _guessed("2026-12-08", now) == datetime(2026, 12, 8, tzinfo=UTC)
    assert _guessed("2026-01-02", now) == datetime(2026, 1, 2, tzinfo=UTC)
    assert _guessed("not a date", now) is None and _guessed(None, now) is None


@pytest.mark.skipif(not (SHARED_DATA / "extraction-benchmark").is_dir(),
                    reason="../shared/data/extraction-benchmark is absent (a user's clone)")
@pytest.mark.slow
def test_real_pages_get_a_plausible_date_that_agrees_with_their_url() -> None:
    """On the 181 real pages (no feed item): no placeholder year, no bare-year January 1st,
    and each page whose URL carries a date is dated within a day of it (a US evening is the
    next day in UTC). `publication_time` is what `build_article` stores, without the rest of
    its work (language, bands, figures), which about doubled this test's time."""
    from flows.stages.article import publication_time

    bench = SHARED_DATA / "extraction-benchmark"
    truth = json.loads((bench / "ground-truth.json").read_text("utf-8"))
    in_url = re.compile(r"/((?:19|20)\d\d)[/-](\d\d)[/-](\d\d)\b")
    implausible, off, with_url_date = [], [], 0
    for key, entry in sorted(truth.items()):
        html = gzip.decompress((bench / "html" / f"{key}.html.gz").read_bytes()).decode(
            "utf-8", "replace")
        extracted = extract(entry["url"], html)
        if extracted is None:
            continue
        when = publication_time(extracted)
        if when is not None and (when.year < 1970 or (when.month, when.day) == (1, 1)):
            implausible.append((key[:10], when))
        if (m := in_url.search(entry["url"])) is not None:
            with_url_date += 1
            day = date(int(m[1]), int(m[2]), int(m[3]))
            if when is None or abs(when.astimezone(UTC).date() - day) > timedelta(days=1):
                off.append((key[:10], when, day))
    assert with_url_date >= 40 and implausible == [] and off == [], (implausible, off)

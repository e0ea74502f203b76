"""The publication time a page states: meta tags and JSON-LD, the most precise of them.

trafilatura keeps only the date part; a date stored as midnight UTC may fall on the day
before the real one, and then a copy seems to precede its original (the `clusters` view
names the first report by publication time)."""

from __future__ import annotations

import gzip
import re
from datetime import UTC, datetime

import pytest

from flows.stages.article import build_article
from flows.stages.extract import MAX_ALTERNATES, extract
from tests.conftest import SHARED_DATA

BODY = "<p>" + " ".join(["Tajik migrant workers renewed their patents in Moscow."] * 8) + "</p>"


def _page(head: str) -> str:
    return (f"<html><head><title>Patents</title>{head}</head><body><article><h1>Patents</h1>"
            f"{BODY}</article></body></html>")


def _ld(value: str) -> str:
    return ('<script type="application/ld+json">{"@type": "NewsArticle", '
            f'"datePublished": "{value}"}}</script>')


def _meta(value: str) -> str:
    return f'<meta property="article:published_time" content="{value}">'


@pytest.mark.parametrize(("head", "expected"), [
    # JSON-LD alone: before, only trafilatura's date (midnight UTC, the day before here)
    (_ld("2019-11-19T04:58:46+05:00"), datetime(2019, 11, 18, 23, 58, 46, tzinfo=UTC)),
    # a local time without offset in the meta tag, the same time with it in JSON-LD
    (_meta("2019-11-18T12:02:02") + _ld("2019-11-18T12:02:02-05:00"),
     datetime(2019, 11, 18, 17, 2, 2, tzinfo=UTC)),
    # a date in the meta tag, a time in JSON-LD
    (_meta("2019-11-20") + _ld("2019-11-20T06:07:01Z"),
     datetime(2019, 11, 20, 6, 7, 1, tzinfo=UTC)),
    # equally precise: the meta tag, as before
    (_meta("2019-11-19T13:21:00Z") + _ld("2019-11-19T13:02:00Z"),
     datetime(2019, 11, 19, 13, 21, tzinfo=UTC)),
    # what cannot be read is passed over
    (_meta("Tuesday") + _ld("Tue Nov 19 2019 03:05:46 GMT+0000") + _ld("2019-11-19T03:05:46Z"),
     datetime(2019, 11, 19, 3, 5, 46, tzinfo=UTC)),
    # a placeholder is no statement, however precise (Gannett's JSON-LD: .NET's MinValue)
    (_ld("0001-01-01T00:00:00Z") + _meta("2019-11-19"), datetime(2019, 11, 19, tzinfo=UTC)),
])
def test_the_most_precise_stated_publication_time_is_kept(head: str, expected: datetime) -> None:
    ex = extract("https://news.example/patents", _page(head))
    assert ex is not None and ex.published_at == expected


def test_a_date_htmldate_guesses_is_kept_apart_from_the_stated_time() -> None:
    """The guess ranks below the feed's date, so `build_article` must tell them apart."""
    ex = extract("https://news.example/2019/11/18/patents", _page(_ld("2019-11-19T03:05:46Z")))
    assert ex is not None and ex.published_at == datetime(2019, 11, 19, 3, 5, 46, tzinfo=UTC)
    assert ex.guessed_at == datetime(2019, 11, 18, tzinfo=UTC)
    ex = extract("https://news.example/2019/11/18/patents", _page(""))
    assert ex is not None and ex.published_at is None


@pytest.mark.skipif(not (SHARED_DATA / "extraction-benchmark").is_dir(),
                    reason="../shared/data/extraction-benchmark is absent (a user's clone)")
@pytest.mark.slow
def test_no_real_page_that_states_a_time_is_stored_at_midnight() -> None:
    """On the 181 real pages: each that states a full publication time (an ISO time in a meta
    tag or JSON-LD) gets a time, not a bare date."""
    stated = re.compile(r'(?:"datePublished"\s*:\s*"|published_time"\s+content=")'
                        r"\d{4}-\d\d-\d\dT(\d\d):(\d\d)")
    checked, at_midnight = 0, []
    for path in sorted((SHARED_DATA / "extraction-benchmark" / "html").glob("*.html.gz")):
        html = gzip.decompress(path.read_bytes()).decode("utf-8", "replace")
        times = stated.findall(html[:200_000])
        if not times or all(t == ("00", "00") for t in times):
            continue
        ex = extract("https://news.example/a", html)
        if ex is None or ex.published_at is None:
            continue
        checked += 1
        if (ex.published_at.hour, ex.published_at.minute, ex.published_at.second) == (0, 0, 0):
            at_midnight.append(path.name)
    assert checked >= 50 and at_midnight == [], (checked, at_midnight)


# --- declared language versions (<link rel="alternate" hreflang>) ---------------------------

def test_a_page_declares_its_versions_in_other_languages_as_absolute_urls() -> None:
    """Absolute, relative (to the page's URL), entity-encoded, unquoted and odd-cased hrefs;
    the page itself, x-default and a URL given twice are left out, in the order declared."""
    page = _page(
        '<link rel="alternate" hreflang="ru" href="https://asiaplustj.info/ru/news/1" />'
        '<link rel="alternate" hreflang="en" href="https://www.asiaplustj.info/en/news/1/" />'
        "<LINK REL='Alternate' HrefLang='tg' HREF='/tj/news/1?a=1&amp;b=2'>"
        '<link hrefLang="uz_UZ" rel=alternate href=../uz/1>'
        '<link rel="alternate" hreflang="x-default" href="https://asiaplustj.info/" />'
        '<link rel="alternate" hreflang="ru-RU" href="https://asiaplustj.info/ru/news/1" />')
    found = extract("https://asiaplustj.info/en/news/1?utm_source=rss", page)
    assert found is not None
    assert found.alternates == (
        ("ru", "https://asiaplustj.info/ru/news/1"),
        ("tg", "https://asiaplustj.info/tj/news/1?a=1&b=2"),
        ("uz-uz", "https://asiaplustj.info/en/uz/1"))
    assert found.canonical_url is None     # x-default is no canonical URL of the page


def test_junk_declarations_are_dropped_and_hundreds_are_capped() -> None:
    junk = ('<link rel="alternate" hreflang="de">'                          # no href
            '<link rel="alternate" hreflang="fr" href="">'
            '<link rel="alternate" hreflang="es" href="javascript:alert(1)">'
            '<link rel="alternate" hreflang="it" href="http://[oops/x">'     # no valid URL
            '<link rel="alternate" hreflang="pt" href="http://e.org:99999/x">'
            '<link rel="alternate" hreflang="nl" href="http:///nohost">'
            '<link rel="alternate" hreflang="12" href="https://e.org/12">'  # no language
            '<link rel="alternate" hreflang="" href="https://e.org/empty">'
            f'<link rel="alternate" hreflang="pl" href="https://e.org/{"x" * 3000}">'
            '<link rel="stylesheet" hreflang="cs" href="https://e.org/style.css">'
            '<link rel="alternate" type="application/rss+xml" href="https://e.org/rss">')
    found = extract("https://e.org/a", _page(junk))
    assert found is not None and found.alternates == ()
    many = "".join(f'<link rel="alternate" hreflang="en" href="/v/{k}">' for k in range(500))
    found = extract("https://e.org/a", _page(junk + many))
    assert found is not None and len(found.alternates) == MAX_ALTERNATES
    assert found.alternates[0] == ("en", "https://e.org/v/0")
    in_body = ("<html><head><title>Patents</title></head><body><article><h1>Patents</h1>"
               '<link rel="alternate" hreflang="ru" href="/ru/1">' + BODY + "</article></body>"
               "</html>")
    found = extract("https://e.org/a", in_body)
    assert found is not None and found.alternates == ()


def test_the_declared_canonical_is_the_page_itself_and_versions_are_stored_canonical() -> None:
    """A page's rel=canonical is its own URL (left out of its versions, even when the page was
    fetched under another); build_article keeps the versions' canonical URLs."""
    page = _page(
        '<link rel="canonical" href="https://asiaplustj.info/ru/news/1" />'
        '<link rel="alternate" hreflang="x-default" href="https://asiaplustj.info/ru/news/1">'
        '<link rel="alternate" hreflang="ru" href="https://asiaplustj.info/ru/news/1" />'
        '<link rel="alternate" hreflang="en" href="http://www.asiaplustj.info/en/news/1?fbclid=x#top">')
    found = extract("https://asiaplustj.info/ru/news/1/amp", page)
    assert found is not None
    assert found.canonical_url == "https://asiaplustj.info/ru/news/1"
    assert found.alternates == (
        ("en", "http://www.asiaplustj.info/en/news/1?fbclid=x#top"),)
    art = build_article("asiaplus_ru", "https://asiaplustj.info/ru/news/1/amp", found)
    assert art.alternates == (("en", "https://asiaplustj.info/en/news/1"),)

"""How much of a page trafilatura reads (flows/stages/extract.py `_within_budget`).

A page under the fetch's `max_bytes` took minutes: jusText's fallback and libxml2's
`//p//text()` grow with the square of the paragraphs (a 1.6 MB page of short `<div><p>` blocks
took 53 s of CPU, 3.3 MB 177 s, 9 MB was killed after 15 minutes). Such a page is now read in
trafilatura's fast mode and only as far as MAX_ELEMENTS elements.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import trafilatura

from flows.replica.server import SITE
from flows.stages import extract as extract_module
from flows.stages.extract import extract
from flows.stages.models import FeedItem, FetchEvent
from flows.stages.page import BuildSpec, PageJob, build_page

URL = "https://asiaplus.example/news/patent"
ARTICLE = (SITE / "asiaplus-ru" / "news" /
           "patent-dlya-migrantov-v-moskve-podorozhaet-do-9800-rubley.html").read_text("utf-8")
ELEMENTS = 125   # of ARTICLE, as the extractor counts them


def _with(junk: str, before: bool = False) -> str:
    """The replica's Russian article (ELEMENTS of them) with `junk` after (or before) its body."""
    if before:
        return re.sub(r"<body[^>]*>", lambda m: m[0] + junk, ARTICLE, count=1)
    return ARTICLE.replace("</body>", junk + "</body>", 1)


def _filler(n: int) -> str:
    """The tester's page: n short blocks, 2 elements and about 80 bytes each."""
    return "".join(f"<div class='c{i}'><p>filler words here {i} lorem ipsum dolor sit amet</p>"
                   "</div>" for i in range(n))


def _spy(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """What trafilatura is asked: fast mode or not, and how many elements it gets."""
    calls: list[dict[str, Any]] = []
    real = trafilatura.bare_extraction

    def spy(tree: Any, **kwargs: Any) -> Any:
        calls.append({"fast": kwargs.get("fast", False), "elements": None if isinstance(
            tree, str) else sum(1 for _ in tree.iter())})
        return real(tree, **kwargs)

    monkeypatch.setattr(trafilatura, "bare_extraction", spy)
    return calls


@pytest.mark.timeout(60)
def test_a_huge_page_gives_its_article_in_seconds() -> None:
    """2 MB, 50,000 elements: about 2 s of CPU. Before, the filler came out as the article's
    text (jusText kept it) after minutes (about 90 s of CPU on a 2-core machine)."""
    alone = extract(URL, ARTICLE)
    huge = extract(URL, _with(_filler(25_000)))
    assert alone is not None and huge is not None
    assert huge.text == alone.text and "filler" not in huge.text
    assert huge.title == alone.title and huge.published_at == alone.published_at


def test_how_much_of_a_page_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whole and with the fallbacks up to FULL_ELEMENTS (the 181 benchmark pages have at most
    1,600); whole in fast mode up to MAX_ELEMENTS; beyond, its first MAX_ELEMENTS."""
    calls = _spy(monkeypatch)
    full, fast = extract_module.FULL_ELEMENTS, extract_module.MAX_ELEMENTS
    for blocks in (0, 2_500, 15_100):
        ex = extract(URL, _with(_filler(blocks)))
        assert ex is not None and "filler" not in ex.text
    assert [c["fast"] for c in calls] == [False, True, True]
    assert calls[0]["elements"] is None         # fewer "<" than FULL_ELEMENTS: the string, as ever
    assert full < calls[1]["elements"] == ELEMENTS + 2 * 2_500 < fast
    assert calls[2]["elements"] <= fast + extract_module._MAX_RESCUED


def _job(html: str) -> PageJob:
    return PageJob(URL, FeedItem(URL), URL, html.encode(), "text/html; charset=utf-8",
                   FetchEvent("asiaplus-ru", "page", URL, "ok"))


def test_a_page_whose_article_lies_beyond_the_limit_is_rejected_with_the_reason() -> None:
    """Remembered in rejected_url like any page without article text; the run goes on."""
    icons = "<svg><path d='M0 0h24v24H0z'/></svg>" * 15_100
    built = build_page(BuildSpec("asiaplus-ru", "ru"), _job(_with(icons, before=True)))
    assert built.article is None and built.rejected is not None
    canon, reason = built.rejected
    assert canon == URL
    assert reason == ("no article text found in the first 30,000 of the page's "
                      f"{ELEMENTS + 2 * 15_100:,} elements")
    assert built.event.outcome == "hard" and built.event.reason == reason


def test_a_page_without_article_text_keeps_its_reason() -> None:
    built = build_page(BuildSpec("asiaplus-ru", "ru"), _job(
        "<html><head><title>Index</title></head><body><p>Nothing here.</p></body></html>"))
    assert built.rejected == (URL, "no article text found on the page")


def test_a_page_of_too_much_text_is_read_as_far_as_the_text_budget(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A few elements holding megabytes of text: the text is cut, inside the element at the
    budget (20,000 characters here instead of 1,000,000, to keep the test fast)."""
    monkeypatch.setattr(extract_module, "MAX_TEXT_CHARS", 20_000)
    alone = extract(URL, ARTICLE)
    word = "Мигранты оформляют патенты в Москве. "
    ex = extract(URL, _with("".join(f"<p>{i} {word * 300}</p>" for i in range(20))))
    assert alone is not None and ex is not None
    first, last = alone.text.splitlines()[1], alone.text.splitlines()[-1]
    assert first in ex.text and last in ex.text and len(ex.text) <= 20_000
    assert "\n0 Мигранты" in ex.text and "\n2 Мигранты" not in ex.text


def test_structured_data_after_the_cut_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """JSON-LD often closes the body: moved into the head, its author and title survive."""
    monkeypatch.setattr(extract_module, "MAX_ELEMENTS", 400)
    body = "".join(f"<p>Paragraph {i}: Tajik migrant workers renewed their patents in Moscow "
                   "this spring, officials said on Monday.</p>" for i in range(20))
    menu = "<ul>" + "".join(f"<li><a href='/n{i}'>Section {i}</a></li>" for i in range(400)) + \
        "</ul>"
    ld = ('<script type="application/ld+json">{"@context": "https://schema.org", '
          '"@type": "NewsArticle", "headline": "Patents renewed", '
          '"author": {"@type": "Person", "name": "Jane Roe"}}</script>')
    html = (f"<html><head><meta charset='utf-8'></head><body><article>{body}</article>"
            f"{menu}{ld}</body></html>")
    ex = extract("https://news.example/patents", html)
    assert ex is not None and ex.author == "Jane Roe" and ex.title == "Patents renewed"
    assert "Paragraph 19" in ex.text

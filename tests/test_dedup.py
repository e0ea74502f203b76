from __future__ import annotations

import random
import re
from itertools import pairwise
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from flows.stages.dedup import canonical_url, normalise_text, resemblance, shingles, text_hash

SEEDS = Path(__file__).resolve().parent.parent / "warehouse" / "seeds"


def test_tracking_fragment_scheme_and_www_do_not_matter() -> None:
    base = canonical_url("https://asiaplustj.info/en/news/123?id=5")
    for variant in [
        "http://asiaplustj.info/en/news/123?id=5",
        "https://www.asiaplustj.info/en/news/123?id=5#comments",
        "https://ASIAPLUSTJ.info:443/en/news/123?utm_source=rss&id=5&utm_medium=feed",
        "https://asiaplustj.info/en/news/123/?fbclid=abc&id=5&gclid=x",
    ]:
        assert canonical_url(variant) == base
    assert canonical_url("https://asiaplustj.info/en/news/124?id=5") != base
    assert canonical_url("https://asiaplustj.info/en/news/123?id=6") != base


def test_query_order_is_stable_and_ports_kept() -> None:
    assert canonical_url("http://h/x?b=2&a=1") == canonical_url("http://h/x?a=1&b=2")
    assert canonical_url("http://127.0.0.1:8765/a") == "https://127.0.0.1:8765/a"


@given(st.sampled_from(["http", "https"]), st.sampled_from(["", "www."]),
       st.text(alphabet="abcxyz/", max_size=12),
       st.dictionaries(st.sampled_from(["a", "b", "utm_source", "fbclid", "q"]),
                       st.text(alphabet="xyz09", max_size=4), max_size=4))
def test_canonical_url_is_idempotent(scheme: str, www: str, path: str, query: dict) -> None:
    url = f"{scheme}://{www}example.org/{path}?" + "&".join(f"{k}={v}" for k, v in query.items())
    once = canonical_url(url)
    assert canonical_url(once) == once


@given(st.text(max_size=200))
def test_fingerprint_ignores_spacing_within_lines(text: str) -> None:
    spaced = re.sub(r"[ \t]", " \t ", text)
    assert text_hash(normalise_text(text)) == text_hash(normalise_text(spaced))


def test_fingerprint_ignores_case_and_punctuation() -> None:
    a = "Russia Lifts the Entry Ban on 10,000 migrants.\nMore follows."
    b = "russia lifts the entry ban on 10 000 Migrants -- more follows"
    assert text_hash(normalise_text(a)) == text_hash(normalise_text(b))


def test_a_word_hyphenated_across_a_line_break_is_joined() -> None:
    """PDF extraction breaks words at line ends; a hyphen within a line stays a break."""
    assert normalise_text("labour migra-\ntion to Rus-\nsia") == "labour migration to russia"
    assert normalise_text("re-entry ban") == "re entry ban"
    assert normalise_text("ends with a hyphen -\nthen a line") == "ends with a hyphen then a line"


def test_pdf_page_furniture_and_cable_routing_are_dropped() -> None:
    page = "CABAR.asia analytical platform\nMigration from Tajikistan to Russia\n"
    doc = "".join(page + f"Paragraph {i} about migrants and their work in Russia.\n"
                  for i in range(4))
    norm = normalise_text(doc)
    assert "cabar" not in norm and "paragraph 3 about migrants" in norm
    cable = (SEEDS / "002_60169047c1025eae.txt").read_text()
    norm = normalise_text(cable)
    assert "ruehln" not in norm and "amembassy" not in norm
    assert "anvar boboev appeared optimistic" in norm


def _edit(text: str, share: float, seed: int) -> str:
    rnd = random.Random(seed)
    sentences = re.split(r"(?<=[.!?])\s+", text)
    for i in rnd.sample(range(len(sentences)), max(1, int(len(sentences) * share))):
        words = sentences[i].split()
        sentences[i] = " ".join([*words[:len(words) // 2], "reportedly", "officials", "said"])
    return " ".join(sentences)


def test_a_seed_with_edited_sentences_and_new_furniture_still_resembles() -> None:
    seed = (SEEDS / "003_bb74ea62c49834b3.txt").read_text()
    copy = "Subscribe to our newsletter\n" + _edit(seed, 0.1, 1) + "\nRead more: related news"
    a, b = (shingles(normalise_text(t)) for t in (seed, copy))
    assert resemblance(a, b) >= 0.8


def test_two_articles_on_the_same_subject_do_not_resemble() -> None:
    a = (SEEDS / "003_bb74ea62c49834b3.txt").read_text()
    b = (SEEDS / "004_8b515f939acf059f.txt").read_text()
    assert resemblance(shingles(normalise_text(a)), shingles(normalise_text(b))) < 0.2


def _reference_hash(shingle: str) -> int:
    """dedup.shingle_hashes for one shingle, the slow way: the polynomial over its UTF-8
    bytes modulo 2**64, then MurmurHash3's 64-bit finalizer, high 32 bits."""
    mask = (1 << 64) - 1
    h = 0
    for byte in shingle.encode("utf-8"):
        h = (h * 0x9E3779B97F4A7C15 + byte) & mask
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & mask
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & mask
    h ^= h >> 33
    return h >> 32


@settings(deadline=None)
@given(st.lists(st.text(alphabet="abеёжӣҷz09", min_size=1, max_size=8), max_size=60),
       st.integers(min_value=1, max_value=6))
def test_shingle_hashes_are_each_shingles_hash(words: list[str], size: int) -> None:
    """The numpy prefix-sum hashes are the polynomial hash of each of `shingles`' strings,
    and the signature is the least affine permutation of them (the stored bands depend on
    every value)."""

    from flows.stages.dedup import NUM_PERM, _permutations, shingle_hashes, signature

    normalised = normalise_text(" ".join(words))
    reference = {_reference_hash(s) for s in shingles(normalised, size)}
    assert set(shingle_hashes(normalised, size).tolist()) == reference
    a, b = _permutations()
    expected = [min(((int(a[k]) * h + int(b[k])) & 0xFFFFFFFF for h in reference),
                    default=0xFFFFFFFF) for k in range(NUM_PERM)]
    assert signature(normalised, size).tolist() == expected


def test_signatures_estimate_the_jaccard_of_real_texts() -> None:
    """Signature agreement tracks the shingles' Jaccard on seed texts and edited copies: the
    hash spreads real shingles as a MinHash needs (128 permutations: error ~0.04)."""
    from flows.stages.dedup import signature

    texts = [normalise_text(p.read_text()) for p in sorted(SEEDS.glob("*.txt"))]
    pairs = [(t, normalise_text(_edit(t, share, k))) for k, t in enumerate(texts)
             for share in (0.1, 0.3, 0.6)] + list(pairwise(texts))
    for x, y in pairs:
        a, b = shingles(x), shingles(y)
        jaccard = len(a & b) / len(a | b)
        agree = float((signature(x) == signature(y)).mean())
        assert abs(agree - jaccard) < 0.15, (jaccard, agree)

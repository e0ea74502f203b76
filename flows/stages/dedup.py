"""Keys that recognise copies: canonical URLs, text fingerprints, MinHash LSH bands.

Three layers, cheapest first: a URL that differs only by tracking noise is the same article;
the same normalised text is the same article; otherwise MinHash bands find candidates (the
join runs in DuckDB) and an exact shingle comparison decides.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections import Counter
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np

NUM_PERM = 128
BANDS = 42
ROWS = 3          # 42 bands x 3 rows: pairs at Jaccard 0.5 become candidates 99.6% of the time
TRACKING = re.compile(
    r"^(utm_\w+|fbclid|gclid|dclid|gbraid|wbraid|yclid|msclkid|mc_cid|mc_eid|_ga|_gl|igshid|"
    r"ref_src|ref_url|at_medium|at_campaign|at_campaign_type|spm|s_cid|cmpid|rss|from_rss)$",
    re.I)
_MAX32 = (1 << 32) - 1
_DEFAULT_PORTS = {"http": 80, "https": 443}


def canonical_url(url: str) -> str:
    """The identity of a page: scheme, `www.`, case, default port, fragment and tracking
    parameters do not matter; the remaining query is sorted."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower().rstrip(".")
    if host.startswith("www."):
        host = host[4:]
    port = parts.port
    netloc = host if port is None or port == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    path = re.sub(r"/{2,}", "/", parts.path or "/")
    if len(path) > 1 and path.endswith("/"):
        path = path[:-1]
    query = sorted((k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                   if not TRACKING.match(k))
    return urlunsplit(("https" if scheme in ("http", "https") else scheme, netloc, path,
                       urlencode(query), ""))


_CABLE_HEADER = re.compile(r"^[A-Z0-9 /#.,:()\-]{2,}$")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_HYPHEN_BREAK = re.compile(r"(\w)-\n(\w)")


def normalise_text(text: str) -> str:
    """Text for comparison only: no layout, no repeated page furniture, no routing header.

    - lines repeated three or more times in one document (PDF page headers and footers,
      "Photo:" captions) are dropped;
    - all-capitals lines (a cable's routing header, section codes) are dropped;
    - words are lower-cased, ё folded to е, and hyphenated line breaks joined.
    """
    if "-\n" in text:   # rare; the search for it alone cost a fifth of this function
        text = _HYPHEN_BREAK.sub(r"\1\2", text)
    lines = [" ".join(line.split()) for line in text.splitlines()]
    counts = Counter(line for line in lines if line)
    kept = [line for line in lines
            if line and counts[line] < 3 and not _CABLE_HEADER.match(line)
            and not line.lower().startswith(("photo:", "фото:", "сурат:", "акс:"))]
    words = _WORD.findall(" ".join(kept).lower().replace("ё", "е"))
    return " ".join(words)


def text_hash(normalised: str) -> str:
    return hashlib.sha1(normalised.encode("utf-8")).hexdigest()


def shingles(normalised: str, size: int = 4) -> set[str]:
    words = normalised.split()
    if len(words) <= size:
        return {" ".join(words)} if words else set()
    # The runs of `size` words, by zipping the word list with itself shifted (no slices).
    return {" ".join(run) for run in zip(*(words[k:] for k in range(size)), strict=False)}


@functools.cache
def _permutations() -> tuple[np.ndarray, np.ndarray]:
    """The affine permutations of datasketch 2.x's `MinHash(num_perm=128, seed=1)` (scheme
    "affine32"), drawn as it draws them: the same RandomState calls, once.

    Drawn here rather than taken from a MinHash: importing datasketch imports scipy and
    redis (~0.4 s of CPU), in every process that builds articles, in every run. The test
    that holds `signature` to datasketch's own MinHash also holds these to its values."""
    gen = np.random.RandomState(1)
    a = gen.randint(0, 1 << 31, NUM_PERM, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, NUM_PERM, dtype=np.uint32)
    return a, b


def signature(shingle_set: set[str]) -> np.ndarray:
    """The MinHash signature datasketch's `MinHash(num_perm=128, seed=1)` gives after
    `update_batch` of the shingles' UTF-8 bytes (sha1_hash32), value for value: the stored
    bands depend on it. Computed here with one array operation instead of datasketch's call
    per shingle (tests/test_dedup.py compares the two)."""
    a, b = _permutations()
    if not shingle_set:
        return np.full(NUM_PERM, _MAX32, dtype=a.dtype)
    sha1 = hashlib.sha1   # each digest whole, then its first 4 bytes: no slice per shingle
    hv = np.frombuffer(b"".join([sha1(s.encode()).digest() for s in shingle_set]),
                       dtype="<u4")[::5]
    h = hv.astype(np.uint32)   # MurmurHash3's finalizer, as datasketch mixes the input
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    h = h ^ (h >> np.uint32(16))
    # One (shingles x permutations) array, added to in place: the same values as
    # `h.reshape(-1, 1) * a + b` without its second temporary (0.15 -> 0.11 ms an article).
    perm = np.multiply.outer(h, a)
    perm += b
    return perm.min(axis=0)


def bands(sig: np.ndarray) -> tuple[int, ...]:
    """One 63-bit hash per band; stored in `doc_band`, joined per batch (warehouse/copies.py)."""
    out = []
    for b in range(BANDS):
        chunk = sig[b * ROWS:(b + 1) * ROWS].astype(np.uint64).tobytes()
        out.append(int.from_bytes(hashlib.blake2b(chunk, digest_size=8).digest(), "little")
                   >> 1)
    return tuple(out)


def resemblance(a: set[str], b: set[str]) -> float:
    """How much of one text is the other: containment of the smaller in the larger when the
    sizes are comparable (a truncated or re-framed copy), Jaccard otherwise.

    Containment alone would call a short quote a copy of a long report; below a size ratio
    of 0.3 we fall back to Jaccard, which such a pair does not reach.
    """
    if not a or not b:
        return 0.0
    inter = len(a & b)
    small, large = sorted((len(a), len(b)))
    if small / large >= 0.3:
        return inter / small
    return inter / (len(a) + len(b) - inter)

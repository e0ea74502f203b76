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
    parameters do not matter; the remaining query is sorted.

    Never raises: a string urllib cannot read as a URL (an unclosed `[`, a port that is no
    number 0-65535) is its own identity, as written. Discovery drops such links before they
    get here (`flows/stages/discover.py` `link_problem`); this keeps one that comes another
    way (a page's `<link rel=canonical>`) from breaking the outlet's harvest or the
    writer."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower().rstrip(".")
    if host.startswith("www."):
        host = host[4:]
    if ":" in host:   # an IPv6 literal: urlsplit took its brackets off
        host = f"[{host}]"
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


# The name stored with the bands (table band_scheme): a warehouse whose bands were made
# another way, or with another shingle size, is re-banded before ingest stores anything
# (warehouse/bands.py). Before it, bands were datasketch's MinHash of SHA-1 per shingle.
SCHEME = "poly64-affine32"
_POLY = 0x9E3779B97F4A7C15                       # odd, so invertible modulo 2**64
_POLY_U64 = np.uint64(_POLY)
_POLY_INV = np.uint64(pow(_POLY, -1, 1 << 64))


@functools.cache
def _permutations() -> tuple[np.ndarray, np.ndarray]:
    """128 affine permutations (a odd) of 32-bit hashes, drawn once from a fixed seed: the
    stored bands depend on them (these are the draws of datasketch 2.x's
    `MinHash(num_perm=128, seed=1)`, kept from the earlier scheme)."""
    gen = np.random.RandomState(1)
    a = gen.randint(0, 1 << 31, NUM_PERM, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, NUM_PERM, dtype=np.uint32)
    return a, b


def _fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finalizer: every input bit reaches every output bit."""
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> np.uint64(33))


def shingle_hashes(normalised: str, size: int = 4) -> np.ndarray:
    """A 32-bit hash of each run of `size` words of a normalised text (all its words when it
    has no more), in text order, repeats included: the shingles of `shingles`, hashed.

    Why not SHA-1 of each shingle (the scheme before, datasketch's): that was a Python call
    per shingle, ~0.6 ms of an article's ~1 ms of MinHash. Here the text's UTF-8 bytes go
    through numpy once. A shingle's hash is the polynomial sum(byte_j * P**(end-1-j)) modulo
    2**64 over its bytes, taken from one prefix sum of byte_j * P**-j (P is odd, hence
    invertible: no sequential loop), then mixed by `_fmix64`; its high 32 bits are kept.
    Normalised words are separated by single spaces, and a space byte occurs in UTF-8 only
    as itself."""
    data = np.frombuffer(normalised.encode("utf-8"), dtype=np.uint8)
    n = len(data)
    if not n:
        return np.empty(0, dtype=np.uint32)
    spaces = np.flatnonzero(data == 32)
    if len(spaces) + 1 <= size:
        starts, ends = np.zeros(1, dtype=np.intp), np.array([n], dtype=np.intp)
    else:
        starts = np.concatenate(([0], spaces[:len(spaces) + 1 - size] + 1))
        ends = np.concatenate((spaces[size - 1:], [n]))
    powers = np.full(n, _POLY_U64, dtype=np.uint64)
    powers[0] = 1
    np.cumprod(powers, out=powers)                    # P**j, wrapping modulo 2**64
    inverse = np.full(n, _POLY_INV, dtype=np.uint64)
    inverse[0] = 1
    np.cumprod(inverse, out=inverse)                  # P**-j
    prefix = np.zeros(n + 1, dtype=np.uint64)
    np.cumsum(data * inverse, out=prefix[1:])
    poly = (prefix[ends] - prefix[starts]) * powers[ends - 1]
    return (_fmix64(poly) >> np.uint64(32)).astype(np.uint32)


def signature(normalised: str, size: int = 4) -> np.ndarray:
    """The MinHash signature of the text's shingles: for each permutation, the least
    (a * h + b) mod 2**32 over the shingle hashes, in one (shingles x permutations) array."""
    a, b = _permutations()
    h = shingle_hashes(normalised, size)
    if not len(h):
        return np.full(NUM_PERM, _MAX32, dtype=a.dtype)
    # Added to in place: the same values as `h.reshape(-1, 1) * a + b` without its second
    # temporary (0.15 -> 0.11 ms an article).
    perm = np.multiply.outer(h, a)
    perm += b
    return perm.min(axis=0)


def text_bands(normalised: str, size: int = 4) -> tuple[int, ...]:
    """A normalised text's LSH bands: what building an article stores and re-banding a stored
    text recomputes (warehouse/bands.py), one definition for both."""
    return bands(signature(normalised, size))


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

"""text -> the numeric claims analysts chart: value, unit, what is counted, the year, sentence.

A figure is a number with a recognisable unit: a currency ("$1 billion", "9800 рублей",
"сомонӣ"), a percentage ("46 percent", "20%", "фоиз", "дарсад"), or people — a number followed
by a people noun ("17,000 Tajik migrants", "245 тыс. граждан", "нафар"), or one that a counting
word stands right next to ("quota at 600,000"). Bare numbers (article numbers, street numbers)
are not figures, nor are dates (a day next to a month: "November 12", "16 ноября", "12 ноябри")
or numbers of things that are not people ("30 дней", "40 Russian regions", "12 касб").
Multipliers are applied in any case form ("245 thousand", "245 тыс.", "300 тысячам", "ҳазор",
"1.5 million", "4,87 млрд", "4 миллиарду 870 миллион" = 4.87e9), and ranges keep both ends
("500,000-600,000", "from 8,900 to 9,800", "от ... до", "с ... по", "аз ... то").

What is counted is the nearest counting word in the same sentence (deported, banned,
remittances, legalised, quota, patents, ...); the year is the first year stated after the
number in its sentence ("17,000 in 2005, but only 6,100 in 2006"), else the last before it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass

from flows.stages.headline import headline_end


@dataclass(frozen=True)
class Figure:
    value: float
    value_high: float | None    # upper end of a range, else None
    unit: str                   # people | percent | USD | RUB | TJS | EUR
    counted: str | None         # deported | banned | remittances | ... (None: not recognised)
    year: int | None            # the year the figure refers to, when the sentence states one
    raw: str                    # the matched text, e.g. "over $1 billion"
    sentence: str


_SEP = r"[ \u00a0\u202f]"
_NUM = rf"(?:\d{{1,3}}(?:,\d{{3}})+|\d{{1,3}}(?:{_SEP}\d{{3}})+|\d+(?:[.,]\d+)?)"
# Stems, not word lists: Russian declines the multiplier ("300 тысячам граждан") and Tajik
# glues "and" to it ("4 миллиарду 870 миллион").
_MULTIPLIERS = [
    (1e3, r"thousands?|тысяч\w*|тыс|ҳазор\w*|хазор\w*"),
    (1e6, r"millions?|миллион\w*|mln|млн"),
    (1e9, r"billions?|миллиард\w*|bln|bn|млрд"),
]
_MULT_RE = "|".join(p for _, p in _MULTIPLIERS)
# "from 8,900 to 9,800": a word joins the ends of a range only after a word that opens one,
# else "rose in 2023 to 30 percent" would be a range from 2023 to 30.
_FROM = "|".join(rf"(?<=\b{w}\s)" for w in ("from", "от", "с", "со", "аз"))
_CURRENCY_AFTER = [
    ("USD", r"(?:us\s*)?dollars?|usd|долл\w*|доллар\w*"),
    ("RUB", r"rubles?|roubles?|rub|руб\w*|рубл\w*"),
    ("TJS", r"somoni|сомон[иӣ]\w*|tjs"),
    ("EUR", r"euros?|eur|евро"),
    ("percent", r"%|percent|per\s+cent|процент\w*|фоиз\w*|дарсад\w*"),
]
_FIGURE = re.compile(
    rf"(?P<from>{_FROM})?(?P<cur>US\$|\$|€|USD\s*)?(?P<num>{_NUM})"
    rf"(?:(?:\s*[-–—]\s*|(?(from)\s+(?:to|до|по|то)\s+|(?!)))(?P<cur2>US\$|\$|€)?(?P<num2>{_NUM}))?"
    rf"(?:\s*(?P<mult>{_MULT_RE})\b\.?"
    rf"(?:\s+(?:and\s+|и\s+|ва\s+)?(?P<num3>\d{{1,3}})\s*(?P<mult2>{_MULT_RE})\b\.?)?)?"
    rf"(?:\s*(?P<after>{'|'.join(p for _, p in _CURRENCY_AFTER)})(?!\w))?",
    re.IGNORECASE)
# Where a figure can start: a currency sign before it or its first digit. _FIGURE begins with
# an optional group, so a search for it tries every position of a sentence; looking for these
# first, and trying _FIGURE only there, finds the same matches (tests/test_figures.py).
_FIGURE_START = re.compile(r"US\$|\$|€|USD|\d", re.IGNORECASE)
_PEOPLE = (r"migrants?|citizens?|people|persons?|tajiks?|workers?|"
           r"labou?r\s+migrants?|foreigners?|nationals?|specialists?|individuals?|residents?|"
           r"мигрант\w*|граждан\w*|человек\w*|таджик\w*|иностран\w*|работник\w*|"
           r"муҳоҷир\w*|нафар\w*|шаҳрванд\w*|тоҷик\w*|кас\b")
_PEOPLE_AFTER = re.compile(rf"\s*(?:[\w-]+\s+){{0,2}}?(?:{_PEOPLE})", re.IGNORECASE)
# What a bare number counts when it is not people: time, places, legal cases, occupations,
# "times" and percentage points. A noun from here right after the number (an adjective may
# stand between: "40 Russian regions", "26 court proceedings") says what it counts.
_THINGS = (r"days?|weeks?|months?|years?|hours?|decades?|"
           r"день|дн(?:я|ей|ям|ях)|сут\w*|недел\w*|месяц\w*|год\w*|лет|час(?:а|ов)?|"
           r"рӯз\w*|ҳафта\w*|моҳ\w*|сол(?:а|и|ҳо\w*)?|соат\w*|"
           r"regions?|provinces?|countries|country|cities|city|districts?|oblasts?|"
           r"регион\w*|област\w*|стран\w*|город\w*|район\w*|субъект\w*|"
           r"минтақа\w*|вилоят\w*|кишвар\w*|шаҳр(?!ванд)\w*|ноҳия\w*|"
           r"cases?|proceedings?|lawsuits?|rulings?|decisions?|процесс\w*|разбирательств\w*|"
           r"дел(?:о|а|ам|ах)?|производств\w*|иск(?:а|ов|и)?|решени\w*|парванда\w*|қарор\w*|"
           r"professions?|occupations?|jobs?|професси\w*|специальност\w*|касб\w*|ихтисос\w*|"
           r"times|раза?|маротиба\w*|бор|percentage|points?|pct|пункт\w*")
# Words that make what follows an adverbial of a count, not its noun: "11,000 a year",
# "17,000 last year", "17 000 за год", "ҳар сол". The word between may not be one of these.
_ADVERBIAL = (r"a|an|the|per|each|every|last|this|next|past|previous|in|over|for|within|"
              r"during|в|во|за|на|кажд\w*|прошл\w*|эт\w+|текущ\w*|следующ\w*|минувш\w*|"
              r"ҳар|дар|ба|як|гузашта|ҷорӣ|оянда")
_THINGS_AFTER = re.compile(rf"\s*(?:(?!(?:{_PEOPLE}|{_ADVERBIAL})(?!\w))[\w-]+\s+)?"
                           rf"(?:{_THINGS})(?!\w)", re.IGNORECASE)
# A day of a month. English puts the month first too ("November 12"), and capitalises it,
# which tells "12 May" from "12 may be deported"; Russian and Tajik decline the month
# ("16 ноября", "12 ноябри"), hence stems with a short ending.
_MONTH_EN = (r"January|February|March|April|May|June|July|August|September|October|November|"
             r"December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec")
_MONTH = (rf"(?:{_MONTH_EN})\b\.?|(?i:(?:январ|феврал|март|апрел|июн|июл|август|сентябр|"
          r"октябр|ноябр|декабр)\w{0,2}|ма[йяе]и?)(?!\w)")
_MONTH_AFTER = re.compile(rf"(?:st|nd|rd|th|-\w+)?\s+(?:of\s+)?(?:{_MONTH})")
_MONTH_BEFORE = re.compile(rf"(?<!\w)(?:{_MONTH_EN})\.?\s+$")
# "rose 20 to 30 percent": without a word that opens a range, the first number of a span is
# not read as one end (the unit follows the other), and counts nothing by itself either.
_SPAN_START = re.compile(r"\s+(?:to|до|по|то)\s+(?:US\$|\$|€)?\d", re.IGNORECASE)
_COUNTED = [
    ("deported", r"deport\w*|expell\w*|депорт\w*|выдвор\w*|выслан\w*|ихроҷ\w*|дипорт\w*"),
    ("banned", r"banned|entry\s+bans?|barred|re-?entry\s+bans?|right\s+to\s+enter|"
               r"travel\s+bans?|bans?\s+on\s+(?:re-?)?(?:entry|entries|entering)|"
               r"не\s+могут\s+въехать|невъездн\w*|въезд\w*\s+(?:в\s+\w+\s+)?закрыт\w*|"
               r"закрыт\w*\s+въезд\w*|"
               r"запрет\w*\s+(?:на\s+)?въезд\w*|запрещ\w*|манъи\s+вуруд\w*|"
               r"\w*манъ\w*"),
    ("remittances", r"remittance\w*|money\s+transfers?|денежн\w+\s+перевод\w*|"
                    r"перевод\w*|интиқол\w*|пулӣ"),
    ("legalised", r"legali[sz]\w*|легализ\w*|legal\s+status|қонунӣ"),
    ("quota", r"quotas?|квот\w*|квота\w*"),
    ("patents", r"patents?|патент\w*"),
    ("returned", r"returned|returnees?|вернул\w*|вернувш\w*|баргашт\w*"),
    ("recruited", r"recruit\w*|вербов\w*|завербов\w*"),
    ("construction", r"construction|строительств\w*|сохтмон\w*"),
    ("migrants", r"migrants?|мигрант\w*|муҳоҷир\w*|leave\s+for\s+russia|"
                 r"(?:are|live|living|work\w*)\s+in\s+russia|в\s+росси\w*|дар\s+русия"),
]
# One scan finds every counting word of every key: it stops only where a word may start one
# (the first lookahead) and there captures, per key, that key's match if it has one (an
# optional lookahead each). Ten scans, one a key, cost twice as much.
_COUNTED_PATTERN = (r"(?<!\w)(?=" + "|".join(f"(?:{p})" for _, p in _COUNTED) + ")"
                    + "".join(f"(?=({p})|)" for _, p in _COUNTED))
_COUNTED_AT = re.compile(_COUNTED_PATTERN, re.IGNORECASE)
# The same, for a lower-cased sentence (the patterns are lower case): twice as fast, since
# without IGNORECASE the engine skips an alternative on its first letter.
_COUNTED_AT_LOWER = re.compile(_COUNTED_PATTERN)
_PREFER = 60        # a specific counting word beats a nearer "migrants" up to this much farther
_NEAR = 40          # a counting word this close (characters) makes a bare number a count
_YEAR = re.compile(r"(?<![\d,.])(?:19[5-9]\d|20[0-4]\d)(?![\d,.]\d)")
_SENTENCE = re.compile(r"(?<=[.!?…])\s+(?=[\"“«(¶A-ZА-ЯЁӢӮҶҒҚҲ])|\n\s*\n")
_DIGIT = re.compile(r"\d")   # what _NUM needs, in the same (Unicode) sense
_CLAUSE = re.compile(r";|,\s+(?:but|while|whereas|а|но|однако|вале|аммо)\s", re.IGNORECASE)


# Compiled once: `re.sub(pattern, ...)` with a string looks it up in re's cache at each
# call, and the figures of an article make ~80 such calls.
_SEP_RE = re.compile(_SEP)
_THOUSANDS = re.compile(r"\d{1,3}(?:,\d{3})+")
_UNITS = [(unit, re.compile(pattern, re.IGNORECASE)) for unit, pattern in _CURRENCY_AFTER]
_FACTORS = [(factor, re.compile(pattern, re.IGNORECASE)) for factor, pattern in _MULTIPLIERS]


def _number(text: str) -> float:
    t = _SEP_RE.sub("", text)
    if _THOUSANDS.fullmatch(t):
        return float(t.replace(",", ""))
    return float(t.replace(",", "."))


def _factor(word: str | None) -> float:
    return next(f for f, pattern in _FACTORS if pattern.fullmatch(word)) if word else 1.0


def _values(m: re.Match[str]) -> tuple[float, float | None]:
    """The value and the upper end of a range (lower end first), multiplied. The smaller part
    of a compound ("4 миллиарду 870 миллион") belongs to the number it follows."""
    num, num2, mult, num3, mult2 = m.group("num", "num2", "mult", "num3", "mult2")
    if not (num2 or mult):   # most figures
        return _number(num), None
    factor = _factor(mult)
    value = _number(num) * factor
    high = _number(num2) * factor if num2 else None
    if num3 and (part := _factor(mult2)) < factor:
        extra = _number(num3) * part
        value, high = (value + extra, None) if high is None else (value, high + extra)
    if high is not None and high < value:   # "cut from 600,000 to 500,000"
        return high, value
    return value, high


def _unit(cur: str | None, after: str | None) -> str | None:
    if cur:
        return "EUR" if cur == "€" else "USD"
    if after:
        for unit, pattern in _UNITS:
            if pattern.fullmatch(after):
                return unit
    return None


@functools.lru_cache(maxsize=64)
def _counting_words(text: str) -> tuple[tuple[str, int, int], ...]:
    """Every counting word of a sentence or clause as (key, start, end), in the order of
    _COUNTED. Cached: a sentence with several numbers is searched once, not once a number
    (the ten patterns over every sentence were most of the figure extraction's time)."""
    found: list[list[tuple[str, int, int]]] = [[] for _ in _COUNTED]
    ends = [0] * len(_COUNTED)
    lower = text.lower()
    # Matched on the lower-cased text when that keeps every offset (it always does for the
    # scripts we read; a letter such as "İ" lower-cases to two characters).
    scan = _COUNTED_AT_LOWER.finditer(lower) if len(lower) == len(text) \
        else _COUNTED_AT.finditer(text)
    for m in scan:
        for k, (key, _pattern) in enumerate(_COUNTED):
            start, end = m.span(k + 1)
            if start >= ends[k]:   # unmatched: -1; inside this key's last match: skipped,
                found[k].append((key, start, end))   # as that key's own finditer would
                ends[k] = end
    return tuple(hit for hits in found for hit in hits)


def _nearest(sentence: str, start: int, end: int) -> tuple[str | None, int]:
    """The counting word nearest the number; a specific one is preferred to 'migrants'."""
    best: tuple[str | None, int] = (None, 10**6)
    for key, m_start, m_end in _counting_words(sentence):
        distance = start - m_end if m_end <= start else max(0, m_start - end)
        generic, best_generic = key == "migrants", best[0] in (None, "migrants")
        if (generic == best_generic and distance < best[1]) or (
                best_generic and not generic and distance < best[1] + _PREFER):
            best = (key, distance)
    return best


@functools.lru_cache(maxsize=64)
def _clause_bounds(sentence: str) -> tuple[int, ...]:
    """Where the sentence's clauses begin, and its end (cached: a sentence's figures share it)."""
    return (0, *(m.end() for m in _CLAUSE.finditer(sentence)), len(sentence))


def _counted(sentence: str, start: int, end: int) -> tuple[str | None, int]:
    """What the number counts: looked for in its clause first ("17,000 deported in 2005,
    but only 6,100 in 2006": the second clause names nothing, so the sentence decides)."""
    bounds = _clause_bounds(sentence)
    lo = max(b for b in bounds if b <= start)
    hi = min((b for b in bounds if b >= end), default=len(sentence))
    key, distance = _nearest(sentence[lo:hi], start - lo, end - lo)
    return _nearest(sentence, start, end) if key is None else (key, distance)


def _year(sentence: str, start: int, end: int) -> int | None:
    years = [(m.start(), int(m.group())) for m in _YEAR.finditer(sentence)
             if not start <= m.start() < end]
    after = [y for pos, y in years if pos >= end]
    before = [y for pos, y in years if pos < start]
    return after[0] if after else (before[-1] if before else None)


def _is_date(sentence: str, start: int, end: int, value: float, high: float | None) -> bool:
    """A day of a month ("November 12", "16 ноября", "с 9 по 15 ноября"), which the counting
    word of the sentence would otherwise make a count of people."""
    if max(value, high or 0) > 31:
        return False
    return bool(_MONTH_AFTER.match(sentence, end)
                or _MONTH_BEFORE.search(sentence, max(0, start - 12), start))


def _small_or_years(m: re.Match[str], value: float, high: float | None) -> bool:
    """A number without a unit too small to be a count, or a year or a span of years."""
    return value < 10 or (not m.group("mult") and _YEAR.fullmatch(m.group("num")) is not None
                          and (high is None or _YEAR.fullmatch(m.group("num2")) is not None))


def _not_people(sentence: str, m: re.Match[str], value: float, high: float | None) -> bool:
    """A number without a unit that the people rules of extract_figures would count, but that
    counts something else: a day, things ("30 дней", "40 Russian regions", "212 парванда"),
    or the start of a span ("20 to 30 percent"). Asked only of those numbers: most are not."""
    return _is_date(sentence, m.start(), m.end(), value, high) \
        or _SPAN_START.match(sentence, m.end()) is not None \
        or _THINGS_AFTER.match(sentence, m.end()) is not None


def figure_matches(sentence: str) -> Iterator[re.Match[str]]:
    """What `_FIGURE.finditer(sentence)` yields, three times faster."""
    position = 0
    while (start := _FIGURE_START.search(sentence, position)) is not None:
        m = _FIGURE.match(sentence, start.start())
        if m is None:
            position = start.start() + 1
        else:
            yield m
            position = m.end()


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text) if s and s.strip()]


def extract_figures(text: str) -> tuple[Figure, ...]:
    """Every figure of the text, in order of appearance."""
    out: list[Figure] = []
    for sentence in _SENTENCE.split(text):   # what `sentences` gives, unstripped
        if not sentence or not _DIGIT.search(sentence):   # most: no number, so no figure
            continue
        flat = " ".join(sentence.split())
        for m in figure_matches(flat):
            if m.start() > 0 and (flat[m.start() - 1].isalnum() or flat[m.start() - 1] in "¶#№"):
                continue
            value, high = _values(m)
            unit = _unit(m.group("cur") or m.group("cur2"), m.group("after"))
            if unit is None and _small_or_years(m, value, high):
                continue
            counted, distance = _counted(flat, m.start(), m.end())
            if unit is None:
                # "deported 17,000 in 2005, but only 6,100 in 2006": a number right after a
                # count of people in the same sentence counts the same thing.
                last = out[-1] if out and out[-1].sentence == flat[:1000] else None
                parallel = last is not None and last.unit == "people" \
                    and m.start() - flat.find(last.raw) < 80
                if _PEOPLE_AFTER.match(flat, m.end()) or (counted and distance <= _NEAR):
                    unit = "people"
                elif parallel and last is not None:
                    unit, counted = "people", last.counted
                else:
                    continue
                if _not_people(flat, m, value, high):
                    continue
            out.append(Figure(value=value, value_high=high, unit=unit, counted=counted,
                              year=_year(flat, m.start(), m.end()), raw=m.group().strip(),
                              sentence=flat[:1000]))
    return tuple(out)


def figures_of(title: str | None, text: str) -> tuple[Figure, ...]:
    """An article's figures, headline first. Extracted text often begins with the headline
    already: prepended again, its figures would be stored twice."""
    if not title or headline_end(title, text):
        return extract_figures(text)
    return extract_figures(f"{title}\n\n{text}")

"""text -> the numeric claims analysts chart: value, unit, what is counted, the year, sentence.

A figure is a number with a recognisable unit: a currency ("$1 billion", "9800 рублей",
"сомонӣ"), a percentage ("46 percent", "20%", "фоиз", "дарсад"), or people — a number followed
by a people noun ("17,000 Tajik migrants", "245 тыс. граждан", "нафар"), or one that a counting
word stands right next to ("quota at 600,000"). Bare numbers (article numbers, street numbers)
are not figures, nor are dates (a day next to a month: "November 12", "16 ноября", "12 ноябри"),
numbers of things that are not people ("30 дней", "40 Russian regions", "12 касб"), articles
of a law ("статья 18.8 КоАП"), ages ("35-летний", "Dilshod, 31,"), ordinals ("14th", "21-м"),
parts of a token ("deported-migrants-2023-41300") or of a phone number ("+992 93 123 45 67",
"+7 (495) 123-45-67", "тел. 8 800 555 35 35"). Multipliers are applied in any case form
("245 thousand", "245 тыс.", "300 тысячам", "ҳазор", "1.5 million", "4,87 млрд", "4 миллиарду
870 миллион" = 4.87e9; before a Cyrillic one the comma is decimal: "1,250 млрд" = 1.25e9), and
ranges keep both ends ("500,000-600,000", "from 8,900 to 9,800", "от ... до (миллиона)",
"с ... по", "аз ... то", "between ... and"). A multiplier after the upper end only is the
lower end's too when that makes the ends nearer ("from 5 to 7 million", "от 1 до 2 млн"), not
when the lower end is written out ("from 600,000 to 1.2 million", "с 800 000 до 1 млн"); the
same holds the other way ("from 1.2 million to 600,000", "с 1,2 млн до 800 000"). After a
number with a multiplier, a dash joins another with one ("600 тыс. – 1,2 млн"), not whatever
follows ("1.2 million - the highest", "1,2 млн — 15%"). A year before a dash is the year of
the figure after it, not a lower end ("In 2022 – 1.2 million", "В 2022 — 1,2 млн"), unless the
two are of one order ("2000–5000 migrants") and no year–figure pair before it makes a list
("2022 – 15,000 migrants, 2023 – 17,000"). A span of years written short ("2022-23",
"2022/23") is a period, as "2022–2023" is: no figure. A figure after a dash that is a part
of the one before ("2.4 million — 1.1 million of them", "1,1 млн из них") is a figure of
its own, not a range's upper end. A bare amount that "remittances" stands beside ("Remittances
reached 2.5 billion", "переводы ... 2,5 млрд") is money in the one currency the sentence names,
and no figure when it names none or several.

What is counted is the nearest counting word in the same clause, else sentence (deported,
banned, remittances, legalised, quota, patents, ...); the year is one a dash joins to the
number ("В 2022 году — 1,2 млн, в 2023 году — 1,5 млн"), else the first year stated after
the number in its clause ("17,000 in 2005, but only 6,100 in 2006"), else the last before it,
else the same in its sentence; a starting point ("since 2015") is not a figure's year; a
span written short has both its years ("2022-23": 2022 and 2023).
A headline figure that the body states again is stored once, from the body.
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
    raw: str                    # the matched text, e.g. "over $1 billion" (no full stop)
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
# "between 5,000 and 15,000 rubles", "между ... и", "байни ... ва": "and" joins the ends only
# after "between", else "17,000 and 6,100" would be one range.
_BETWEEN = "|".join(rf"(?<=\b{w}\s)" for w in ("between", "между", "байни"))
_JOIN = r"(?(from)\s+(?:to|до|по|то)\s+|(?(between)\s+(?:and|и|ва)\s+|(?!)))"
_SIGN = r"US\$|\$|€"
_DASH = r"\s*[-–—]\s*"
_PERCENT = r"%|percent|per\s+cent|процент\w*|фоиз\w*|дарсад\w*"
# A number that reads as a year: 1950-2049, not part of a longer number.
_YEAR_DIGITS = r"(?:19[5-9]\d|20[0-4]\d)(?![\d,.]\d)"
# The upper end of a range after the lower end's multiplier (part of _FIGURE, whose "mult" is
# that multiplier and "cur" the lower end's currency sign, which the upper end may repeat: the
# unit is read from "cur").
# After a word that joins the ends, it has a multiplier of its own or is that alone ("от 700
# тысяч до (1) миллиона", "from 600,000 to a million"), or it is written out: "from 1.2
# million to 600,000", "с 1,2 млн до 800 000". Written out, it is not a year ("по сравнению с
# 1,2 млн до 2020 года" is "before 2020"), a percentage ("from 1.2 million to 15% of ..." is
# two figures) or the lower end of a range of its own ("from 1.2 million to 600-700
# thousand"); the lookahead also keeps the engine from taking a part of it ("1" of "15%").
# After a dash, it is a number with a multiplier of its own ("600 тыс. – 1,2 млн"): a dash
# after a number with a multiplier is as often a sentence's ("1.2 million - the highest since
# 2015", "1,2 млн — 15% населения", "$2.5 billion — 1.2 million migrants sent money"), so it
# joins only two that both have one, and a currency sign only to one.
_UPPER_OWN = rf"(?:a\s+|one\s+|одного\s+)?(?P<num4>{_NUM})?\s*(?P<mult3>{_MULT_RE})\b\.?"
_UPPER_WRITTEN = (rf"(?!{_YEAR_DIGITS})(?P<num5>{_NUM})"
                  rf"(?!(?:{_SEP}|[,./]|{_DASH})?\d|\s*(?:{_PERCENT}))")
_UPPER = (rf"(?:(?P<to>{_JOIN})|(?(mult){_DASH}(?(cur)(?={_SIGN})|(?=\d))|(?!)))"
          rf"(?(cur)(?P<cur3>{_SIGN})?)"
          rf"(?:{_UPPER_OWN}|(?(to)(?(mult){_UPPER_WRITTEN}|(?!))|(?!)))")
_CURRENCY_AFTER = [
    ("USD", r"(?:us\s*)?dollars?|usd|долл\w*|доллар\w*"),
    ("RUB", r"rubles?|roubles?|rub|руб\w*|рубл\w*"),
    ("TJS", r"somoni|сомон[иӣ]\w*|tjs"),
    ("EUR", r"euros?|eur|евро"),
    ("percent", _PERCENT),
]
_FIGURE = re.compile(
    rf"(?P<from>{_FROM})?(?P<between>{_BETWEEN})?(?P<cur>US\$|\$|€|USD\s*)?(?P<num>{_NUM})"
    rf"(?:(?:\s*[-–—]\s*|{_JOIN})(?P<cur2>US\$|\$|€)?(?P<num2>{_NUM}))?"
    rf"(?:\s*(?P<mult>{_MULT_RE})\b\.?"
    rf"(?:\s+(?:and\s+|и\s+|ва\s+)?(?P<num3>\d{{1,3}})\s*(?P<mult2>{_MULT_RE})\b\.?)?)?"
    rf"(?:{_UPPER})?"
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
# "times", percentage points, degrees, and lakh/crore (Indian multipliers: "Rs 25 lakh" is
# money in a currency not charted). A noun from here right after the number (an adjective may
# stand between: "40 Russian regions", "26 court proceedings") says what it counts. "States"
# are places, but "1,000 United States citizens" are people.
_THINGS = (r"days?|weeks?|months?|years?|hours?|decades?|"
           r"день|дн(?:я|ей|ям|ях)|сут\w*|недел\w*|месяц\w*|год\w*|лет|час(?:а|ов)?|"
           r"рӯз\w*|ҳафта\w*|моҳ\w*|сол(?:а|и|ҳо\w*)?|соат\w*|"
           r"regions?|provinces?|countries|country|cities|city|districts?|oblasts?|"
           r"(?<!united\s)states?|штат\w*|"
           r"регион\w*|област\w*|стран\w*|город\w*|район\w*|субъект\w*|"
           r"минтақа\w*|вилоят\w*|кишвар\w*|шаҳр(?!ванд)\w*|ноҳия\w*|"
           r"cases?|proceedings?|lawsuits?|rulings?|decisions?|процесс\w*|разбирательств\w*|"
           r"ҳолат\w*|"
           r"дел(?:о|а|ам|ах)?|производств\w*|иск(?:а|ов|и)?|решени\w*|парванда\w*|қарор\w*|"
           r"professions?|occupations?|jobs?|професси\w*|специальност\w*|касб\w*|ихтисос\w*|"
           r"times|раза?|маротиба\w*|бор|percentage|points?|pct|пункт\w*|lakhs?|crores?|"
           r"degrees?|градус\w*")
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
# Numbers that the counting word of their sentence would make a count but that name a legal
# provision ("выдворение по статье 18.8 КоАП", "ст. 18.10", "part 2 of article 18.8",
# "моддаҳои 322 ва 18.10", "Order No 1666") or an amount in a currency not charted
# ("Rs 25", "£5 million").
_NOT_A_COUNT_BEFORE = re.compile(
    r"(?:(?<!\w)(?:articles?|art|sections?|paragraphs?|parts?|стать\w*|ст|пункт\w*|п|"
    r"част\w*|ч|моддаи|моддаҳои|банди|қисми|no)\.?\s*|№\s*)"
    r"(?:\d+(?:\.\d+)*\s*(?:,|and|or|и|или|ва|ё)\s*)*$"
    r"|(?:(?<!\w)(?:rs|inr|gbp)\.?|[₹£¥])\s?$", re.IGNORECASE)
# After the number: a code ("18.8 КоАП РФ", "322 УК"), or a word it is glued to: an ordinal
# ("14th", "21-м", "5-й"), an age ("24-year-old", "35-летний", "28-сола"), a part of a
# token ("2023-41300_deported" in a URL). "A 5,000-strong crowd" is a count.
_NOT_A_COUNT_AFTER = re.compile(
    r"[^\W\d]|[-‐/](?!strong)\w|\.\d|\s*(?:коап|ук|гк|упк|code|кодекс\w*)(?!\w)",
    re.IGNORECASE)
# An age after a name: "said Dilshod, 31, a porter", "Singh Jabarjung, 24, was".
_NAME_BEFORE = re.compile(r"(?<!\w)[A-ZА-ЯЁӢӮҶҒҚҲ][^\W\d]+,\s$")
_COUNTED = [
    ("deported", r"deport\w*|expell\w*|депорт\w*|выдвор\w*|выслан\w*|ихроҷ\w*|дипорт\w*|"
                 r"removed\s+from\s+(?:the\s+)?(?:country|russia|russian\s+federation)"),
    ("banned", r"banned|entry\s+bans?|barred|re-?entry\s+bans?|right\s+to\s+enter|"
               r"travel\s+bans?|bans?\s+on\s+(?:re-?)?(?:entry|entries|entering)|"
               r"entry\s+(?:(?:to|into)\s+(?:the\s+)?\w+\s+)?(?:is\s+|was\s+|has\s+been\s+|"
               r"have\s+been\s+|are\s+|were\s+|remains\s+)?closed|closed\s+(?:their\s+)?entry|"
               r"не\s+могут\s+въехать|невъездн\w*|въезд\w*\s+(?:в\s+\w+\s+)?закрыт\w*|"
               r"закры\w*\s+(?:\w+\s+)?въезд\w*|не\s+в?пус[тк]\w*|"
               r"отказ\w*\s+во?\s+въезд\w*|"
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
# "70 percent of the funds", "70% средств", "70 фоизи маблағ": a share of money.
_MONEY_AFTER = re.compile(
    r"\s*(?:of\s+(?:the\s+|their\s+|its\s+|this\s+)?)?(?:funds|money|income|incomes|"
    r"earnings|budgets?|spending|remittances|средств|доход\w*|денег|деньг\w*|бюджет\w*|"
    r"перевод\w*|маблағ\w*|даромад\w*|пул\w*)(?!\w)", re.IGNORECASE)
# The people nouns of migrants, which the "migrants" key counts.
_MIGRANT_NOUN = re.compile(r"migrant|мигрант|муҳоҷир", re.IGNORECASE)
_PREFER = 60        # a specific counting word beats a nearer "migrants" up to this much farther
_NEAR = 40          # a counting word this close (characters) makes a bare number a count
_YEAR = re.compile(rf"(?<![\d,.]){_YEAR_DIGITS}")
# A span of years with the second written short, "2022-23", "2022–23", "2022/23": a period,
# whose "23" is its last year (2023), not a figure nor a range's upper end. The dash is
# unspaced ("In 2022 – 23 migrants" is 23 of 2022), and the second year within ten after
# the first ("2000-50 рублей" is a range).
_SHORT_SPAN = re.compile(
    rf"(?<![\d,.])(?P<first>{_YEAR_DIGITS})[-–—/](?P<last>\d\d)(?![\d%]|[,.]\d)")
# A plural people noun right after a number that could be a year (one word may stand between,
# not "year" itself): the number counts them. Plural, since "the 2015 migrant crisis" does not.
_YEAR_COUNT = re.compile(
    r"\s+(?:(?!(?:years?|год\w*|сол\w*)(?!\w))[^\W\d]+\s+)?"
    r"(?:migrants|citizens|people|persons|tajiks|workers|foreigners|nationals|individuals|"
    r"residents|мигрант(?:ов|ам|ами|ах|ы)|граждан(?:е|ам|ами|ах)?|человек|таджик(?:ов|ам|и)|"
    r"иностран(?:цев|цам|цы)|работник(?:ов|ам|и)|муҳоҷир\w+|нафар\w*|шаҳрванд\w+)(?!\w)",
    re.IGNORECASE)
_YEAR_BEFORE = re.compile(rf"(?:(?<!\w)(?:in|by|since|from|until|till|of|year|в|во|с|со|до|от|"
                          rf"к|по|за|дар|аз|то|соли|ба)|{_MONTH})\s+$", re.IGNORECASE)
# A year that is a starting point ("the highest figure since 2015", "с 2015 года", "аз соли
# 2015") is not the year a figure refers to.
_SINCE_BEFORE = re.compile(r"(?<!\w)(?:since|from|с|со|аз(?:\s+соли)?)\s+$", re.IGNORECASE)
_DASH_RE = re.compile(_DASH)
# A figure after a dash that is a part of the one before it ("2.4 million — 1.1 million of
# them Tajiks", "2,4 млн — 1,1 млн из них таджики", "$2.5 billion — $1.1 billion of which
# came from Russia") is not a range's upper end: what follows it says so. One word may stand
# between ("5,000 Tajiks among them").
_SUBSET_AFTER = re.compile(
    r"\s*(?:[^\W\d]+\s+)?(?:of\s+(?:them|whom|which|these|those)|among\s+them|"
    r"из\s+(?:них|которых|этого\s+числа)|аз\s+(?:онҳо|инҳо|он\s+ҷумла|ин\s+шумора))(?!\w)",
    re.IGNORECASE)
_DASH_AT = re.compile(r"[.\s]*[-–—]")
# A year that a dash joins to the figure after it, a word for "year" between them or not, is
# that figure's year: "In 2022 – 1.2 million", "В 2022 году — 1,2 млн, в 2023 году — 1,5 млн"
# (the first year after the number would be the next one's), "За 2023 год – 2,4 млн".
_DASHED_YEAR_TAIL = re.compile(rf"(?:\s+(?:year|год\w*|г\.))?{_DASH}", re.IGNORECASE)
# What makes a year-like number a year when a spaced dash follows it: words that introduce a
# year ("Дар соли 2022 – 5000 нафар", "in January 2022 – 5000"), or the start of the sentence
# or of a clause after a semicolon, "in" or "в" (Tajik "дар") between or not ("In 2022 – 5000
# migrants", "2022 – 15 000 мигрантов; 2023 – 17 000"). Elsewhere "in" and "в" may introduce
# an amount ("штраф в 2000 – 5000 рублей"), and after a comma what follows the dash is as
# likely a range's upper end ("Ежегодно, 2000 – 5000 мигрантов").
_YEAR_INTRO = re.compile(rf"(?:(?:^|;\s+)(?:(?:in|в|во|дар)\s+)?"
                         rf"|(?<!\w)(?:year|during|соли)\s+|(?:{_MONTH})\s+)$", re.IGNORECASE)
# In a list of years and their figures ("В 2022 году – 15 000 мигрантов, в 2023 – 17 000",
# "2022 – 15,000 migrants, 2023 – 17,000"), a year after a comma, "and" and "in" between or
# not, is the next item's; a year–figure pair before it in the sentence says it is a list.
_LIST_YEAR_INTRO = re.compile(r",\s+(?:(?:and|а|и|ва)\s+)?(?:(?:in|в|во|дар)\s+)?$",
                              re.IGNORECASE)
_YEAR_PAIR = re.compile(rf"(?<![\d,.]){_YEAR_DIGITS}(?:\s+(?:year|год\w*|г\.))?\s+[-–—]\s+"
                        rf"(?:{_SIGN})?\d", re.IGNORECASE)
# Phone numbers: "+992 93 123 45 67", "+7 (495) 123-45-67", "тел.: 221-11-11", "по телефону 8
# 800 555 35 35", "8-800-555-35-35", "(495) 123-45-67". None of their parts is a figure,
# though "992" or "93 123" read as numbers and a sentence about migrants would count them.
# After "+", digit groups make one when they have at least nine digits, after "тел.",
# "phone" or "телефон" six ("на телефон 500 рублей" is money), and neither is a number
# written with thousands separators ("+1 200 000 000" is a growth); with nothing before,
# groups that end as phone numbers do, in two groups of two digits after one of two or three
# ("123-45-67", "555 35 35"), as no number does (a date such as "12-10-20" that does is no
# figure either).
_PHONE_PART = r"(?:\(\d{1,5}\)|\d{1,5})"
_PHONE_DIGITS = rf"{_PHONE_PART}(?:[ \u00a0-]?{_PHONE_PART}){{1,6}}(?![\w%]|[.,]\d)"
_PHONE = re.compile(
    r"(?=[+(\dtтp])"   # where one can start: twice as fast
    rf"(?:(?<![\w+])\+(?P<plus>{_PHONE_DIGITS})"
    rf"|(?<!\w)(?:tel|тел|тлф|phone|telephone|телефон[уаи]?)(?!\w)\.?\s*:?\s*\+?"
    rf"(?P<tel>{_PHONE_DIGITS})"
    rf"|(?<![\w+.,])(?:{_PHONE_PART}[ \u00a0-]?){{0,3}}\d{{2,3}}(?P<sep>[ \u00a0-])\d{{2}}"
    rf"(?P=sep)\d{{2}}(?![\w]))",
    re.IGNORECASE)
_GROUPED = re.compile(rf"\d{{1,3}}(?:{_SEP}\d{{3}})+")
# An abbreviated multiplier keeps its dot in a figure's raw text ("245 тыс.", "2,4 млн."): the
# dot may be the abbreviation's as much as the sentence's. After a word it is the sentence's
# ("$900 million." is "$900 million").
_ABBREVIATED = re.compile(r"(?<![^\W\d])(?:тыс|млн|млрд|mln|bln|bn)\.$", re.IGNORECASE)
# Sentences end at a terminal mark before a capital, at a blank line, and before a line that
# is only a date ("Headline\n19 ноября 2026 г.\nText"), when the line before it ends without
# punctuation: a headline. Text extracted from a PDF wraps lines mid-sentence ("Order No 1666
# of 19 December\n2012” dated ..."), so a line that merely begins with a number does not.
_DATE_LINE = (rf"[ \t]*(?:\d{{1,2}}\.\d{{1,2}}\.\d{{4}}|\d{{1,2}}[ \t]+(?:{_MONTH})[ \t]+\d{{4}}|"
              rf"(?:{_MONTH_EN})\.?[ \t]+\d{{1,2}},?[ \t]+\d{{4}})"
              r"(?:[ \t]*(?:г\.|года|сол)|[ \t,]+\d{1,2}:\d{2})?[ \t.]*(?:\n|$)")
_SENTENCE = re.compile(r"(?<=[.!?…])\s+(?=[\"“«(¶A-ZА-ЯЁӢӮҶҒҚҲ])|\n\s*\n"
                       rf"|\n(?<=[^\s.!?…:;,]\n)(?={_DATE_LINE})")
_DIGIT = re.compile(r"\d")   # what _NUM needs, in the same (Unicode) sense
_CLAUSE = re.compile(r";|,\s+(?:but|while|whereas|а|но|однако|вале|аммо)\s", re.IGNORECASE)


# Compiled once: `re.sub(pattern, ...)` with a string looks it up in re's cache at each
# call, and the figures of an article make ~80 such calls.
_SEP_RE = re.compile(_SEP)
_THOUSANDS = re.compile(r"\d{1,3}(?:,\d{3})+")
_CYRILLIC = re.compile(r"[а-яёӣӯҷғқҳ]", re.IGNORECASE)
_UNITS = [(unit, re.compile(pattern, re.IGNORECASE)) for unit, pattern in _CURRENCY_AFTER]
# A currency named anywhere in a sentence ("in dollars", "в рублях", "$2.5 billion"): the
# unit of a bare amount that remittances are stated in ("Remittances reached 2.5 billion").
_CURRENCY_ANY = re.compile(
    rf"(?P<sign>{_SIGN})|(?<!\w)(?P<word>"
    + "|".join(p for unit, p in _CURRENCY_AFTER if unit != "percent") + r")(?!\w)",
    re.IGNORECASE)
_FACTORS = [(factor, re.compile(pattern, re.IGNORECASE)) for factor, pattern in _MULTIPLIERS]


def _number(text: str, decimal_comma: bool = False) -> float:
    """"1,250" is 1250, or 1.25 where the comma is the decimal separator (decimal_comma)."""
    t = _SEP_RE.sub("", text)
    if _THOUSANDS.fullmatch(t) and not (decimal_comma and t.count(",") == 1):
        return float(t.replace(",", ""))
    return float(t.replace(",", "."))


def _grouped(text: str) -> bool:
    """Written with thousands separators ("600,000", "800 000"), reading it as a number that
    stands alone: no multiplier makes its comma a decimal one."""
    return _SEP_RE.search(text) is not None or _THOUSANDS.fullmatch(text) is not None


def _apart(a: float, b: float) -> float:
    """How many times the larger of two positive numbers is the smaller."""
    return max(a, b) / min(a, b)


def _shares_multiplier(low: str, decimal_comma: bool, factor: float, high: float) -> bool:
    """Whether the multiplier written after the upper end of a range only is the lower end's
    too. The two ends of a range are of one order, so it is when that puts the lower end
    nearer the upper one: "from 5 to 7 million", "от 1 до 2 млн", "500-700 thousand", "fell
    from 7 to 5 million", but not "from 600,000 to 1.2 million", "с 800 000 до 1 млн", "от
    40000 до 60 тысяч": those state the lower end in full. One written with thousands
    separators stays as written when the multiplier would make it over ten times the upper
    end: "from 1,200 to 1.5 million" is not 1.2 billion down to 1.5 million, which one would
    write "from 1.2 billion", whereas "fell from 1,200 to 900 million" counts in millions.
    As a number before a Russian or Tajik multiplier, the lower end's comma is a decimal
    one ("с 1,250 до 1,5 млрд"); as one standing alone, it separates thousands ("с 800,000
    до 1 млн"). A multiplier after the lower end only is asked about the same way, with the
    upper end as `low` and the lower as `high`: "с 1 млн до 2" is to 2 million, "from 1.2
    million to 600,000" and "с 1,2 тыс. до 900" are to the number as written."""
    shared, alone = _number(low, decimal_comma) * factor, _number(low)
    if shared <= 0 or alone <= 0 or high <= 0:   # "from 0 to 5 million": the same either way
        return True
    if _apart(shared, high) >= _apart(alone, high):
        return False
    return not (_grouped(low) and shared > 10 * high)


def _factor(word: str | None) -> float:
    return next(f for f, pattern in _FACTORS if pattern.fullmatch(word)) if word else 1.0


def _values(m: re.Match[str]) -> tuple[float, float | None]:
    """The value and the upper end of a range (lower end first), multiplied. The smaller part
    of a compound ("4 миллиарду 870 миллион") belongs to the number it follows; one as large
    ends a range ("between 1 million and 2 million"). Before a Russian or Tajik multiplier
    the comma is a decimal one: "1,250 млрд" is 1.25e9 (in English "1,250 million" is 1.25e9
    too, as 1250 millions). A multiplier after one end only may be the other end's too
    ("from 5 to 7 million", "с 1 млн до 2") or not ("from 600,000 to 1.2 million", "from 1.2
    million to 600,000"): _shares_multiplier."""
    num, num2, mult, num3, mult2, mult3 = m.group("num", "num2", "mult", "num3", "mult2",
                                                  "mult3")
    if not (num2 or mult or mult3):   # most figures
        return _number(num), None
    factor = _factor(mult)
    comma = mult is not None and _CYRILLIC.match(mult) is not None
    value = _number(num, comma) * factor
    high = _number(num2, comma) * factor if num2 else None
    if num3:
        extra = _number(num3) * (part := _factor(mult2))
        if part < factor:
            value, high = (value + extra, None) if high is None else (value, high + extra)
        elif high is None and (m.group("from") is not None or m.group("between") is not None):
            high = extra
    if num2 and factor != 1.0 and high is not None \
            and not _shares_multiplier(num, comma, factor, high):
        value = _number(num)   # "from 600,000 to 1.2 million": the lower end is written out
    if mult3 and high is None:
        num4 = m.group("num4")
        high = (_number(num4, _CYRILLIC.match(mult3) is not None) if num4 else 1.0) \
            * _factor(mult3)
    elif (num5 := m.group("num5")) and high is None:   # "from 1.2 million to 600,000"
        high = _number(num5, comma) * factor if _shares_multiplier(num5, comma, factor, value) \
            else _number(num5)
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


def _sentence_currency(sentence: str) -> str | None:
    """The one currency a sentence names ("Remittances reached 2.5 billion, in dollars":
    USD), or None when it names none or several: a bare amount's currency is then unknown."""
    units = {_unit(m.group("sign"), m.group("word")) for m in _CURRENCY_ANY.finditer(sentence)}
    return units.pop() if len(units) == 1 else None


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


def _nearest(sentence: str, start: int, end: int, skip: str | None = None
             ) -> tuple[str | None, int]:
    """The counting word nearest the number; a specific one is preferred to 'migrants'."""
    best: tuple[str | None, int] = (None, 10**6)
    for key, m_start, m_end in _counting_words(sentence):
        if key == skip:
            continue
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


def _counted(sentence: str, start: int, end: int, unit: str | None = None
             ) -> tuple[str | None, int]:
    """What the number counts: looked for in its clause first ("17,000 deported in 2005,
    but only 6,100 in 2006": the second clause names nothing, so the sentence decides).
    Construction counts people working in it, or their share: not an amount of money
    ("25,000 roubles; in winter, when construction slows"), nor a share of money ("70
    percent of the funds are spent on ... home construction")."""
    skip = "construction" if unit not in (None, "people", "percent") or (
        unit == "percent" and _MONEY_AFTER.match(sentence, end) is not None) else None
    bounds = _clause_bounds(sentence)
    lo = max(b for b in bounds if b <= start)
    hi = min((b for b in bounds if b >= end), default=len(sentence))
    key, distance = _nearest(sentence[lo:hi], start - lo, end - lo, skip)
    return _nearest(sentence, start, end, skip) if key is None else (key, distance)


def _short_span_end(first: str, last: str) -> int | None:
    """The last year of a span written short ("2022", "23": 2023; "1999", "01": 2001), or
    None when the two do not make one: the second is not within ten years after the first."""
    start = int(first)
    end = start - start % 100 + int(last)
    if end <= start:
        end += 100
    return end if end - start <= 10 else None


def _short_span(sentence: str, m: re.Match[str]) -> bool:
    """Whether the match is a span of years written short ("2022-23", "2022/23"): a period,
    which is no figure (its "23" would be a count of 23, or a range from 23 to 2022)."""
    span = _SHORT_SPAN.match(sentence, m.start())
    return span is not None and span.end() >= m.end() and not m.group("mult") \
        and _short_span_end(span.group("first"), span.group("last")) is not None


@functools.lru_cache(maxsize=64)
def _years(sentence: str) -> tuple[tuple[int, int, int], ...]:
    """The years of a sentence as (start, end, year), starting points ("since 2015") left
    out; the last year of a span written short is one too ("2022-23": 2022 and 2023).
    Cached: a sentence's figures share them."""
    found = [(m.start(), m.end(), int(m.group())) for m in _YEAR.finditer(sentence)]
    for m in _SHORT_SPAN.finditer(sentence):
        if (end := _short_span_end(m.group("first"), m.group("last"))) is not None:
            found.append((m.start("last"), m.end("last"), end))
    return tuple((start, stop, year) for start, stop, year in sorted(found)
                 if not _SINCE_BEFORE.search(sentence, max(0, start - 12), start))


def _dashed_year(sentence: str, start: int, years: tuple[tuple[int, int, int], ...]
                 ) -> int | None:
    """The year that a dash joins to the number ("In 2022 – 1.2 million", "В 2022 году — 1,2
    млн"): the last year before it, when only a word for "year" and the dash stand between."""
    before = [(stop, year) for pos, stop, year in years if pos < start]
    if before and _DASHED_YEAR_TAIL.fullmatch(sentence, before[-1][0], start):
        return before[-1][1]
    return None


def _year(sentence: str, start: int, end: int) -> int | None:
    """The year a dash joins to the number, else the first year after it, else the last
    before it: in the number's clause first ("In 2022, 120,000 were deported; in 2023,
    150,000"), then in its sentence."""
    years = _years(sentence)
    if not years:
        return None
    if (dashed := _dashed_year(sentence, start, years)) is not None:
        return dashed
    bounds = _clause_bounds(sentence)
    lo = max(b for b in bounds if b <= start)
    hi = min((b for b in bounds if b >= end), default=len(sentence))
    for first, last in ((lo, hi), (0, len(sentence))):
        after = [y for pos, _stop, y in years if end <= pos < last]
        if after:
            return after[0]
        before = [y for pos, _stop, y in years if first <= pos < start]
        if before:
            return before[-1]
    return None


def _is_date(sentence: str, start: int, end: int, value: float, high: float | None) -> bool:
    """A day of a month ("November 12", "16 ноября", "с 9 по 15 ноября"), which the counting
    word of the sentence would otherwise make a count of people."""
    if max(value, high or 0) > 31:
        return False
    return bool(_MONTH_AFTER.match(sentence, end)
                or _MONTH_BEFORE.search(sentence, max(0, start - 12), start))


def _small_or_years(sentence: str, m: re.Match[str], value: float, high: float | None) -> bool:
    """A number without a unit too small to be a count, or a year or a span of years. A
    number that could be a year but that a plural people noun follows ("detained 2000
    migrants", "2000 Tajik migrants", "2000 мигрантов") is a count, unless a word that
    introduces a year stands before it ("In 2019 migrants sent", "соли 2000 муҳоҷирон",
    "Since February 2025 foreigners who")."""
    if value < 10:
        return True
    # a span of years has two year-like ends; "from 2000 to a million" has no num2
    if m.group("mult") or _YEAR.fullmatch(m.group("num")) is None \
            or (high is not None and _YEAR.fullmatch(m.group("num2") or "") is None):
        return False
    return high is not None or _YEAR_COUNT.match(sentence, m.end()) is None \
        or _YEAR_BEFORE.search(sentence, max(0, m.start() - 12), m.start()) is not None


def _not_people(sentence: str, m: re.Match[str], value: float, high: float | None) -> bool:
    """A number without a unit that the people rules of extract_figures would count, but that
    counts something else: a day, things ("30 дней", "40 Russian regions", "212 парванда"),
    the start of a span ("20 to 30 percent"), a legal provision, an ordinal, an age, or a part
    of a token such as a URL. Asked only of those numbers: most are not."""
    start, end = m.start(), m.end()
    return _is_date(sentence, start, end, value, high) \
        or _SPAN_START.match(sentence, end) is not None \
        or _THINGS_AFTER.match(sentence, end) is not None \
        or _NOT_A_COUNT_AFTER.match(sentence, end) is not None \
        or _NOT_A_COUNT_BEFORE.search(sentence, max(0, start - 40), start) is not None \
        or (value <= 120 and high is None and sentence.startswith(",", end)
            and _NAME_BEFORE.search(sentence, max(0, start - 40), start) is not None)


def _after_year(sentence: str, m: re.Match[str]) -> re.Match[str] | None:
    """The figure after the dash of a dashed range whose lower end is a year that the dash
    joins to that figure ("In 2022 – 1.2 million migrants left", "В 2022 — 1,2 млн
    мигрантов"), else None. A year-like number and a figure of its order make a range
    ("2000–5000 migrants", "2000-2500 рублей"), two year-like ones a span of years
    ("2022–2023"); before a figure smaller ("In 2022 – 500 migrants") or over ten times
    larger ("2022 – 1.2 million", "2022 – $1.2 billion", "2022 — 600 тыс. – 1,2 млн") the
    number is a year, as it is when a word that introduces a year stands before it and a
    spaced dash after it ("In 2022 – 5000 migrants", "Дар соли 2022 – 5000 нафар"), or a
    comma after a year and its figure ("2022 – 15,000 migrants, 2023 – 17,000")."""
    num, num2 = m.group("num", "num2")
    if num2 is None or m.group("cur") or _YEAR.fullmatch(num) is None \
            or _YEAR.fullmatch(num2) is not None:
        return None
    upper = m.start("cur2") if m.group("cur2") else m.start("num2")
    dash = sentence[m.end("num"):upper]
    if _DASH_RE.fullmatch(dash) is None:   # "from 2000 to 5000"
        return None
    after = _FIGURE.match(sentence, upper)
    if after is None:   # num2 matches there, at least
        return None
    year, value = _number(num), _values(after)[0]
    if year <= value <= 10 * year and not (
            dash[0].isspace() and dash[-1].isspace()
            and (_YEAR_INTRO.search(sentence, max(0, m.start() - 12), m.start()) is not None
                 or (_LIST_YEAR_INTRO.search(sentence, max(0, m.start() - 12), m.start())
                     is not None
                     and _YEAR_PAIR.search(sentence, 0, m.start()) is not None))):
        return None
    return after


@functools.lru_cache(maxsize=64)
def _phones(sentence: str) -> tuple[tuple[int, int], ...]:
    """Where the sentence's phone numbers are, as (start, end) (cached: a sentence's figures
    share them)."""
    spans = []
    for m in _PHONE.finditer(sentence):
        plus, tel = m.group("plus", "tel")
        if (digits := plus or tel) is not None and (
                sum(c.isdigit() for c in digits) < (9 if plus else 6)
                or _GROUPED.fullmatch(digits)):
            continue   # "+12 345", "+1 200 000 000 рублей", "на телефон 500 рублей"
        spans.append(m.span())
    return tuple(spans)


def _part_of_token(sentence: str, start: int) -> bool:
    """A number that is part of a token ("A320", "COVID-19", ".../migrants-2023-41300"); a
    minus sign or a dash after a space does not make it one."""
    return start > 0 and ((prev := sentence[start - 1]).isalnum() or prev in "¶#№"
                          or (prev in "-‐/_" and start > 1 and sentence[start - 2].isalnum()))


def _in_phone(sentence: str, m: re.Match[str]) -> bool:
    """Whether the match is a part of a phone number ("992" of "+992 93 123 45 67")."""
    return any(start < m.end() and m.start() < end for start, end in _phones(sentence))


def _dash_end(m: re.Match[str]) -> int | None:
    """Where the lower end of a range that a dash joins ends (the dash's start: "2.4
    million" of "2.4 million — 1.1 million"), or None when no dash joins the ends."""
    if m.group("num2") is not None:
        lower = m.end("num")
    elif m.group("mult3") is not None and m.group("to") is None:
        lower = m.end("mult2") if m.group("mult2") else m.end("mult")
    else:
        return None
    dash = _DASH_AT.match(m.string, lower)
    return dash.end() - 1 if dash is not None else None


def _subset_after(sentence: str, end: int) -> re.Match[str] | None:
    """The figure after a dash that is a part of the figure ending at `end` ("2.4 million —
    1.1 million of them Tajiks"), else None."""
    dash = _DASH_RE.match(sentence, end)
    if dash is None:
        return None
    sub = _FIGURE.match(sentence, dash.end())
    return sub if sub is not None and _SUBSET_AFTER.match(sentence, sub.end()) else None


def _candidates(sentence: str, position: int = 0) -> Iterator[re.Match[str]]:
    """The matches of figure_matches that may be figures: not part of a token. A year that a
    dash joins to the figure after it is not that figure's lower end: the figure is matched
    from its own start ("In 2022 – 1.2 million" is "1.2 million", of 2022), and the search
    goes on after it."""
    for m in figure_matches(sentence, position):
        if _part_of_token(sentence, m.start()) or _short_span(sentence, m):
            continue
        if (dash := _dash_end(m)) is not None and _SUBSET_AFTER.match(sentence, m.end()):
            # "2.4 million — 1.1 million of them": two figures, the second a part of the first
            lower = _FIGURE.match(sentence, m.start(), dash)
            if lower is not None:
                yield lower
                yield from _candidates(sentence, lower.end())
                return
        if (after := _after_year(sentence, m)) is not None:
            yield after
            yield from _candidates(sentence, after.end())
            return
        yield m


def _raw(m: re.Match[str]) -> str:
    """The figure as written. _FIGURE takes a dot after a multiplier, as "тыс." and "млн."
    are written; after a word in full the dot is the sentence's, and is left out: "$900
    million." is "$900 million", "2,4 млн." stays."""
    raw = m.group().strip()
    return raw[:-1] if raw.endswith(".") and _ABBREVIATED.search(raw) is None else raw


def figure_matches(sentence: str, position: int = 0) -> Iterator[re.Match[str]]:
    """What `_FIGURE.finditer(sentence, position)` yields, three times faster."""
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
        # Where the sentence's last figure ended, when it counts people (its people noun
        # included: "63,000 Tajik migrants were legalized in 2006, and more than 200,000 in
        # 2007"), and what it counts.
        last_end, last_counted = -1, None
        for m in _candidates(flat):
            value, high = _values(m)
            unit = _unit(m.group("cur") or m.group("cur2"), m.group("after"))
            if unit is None and _small_or_years(flat, m, value, high):
                continue
            counted, distance = _counted(flat, m.start(), m.end(), unit)
            end = m.end()
            if unit is None:
                if people := _PEOPLE_AFTER.match(flat, end):
                    unit, end = "people", people.end()
                    # "10 million labor migrants from different countries ..., and only less
                    # than 10 percent of them have legal status": a count of migrants, unless
                    # a specific counting word stands close to them.
                    if counted not in (None, "migrants") and distance > _PREFER + end - m.end() \
                            and _MIGRANT_NOUN.search(flat, m.end(), end):
                        counted = "migrants"
                elif counted == "remittances" and distance <= _NEAR \
                        and (m.group("mult") is not None or value >= 1e6):
                    # "Remittances reached 2.5 billion": an amount of money, in the currency
                    # the sentence names; with none (or several) named, no figure.
                    if (unit := _sentence_currency(flat)) is None:
                        continue
                elif counted and distance <= _NEAR:
                    unit = "people"
                elif (sub := _subset_after(flat, end)) is not None \
                        and _PEOPLE_AFTER.match(flat, sub.end()):
                    unit = "people"   # "2.4 million — 1.1 million of them Tajiks"
                elif last_end >= 0 and m.start() - last_end < 80:
                    # "deported 17,000 in 2005, but only 6,100 in 2006": a number right after
                    # a count of people in the same sentence counts the same thing.
                    unit, counted = "people", last_counted
                else:
                    continue
                if _not_people(flat, m, value, high):
                    continue
            if _in_phone(flat, m):   # asked last: the rules above drop most numbers cheaper
                continue
            last_end, last_counted = (end, counted) if unit == "people" else (-1, None)
            out.append(Figure(value=value, value_high=high, unit=unit, counted=counted,
                              year=_year(flat, m.start(), m.end()), raw=_raw(m),
                              sentence=flat[:1000]))
    return tuple(out)


def _same(f: Figure) -> tuple[str, str, str]:
    """What makes two figures the same claim ("$4.87 billion", "US$4.87 billion", "4,87 млрд
    долларов"), to 6 significant digits: "4 миллиарду 870 миллион" adds up to 4.87e9 only
    about."""
    return f"{f.value:.6g}", f"{f.value_high:.6g}" if f.value_high is not None else "", f.unit


def figures_of(title: str | None, text: str) -> tuple[Figure, ...]:
    """An article's figures, headline first. Extracted text often begins with the headline
    already: prepended again, its figures would be stored twice. A headline figure that the
    body states again ("$4.87 billion" in the title, "US$4.87 billion" in the lead) is
    dropped: the body's sentence has the context (year, what is counted)."""
    if not title:
        return extract_figures(text)
    end = headline_end(title, text)
    head = extract_figures(text[:end] if end else title)
    body = extract_figures(text[end:])
    if not head:
        return body
    stated = {_same(f) for f in body}
    return tuple(f for f in head if _same(f) not in stated) + body

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from flows.stages import figures
from flows.stages.article import seed_article
from flows.stages.figures import extract_figures
from tests.helpers import article, memory_warehouse
from warehouse import store

SEEDS = Path(__file__).resolve().parent.parent / "warehouse" / "seeds"


@pytest.mark.parametrize(("text", "value", "unit", "counted", "year"), [
    ("More than 245 thousand citizens are banned from entering Russia.", 245_000, "people",
     "banned", None),
    ("Более 245 тыс. граждан Таджикистана не могут въехать в Россию.", 245_000, "people",
     "banned", None),
    ("Зиёда аз 245 ҳазор нафар шаҳрванд манъи вуруд ба Русия доранд.", 245_000, "people",
     "banned", None),
    ("Russia deported 17,000 Tajik migrants in 2005.", 17_000, "people", "deported", 2005),
    ("Remittances reached $1 billion last year.", 1e9, "USD", "remittances", None),
    ("Переводы мигрантов составили 4,87 млрд долларов в 2025 году.", 4.87e9, "USD",
     "remittances", 2025),
    ("Стоимость патента вырастет до 9 800 рублей.", 9_800, "RUB", "patents", None),
    ("Some 46 percent work in construction.", 46, "percent", "construction", None),
    ("Дар соли 2024 ду миллион муҳоҷир 1,2 миллион нафар ба Русия рафтанд.", 1.2e6, "people",
     "migrants", 2024),
])
def test_one_figure_in_three_languages(text: str, value: float, unit: str, counted: str,
                                       year: int | None) -> None:
    got = extract_figures(text)
    assert len(got) == 1, got
    f = got[0]
    assert (f.value, f.unit, f.counted, f.year) == (pytest.approx(value), unit, counted, year)
    assert f.sentence == text


def test_dates_article_numbers_and_bare_numbers_are_not_figures() -> None:
    assert extract_figures("On March 1, 2007, Article 18 of the law of 2006 came into force "
                           "at 10 Rudaki Avenue.") == ()


def test_a_range_keeps_both_ends() -> None:
    (f,) = extract_figures("Annually, some 500,000-600,000 Tajiks leave for Russia.")
    assert (f.value, f.value_high, f.unit) == (500_000, 600_000, "people")


def _summary(text: str) -> list[tuple[float, float | None, str, str | None]]:
    return [(f.value, f.value_high, f.unit, f.counted) for f in extract_figures(text)]


@pytest.mark.parametrize("text", [
    "On November 21, more Tajik migrants returned home from Russia than in any week this year.",
    "16 ноября в Москве задержали мигрантов из Таджикистана.",
    "С 9 по 15 ноября из России депортировали мигрантов из Таджикистана.",
    "20 ноября мигранты вернулись в Таджикистан.",
    "12 ноябри муҳоҷирони тоҷик аз Русия ба ватан баргаштанд.",
])
def test_a_day_of_a_month_is_not_a_count_of_people(text: str) -> None:
    assert extract_figures(text) == ()


def test_a_dateline_day_is_not_a_count_of_people() -> None:
    text = ("DUSHANBE, November 12, 2026, Asia-Plus -- Money transfers sent home by Tajik "
            "workers in Russia reached US$4.87 billion in the first nine months of 2026.")
    assert _summary(text) == [(pytest.approx(4.87e9), None, "USD", "remittances")]


@pytest.mark.parametrize("text", [
    "Кроме того, в течение 30 дней после прибытия в Россию мигранты обязаны пройти "
    "медицинское освидетельствование.",
    "More than 40 Russian regions already forbid patent holders to work as taxi drivers, "
    "couriers or shop assistants.",
    "In the first three months of 2019 the office defended the rights of migrant workers in "
    "26 court proceedings.",
    "Муҳоҷирони тоҷик дар Русия акнун дар 12 касб кор карда наметавонанд.",
    "Дар соли 2025 суд 212 парванда дар бораи ихроҷи муҳоҷирон баррасӣ кард.",
])
def test_a_number_of_days_regions_cases_or_jobs_is_not_people(text: str) -> None:
    assert extract_figures(text) == ()


def test_a_count_with_a_time_adverbial_is_still_people() -> None:
    text = ("Russia deported 17,800 citizens of Tajikistan in 2025, up from about 11,000 "
            "a year earlier.")
    assert _summary(text) == [(17_800, None, "people", "deported"),
                              (11_000, None, "people", "deported")]


@pytest.mark.parametrize(("text", "value"), [
    ("Ин нишондиҳанда нисбат ба ҳамин давраи соли гузашта 27 дарсад зиёд аст.", 27),
    ("Ба гуфтаи онҳо, шумораи ихроҷшудагон нисбат ба моҳи сентябр қариб 30 дарсад "
     "афзудааст.", 30),
])
def test_darsad_is_percent(text: str, value: float) -> None:
    assert [(f.value, f.unit) for f in extract_figures(text)] == [(value, "percent")]


def test_declined_multipliers_are_applied() -> None:
    text = ("По оценке представительства, сейчас въезд в Россию закрыт более чем 300 тысячам "
            "граждан Таджикистана.")
    assert _summary(text) == [(300_000, None, "people", "banned")]


@pytest.mark.parametrize("text", [
    "Дар нӯҳ моҳи соли 2026 муҳоҷирони кории тоҷик аз Русия ба ватан 4 миллиарду "
    "870 миллион доллари амрикоӣ фиристодаанд.",
    "Переводы мигрантов составили 4 миллиарда 870 миллионов долларов.",
])
def test_a_compound_amount_is_one_figure(text: str) -> None:
    assert [(f.value, f.unit) for f in extract_figures(text)] == [(pytest.approx(4.87e9), "USD")]


def test_from_to_is_a_range() -> None:
    assert _summary("The monthly patent fee in Moscow will rise from 8,900 to 9,800 rubles, "
                    "and in the Moscow Region to 9,100 rubles.") == [
        (8_900, 9_800, "RUB", "patents"), (9_100, None, "RUB", "patents")]
    assert _summary("Зарплата по трудовому договору составит от 90 до 120 тысяч рублей.") == [
        (90_000, 120_000, "RUB", None)]


def test_to_without_from_joins_no_range_and_counts_no_one() -> None:
    (f,) = extract_figures("Remittances rose in 2023 to 30 percent of GDP.")
    assert (f.value, f.value_high, f.unit, f.year) == (30, None, "percent", 2023)
    assert _summary("Remittances fell 20 to 30 percent.") == [
        (30, None, "percent", "remittances")]


@pytest.mark.parametrize("text", [
    "The deportation statistics come alongside an equally striking number: 67,800 Tajik "
    "citizens were slapped with new bans on entering Russia over the ten months.",
    "Deported migrants also face a ban on entry: 4,500 Tajik citizens received one in 2025.",
    "Помимо депортированных, запрет на въезд в Россию получили 67 800 граждан Таджикистана.",
])
def test_an_entry_ban_is_banned_not_deported(text: str) -> None:
    assert [(f.unit, f.counted) for f in extract_figures(text)] == [("people", "banned")]


def test_a_headline_the_text_begins_with_is_read_once() -> None:
    title = "Remittances from Russia to Tajikistan reach $4.87 billion in nine months"
    text = (title.upper().replace(" ", "  ") + "\nDUSHANBE, November 12, 2026, Asia-Plus -- "
            "Money transfers sent home by Tajik workers in Russia reached US$4.87 billion in "
            "the first nine months of 2026.")
    got = figures.figures_of(title, text)
    # the body states the headline's figure again: stored once, with the body's context
    assert [(f.value, f.raw, f.year) for f in got] == [
        (pytest.approx(4.87e9), "US$4.87 billion", 2026)]
    other = figures.figures_of("Russia deported 17,000 Tajik migrants", "No figures here.")
    assert [(f.value, f.counted) for f in other] == [(17_000, "deported")]


@pytest.mark.parametrize(("title", "text"), [
    ("Remittances from Russia to Tajikistan reach $4.87 billion in nine months",
     "DUSHANBE, November 12, 2026, Asia-Plus -- Money transfers sent home by Tajik workers in "
     "Russia reached US$4.87 billion in the first nine months of 2026."),
    ("Стоимость патента в Москве вырастет до 9800 рублей",
     "С 1 января мигранты в Москве будут платить за патент 9800 рублей в месяц."),
])
def test_a_headline_figure_the_body_repeats_is_stored_once(title: str, text: str) -> None:
    got = figures.figures_of(title, text)
    assert got == extract_figures(text)
    assert len(got) == 1
    # a headline figure the body does not repeat is kept, headline first
    kept = figures.figures_of("Russia deported 17,000 Tajik migrants", text)
    assert [f.value for f in kept] == [17_000, got[0].value]


@pytest.mark.parametrize("text", [
    "Суд назначил ему штраф и административное выдворение по статье 18.8 КоАП РФ.",
    "Мигранта выдворили по ч. 2 статьи 18.10 КоАП РФ.",
    "Депортированы по ст. 18.10 и 18.8.",
    "He was deported under part 2 of article 18.8 of the Code of Administrative Offences.",
    "Суд ӯро тибқи моддаҳои 322 ва 18.10 ихроҷ кард.",
    "The deported men were charged under Order No 1666.",
])
def test_an_article_of_a_law_is_not_a_count(text: str) -> None:
    assert extract_figures(text) == ()


@pytest.mark.parametrize("text", [
    "\"I was deported twice,\" said Dilshod, 31, a porter from Khujand.",
    "Его выдворили в 2019 году, рассказал 35-летний Алишер.",
    "A 24-year-old migrant was deported last week.",
    "Singh Jabarjung, 24, was deported last week.",
    "Марди 28-сола аз Русия ихроҷ шуд.",
])
def test_an_age_is_not_a_count(text: str) -> None:
    assert extract_figures(text) == ()


@pytest.mark.parametrize("text", [
    "Read more: https://example.com/news/deported-migrants-2023-41300 (deported migrants)",
    "Deported: www.example.ru/2023/41300_deported",
    "In the 14th Century, people were deported from the city.",
    "В 21-м веке мигрантов депортировали в 5-й раз.",
    "Marijuana was legalized in 11 states.",
    "He was deported and fined Rs 25 lakh.",
])
def test_urls_ordinals_states_and_lakh_are_not_counts(text: str) -> None:
    assert extract_figures(text) == ()


def test_a_minus_sign_or_a_spaced_dash_still_starts_a_figure() -> None:
    assert _summary("Remittances fell by -5% in 2024.") == [(5, None, "percent", "remittances")]
    assert _summary("Annually, some 500,000 -600,000 Tajiks leave for Russia.") == [
        (500_000, 600_000, "people", "migrants")]


@pytest.mark.parametrize(("text", "years"), [
    ("In 2022, 120,000 Tajiks were deported; in 2023, 150,000.", [2022, 2023]),
    ("В 2022 году выдворили 120 тыс. человек, а в 2023 году — 150 тыс.", [2022, 2023]),
    ("In 2025, 318,000 Tajiks were banned from Russia, the highest figure since 2015.", [2025]),
    ("At least 20 Tajik citizens have been deported since 2023.", [None]),
])
def test_the_year_comes_from_the_figures_clause_and_is_not_a_starting_point(
        text: str, years: list[int | None]) -> None:
    assert [f.year for f in extract_figures(text)] == years


def test_a_headline_before_a_dateline_is_its_own_sentence() -> None:
    text = ("Мигрантам в Москве выдали 300 патентов\n19 ноября 2026 г.\n"
            "В Москве задержали 20 мигрантов.")
    assert [(f.value, f.year, f.sentence) for f in extract_figures(text)] == [
        (300, None, "Мигрантам в Москве выдали 300 патентов"),
        (20, None, "В Москве задержали 20 мигрантов.")]
    # a line wrapped mid-sentence that begins with a number still joins the line before
    wrapped = "The quota was set by Order No 12 of 19 December\n2012 at 600,000 migrants."
    assert [f.sentence for f in extract_figures(wrapped)] == [" ".join(wrapped.split())]


@pytest.mark.parametrize("text", [
    "Police detained 2000 migrants.",
    "Полиция задержала 2000 мигрантов.",
    "Police detained 2000 Tajik migrants.",
])
def test_a_year_like_number_before_a_people_noun_is_a_count(text: str) -> None:
    assert [(f.value, f.unit) for f in extract_figures(text)] == [(2000, "people")]


@pytest.mark.parametrize("text", [
    "In 2019 migrants were deported.",
    "Since February 2025 foreigners who lost the legal grounds to stay are deported.",
    "The 2015 migrant crisis led to deportations.",
])
def test_a_year_before_a_people_noun_is_still_a_year(text: str) -> None:
    assert extract_figures(text) == ()


def test_a_parallel_count_after_a_long_first_one_is_kept() -> None:
    text = ("According to him, 63,000 Tajik migrants were legalized in the Russian Federation "
            "in 2006, and more than 200,000 in 2007.")
    assert [(f.value, f.counted, f.year) for f in extract_figures(text)] == [
        (63_000, "legalised", 2006), (200_000, "legalised", 2007)]


@pytest.mark.parametrize(("text", "expected"), [
    ("Salaries are between 5,000 and 15,000 rubles.", (5_000, 15_000, "RUB")),
    ("Зарплаты составят от 30 до 50 тысяч рублей.", (30_000, 50_000, "RUB")),
    ("Въезд закрыт от 700 тысяч до миллиона граждан.", (700_000, 1e6, "people")),
    ("The number of banned Tajiks rose from 600,000 to a million people.",
     (600_000, 1e6, "people")),
    ("Переводы составили 1,250 млрд долларов.", (1.25e9, None, "USD")),
    ("Remittances were 1,250 million dollars.", (1.25e9, None, "USD")),
])
def test_ranges_and_decimal_commas(text: str,
                                   expected: tuple[float, float | None, str]) -> None:
    assert [(f.value, f.value_high, f.unit) for f in extract_figures(text)] == [
        (pytest.approx(expected[0]),
         None if expected[1] is None else pytest.approx(expected[1]), expected[2])]


@pytest.mark.parametrize(("text", "expected"), [
    # the lower end is written out: the multiplier after the upper end is not its own
    ("The number of Tajik migrants rose from 600,000 to 1.2 million people.",
     (600_000, 1.2e6, "people")),
    ("Remittances grew from 900,000 to 1.1 million dollars.", (900_000, 1.1e6, "USD")),
    ("Annually, some 600,000-1.2 million Tajiks leave for Russia.", (600_000, 1.2e6, "people")),
    ("Between 500,000 and 1.5 million migrants left.", (500_000, 1.5e6, "people")),
    ("Число мигрантов выросло с 800 000 до 1 млн человек.", (800_000, 1e6, "people")),
    ("Число мигрантов выросло с 800,000 до 1 млн человек.", (800_000, 1e6, "people")),
    ("Зарплата составит от 40 000 до 60 тысяч рублей.", (40_000, 60_000, "RUB")),
    ("Зарплата составит от 40000 до 60 тысяч рублей.", (40_000, 60_000, "RUB")),
    ("Шумораи муҳоҷирон аз 900 000 то 1,1 миллион нафар расид.", (900_000, 1.1e6, "people")),
    ("Remittances rose from 1,200 to 1.5 million dollars.", (1_200, 1.5e6, "USD")),
    # a bare lower end shares it
    ("The number of migrants rose from 5 to 7 million people.", (5e6, 7e6, "people")),
    ("The number of migrants fell from 7 to 5 million people.", (5e6, 7e6, "people")),
    ("Число мигрантов выросло от 1 до 2 млн человек.", (1e6, 2e6, "people")),
    ("Шумораи муҳоҷирон аз 1 то 2 миллион нафар расид.", (1e6, 2e6, "people")),
    ("Remittances were between 1.5 and 2 billion dollars.", (1.5e9, 2e9, "USD")),
    ("Annually, some 500-700 thousand Tajiks leave for Russia.", (500_000, 700_000, "people")),
    ("The number rose from 950 to 1,200 thousand migrants.", (950_000, 1.2e6, "people")),
    ("Remittances fell from 1,200 to 900 million dollars.", (9e8, 1.2e9, "USD")),
    ("Переводы выросли с 1,250 до 1,5 млрд долларов.", (1.25e9, 1.5e9, "USD")),
    # each end with its own multiplier
    ("Въезд закрыт от 600 тысяч до 1,2 миллиона граждан.", (600_000, 1.2e6, "people")),
])
def test_a_multiplier_after_the_upper_end_only_is_the_lower_ends_unless_written_out(
        text: str, expected: tuple[float, float, str]) -> None:
    assert [(f.value, f.value_high, f.unit) for f in extract_figures(text)] == [
        (pytest.approx(expected[0]), pytest.approx(expected[1]), expected[2])]


@pytest.mark.parametrize(("text", "expected"), [
    # a multiplier after the lower end only, the upper end written out: falling ranges
    ("The number of Tajik migrants fell from 1.2 million to 600,000 people.",
     (600_000, 1.2e6, "people")),
    ("Число мигрантов сократилось с 1,2 млн до 800 000 человек.", (800_000, 1.2e6, "people")),
    ("Шумораи муҳоҷирон аз 1,2 миллион то 800 000 нафар кам шуд.", (800_000, 1.2e6, "people")),
    ("Число выдворенных сократилось с 1,2 тыс. до 900 человек.", (900, 1_200, "people")),
    ("Between 1.5 million and 900,000 migrants left.", (900_000, 1.5e6, "people")),
    # ... or the upper end's too, when that puts the ends nearer
    ("Число мигрантов выросло с 1 млн до 2.", (1e6, 2e6, "people")),
    # a currency sign before the upper end
    ("Remittances fell from $2.5 billion to $900,000,000.", (9e8, 2.5e9, "USD")),
    ("Remittances fell from $2.5 billion to $900 million.", (9e8, 2.5e9, "USD")),
    # a dash between two ends with multipliers, spaced or not
    ("Annually, some 600 thousand - 1.2 million Tajiks leave for Russia.",
     (600_000, 1.2e6, "people")),
    ("Annually, some 600 thousand-1.2 million Tajiks leave for Russia.",
     (600_000, 1.2e6, "people")),
    ("Remittances were $1.5 billion — $2 billion a year.", (1.5e9, 2e9, "USD")),
    ("Ежегодно 600 тыс. – 1,2 млн мигрантов уезжают в Россию.", (600_000, 1.2e6, "people")),
    ("Ежегодно 600 тыс.–1,2 млн мигрантов уезжают в Россию.", (600_000, 1.2e6, "people")),
    ("Переводы составили 2,5 млрд — 3 млрд долларов.", (2.5e9, 3e9, "USD")),
    ("Ҳар сол 600 ҳазор - 1,2 миллион муҳоҷир ба Русия мераванд.", (600_000, 1.2e6, "people")),
    ("Ҳар сол 600 ҳазор–1,2 миллион муҳоҷир ба Русия мераванд.", (600_000, 1.2e6, "people")),
    # a year-like lower end and an upper end with no num2 (was a TypeError)
    ("The number rose from 2000 to a million people.", (2_000, 1e6, "people")),
])
def test_a_range_whose_lower_end_has_a_multiplier(
        text: str, expected: tuple[float, float, str]) -> None:
    assert [(f.value, f.value_high, f.unit) for f in extract_figures(text)] == [
        (pytest.approx(expected[0]), pytest.approx(expected[1]), expected[2])]


@pytest.mark.parametrize(("text", "expected"), [
    # a sentence's dash after a number with a multiplier, before one without
    ("Mirzo said 1.2 million - 15 percent of migrants - were deported.",
     [(1.2e6, None, "people", "deported"), (15, None, "percent", "deported")]),
    ("Депортировано 1,2 млн — 15% всех мигрантов.",
     [(1.2e6, None, "people", "deported"), (15, None, "percent", "deported")]),
    # dashes between numbers without multipliers: years, a phone number, a score, a law
    ("In 2022–2023, 1.2 million migrants were deported.", [(1.2e6, None, "people", "deported")]),
    ("Hotline 8-800-100-20-30 serves 1.2 million migrants.",
     [(1.2e6, None, "people", "migrants")]),
    ("Tajikistan won 3-1 as 1.2 million migrants watched.",
     [(1.2e6, None, "people", "migrants")]),
    ("Статья 18.8 – выдворение 1,2 млн мигрантов.", [(1.2e6, None, "people", "deported")]),
    # a currency sign at one end only: a sentence's dash
    ("Remittances hit $2.5 billion — 1.2 million migrants sent money home.",
     [(2.5e9, None, "USD", "remittances"), (1.2e6, None, "people", "remittances")]),
    # after "to": a year is "before" it, a percentage another figure, a range a range
    ("По сравнению с 1,2 млн до 2020 года число мигрантов выросло.", []),
    ("Remittances fell from $2.5 billion to 30% of GDP.",
     [(2.5e9, None, "USD", "remittances"), (30, None, "percent", "remittances")]),
    ("The number fell from 1.2 million to 600-700 thousand people.",
     [(600_000, 700_000, "people", None)]),
])
def test_what_follows_a_multiplier_and_a_dash_or_to_is_not_always_an_upper_end(
        text: str, expected: list[tuple[float, float | None, str, str | None]]) -> None:
    assert _summary(text) == [(pytest.approx(v), None if h is None else pytest.approx(h), u, c)
                              for v, h, u, c in expected]


def _with_years(text: str) -> list[tuple[float, float | None, str, str | None, int | None]]:
    return [(f.value, f.value_high, f.unit, f.counted, f.year) for f in extract_figures(text)]


def _approx(expected: list[tuple[float, float | None, str, str | None, int | None]]
            ) -> list[tuple[object, object, str, str | None, int | None]]:
    return [(pytest.approx(v), None if h is None else pytest.approx(h), u, c, y)
            for v, h, u, c, y in expected]


@pytest.mark.parametrize(("text", "expected"), [
    # a year, a sentence's dash, a figure with a multiplier: not a range from 2022
    ("In 2022 – 1.2 million migrants left Tajikistan.",
     [(1.2e6, None, "people", "migrants", 2022)]),
    ("В 2022 — 1,2 млн мигрантов выехали из Таджикистана.",
     [(1.2e6, None, "people", "migrants", 2022)]),
    ("Дар соли 2022 – 1,2 миллион муҳоҷир ба Русия рафтанд.",
     [(1.2e6, None, "people", "migrants", 2022)]),
    ("In 2022 – $1.2 billion in remittances was sent home.",
     [(1.2e9, None, "USD", "remittances", 2022)]),
    ("Депортировано: 2022 — 600 тыс. – 1,2 млн.", [(600_000, 1.2e6, "people", "deported", 2022)]),
    ("2021 – 1,1 млн, 2022 – 1,2 млн мигрантов.",
     [(1.1e6, None, "people", "migrants", 2021), (1.2e6, None, "people", "migrants", 2022)]),
    # nor from a year to a figure smaller than it, or of its order after a word that
    # introduces the year (or at the sentence's start) and a spaced dash
    ("In 2022 – 500 migrants were deported.", [(500, None, "people", "deported", 2022)]),
    ("In 2022 – 5000 migrants left.", [(5_000, None, "people", "migrants", 2022)]),
    ("Дар соли 2023 – 5000 нафар аз Русия ихроҷ шуданд.",
     [(5_000, None, "people", "deported", 2023)]),
    ("2022 – 15 000 мигрантов выехали.", [(15_000, None, "people", "migrants", 2022)]),
    # the year a dash joins to a figure is its year, not the first year after it
    ("В 2022 году — 1,2 млн, в 2023 году — 1,5 млн мигрантов.",
     [(1.2e6, None, "people", "migrants", 2022), (1.5e6, None, "people", "migrants", 2023)]),
    ("За 2023 год – 2,4 млн мигрантов, больше, чем в 2022 году.",
     [(2.4e6, None, "people", "migrants", 2023)]),
    # a span of years before the dash: its last year, as "In 2021–2023, 1.2 million" has
    ("2021-2023 – 1.2 million migrants left, compared with 900,000 in 2019.",
     [(1.2e6, None, "people", "migrants", 2023), (900_000, None, "people", "migrants", 2019)]),
])
def test_a_year_before_a_dash_is_the_figures_year_not_a_lower_end(
        text: str, expected: list[tuple[float, float | None, str, str | None, int | None]]
) -> None:
    assert _with_years(text) == _approx(expected)


@pytest.mark.parametrize(("text", "expected"), [
    ("Annually, some 500,000-600,000 Tajiks leave for Russia.",
     [(500_000, 600_000, "people", "migrants", None)]),
    ("Ежегодно 2,4–2,6 млн мигрантов уезжают в Россию.",
     [(2.4e6, 2.6e6, "people", "migrants", None)]),
    ("The number of Tajik migrants rose from 600,000 to 1.2 million people.",
     [(600_000, 1.2e6, "people", "migrants", None)]),
    ("Шумораи муҳоҷирон аз 900 000 то 1,1 миллион нафар расид.",
     [(900_000, 1.1e6, "people", "migrants", None)]),
    # a span of years is no figure; the figure after it takes its last year
    ("In 2022–2023, 1.2 million migrants were deported.",
     [(1.2e6, None, "people", "deported", 2023)]),
    ("В 2022–2023 годах выдворили 120 тыс. мигрантов.",
     [(120_000, None, "people", "deported", 2023)]),
    # a year-like number and a figure of its order: a range, unless the year is introduced
    ("Annually, some 2000–5000 migrants leave for Russia.",
     [(2_000, 5_000, "people", "migrants", None)]),
    ("Ежегодно, 2000 – 5000 мигрантов уезжают в Россию.",
     [(2_000, 5_000, "people", "migrants", None)]),
    ("Штраф для мигрантов в 2000 – 5000 рублей.", [(2_000, 5_000, "RUB", "migrants", None)]),
    ("Ба ҳисоби миёна муҳоҷирон 2000-2500 сомонӣ маош мегиранд.",
     [(2_000, 2_500, "TJS", "migrants", None)]),
])
def test_ranges_and_spans_of_years_with_a_dash_stay(
        text: str, expected: list[tuple[float, float | None, str, str | None, int | None]]
) -> None:
    assert _with_years(text) == _approx(expected)


@pytest.mark.parametrize(("text", "expected"), [
    ("Migrants can call the embassy hotline at +992 93 123 45 67.", []),
    ("Мигранты могут позвонить по телефону +7 (495) 123-45-67.", []),
    ("Тел.: 8 (800) 555-35-35, для мигрантов бесплатно.", []),
    ("Горячая линия для мигрантов: 8 800 555 35 35.", []),
    ("Мигранты могут позвонить по телефону 8 800 555 35 35.", []),
    ("Муҳоҷирон метавонанд ба рақами +992 37 221 11 11 занг зананд.", []),
    ("Муҳоҷирон бо телефони 8 (800) 555-35-35 тамос гиранд.", []),
    ("Deported migrants can call +992 93 123 45 67; 17,000 were deported in 2025.",
     [(17_000, None, "people", "deported")]),
    # unchanged: a hotline written with dashes, and growths written with a plus
    ("Горячая линия для мигрантов 8-800-555-35-35.", []),
    ("Hotline 8-800-100-20-30 serves 1.2 million migrants.",
     [(1.2e6, None, "people", "migrants")]),
    ("Remittances rose +15% in 2024.", [(15, None, "percent", "remittances")]),
    ("The number of migrants rose by +1 200 000 people.",
     [(1.2e6, None, "people", "migrants")]),
    ("Переводы выросли на +1 200 000 000 рублей.", [(1.2e9, None, "RUB", "remittances")]),
    # money spent on a phone
    ("Мигранты тратят на телефон 500 рублей в месяц.", [(500, None, "RUB", "migrants")]),
])
def test_a_phone_number_is_not_a_figure(
        text: str, expected: list[tuple[float, float | None, str, str | None]]) -> None:
    assert _summary(text) == [(pytest.approx(v), h, u, c) for v, h, u, c in expected]


@pytest.mark.parametrize(("text", "raw"), [
    ("Remittances reached $900 million.", "$900 million"),
    ("Депортировано 1,2 миллиона.", "1,2 миллиона"),
    ("Ҳаҷми интиқолҳо — $2,5 миллиард.", "$2,5 миллиард"),
    ("Remittances grew from $600 million to $1.2 billion.", "$600 million to $1.2 billion"),
    # an abbreviation keeps its dot, which may be the sentence's too
    ("Депортировано 245 тыс.", "245 тыс."),
    ("Переводы составили $2,4 млн.", "$2,4 млн."),
    ("Remittances were $2.4 bn.", "$2.4 bn."),
])
def test_raw_leaves_out_the_sentences_full_stop(text: str, raw: str) -> None:
    assert [f.raw for f in extract_figures(text)] == [raw]


@pytest.mark.parametrize(("text", "counted"), [
    ("There are some 10 million labor migrants from different countries in the Russian "
     "Federation, and only less than 10 percent of them have legal status.", "migrants"),
    ("In 2024, 32,500 Tajiks were removed from the country.", "deported"),
    ("There are 318,000 Tajiks whose entry to Russia is closed.", "banned"),
    ("В январе не пустили в Россию более 300 граждан Таджикистана.", "banned"),
    ("Пограничники отказали во въезде 53 пассажирам рейса из Худжанда.", "banned"),
])
def test_what_a_count_of_people_counts(text: str, counted: str) -> None:
    assert extract_figures(text)[0].unit == "people"
    assert extract_figures(text)[0].counted == counted


def test_construction_counts_people_not_money() -> None:
    assert _summary("Migrants send money home, and about 70 percent of the funds are spent on "
                    "food and home construction.") == [(70, None, "percent", "migrants")]
    assert _summary("In a good month he transfers 25,000 roubles; in winter, when "
                    "construction slows, it can be half that.") == [
        (25_000, None, "RUB", None)]


def _seed_figures() -> set[tuple[float, str, str | None, int | None]]:
    out = set()
    for path in sorted(SEEDS.glob("*.txt")):
        out |= {(f.value, f.unit, f.counted, f.year)
                for f in extract_figures(path.read_text(encoding="utf-8"))}
    return out


def test_the_figures_analysts_track_are_found_in_the_seeds() -> None:
    found = _seed_figures()
    assert (63_000, "people", "legalised", 2006) in found
    assert (600_000, "people", "quota", None) in found
    assert (17_000, "people", "deported", 2005) in found
    assert (200_000, "people", "legalised", 2007) in found
    assert (6_100, "people", "deported", 2006) in found
    assert (245_000, "people", "banned", None) in found
    assert (1e9, "USD", "remittances", None) in found
    assert (46, "percent", "construction", None) in found
    assert len(found) >= 20


def test_one_scan_finds_the_counting_words_each_keys_own_scan_finds() -> None:
    """_counting_words scans once for all keys (on the lower-cased sentence), figure_matches
    looks for figures only where one can start; each key's own case-insensitive finditer and
    _FIGURE's finditer are the references, over every sentence of the seeds and the labelled
    topic articles (three languages)."""
    texts = [p.read_text(encoding="utf-8") for p in store.seed_files()]
    for name in ("topic_eval.jsonl", "topic_heldout.jsonl"):
        for line in (Path(__file__).parent / "data" / name).read_text("utf-8").splitlines():
            row = json.loads(line)
            texts.append(f"{row.get('title') or ''}\n{row['text']}")
    texts.append("Денежных переводов мигрантов, депортированных; banned re-entry bans, "
                 "манъи вуруд, муҳоҷирони манъшуда, workers in Russia, в России.")
    # Capitals (the lower-cased scan), and a letter whose lower case is two characters
    # (the case-insensitive scan, offsets kept).
    texts.append("DEPORTED Migrants, ДЕПОРТИРОВАНЫ ИЗ РОССИИ, Quota, ПАТЕНТ; İstanbul deported "
                 "500 Workers In Russia, МАНЪИ ВУРУД.")
    sentences = [" ".join(s.split()) for t in texts for s in figures.sentences(t)]
    assert len(sentences) > 700
    for sentence in sentences:
        assert [m.span() for m in figures.figure_matches(sentence)] == \
            [m.span() for m in figures._FIGURE.finditer(sentence)], sentence
        expected = tuple((key, m.start(), m.end()) for key, pattern in figures._COUNTED
                         for m in re.finditer(rf"(?<!\w)(?:{pattern})", sentence,
                                              re.IGNORECASE))
        assert figures._counting_words(sentence) == expected, sentence


def test_figures_are_stored_with_the_article_and_shown_in_the_view(tmp_path: Path) -> None:
    con = memory_warehouse(tmp_path)
    seeds = [seed_article(p) for p in store.seed_files()]
    store.store_seeds(con, seeds, 0.8, 4)
    rows = con.execute("SELECT value, unit, counted, year, source FROM figures "
                       "WHERE counted = 'deported' AND unit = 'people' ORDER BY year").fetchall()
    assert (17_000.0, "people", "deported", 2005, "seed") in rows
    assert (6_100.0, "people", "deported", 2006, "seed") in rows
    n = con.execute("SELECT count(*) FROM figure").fetchone()
    assert n is not None and n[0] >= 20
    # the backfill re-extracts the same figures, no more
    assert store.refresh_figures(con) == n[0]


def test_a_failed_batch_leaves_no_figures(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    con = memory_warehouse(tmp_path)

    def boom(*_a: object, **_k: object) -> None:
        raise RuntimeError("crash after the article was inserted")

    monkeypatch.setattr(store, "apply_topics", boom)
    art = article("Deportations", "Russia deported 17,000 Tajik migrants in 2005. " * 5)
    with pytest.raises(RuntimeError):
        store.store_seeds(con, [art], 0.8, 4)
    assert con.execute("SELECT count(*) FROM figure").fetchone() == (0,)
    assert con.execute("SELECT count(*) FROM doc").fetchone() == (0,)


@pytest.mark.parametrize(("text", "expected"), [
    # a span of years written short is a period, not a range from the year to "23": the
    # figure after it takes its last year, as after "2022–2023"
    ("In 2022-23, 1.2 million Tajiks worked in Russia.",
     [(1.2e6, None, "people", "migrants", 2023)]),
    ("In 2022–23 1.2 million Tajiks worked in Russia.",
     [(1.2e6, None, "people", "migrants", 2023)]),
    ("In 2022/23, 1.2 million Tajiks worked in Russia.",
     [(1.2e6, None, "people", "migrants", 2023)]),
    ("В 2022-23 годах в России работали 1,2 млн таджиков.",
     [(1.2e6, None, "people", "migrants", 2023)]),
    ("2021-23 – 1.2 million migrants left, compared with 900,000 in 2019.",
     [(1.2e6, None, "people", "migrants", 2023), (900_000, None, "people", "migrants", 2019)]),
    # unchanged: a spaced dash before a small count, and a range from a year-like number
    ("In 2022 – 23 migrants were deported.", [(23, None, "people", "deported", 2022)]),
    ("Annually, some 2000–5000 migrants leave for Russia.",
     [(2_000, 5_000, "people", "migrants", None)]),
])
def test_a_span_of_years_written_short_is_a_period(
        text: str, expected: list[tuple[float, float | None, str, str | None, int | None]]
) -> None:
    assert _with_years(text) == _approx(expected)


@pytest.mark.parametrize(("text", "expected"), [
    ("В 2022 году – 15 000 мигрантов, в 2023 – 17 000.",
     [(15_000, None, "people", "migrants", 2022), (17_000, None, "people", "migrants", 2023)]),
    ("2022 – 15,000 migrants, 2023 – 17,000.",
     [(15_000, None, "people", "migrants", 2022), (17_000, None, "people", "migrants", 2023)]),
    ("In 2022 – 15,000 migrants, and in 2023 – 17,000.",
     [(15_000, None, "people", "migrants", 2022), (17_000, None, "people", "migrants", 2023)]),
    ("Дар соли 2022 – 15 000 муҳоҷир, дар соли 2023 – 17 000.",
     [(15_000, None, "people", "migrants", 2022), (17_000, None, "people", "migrants", 2023)]),
    # unchanged: with no year–figure pair before it, "в 2000 – 5000" is an amount's range
    ("Штраф для мигрантов в 2000 – 5000 рублей.", [(2_000, 5_000, "RUB", "migrants", None)]),
    ("В 2022 году – 15 000 мигрантов, штраф в 2000 – 5000 рублей.",
     [(15_000, None, "people", "migrants", 2022), (2_000, 5_000, "RUB", "migrants", 2022)]),
])
def test_each_year_figure_pair_of_a_list_is_its_own_figure(
        text: str, expected: list[tuple[float, float | None, str, str | None, int | None]]
) -> None:
    assert _with_years(text) == _approx(expected)


@pytest.mark.parametrize(("text", "expected"), [
    ("2.4 million — 1.1 million of them Tajiks.",
     [(2.4e6, None, "people", None), (1.1e6, None, "people", None)]),
    ("The number of labour migrants in Russia reached 2.4 million — 1.1 million of them "
     "Tajiks.", [(2.4e6, None, "people", "migrants"), (1.1e6, None, "people", "migrants")]),
    ("Число мигрантов в России достигло 2,4 млн — 1,1 млн из них таджики.",
     [(2.4e6, None, "people", "migrants"), (1.1e6, None, "people", "migrants")]),
    ("Russia deported 20,000 — 5,000 of them Tajiks.",
     [(20_000, None, "people", "deported"), (5_000, None, "people", "deported")]),
    ("Remittances were $2.5 billion — $1.1 billion of which came from Russia.",
     [(2.5e9, None, "USD", "remittances"), (1.1e9, None, "USD", "remittances")]),
    # unchanged: a subset word before the second figure, and ranges with a dash
    ("Число мигрантов в России достигло 2,4 млн — в том числе 1,1 млн таджиков.",
     [(2.4e6, None, "people", "migrants"), (1.1e6, None, "people", "migrants")]),
    ("The number of migrants in Russia reached 2.4 million — including 1.1 million Tajiks.",
     [(2.4e6, None, "people", "migrants"), (1.1e6, None, "people", "migrants")]),
    ("Ежегодно 600 тыс. – 1,2 млн мигрантов уезжают в Россию.",
     [(600_000, 1.2e6, "people", "migrants")]),
])
def test_a_subset_after_a_dash_is_not_a_ranges_upper_end(
        text: str, expected: list[tuple[float, float | None, str, str | None]]) -> None:
    assert _summary(text) == [(pytest.approx(v), None if h is None else pytest.approx(h), u, c)
                              for v, h, u, c in expected]


@pytest.mark.parametrize(("text", "expected"), [
    # a bare amount that remittances are stated in: money, in the sentence's currency
    ("Remittances reached 2.5 billion, in dollars.", [(2.5e9, "USD", "remittances")]),
    ("Migrants sent 2.5 billion in remittances, the central bank said in dollars.",
     [(2.5e9, "USD", "remittances")]),
    ("Remittances reached $2.5 billion in 2023, up from 2.1 billion in 2022.",
     [(2.5e9, "USD", "remittances"), (2.1e9, "USD", "remittances")]),
    ("Переводы мигрантов в рублях достигли 2,5 млрд.", [(2.5e9, "RUB", "remittances")]),
    # no currency named: not a figure (it was a count of 2.5 billion people)
    ("Remittances reached 2.5 billion in 2023.", []),
    ("Переводы мигрантов достигли 2,5 млрд.", []),
    # unchanged: a currency of its own, and people counted beside remittances
    ("Tajik migrants sent $2.5 billion in remittances.", [(2.5e9, "USD", "remittances")]),
    ("Tajik migrants sent 2.5 billion rubles in remittances.",
     [(2.5e9, "RUB", "remittances")]),
    ("Денежные переводы мигрантов составили 2,5 млрд долл.", [(2.5e9, "USD", "remittances")]),
    ("Переводы мигрантов составили 2,5 млрд сомони.", [(2.5e9, "TJS", "remittances")]),
    ("Remittances hit $2.5 billion — 1.2 million migrants sent money home.",
     [(2.5e9, "USD", "remittances"), (1.2e6, "people", "remittances")]),
])
def test_a_bare_amount_of_remittances_is_money_not_people(
        text: str, expected: list[tuple[float, str, str | None]]) -> None:
    assert [(f.value, f.unit, f.counted) for f in extract_figures(text)] == [
        (pytest.approx(v), u, c) for v, u, c in expected]

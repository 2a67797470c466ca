"""The return-date fast path reads date-shaped phrases exactly as dateparser does.

``triage.dates._fast_parse`` answers for the common shapes ("14 September",
"Monday", "14.09.2026", "September 1, 2026") without dateparser; whatever it
answers must be what ``dateparser.parse`` gives with the settings of
``return_date``.  These tests compare the two on every word of its tables, on
the phrases of the shipped fixtures and on edge cases of the "future" rule.
"""

from __future__ import annotations

import datetime as dt
import random
import re
import warnings

import dateparser
import pytest

from triage import dates
from triage.dates import _CANDIDATE, _NO_FAST_ANSWER, _fast_parse, return_date

BASES = [
    dt.datetime(2026, 3, 2, 9, 0),  # a Monday
    dt.datetime(2026, 12, 31, 23, 59),
    dt.datetime(2027, 1, 1, 0, 0),
    dt.datetime(2026, 7, 24, 0, 0),  # midnight of a day the phrases name
    dt.datetime(2026, 7, 24, 10, 0),
    dt.datetime(2028, 2, 28, 12, 0),
]


def _dateparser(said: str, lang: str, base: dt.datetime, order: str) -> dt.date | None:
    settings = {"RELATIVE_BASE": base, "PREFER_DATES_FROM": "future", "RETURN_AS_TIMEZONE_AWARE": False, "DATE_ORDER": order, "REQUIRE_PARTS": []}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        when = dateparser.parse(said, languages=[lang], settings=settings)
    return when.date() if when is not None else None


def _agree(said: str, lang: str, base: dt.datetime, order: str = "DMY", *, must_answer: bool = True) -> None:
    fast = _fast_parse(said, lang, base, order)
    if fast is _NO_FAST_ANSWER:
        assert not must_answer, f"{said!r} ({lang}) should take the fast path"
        return
    assert isinstance(fast, dt.datetime)
    assert fast.date() == _dateparser(said, lang, base, order), (said, lang, base, order)


@pytest.mark.parametrize("lang", sorted(dates._MONTHS_OF))
def test_every_month_and_weekday_of_the_tables_reads_as_dateparser_reads_it(lang: str) -> None:
    base = BASES[0]
    weekday = next(iter(dates._WEEKDAYS_OF[lang]))
    for word in dates._MONTHS_OF[lang]:
        _agree(f"15 {word} 2027", lang, base)
        _agree(f"{weekday.capitalize()}, 28 {word.capitalize()}.", lang, base)
    for word in dates._WEEKDAYS_OF[lang]:
        _agree(word, lang, base)
        if word.upper().casefold() == word:  # not Turkish "salı": "SALI" folds to "sali", another word
            _agree(word.upper(), lang, base)


@pytest.mark.parametrize(
    ("said", "lang", "order"),
    [
        ("lunes", "es", "DMY"), ("Monday", "en", "MDY"), ("lunes 27 de julio", "es", "DMY"), ("Tuesday, November 3", "en", "MDY"),
        ("Tuesday 28 April.", "en", "DMY"), ("15 maja 2026", "pl", "DMY"), ("31. August 2026", "de", "DMY"), ("lundi 3 août.", "fr", "DMY"),
        ("21 May", "en", "DMY"), ("22/05/2026", "en", "DMY"), ("24 agosto", "it", "DMY"), ("понедельник, 23 ноября.", "ru", "DMY"),
        ("10. April", "de", "DMY"), ("måndag 17 augusti.", "sv", "DMY"), ("3rd of March.", "en", "DMY"), ("09/14/2026", "en", "MDY"),
        ("14 марта.", "ru", "DMY"), ("15 de agosto", "es", "DMY"), ("15 septembre 2026", "fr", "DMY"), ("7/24", "en", "MDY"),
        ("2nd Feb", "en", "DMY"), ("14.03.2026", "de", "DMY"), ("Montag, 20. Juli", "de", "DMY"), ("September 1, 2026", "en", "MDY"),
        ("3 de novembro", "pt", "DMY"), ("dinsdag 7 april", "nl", "DMY"), ("vendredi 2 octobre", "fr", "DMY"), ("1er mars", "fr", "DMY"),
        ("Monday 16 February", "en", "DMY"), ("24 July", "en", "DMY"), ("23 July", "en", "DMY"), ("1 January", "en", "DMY"),
        ("31 December", "en", "DMY"), ("2026-07-24", "en", "DMY"), ("24/7", "en", "DMY"), ("Friday", "en", "DMY"), ("пятницу", "ru", "DMY"),
    ],
)
def test_common_phrases_read_as_dateparser_reads_them(said: str, lang: str, order: str) -> None:
    for base in BASES:
        _agree(said, lang, base, order)


def test_numeric_dates_read_as_dateparser_reads_them() -> None:
    rng = random.Random(5)
    for _ in range(300):
        a, b = rng.randint(0, 32), rng.randint(0, 32)
        said = rng.choice([f"{a}/{b}", f"{a:02d}/{b:02d}/2027", f"{a}.{b}.2026", f"2026-{a:02d}-{b:02d}"])
        order = rng.choice(["DMY", "MDY"])
        _agree(said, "en" if order == "MDY" else "de", rng.choice(BASES), order, must_answer=False)


def test_random_phrases_read_as_dateparser_reads_them_when_answered() -> None:
    rng = random.Random(11)
    langs = sorted(dates._MONTHS_OF)
    answered = 0
    for _ in range(400):
        lang = rng.choice(langs)
        words_of = lang if rng.random() < 0.8 else rng.choice(langs)  # sometimes another language's words: never answered wrongly
        month = rng.choice(list(dates._MONTHS_OF[words_of]))
        weekday = rng.choice(list(dates._WEEKDAYS_OF[words_of]))
        day = rng.choice([0, 1, 2, 3, 11, 21, 22, 23, 28, 29, 30, 31, 32])
        said = rng.choice(
            [
                f"{day} {month}", f"{day}{rng.choice(['st', 'nd', 'er', '.', 'e'])} {month}", f"{weekday}, {day} {rng.choice(['of ', 'de ', ''])}{month}",
                f"{month.capitalize()} {day}, 2027", f"{day} {month.upper()}. 2026", f"{weekday.capitalize()} {month} {day}th",
            ]
        )
        base = rng.choice(BASES)
        fast = _fast_parse(said, lang, base, "DMY")
        if fast is not _NO_FAST_ANSWER:
            answered += 1
            assert isinstance(fast, dt.datetime) and fast.date() == _dateparser(said, lang, base, "DMY"), (said, lang, base)
    assert answered > 100


@pytest.mark.parametrize(
    ("said", "lang", "order"),
    [
        ("7/24", "en", "DMY"),  # and here a two-digit year
        ("29 February", "en", "DMY"),  # the next leap year
        ("31 April", "en", "DMY"),
        ("06.\nMarta", "es", "DMY"),
        ("21 Mar 2030", "sv", "DMY"),  # not a Swedish abbreviation
        ("Monday 16 February", "de", "DMY"),  # English words in a German text
        ("14.09.26", "de", "DMY"),
        ("13/05/2026", "en", "MDY"),  # no 13th month: dateparser swaps
        ("tomorrow", "en", "DMY"),
    ],
)
def test_other_shapes_are_left_to_dateparser(said: str, lang: str, order: str) -> None:
    assert _fast_parse(said, lang, BASES[0], order) is _NO_FAST_ANSWER


def test_a_day_and_month_with_dots_is_a_date_not_the_time_dateparser_reads() -> None:
    # "bis einschließlich 4.12.": dateparser gives 04:12 today; an absence note means 4 December
    base = dt.datetime(2026, 11, 25, 9, 0)
    assert _dateparser("4.12", "de", base, "DMY") == dt.date(2026, 11, 26)  # 04:12 next morning: why the fast path departs
    assert _fast_parse("4.12", "de", base, "DMY") == dt.datetime(2026, 12, 4)
    assert _fast_parse("14.09", "de", base, "DMY") == dt.datetime(2027, 9, 14)  # the next 14 September
    assert _fast_parse("14.30", "de", base, "DMY") is _NO_FAST_ANSWER  # "ab 14.30 Uhr": no 30th month
    assert return_date("Ich bin bis einschließlich 4.12. nicht im Büro.", base, language="de") == dt.date(2026, 12, 4)
    assert return_date("Abwesend vom 1.12. bis 4.12., ab 14.30 Uhr am 7.12. wieder da.", base, language="de") == dt.date(2026, 12, 7)


def test_austrian_and_turkish_months() -> None:
    base = dt.datetime(2026, 11, 25, 9, 0)
    austrian = "Ich bin bis einschließlich 8. Jänner 2027 nicht im Büro. Ab Montag, 11. Jänner 2027 bin ich wieder erreichbar."
    turkish = "Merhaba, şu anda yıllık izindeyim, 4 Aralık'ta döneceğim. Acil durumlarda lütfen arayın."
    assert dates.guess_language(turkish) == "tr"
    assert return_date(austrian, base) == dt.date(2027, 1, 11)
    assert return_date(turkish, base) == dt.date(2026, 12, 4)


def test_norwegian_and_danish_dates_are_read_in_their_language() -> None:
    base = dt.datetime(2026, 11, 25, 9, 0)
    norwegian = "Jeg er i foreldrepermisjon og er tilbake på jobb mandag 15. mars 2027. Jeg leser ikke e-post i denne perioden."
    danish = "Tak for din mail. Jeg er på ferie og tilbage på arbejde mandag den 7. december."
    assert (dates.guess_language(norwegian), dates.guess_language(danish)) == ("nb", "da")
    assert return_date(norwegian, base) == dt.date(2027, 3, 15)
    assert return_date(danish, base) == dt.date(2026, 12, 7)


def _reference_candidate() -> re.Pattern[str]:
    """``_CANDIDATE`` as it was written before the first-letter lookahead was put in front."""
    w, m = dates._WEEKDAYS, dates._MONTH_WORDS
    return re.compile(
        r"\b\d{4}-\d{2}-\d{2}\b"
        r"|\b\d{1,2}[./]\d{1,2}(?:[./]\d{2,4})?\b"
        rf"|(?:\b(?:{w})\b,?\s*)?\b\d{{1,2}}(?:st|nd|rd|th|er|e|º|\.)?\s+(?:of\s+|de\s+)?(?:{m})[^\W\d_]*\.?(?:,?\s+\d{{4}})?"
        rf"|(?:\b(?:{w})\b,?\s*)?\b(?:{m})[^\W\d_]*\.?\s+\d{{1,2}}(?:st|nd|rd|th)?\b(?:,?\s+\d{{4}})?"
        rf"|\b(?:{w})\b",
        re.I,
    )


def test_the_lookaheads_change_no_match(fixture_replies: list) -> None:
    reference = _reference_candidate()
    useful = re.compile(r"\d|" + dates._USEFUL_WORDS, re.I)
    months = re.compile(dates._MONTHS_WORDS, re.I)
    rng = random.Random(3)
    pieces = list("0123456789 .,/-–\nabcdefjmnorstuMTJASéäñºпнвсчяф") + ["Monday", "mar", "Juli", "3rd", " de ", "сред", "мая", "2026", "Sept.", "ſep", "MARCH"]
    texts = [t for r in fixture_replies for t in (r.new_text or "", r.body)]
    texts += ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 40))) for _ in range(1500)]
    for text in texts:
        assert [m.span() for m in _CANDIDATE.finditer(text)] == [m.span() for m in reference.finditer(text)], text
        for line in text.split("\n"):
            assert bool(dates._USEFUL.search(line)) == bool(useful.search(line)), line
            assert bool(dates._MONTHS.search(line)) == bool(months.search(line)), line


def test_return_dates_of_the_fixtures_are_those_dateparser_alone_gives(fixture_replies: list, monkeypatch: pytest.MonkeyPatch) -> None:
    asked = [(r.new_text or r.body, r.date) for r in fixture_replies if "out_of_office" in r.source and (r.new_text or r.body).strip()]
    fast = [return_date(text, sent, language=dates.guess_language(text)) for text, sent in asked]
    # dateparser alone, but for the one shape the fast path reads differently on purpose ("bis 4.12.")
    real = dates._fast_parse
    monkeypatch.setattr(dates, "_fast_parse", lambda said, *args: real(said, *args) if dates._DAY_DOT_MONTH.fullmatch(said) else _NO_FAST_ANSWER)
    slow = [return_date(text, sent, language=dates.guess_language(text)) for text, sent in asked]
    assert fast == slow
    assert sum(1 for d in fast if d is not None) >= 45

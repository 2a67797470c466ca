"""Dates: ``--since`` values and the return date of an out-of-office reply.

Return dates are read with dateparser in the reply's language, relative to
the reply's Date header ("back on Monday"); a range such as "away 3–14
March" gives its last day.
"""

from __future__ import annotations

import datetime as dt
import re
import warnings
from typing import Any

from .errors import ConfigError

_STOPWORDS = {
    "en": "the and you to of is for with this that are will be please thanks not have out office back until".split(),
    "de": "und der die das ich sie nicht ist mit für bitte wir ihre ihnen bis im büro zurück vielen dank".split(),
    "fr": "le la les et je vous est pas pour une des avec merci nous bureau jusqu'au retour suis absent".split(),
    "es": "el la los las y que de en es por para con gracias usted estoy hasta oficina saludos no".split(),
    "ru": "и в не на я что с по вы это вас к до спасибо меня будет уважением".split(),
    "it": "il la di che non è per sono con grazie fino ufficio saluti".split(),
    "nl": "de het een en ik niet van is voor met bedankt ben tot kantoor groet".split(),
    "pt": "o a os de que não é para com obrigado estou até escritório".split(),
    "sv": "och att jag inte är för med tack till kontoret hälsningar".split(),
    "pl": "i w nie na jest się z do dziękuję pozdrawiam biura".split(),
}
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
_RANGE = re.compile(
    r"\b(\d{1,2})\.?\s*(?:-|–|—|to|till|until|bis|au|al|a|по|tot|t/m|al|do|até|fino al|–)\s*(\d{1,2})(\.?\s*(?:de\s+)?[^\W\d_]{3,})",
    re.I,
)
_RANGE_MONTH_FIRST = re.compile(r"\b([A-Za-z]{3,9})\.?\s+(\d{1,2})(?:st|nd|rd|th)?\s*(?:-|–|—|to|through|thru)\s*(\d{1,2})(?:st|nd|rd|th)?\b")
_USEFUL = re.compile(r"\d|monday|tuesday|wednesday|thursday|friday|tomorrow|montag|dienstag|mittwoch|donnerstag|freitag|lundi|mardi|mercredi|jeudi|vendredi|lunes|martes|miércoles|jueves|viernes|понедельник|вторник|сред|четверг|пятниц", re.I)


_MONTHS = re.compile(
    r"jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|mär|mai|okt|dez|janv|févr|avr|juil|août|déc|ene|abr|ago|dic|"
    r"янв|фев|мар|апр|мая|май|июн|июл|авг|сен|окт|ноя|дек|tomorrow|morgen|demain|mañana|завтра|week|woche|semaine|semana|недел",
    re.I,
)


def guess_language(text: str) -> str:
    """A cheap guess of the language of ``text`` from common words.

    >>> guess_language("Ich bin bis Montag nicht im Büro"), guess_language("Меня не будет в офисе")
    ('de', 'ru')
    """
    words = [w.lower() for w in _WORD.findall(text[:2000])]
    if not words:
        return "en"
    if sum(1 for w in words if re.match("[а-яё]", w)) > len(words) / 3:
        return "ru"
    scores = {lang: sum(1 for w in words if w in set(stop)) for lang, stop in _STOPWORDS.items() if lang != "ru"}
    best = max(scores, key=lambda k: scores[k])
    return best if scores[best] > 0 else "en"


def parse_since(value: str, *, today: dt.date | None = None) -> dt.date:
    """The first day a ``--since`` value includes.

    >>> parse_since("yesterday", today=dt.date(2026, 11, 27)), parse_since("3 days ago", today=dt.date(2026, 11, 27))
    (datetime.date(2026, 11, 26), datetime.date(2026, 11, 24))
    >>> parse_since("2026-11-01")
    datetime.date(2026, 11, 1)
    """
    today = today or dt.date.today()
    text = value.strip().lower()
    if text == "today":
        return today
    if text == "yesterday":
        return today - dt.timedelta(days=1)
    m = re.fullmatch(r"(\d+)\s*(day|days|week|weeks)\s+ago", text)
    if m:
        n = int(m.group(1)) * (7 if m.group(2).startswith("week") else 1)
        return today - dt.timedelta(days=n)
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        pass
    import dateparser

    base = dt.datetime.combine(today, dt.time(12))
    parsed = dateparser.parse(value, settings={"RELATIVE_BASE": base, "PREFER_DATES_FROM": "past"})
    if parsed is None:
        raise ConfigError(f"--since {value!r} is not a date: use 'yesterday', 'today', 'N days ago' or YYYY-MM-DD")
    return dt.date(parsed.year, parsed.month, parsed.day)


_WEEKDAYS = (
    r"monday|tuesday|wednesday|thursday|friday|saturday|sunday|montag|dienstag|mittwoch|donnerstag|freitag|samstag|sonntag|"
    r"lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche|lunes|martes|miércoles|jueves|viernes|sábado|domingo|"
    r"понедельник|вторник|среду|среда|четверг|пятницу|пятница|субботу|воскресенье|lunedì|martedì|mercoledì|giovedì|venerdì|"
    r"maandag|dinsdag|woensdag|donderdag|vrijdag|måndag|tisdag|onsdag|torsdag|fredag|poniedziałek|wtorek|środa|czwartek|piątek|"
    r"segunda|terça|quarta|quinta|sexta|tomorrow|morgen|demain|mañana|завтра|domani"
)
_MONTH_WORDS = (
    r"jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|mär|mai|okt|dez|janv|févr|fév|avr|juil|juin|août|déc|ene|abr|ago|dic|"
    r"gen|mag|giu|lug|set|ott|maa|mei|okt|sty|lut|kwi|maj|cze|lip|sie|wrz|paź|lis|gru|fev|out|dez|"
    r"янв|фев|мар|апр|мая|май|июн|июл|авг|сен|окт|ноя|дек"
)
# Date-shaped phrases: parsing each with dateparser costs ~1 ms, searching a whole auto-reply ~30 ms.
_CANDIDATE = re.compile(
    r"\b\d{4}-\d{2}-\d{2}\b"
    r"|\b\d{1,2}[./]\d{1,2}(?:[./]\d{2,4})?\b"
    rf"|(?:\b(?:{_WEEKDAYS})\b,?\s*)?\b\d{{1,2}}(?:st|nd|rd|th|er|e|º|\.)?\s+(?:of\s+|de\s+)?(?:{_MONTH_WORDS})[^\W\d_]*\.?(?:,?\s+\d{{4}})?"
    rf"|(?:\b(?:{_WEEKDAYS})\b,?\s*)?\b(?:{_MONTH_WORDS})[^\W\d_]*\.?\s+\d{{1,2}}(?:st|nd|rd|th)?\b(?:,?\s+\d{{4}})?"
    rf"|\b(?:{_WEEKDAYS})\b",
    re.I,
)


def _parse_candidates(text: str, lang: str, settings: dict[str, Any]) -> list[tuple[str, dt.datetime]]:
    import dateparser

    found = []
    for m in _CANDIDATE.finditer(text):
        said = m.group(0)
        try:
            when = dateparser.parse(said, languages=[lang], settings=settings)
        except Exception:  # noqa: BLE001 - dateparser raises assorted errors on odd text
            when = None
        if when is not None:
            found.append((said, when))
    return found


def return_date(text: str, sent: dt.datetime | None, *, language: str | None = None, region: str = "US") -> dt.date | None:
    """The day an absent person is back (or their last day away), if the text says.

    >>> return_date("I am away 3-14 March, back after that.", dt.datetime(2026, 3, 2))
    datetime.date(2026, 3, 14)
    """
    from dateparser.search import search_dates

    if not text.strip():
        return None
    base = (sent or dt.datetime.now(dt.timezone.utc)).replace(tzinfo=None)
    # only the lines that can hold a date: dateparser's search costs ~30 ms on a whole auto-reply
    text = "\n".join(line for line in text[:1500].split("\n") if _USEFUL.search(line) or _MONTHS.search(line))
    text = _RANGE.sub(lambda m: f"{m.group(2)}{m.group(3)}", text)
    text = _RANGE_MONTH_FIRST.sub(lambda m: f"{m.group(1)} {m.group(3)}", text)
    lang = language or guess_language(text)
    settings = {
        "RELATIVE_BASE": base,
        "PREFER_DATES_FROM": "future",
        "RETURN_AS_TIMEZONE_AWARE": False,
        "DATE_ORDER": "MDY" if region in ("US", "CA", "PH") and lang == "en" else "DMY",
        "REQUIRE_PARTS": [],
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found = _parse_candidates(text, lang, settings)
        if not found:
            # no date-shaped phrase: let dateparser search the text itself (slower, rarely needed)
            try:
                found = search_dates(text, languages=[lang], settings=settings) or []
            except Exception:  # noqa: BLE001 - dateparser raises assorted errors on odd text
                found = []
    earliest = base.date() - dt.timedelta(days=1)
    latest = base.date() + dt.timedelta(days=370)
    candidates = []
    for said, when in found:
        if not _USEFUL.search(said) or len(said.strip()) <= 2 or re.fullmatch(r"\s*\d{1,2}\s*", said):
            continue
        day = when.date()
        if day > base.date() + dt.timedelta(days=200) and not re.search(r"\d{4}", said):
            # "on leave from 6 July" written after 6 July: dateparser's "future" moved it a year on
            day = day.replace(year=day.year - 1) if not (day.month == 2 and day.day == 29) else day
        if earliest <= day <= latest:
            candidates.append(day)
    return max(candidates) if candidates else None

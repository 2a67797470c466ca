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
    "da": "og jeg ikke er tak til kontoret venlig hilsen tilbage på arbejde orlov ferie fra".split(),
    "nb": "og jeg ikke er takk til kontoret vennlig hilsen tilbake på jobb permisjon ferie fra".split(),
    "tr": "ve bir bu için ile değil teşekkürler izindeyim tarihinde döneceğim ofiste saygılarımla kadar".split(),
}
_STOPSETS = {lang: frozenset(words) for lang, words in _STOPWORDS.items()}
_CYRILLIC = re.compile("[а-яё]")
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
_RANGE = re.compile(
    r"\b(\d{1,2})\.?\s*(?:-|–|—|to|till|until|bis|au|al|a|по|tot|t/m|al|do|até|fino al|–)\s*(\d{1,2})(\.?\s*(?:de\s+)?[^\W\d_]{3,})",
    re.I,
)
_RANGE_MONTH_FIRST = re.compile(r"\b([A-Za-z]{3,9})\.?\s+(\d{1,2})(?:st|nd|rd|th)?\s*(?:-|–|—|to|through|thru)\s*(\d{1,2})(?:st|nd|rd|th)?\b")


def _starts(words: str, digit: bool = False) -> str:
    """A lookahead for the first letters of ``words`` (plain words joined by "|"), and digits.

    Put before a pattern every match of which starts that way, it changes none of the
    matches and saves trying every word at every position of the text.
    """
    firsts = sorted({w[0] for w in words.split("|")})
    return "(?=[" + ("\\d" if digit else "") + "".join(re.escape(c) for c in firsts) + "])"


_USEFUL_WORDS = (
    "monday|tuesday|wednesday|thursday|friday|tomorrow|montag|dienstag|mittwoch|donnerstag|freitag|lundi|mardi|mercredi|jeudi|vendredi|"
    "lunes|martes|miércoles|jueves|viernes|понедельник|вторник|сред|четверг|пятниц"
)
_USEFUL = re.compile(rf"{_starts(_USEFUL_WORDS, digit=True)}(?:\d|{_USEFUL_WORDS})", re.I)

_MONTHS_WORDS = (
    r"jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|mär|mai|okt|dez|janv|févr|avr|juil|août|déc|ene|abr|ago|dic|"
    r"янв|фев|мар|апр|мая|май|июн|июл|авг|сен|окт|ноя|дек|tomorrow|morgen|demain|mañana|завтра|week|woche|semaine|semana|недел"
)
_MONTHS = re.compile(rf"{_starts(_MONTHS_WORDS)}(?:{_MONTHS_WORDS})", re.I)


def guess_language(text: str) -> str:
    """A cheap guess of the language of ``text`` from common words.

    >>> guess_language("Ich bin bis Montag nicht im Büro"), guess_language("Меня не будет в офисе")
    ('de', 'ru')
    """
    words = [w.lower() for w in _WORD.findall(text[:2000])]
    if not words:
        return "en"
    if sum(1 for w in words if _CYRILLIC.match(w)) > len(words) / 3:
        return "ru"
    scores = {lang: sum(1 for w in words if w in stop) for lang, stop in _STOPSETS.items() if lang != "ru"}
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
    r"mandag|tirsdag|pazartesi|salı|çarşamba|perşembe|cuma|"
    r"segunda|terça|quarta|quinta|sexta|tomorrow|morgen|demain|mañana|завтра|domani"
)
_MONTH_WORDS = (
    r"jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|mär|mai|okt|dez|janv|févr|fév|avr|juil|juin|août|déc|ene|abr|ago|dic|"
    r"gen|mag|giu|lug|set|ott|maa|mei|okt|sty|lut|kwi|maj|cze|lip|sie|wrz|paź|lis|gru|fev|out|dez|des|jän|"
    r"oca|şub|nis|haz|tem|ağu|eyl|eki|kas|ara|"
    r"янв|фев|мар|апр|мая|май|июн|июл|авг|сен|окт|ноя|дек"
)
# Date-shaped phrases: parsing each with dateparser costs ~1 ms, searching a whole auto-reply ~30 ms.
_CANDIDATE = re.compile(
    rf"\b{_starts(_WEEKDAYS + '|' + _MONTH_WORDS, digit=True)}(?:"  # every branch starts so
    r"\b\d{4}-\d{2}-\d{2}\b"
    r"|\b\d{1,2}[./]\d{1,2}(?:[./]\d{2,4})?\b"
    rf"|(?:\b(?:{_WEEKDAYS})\b,?\s*)?\b\d{{1,2}}(?:st|nd|rd|th|er|e|º|\.)?\s+(?:of\s+|de\s+)?(?:{_MONTH_WORDS})[^\W\d_]*\.?(?:,?\s+\d{{4}})?"
    rf"|(?:\b(?:{_WEEKDAYS})\b,?\s*)?\b(?:{_MONTH_WORDS})[^\W\d_]*\.?\s+\d{{1,2}}(?:st|nd|rd|th)?\b(?:,?\s+\d{{4}})?"
    rf"|\b(?:{_WEEKDAYS})\b)",
    re.I,
)


# The fast path: the common shapes of a date-shaped phrase, read by the code below the
# way dateparser reads them with the settings of return_date (its language data, the
# future preferred, the year of the Date header).  A phrase of any other shape, or a word
# these tables do not know, goes to dateparser; tests/unit/test_dates_fast.py checks the
# two agree on every word of the tables.
_MONTH_NAMES = {
    "en": "january|jan february|feb march|mar april|apr may june|jun july|jul august|aug september|sep|sept october|oct november|nov december|dec",
    "de": "januar|jänner|jan|jän februar|feb märz|mär april|apr mai juni|jun juli|jul august|aug september|sep|sept oktober|okt november|nov dezember|dez",
    "fr": "janvier|janv|jan février|févr|fév mars avril|avr mai juin juillet|juil août septembre|sept|sep octobre|oct novembre|nov décembre|déc",
    "es": "enero|ene febrero|feb marzo|mar abril|abr mayo|may junio|jun julio|jul agosto|ago septiembre|setiembre|sept|sep octubre|oct noviembre|nov diciembre|dic",
    "it": "gennaio|gen febbraio|feb marzo|mar aprile|apr maggio|mag giugno|giu luglio|lug agosto|ago settembre|set ottobre|ott novembre|nov dicembre|dic",
    "nl": "januari|jan februari|feb maart april|apr mei juni|jun juli|jul augustus|aug september|sep oktober|okt november|nov december|dec",
    "pt": "janeiro|jan fevereiro|fev março|mar abril|abr maio|mai junho|jun julho|jul agosto|ago setembro|set outubro|out novembro|nov dezembro|dez",
    "sv": "januari|jan februari|feb mars april|apr maj juni|jun juli|jul augusti|aug september|sep oktober|okt november|nov december|dec",
    "da": "januar|jan februar|feb marts|mar april|apr maj juni|jun juli|jul august|aug september|sep oktober|okt november|nov december|dec",
    "nb": "januar|jan februar|feb mars|mar april|apr mai juni|jun juli|jul august|aug september|sep oktober|okt november|nov desember|des",
    "tr": "ocak|oca şubat|şub mart|mar nisan|nis mayıs|may haziran|haz temmuz|tem ağustos|ağu eylül|eyl ekim|eki kasım|kas aralık|ara",
    "pl": "styczeń|stycznia|sty luty|lutego|lut marzec|marca|mar kwiecień|kwietnia|kwi maj|maja czerwiec|czerwca|cze lipiec|lipca|lip "
    "sierpień|sierpnia|sie wrzesień|września|wrz październik|października|paź listopad|listopada|lis grudzień|grudnia|gru",
    "ru": "январь|января|янв февраль|февраля|фев март|марта|мар апрель|апреля|апр май|мая июнь|июня|июн июль|июля|июл "
    "август|августа|авг сентябрь|сентября|сент|сен октябрь|октября|окт ноябрь|ноября|ноя декабрь|декабря|дек",
}
_WEEKDAY_NAMES = {
    "en": "monday tuesday wednesday thursday friday saturday sunday",
    "de": "montag dienstag mittwoch donnerstag freitag samstag sonntag",
    "fr": "lundi mardi mercredi jeudi vendredi samedi dimanche",
    "es": "lunes martes miércoles jueves viernes sábado domingo",
    "it": "lunedì martedì mercoledì giovedì venerdì sabato domenica",
    "nl": "maandag dinsdag woensdag donderdag vrijdag zaterdag zondag",
    "pt": "segunda terça quarta quinta sexta sábado domingo",
    "sv": "måndag tisdag onsdag torsdag fredag lördag söndag",
    "da": "mandag tirsdag onsdag torsdag fredag lørdag søndag",
    "nb": "mandag tirsdag onsdag torsdag fredag lørdag søndag",
    "tr": "pazartesi salı çarşamba perşembe cuma cumartesi pazar",
    "pl": "poniedziałek wtorek środa czwartek piątek sobota niedziela",
    "ru": "понедельник вторник среда|среду четверг пятница|пятницу суббота|субботу воскресенье",
}
_MONTHS_OF = {lang: {w: i for i, forms in enumerate(names.split(), 1) for w in forms.split("|")} for lang, names in _MONTH_NAMES.items()}
_WEEKDAYS_OF = {lang: {w: i for i, forms in enumerate(names.split()) for w in forms.split("|")} for lang, names in _WEEKDAY_NAMES.items()}
# what may follow the day ("3rd", "1er", "31.") and join it to the month ("3rd of March", "15 de agosto")
_DAY_SUFFIXES = {"en": ("st", "nd", "rd", "th"), "fr": ("er",), "de": (".",), "pl": (".",), "sv": (), "da": (".",), "nb": (".",), "tr": (), "nl": (), "it": (), "es": (), "pt": (), "ru": ()}
_DAY_OF = {"en": "of", "es": "de", "pt": "de"}
_FAST_DAY_FIRST = re.compile(
    r"(?:(?P<weekday>[^\W\d_]+),? )?(?P<day>\d{1,2})(?P<suffix>[^\W\d_]{1,2}|\.)? (?:(?P<of>[^\W\d_]{2}) )?"
    r"(?P<month>[^\W\d_]+)\.?(?:,? (?P<year>\d{4}))?"
)
_FAST_MONTH_FIRST = re.compile(r"(?:(?P<weekday>[^\W\d_]+),? )?(?P<month>[^\W\d_]+)\.? (?P<day>\d{1,2})(?P<suffix>st|nd|rd|th)?(?:,? (?P<year>\d{4}))?")
_FAST_NUMERIC = re.compile(r"(?P<a>\d{1,2})(?P<sep>[./])(?P<b>\d{1,2})(?P=sep)(?P<year>\d{4})|(?P<c>\d{1,2})/(?P<d>\d{1,2})")
_DAY_DOT_MONTH = re.compile(r"(?P<day>\d{1,2})\.(?P<month>\d{1,2})")
_FAST_ISO = re.compile(r"(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})")
_NO_FAST_ANSWER = object()


def _after_base(day: int, month: int, base: dt.datetime) -> dt.datetime | object:
    """``day month`` without a year: this year's, unless it is not after ``base``, then next year's."""
    if month == 2 and day == 29:
        return _NO_FAST_ANSWER  # dateparser moves it to a leap year
    try:
        when = dt.datetime(base.year, month, day)
    except ValueError:
        return _NO_FAST_ANSWER
    return when if base < when else when.replace(year=base.year + 1)


def _on(day: int, month: int, year: str | None, base: dt.datetime) -> dt.datetime | object:
    if year is None:
        return _after_base(day, month, base)
    if not 1900 <= int(year) <= 2100:
        return _NO_FAST_ANSWER
    try:
        return dt.datetime(int(year), month, day)
    except ValueError:
        return _NO_FAST_ANSWER


def _fast_parse(said: str, lang: str, base: dt.datetime, date_order: str) -> dt.datetime | object:
    """What dateparser makes of ``said`` in the shapes above, or ``_NO_FAST_ANSWER``."""
    months = _MONTHS_OF.get(lang)
    weekdays = _WEEKDAYS_OF.get(lang)
    if months is None or weekdays is None:
        return _NO_FAST_ANSWER
    low = said.casefold()
    weekday = weekdays.get(low)
    if weekday is not None:  # "Monday": the next one, a week on if the Date header is a Monday
        return dt.datetime(base.year, base.month, base.day) + dt.timedelta(days=(weekday - base.weekday()) % 7 or 7)
    m = _FAST_DAY_FIRST.fullmatch(low)
    if m:
        month = months.get(m["month"])
        if month is None or (m["weekday"] is not None and m["weekday"] not in weekdays):
            return _NO_FAST_ANSWER
        if m["suffix"] is not None and m["suffix"] not in _DAY_SUFFIXES.get(lang, ()):
            return _NO_FAST_ANSWER
        if m["of"] is not None and m["of"] != _DAY_OF.get(lang):
            return _NO_FAST_ANSWER
        return _on(int(m["day"]), month, m["year"], base)
    if lang == "en":
        m = _FAST_MONTH_FIRST.fullmatch(low)
        if m:
            month = months.get(m["month"])
            if month is None or (m["weekday"] is not None and m["weekday"] not in weekdays):
                return _NO_FAST_ANSWER
            return _on(int(m["day"]), month, m["year"], base)
    m = _DAY_DOT_MONTH.fullmatch(low)
    if m:
        # "bis 4.12.", "ab 14.09": day and month.  dateparser reads a time of day (04:12), which an
        # absence note never means; the one place the fast path departs from it on purpose
        day, month = int(m["day"]), int(m["month"])
        return _after_base(day, month, base) if 1 <= month <= 12 and 1 <= day <= 31 else _NO_FAST_ANSWER
    m = _FAST_NUMERIC.fullmatch(low)
    if m:
        first, second = (m["a"], m["b"]) if m["year"] else (m["c"], m["d"])
        day, month = (int(second), int(first)) if date_order == "MDY" else (int(first), int(second))
        if not 1 <= month <= 12:
            return _NO_FAST_ANSWER  # dateparser tries the other order, or reads a two-digit year
        return _on(day, month, m["year"], base)
    m = _FAST_ISO.fullmatch(low)
    if m:
        return _on(int(m["day"]), int(m["month"]), m["year"], base)
    return _NO_FAST_ANSWER


def _parse_candidates(text: str, lang: str, settings: dict[str, Any]) -> list[tuple[str, dt.datetime]]:
    found = []
    for m in _CANDIDATE.finditer(text):
        said = m.group(0)
        fast = _fast_parse(said, lang, settings["RELATIVE_BASE"], settings["DATE_ORDER"])
        when = fast if isinstance(fast, dt.datetime) else _dateparser_parse(said, lang, settings)
        if when is not None:
            found.append((said, when))
    return found


def _dateparser_parse(said: str, lang: str, settings: dict[str, Any]) -> Any:
    import dateparser

    try:
        return dateparser.parse(said, languages=[lang], settings=settings)
    except Exception:  # noqa: BLE001 - dateparser raises assorted errors on odd text
        return None


def return_date(text: str, sent: dt.datetime | None, *, language: str | None = None, region: str = "US") -> dt.date | None:
    """The day an absent person is back (or their last day away), if the text says.

    >>> return_date("I am away 3-14 March, back after that.", dt.datetime(2026, 3, 2))
    datetime.date(2026, 3, 14)
    """
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
            from dateparser.search import search_dates

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

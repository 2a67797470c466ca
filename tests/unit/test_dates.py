"""--since values and out-of-office return dates."""

from __future__ import annotations

import datetime as dt

import pytest

from triage.dates import guess_language, parse_since, return_date
from triage.errors import ConfigError

TODAY = dt.date(2026, 11, 27)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("today", TODAY), ("yesterday", dt.date(2026, 11, 26)), ("3 days ago", dt.date(2026, 11, 24)), ("2 weeks ago", dt.date(2026, 11, 13)), ("2026-11-01", dt.date(2026, 11, 1))],
)
def test_since(value: str, expected: dt.date) -> None:
    assert parse_since(value, today=TODAY) == expected


def test_since_rejects_nonsense_with_a_hint() -> None:
    with pytest.raises(ConfigError, match="N days ago"):
        parse_since("the day the music died", today=TODAY)


SENT = dt.datetime(2026, 3, 2, 9, 0)  # a Monday


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I am out of the office 3-14 March with limited access to email.", dt.date(2026, 3, 14)),
        ("I'll be back on Wednesday.", dt.date(2026, 3, 4)),
        ("Ich bin bis einschließlich 14.03.2026 nicht im Büro.", dt.date(2026, 3, 14)),
        ("Je suis absent du 3 au 14 mars.", dt.date(2026, 3, 14)),
        ("Estoy de vacaciones hasta el 15 de agosto.", dt.date(2026, 8, 15)),
        ("Я в отпуске до 20 июля.", dt.date(2026, 7, 20)),
        ("Меня не будет в офисе с 3 по 14 марта.", dt.date(2026, 3, 14)),
        ("Thanks for your email. I'm travelling with limited access.", None),
    ],
)
def test_return_date(text: str, expected: dt.date | None) -> None:
    assert return_date(text, SENT) == expected


def test_language_guess() -> None:
    assert guess_language("Estoy de vacaciones hasta el lunes, gracias") == "es"
    assert guess_language("Je suis absent, merci pour votre message") == "fr"

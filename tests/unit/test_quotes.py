"""Separating the new text from the quoted thread and the signature."""

from __future__ import annotations

import json

import pytest

from tests.conftest import FIXTURES, fixture_bytes
from triage.parsing import parse
from triage.quotes import split_reply
from triage.records import RawMessage


def _reply(relative: str):
    return parse(RawMessage(relative, fixture_bytes(relative)))


@pytest.mark.parametrize(
    ("text", "new"),
    [
        ("Talk to Jane.\n\nOn Tue, Mar 4, 2025 at 9:12 AM Sam Carter <sam@x.io> wrote:\n> Who handles sales?", "Talk to Jane."),
        ("Talk to Jane.\n\nOn Tue, Mar 4, 2025 at 9:12 AM Sam Carter <\nsam@x.io> wrote:\n> Who?", "Talk to Jane."),
        ("Bitte an Jana.\n\nAm Di., 4. März 2025 um 09:12 Uhr schrieb Lena Vogel <l@k.de>:\n> Hallo", "Bitte an Jana."),
        ("Voyez avec Luc.\n\nLe mar. 4 mars 2025 à 09:12, Claire Martin <c@k.fr> a écrit :\n> Bonjour", "Voyez avec Luc."),
        ("Hable con Ana.\n\nEl mar, 4 mar 2025 a las 9:12, Diego Ramos (<d@f.es>) escribió:\n> Hola", "Hable con Ana."),
        ("Пишите Анне.\n\nвт, 4 мар. 2025 г. в 09:12, Дмитрий Орлов <d.orlov@fleetwise.io>:\n> Добрый день", "Пишите Анне."),
        ("Пишите Анне.\n\n04.03.2025, 09:12, \"Дмитрий Орлов\" <d.orlov@fleetwise.io>:\n> Добрый день", "Пишите Анне."),
        ("Пишите Анне.\n\nДмитрий Орлов пишет:\n> Добрый день", "Пишите Анне."),
        ("Ask Raj.\n\nFrom: Sam Carter <sam@x.io>\nSent: Tuesday, March 4, 2025 9:12 AM\nTo: Bob\nSubject: hi\n\nWho?", "Ask Raj."),
        ("Frag Jana.\n\nVon: Lena Vogel <l@k.de>\nGesendet: Dienstag, 4. März 2025 09:12\nAn: Bob\nBetreff: Hallo", "Frag Jana."),
        ("Ask Raj.\n\n-----Original Message-----\nFrom: Sam\nWho?", "Ask Raj."),
        ("Спросите Ивана.\n\n-----Исходное сообщение-----\nОт: Дмитрий\nТема: вопрос", "Спросите Ивана."),
    ],
)
def test_attribution_lines_and_header_blocks_start_the_quote(text: str, new: str) -> None:
    split = split_reply(text)
    assert split.new_text == new
    assert split.quoted and new not in split.quoted


def test_bottom_posting_keeps_the_text_below_the_quote() -> None:
    text = "On Tue, Mar 4, 2025 at 9:12 AM Sam <s@x.io> wrote:\n> Who handles fleet?\n\nThat would be Maria Lopez, maria@acme.com."
    assert split_reply(text).new_text == "That would be Maria Lopez, maria@acme.com."


def test_inline_answers_are_kept() -> None:
    text = "Hi,\n\nOn Tue, Mar 4, 2025 Sam <s@x.io> wrote:\n> Who owns fleet?\nAroha Ngata.\n> Best way to reach her?\n021 555 0199\n"
    new = split_reply(text).new_text
    assert "Aroha Ngata." in new and "021 555 0199" in new and "Who owns" not in new


def test_bulleted_contact_is_content_not_a_signature() -> None:
    text = "Please contact:\n\n- Ken Ito, ken.ito@kestrelic.com\n- +1 312 555 0187\n\nThanks,\nGary"
    split = split_reply(text, sender_name="Gary Lindqvist")
    assert "Ken Ito" in split.new_text and split.signature.startswith("Thanks")


def test_signature_by_the_senders_own_name() -> None:
    split = split_reply("Not interested.\n\nOleg Danilov\nCommercial director\n+7 351 555-82-10", sender_name="Oleg Danilov")
    assert split.new_text == "Not interested." and "+7 351" in split.signature


def test_russian_gmail_attribution_line_goes_with_the_quote() -> None:
    reply = _reply("not_interested/gmail_ru_not_interested_spasibo_ne_aktualno.eml")
    assert reply.new_text == "Спасибо, не актуально."
    assert reply.quoted.startswith("вт, 30 июн. 2026 г.")


def test_outlook_html_divrplyfwdmsg_marker() -> None:
    reply = _reply("referral/outlook_referral_html_reply_plus44.eml")
    assert "Rob Atherton" in reply.new_text
    assert "brightline" not in reply.new_text.lower()


def test_the_bat_attribution() -> None:
    reply = _reply("not_interested/thebat_ru_not_interested_uzhe_est_sistema.eml")
    assert reply.new_text.endswith("Так что извините.")
    assert "Вы писали" in reply.quoted


_SDR = ("Sam Carter", "Priya Nair", "Lena Vogel", "Claire Martin", "Diego Ramos", "Dmitri Orlov", "Дмитрий Орлов", "@brightline.io", "@kontora.", "@fleetwise.")
_HUMAN = [
    p for p in sorted(FIXTURES.rglob("*.eml"))
    if json.loads(p.with_suffix(".json").read_text())["label"] != "bounce" and "acknowledgement" not in p.name
]


@pytest.mark.parametrize("path", _HUMAN, ids=lambda p: p.stem)
def test_our_outreach_never_leaks_into_the_new_text(path) -> None:
    """Every client and language in the corpus: the quoted outreach (our SDR's name and address) is gone."""
    reply = parse(RawMessage(str(path), path.read_bytes()))
    assert reply.new_text.strip(), "nothing left of what the replier wrote"
    # a salutation may name our SDR ("Sam Carter 様", "Dear Lena Vogel,"): the first line is not the quote
    body = reply.new_text.strip().partition("\n")[2]
    leaked = [s for s in _SDR if s in body]
    assert not leaked, f"quoted outreach left in the new text: {leaked}"


def test_known_outreach_is_removed_even_when_the_client_mangled_the_quoting(tmp_path) -> None:
    from triage.outreach import Outreach

    template = tmp_path / "who-handles.txt"
    template.write_text(
        "Hi {first_name},\n\nWho is responsible for pipeline reporting at {company}? We help revenue teams stop\n"
        "rebuilding the forecast in spreadsheets every Monday.\n\nCould you point me to the right person?\n\nSam Carter\nBrightline Analytics\n"
    )
    # no ">" and no attribution line: the client pasted our text, rewrapped, under the reply
    body = (
        "Talk to Mia Chen, mia.chen@kestrel.example.com - she owns the forecast.\n\n"
        "Who is responsible for pipeline reporting at Kestrel? We help revenue teams\n"
        "stop rebuilding the forecast in spreadsheets every Monday.\n"
        "Could you point me to the right person?\n"
    )
    data = f"From: Bo <bo@kestrel.example.com>\r\nMessage-ID: <m1@k>\r\nSubject: Re: reporting\r\n\r\n{body}".encode()
    reply = parse(RawMessage("m.eml", data))
    assert "spreadsheets" in reply.new_text  # without the template the splitter cannot know
    stripped = Outreach.from_path(tmp_path).strip(reply)
    assert stripped.new_text == "Talk to Mia Chen, mia.chen@kestrel.example.com - she owns the forecast."
    assert "spreadsheets" in stripped.quoted


def test_gmail_attribution_wrapped_before_the_closing_bracket() -> None:
    text = "Kein Interesse.\n\nW. Hofbauer\n\nAm Mo., 7. Sept. 2026 um 08:30 Uhr schrieb Lena Vogel <lena.vogel@kontora.de\n>:\n\n> Hallo Herr Hofbauer,"
    split = split_reply(text, sender_name="Walter Hofbauer")
    assert split.quoted.startswith("Am Mo., 7. Sept. 2026") and "schrieb" not in split.signature


def test_the_persons_own_sign_off_starts_the_signature_before_a_clients_delimiter() -> None:
    text = (
        "Sure, send over a deck.\n\nWei Ling\n\nTan Wei Ling | Head of Regional Procurement\nDID +65 6555 0142\n\n"
        "CONFIDENTIALITY NOTICE: This email and any attachments are confidential.\n\nGet Outlook for iOS\n________________________________"
    )
    split = split_reply(text, sender_name="Tan Wei Ling")
    assert split.new_text == "Sure, send over a deck."
    dutch = "Hoi Sam,\n\nStuur me wat meer info.\n\nGroet,\nBram\n\nBram de Vries\nT 010 234 5678\n________________________________"
    assert split_reply(dutch, sender_name="Bram de Vries").new_text == "Hoi Sam,\n\nStuur me wat meer info."


def test_a_sign_off_above_inline_answers_does_not_end_the_new_text() -> None:
    text = (
        "Sehr geehrte Frau Vogel,\n\nmeine Antworten direkt im Text unten.\n\nLG Elisabeth Moser\n\n"
        "> 1. Wer ist für den Rechnungseingang zuständig?\n\nHerr Florian Gruber, f.gruber@salzach.at.\n\n"
        "> 2. Welches System nutzen Sie?\n\nBMD NTCS.\n\n-- \nElisabeth Moser\nSalzach Kunststofftechnik"
    )
    split = split_reply(text, sender_name="Elisabeth Moser")
    assert "f.gruber@salzach.at" in split.new_text and "BMD NTCS." in split.new_text
    assert split.signature.startswith("--")

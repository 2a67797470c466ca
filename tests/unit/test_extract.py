"""Contact extraction: addresses, phones, names, and the traps around them."""

from __future__ import annotations

import pytest

from tests.conftest import fixture_bytes
from triage import names
from triage.extract import extract_contact, find_emails, find_phones, guess_address
from triage.names import russian_nominative
from triage.parsing import parse
from triage.records import RawMessage


def _contact(relative: str):
    reply = parse(RawMessage(relative, fixture_bytes(relative)))
    return extract_contact(reply, ours=("sam.carter@brightline.io",))


def test_obfuscated_address_is_read() -> None:
    assert [a for a, _ in find_emails("write to jane dot doe at acme dot com please")] == ["jane.doe@acme.com"]
    assert [a for a, _ in find_emails("jane[at]acme[dot]co.uk")] == ["jane@acme.co.uk"]


def test_invalid_addresses_are_ignored() -> None:
    assert find_emails("mail me at jane@@acme or foo@bar") == []


def test_phone_without_prefix_uses_the_region_and_keeps_the_extension_apart() -> None:
    (phone,) = find_phones("Oakland office (415) 555-0123 x204", "US")
    assert phone.e164 == "+14155550123" and phone.extension == "204"
    (de,) = find_phones("mobil 0171 4832907", "DE")
    assert de.e164 == "+491714832907"


@pytest.mark.parametrize(
    ("dative", "nominative"),
    [("Ивану Петрову", "Иван Петров"), ("Анне Смирновой", "Анна Смирнова"), ("Сергею Кузнецову", "Сергей Кузнецов"), ("Марии Ивановой", "Мария Иванова")],
)
def test_russian_names_back_in_the_nominative(dative: str, nominative: str) -> None:
    assert russian_nominative(dative) == nominative


def test_guessed_address_follows_the_company_pattern() -> None:
    assert guess_address("María José García", "a.lopez@ebro.es", "Ana Lopez") == "m.garcia@ebro.es"
    assert guess_address("Jane", "bob.smith@acme.com", "Bob Smith") is None


def test_referral_with_name_email_and_phone() -> None:
    contact = _contact("referral/gmail_fr_referral_contactez_plutot.eml")
    assert contact is not None
    assert (contact.name, contact.email, contact.phone) == ("Jean-Luc Dubois", "jl.dubois@vasseur-traiteur.fr", "+33143278164")


def test_the_repliers_signature_phone_is_never_the_contact() -> None:
    contact = _contact("referral/outlook_referral_signature_phone_prominent.eml")
    assert contact is not None and contact.phone == "+441614960732"


def test_our_sdrs_phone_in_the_quote_is_never_the_contact() -> None:
    contact = _contact("referral/thunderbird_referral_three_phones_sig_and_quote.eml")
    assert contact is not None
    assert contact.phone == "+16045550119"


def test_colleague_in_cc() -> None:
    contact = _contact("referral/gmail_referral_cc_colleague.eml")
    assert contact is not None and contact.email == "bob.lindqvist@northgatecouriers.ca"


def test_vcard_only_referral() -> None:
    contact = _contact("referral/apple_mail_referral_vcard_attachment_only.eml")
    assert contact is not None and contact.email and contact.name


def test_obfuscated_referral_email_in_a_fixture() -> None:
    contact = _contact("referral/outlook_referral_obfuscated_dot_at_email.eml")
    assert contact is not None and contact.email is not None and "@" in contact.email and " " not in contact.email


def test_when_two_people_are_named_the_reply_points_to_one() -> None:
    contact = _contact("referral/outlook_mac_referral_on_leave_points_to_colleague.eml")
    assert contact is not None and contact.name == "Maria Kowalczyk"


def test_a_colleagues_forwarded_note_is_the_last_source() -> None:
    contact = _contact("referral/gmail_referral_nested_internal_forward.eml")
    assert contact is not None
    assert (contact.name, contact.email, contact.phone) == ("Nadia Rahman", "nadia.rahman@halvorsenmaritime.sg", "+6562217384")
    assert contact.spans["email"].startswith("forwarded from darren.koh@")


def test_names_after_a_german_article_are_nouns_and_a_capitalised_particle_is_a_surname() -> None:
    assert names.after_cues("Bei Fragen zu Aufträgen bitte an die Werkstatt: 0316 482 175.") == []
    assert [c.name for c in names.after_cues("Bitte wenden Sie sich an die Kollegin Anna Berger.")] == ["Anna Berger"]
    assert [c.name for c in names.after_cues("Please talk to Priya Das, she runs it.")] == ["Priya Das"]
    assert names.name_run("Jan van") == ["Jan"]
    assert names.name_run("Kollegen Herrn Jürgen Maßmann, er") == ["Jürgen", "Maßmann"]


def test_a_sentence_end_after_an_obfuscated_address_is_not_part_of_it() -> None:
    text = "Su correo es maria.lopez [at] grupoaltiplano [dot] com [dot] mx. Su extensión cambió hace poco."
    assert [a for a, _ in find_emails(text)] == ["maria.lopez@grupoaltiplano.com.mx"]
    assert [a for a, _ in find_emails("write to jane [at] acme.co.uk please")] == ["jane@acme.co.uk"]


def test_adding_a_colleague_in_cc_names_them_from_the_header() -> None:
    import dataclasses

    path = "referral/gmail_referral_cc_colleague.eml"
    base = parse(RawMessage(path, fixture_bytes(path)))
    reply = dataclasses.replace(
        base,
        new_text="Hi Priya,\n\nAdding Priyanka – she manages vendor payments for our Pune plant. Kindly coordinate with her directly.",
        cc=(("Priyanka Deshmukh", "priyanka.deshmukh@vardhanauto.in"),),
    )
    contact = extract_contact(reply, ours=("sam.carter@brightline.io",))
    assert contact is not None
    assert (contact.name, contact.email) == ("Priyanka Deshmukh", "priyanka.deshmukh@vardhanauto.in")

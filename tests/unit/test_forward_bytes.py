"""The forward's bytes, written without the email package, against the email package.

:func:`triage.forward._message_bytes` must give exactly the bytes of
:func:`triage.forward._email_package_bytes` whenever it gives any, and whatever a reply
holds (names, addresses, subjects), no header may be injected, no line be longer than
998, and what is not ASCII must be RFC 2047 encoded (decoding gives the text back).
"""

from __future__ import annotations

import dataclasses
import email
import email.policy
import re
from email.headerregistry import Address

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tests.conftest import fixture_bytes
from triage.forward import (
    ForwardComposer,
    _email_package_bytes,
    _encoded_word,
    _header_line,
    _message_bytes,
    _safe_address,
    clean_header_text,
)
from triage.parsing import parse
from triage.records import Contact, Decision, RawMessage

# words: ASCII, with the specials of the address syntax, accented, other scripts, emoji,
# and what an encoded word is made of
_ALPHABET = "abcXYZ019 -_'!*+/=?&%#~" + '()<>@,:;.\\"[]' + "éèüßøçñÅÉ" + "жЖяфΩλ" + "中文日本語한" + "😀🎉" + "\u200b\u00a0\t"
_texts = st.text(alphabet=_ALPHABET, min_size=0, max_size=60)
_long_texts = st.text(alphabet=_ALPHABET, min_size=150, max_size=400)
_locals = st.from_regex(r"[a-z0-9]([a-z0-9._+-]{0,20}[a-z0-9])?", fullmatch=True).filter(lambda s: ".." not in s)
_domains = st.from_regex(r"[a-z0-9]{1,12}(\.[a-z0-9]{1,12}){0,2}\.(com|fr|de|io)", fullmatch=True)

_BODY = "Hi,\n\nsee below.\n\n> quoted line\n"


def _same(headers: list[tuple[str, str | Address]], body: str = _BODY) -> bool:
    """The two writers agree; True when the fast one took the message on."""
    fast = _message_bytes(headers, body)
    if fast is None:
        return False
    assert fast == _email_package_bytes(headers, body)
    return True


@given(_texts, _locals, _domains)
@settings(max_examples=500, deadline=None)
def test_address_headers_are_written_as_the_email_package_writes_them(name: str, local: str, domain: str) -> None:
    _same([("To", Address(display_name=name, username=local, domain=domain))])


@given(_texts, _locals, _domains)
@settings(max_examples=500, deadline=None)
def test_cleaned_names_are_taken_on(name: str, local: str, domain: str) -> None:
    """What compose gives the writer (cleaned names) stays on the fast path when it is printable."""
    display = clean_header_text(name)
    address = Address(display_name=display, username=local, domain=domain)
    took = _same([("To", address)])
    if display.isprintable() and "=?" not in display:
        assert took


@given(_texts)
@settings(max_examples=500, deadline=None)
def test_unstructured_headers_are_written_as_the_email_package_writes_them(text: str) -> None:
    taken = _same([("Subject", text), ("X-Triage-Reply", text)])
    cleaned = clean_header_text(text, limit=200)
    if cleaned and cleaned.isprintable():
        assert _same([("Subject", cleaned)])
    assert taken or not text or not text.isprintable() or "=?" in text or "  " in text or text != text.strip(" ")


@given(_long_texts)
@settings(max_examples=200, deadline=None)
def test_long_subjects_near_the_line_limit(text: str) -> None:
    # up to 200 characters of 4-byte emoji is past 998 once encoded: the email package folds,
    # so the fast writer must step aside there
    cleaned = clean_header_text(text, limit=400)
    assume(cleaned)
    _same([("Subject", cleaned), ("References", " ".join([f"<{i}.{cleaned[:5]!r}@x.example>" for i in range(12)]))])


@pytest.mark.parametrize("count", [1, 10, 14, 15, 16, 30])
def test_long_references_fold_as_the_email_package_folds(count: int) -> None:
    refs = " ".join(f"<{i:04d}.5f3a9c1e0b7d.{'x' * 40}@mail.example.com>" for i in range(count))
    assert _same([("References", refs)]) == (len("References: " + refs) <= 998)


@given(st.text(alphabet="ab é\r\n\x0b\x0c\x1c\x85\u2028\t" + "中", max_size=300), st.integers(0, 1200))
@settings(max_examples=300, deadline=None)
def test_bodies_are_written_as_set_content_writes_them(body: str, long_line: int) -> None:
    _same([("Subject", "x")], body + "y" * long_line + "\n")


@pytest.mark.parametrize(
    ("display", "expected"),
    [
        ("Jean-Luc Dubois", "To: Jean-Luc Dubois <a@b.fr>"),
        ("Geneviève Tremblay-Côté", "To: =?utf-8?q?Genevi=C3=A8ve_Tremblay-C=C3=B4t=C3=A9?= <a@b.fr>"),
        ("Zoë and Ünal", "To: =?utf-8?q?Zo=C3=AB_and_=C3=9Cnal?= <a@b.fr>"),  # one word from the first to the last
        ("O'Neil Zoë Smith", "To: O'Neil =?utf-8?q?Zo=C3=AB?= Smith <a@b.fr>"),
        ("García, José", "To: =?utf-8?q?Garc=C3=ADa=2C_Jos=C3=A9?= <a@b.fr>"),  # quoted: specials encoded too
        ("Smith, John", 'To: "Smith, John" <a@b.fr>'),
        ("", "To: a@b.fr"),
        ("中文日本語", "To: =?utf-8?b?5Lit5paH5pel5pys6Kqe?= <a@b.fr>"),  # "b" when "q" is 5 longer or more
    ],
)
def test_address_lines(display: str, expected: str) -> None:
    address = Address(display_name=display, username="a", domain="b.fr")
    assert _header_line("To", address) == expected
    assert _same([("To", address)])


def test_encoded_words_decode_to_the_text() -> None:
    for text in ("é", "a_b c=d?e", "中文", "😀 x", "Ünal, Zoë (CEO)"):
        word = _encoded_word(text)
        assert str(email.header.make_header(email.header.decode_header(word))) == text


@pytest.mark.parametrize(
    ("name", "value"),
    [("Message-ID", "<1.2.3@bücher.de>"), ("To", Address("Zoë", "zoë", "x.de")), ("Subject", "a  b"), ("Subject", "=?utf-8?q?x?="), ("X-Triage-Reply", "")],
)
def test_what_the_fast_writer_leaves_to_the_email_package(name: str, value: str | Address) -> None:
    assert _header_line(name, value) is None


# --- compose, end to end: the same bytes, and nothing injected ------------------------------


def _reply(relative: str = "referral/gmail_fr_referral_contactez_plutot.eml"):
    return parse(RawMessage(relative, fixture_bytes(relative)))


_REPLY = _reply()
_HOSTILE = st.one_of(
    _texts,
    st.sampled_from(
        [
            "Jane\r\nBcc: attacker@evil.example",
            "=?utf-8?q?Jane=0D=0ABcc=3A_x=40evil.example?=",
            "=?utf-8?b?SmFuZQ0KQmNjOiB4QGV2aWwuZXhhbXBsZQ==?=",
            "Bcc: spy@evil.example",
            "ceo@bank.example",
            "Zoë\u2028To: y@evil.example",
            "Zoë <x@evil.example>",
            "x" * 500,
            "é" * 300,
        ]
    ),
)


@given(_HOSTILE, _HOSTILE, _HOSTILE, _HOSTILE)
@settings(max_examples=300, deadline=None)
def test_compose_writes_the_email_package_bytes_and_injects_nothing(contact: str, referrer: str, subject: str, sender: str) -> None:
    reply = dataclasses.replace(_REPLY, from_name=referrer, subject=subject)
    composer = ForwardComposer(sender="claire.martin@kontora.fr", sender_name=sender)
    decision = Decision("referral", 0.95, False, ("test",), {}, contact=Contact(name=contact, email="jl.dubois@vasseur-traiteur.fr"))
    forward = composer.compose(reply, decision)
    assert forward is not None
    # the same message as the email package writes (but for the Date and the Message-ID)
    reference = _email_package_bytes_of(composer, reply, decision)
    assert _without_date_and_id(forward.message) == _without_date_and_id(reference)

    head, _, _ = forward.message.partition(b"\r\n\r\n")
    assert head.isascii()
    assert all(len(line) <= 998 for line in forward.message.split(b"\r\n"))
    message = email.message_from_bytes(forward.message, policy=email.policy.default)
    names = [k.lower() for k in message]
    assert sorted(names) == sorted(
        ["from", "to", "cc", "subject", "date", "message-id", "in-reply-to", "references", "x-triage-reply", "content-type", "content-transfer-encoding", "mime-version"]
    )
    [to] = message["To"].addresses
    assert to.addr_spec == "jl.dubois@vasseur-traiteur.fr"
    assert to.display_name in ("", clean_header_text(contact.replace('"', "")))
    [cc] = message["Cc"].addresses
    assert cc.addr_spec == reply.from_addr
    assert str(message["Subject"]) == forward.subject


def _without_date_and_id(message: bytes) -> bytes:
    return re.sub(rb"(?m)^(Date|Message-ID): [^\r\n]*", rb"\1: X", message)


def _email_package_bytes_of(composer: ForwardComposer, reply, decision) -> bytes:
    """What compose gave before it wrote messages itself: every header through the email package."""
    import triage.forward as forward_module

    original = forward_module._message_bytes
    forward_module._message_bytes = lambda headers, body: None  # type: ignore[assignment]
    try:
        forward = composer.compose(reply, decision)
    finally:
        forward_module._message_bytes = original  # type: ignore[assignment]
    assert forward is not None
    return forward.message


def test_the_fast_writer_takes_the_usual_forward() -> None:
    reply = _REPLY
    composer = ForwardComposer(sender="claire.martin@kontora.fr", sender_name="Claire Mártin")
    decision = Decision("referral", 0.95, False, ("test",), {}, contact=Contact(name="Jean-Luc Dubois", email="jl.dubois@vasseur-traiteur.fr"))
    forward = composer.compose(reply, decision)
    assert forward is not None
    sender = _safe_address("Claire Mártin", "claire.martin@kontora.fr")
    assert sender is not None and _header_line("From", sender) == "From: Claire =?utf-8?q?M=C3=A1rtin?= <claire.martin@kontora.fr>"
    assert b"From: Claire =?utf-8?q?M=C3=A1rtin?= <claire.martin@kontora.fr>\r\n" in forward.message

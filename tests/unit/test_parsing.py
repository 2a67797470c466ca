"""Parsing: MIME to a typed Reply, charsets, HTML, and hostile input."""

from __future__ import annotations

import email.message
import email.utils
from email.policy import SMTP
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import FIXTURES, MALFORMED, fixture_bytes
from triage import parsing
from triage.errors import MessageError
from triage.parsing import MAX_DEPTH, MAX_PARTS, parse
from triage.records import RawMessage


def _parse(relative: str):
    return parse(RawMessage(relative, fixture_bytes(relative)))


def test_windows_1251_body_is_decoded() -> None:
    name = "not_interested/outlook_ru_not_interested_nam_eto_ne_interesno.eml"
    assert b"windows-1251" in fixture_bytes(name).lower()
    assert "Нам это не интересно." in _parse(name).new_text


def test_koi8_r_body_is_decoded() -> None:
    reply = _parse("not_interested/mutt_ru_not_interested_otpishite_lowercase_koi8.eml")
    assert "отпишите меня" in reply.new_text


def test_html_only_reply_becomes_text() -> None:
    reply = _parse("referral/yandex_ru_referral_html_only_pishite_anne.eml")
    assert "<" not in reply.new_text and "Анн" in reply.new_text


def test_headers_and_threading_are_read() -> None:
    reply = _parse("referral/gmail_referral_name_only.eml")
    assert reply.from_addr.endswith("@cedarblufffreight.com") or "@" in reply.from_addr
    assert reply.message_id.startswith("<") and reply.in_reply_to.startswith("<")
    assert reply.date is not None and reply.date.tzinfo is not None
    assert reply.to == ("sam.carter@brightline.io",)


def test_vcard_attachment_is_kept_apart() -> None:
    reply = _parse("referral/apple_mail_referral_vcard_attached.eml")
    assert reply.vcards and "BEGIN:VCARD" in reply.vcards[0]
    assert "BEGIN:VCARD" not in reply.body


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("empty_file.eml", "empty message"),
        ("binary_blob.eml", "not an email message"),
        ("truncated_mime.eml", "truncated"),
        ("undecodable_charset.eml", "unknown charset"),
    ],
)
def test_malformed_messages_raise_with_a_reason(name: str, reason: str) -> None:
    with pytest.raises(MessageError) as info:
        parse(RawMessage(name, (MALFORMED / name).read_bytes()))
    assert reason in info.value.reason


def test_problem_from_the_source_is_reported() -> None:
    with pytest.raises(MessageError, match="exceeds"):
        parse(RawMessage("big.eml", b"", problem="message of 99 bytes exceeds the 10-byte cap"))


def _nested(depth: int) -> bytes:
    inner = email.message.EmailMessage(policy=SMTP)
    inner["From"] = "a@b.example"
    inner.set_content("deep")
    for _ in range(depth):
        outer = email.message.EmailMessage(policy=SMTP)
        outer["From"] = "a@b.example"
        outer.make_mixed()
        outer.attach(inner)
        inner = outer
    return inner.as_bytes()


def test_deep_nesting_is_refused() -> None:
    with pytest.raises(MessageError, match="nested deeper"):
        parse(RawMessage("deep.eml", _nested(MAX_DEPTH + 3)))


def test_thousands_of_parts_are_refused() -> None:
    msg = email.message.EmailMessage(policy=SMTP)
    msg["From"] = "a@b.example"
    msg.make_mixed()
    for i in range(MAX_PARTS + 10):
        part = email.message.EmailMessage(policy=SMTP)
        part.set_content(f"part {i}")
        msg.attach(part)
    with pytest.raises(MessageError, match="MIME parts"):
        parse(RawMessage("many.eml", msg.as_bytes()))


def test_nul_bytes_in_text_are_removed() -> None:
    data = b"From: a@b.example\r\nMessage-ID: <n@b>\r\n\r\nTalk to\x00 Jane\r\n"
    assert "\x00" not in parse(RawMessage("nul.eml", data)).body


def test_wrongly_declared_utf8_falls_back_to_windows_1252() -> None:
    text = "Merci, voyez avec Hélène Leclère à la comptabilité, c'est elle qui décide."
    data = b"From: a@b.example\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + text.encode("cp1252")
    assert "Hélène Leclère" in parse(RawMessage("x.eml", data)).body


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_random_bytes_never_crash(data: bytes) -> None:
    try:
        parse(RawMessage("random", data))
    except MessageError:
        pass


_SAMPLES = sorted(FIXTURES.rglob("*.eml"))[::9]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(_SAMPLES), st.integers(min_value=0, max_value=10**9), st.binary(min_size=1, max_size=40), st.integers(0, 3))
def test_mutated_fixtures_never_crash(path, position: int, junk: bytes, mode: int) -> None:
    data = path.read_bytes()
    cut = position % max(1, len(data))
    if mode == 0:
        data = data[:cut]  # truncated anywhere
    elif mode == 1:
        data = data[:cut] + junk + data[cut:]  # junk inserted
    elif mode == 2:
        data = data[:cut] + junk + data[cut + len(junk):]  # bytes overwritten
    else:
        data = data.replace(b"charset=", b"charset=x-" + junk.hex().encode()[:8], 1)  # charset mangled
    try:
        reply = parse(RawMessage(str(path), data))
    except MessageError as exc:
        assert exc.reason
    else:
        assert isinstance(reply.new_text, str)


ADDRESS_PIECES = st.sampled_from([
    "Jane", "Doe", "Jöhn", "Dœ", " ", "  ", "\t", '"', "\\", ",", ";", ":", ".", "(c)", "<", ">", "@", "j", "x.com", "j.doe",
    "-", "_", "+", "=?utf-8?q?J=C3=B6?=", "\udcc3", "[1.2.3.4]", "'", "a..b", "!", "#",
])


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.lists(ADDRESS_PIECES, max_size=12).map("".join), min_size=1, max_size=2))
def test_the_fast_address_reading_agrees_with_the_standard_library(values: list[str]) -> None:
    assert parsing.get_addresses(values) == email.utils.getaddresses(values)


def test_the_fast_address_reading_agrees_on_every_fixture_header(fixtures_dir: Path) -> None:
    import email as email_package
    from email.policy import compat32

    fast = 0
    for path in sorted(fixtures_dir.rglob("*.eml")):
        msg = email_package.message_from_bytes(path.read_bytes(), policy=compat32)
        for name in ("from", "to", "cc", "reply-to"):
            values = [str(v) for v in msg.get_all(name) or []]
            assert parsing.get_addresses(values) == email.utils.getaddresses(values), (path, name)
            fast += bool(values) and all(parsing._SIMPLE_ADDRESS.fullmatch(v) for v in values)
    assert fast > 500  # most headers take the fast path

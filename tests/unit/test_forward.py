"""The warm forward: addressing, threading, template, and no header injection."""

from __future__ import annotations

import email
import email.policy

import pytest

from tests.conftest import fixture_bytes
from triage.forward import ForwardComposer
from triage.parsing import parse
from triage.records import Contact, Decision, RawMessage


def _reply(relative: str = "referral/gmail_fr_referral_contactez_plutot.eml"):
    return parse(RawMessage(relative, fixture_bytes(relative)))


def _decision(contact: Contact, needs_review: bool = False) -> Decision:
    return Decision("referral", 0.95, needs_review, ("test",), {}, contact=contact)


def _headers(message: bytes) -> list[tuple[str, str]]:
    return list(email.message_from_bytes(message, policy=email.policy.default).items())


def test_forward_is_addressed_threaded_and_quotes_the_referrer() -> None:
    reply = _reply()
    forward = ForwardComposer(sender="claire.martin@kontora.fr", sender_name="Claire Martin").compose(
        reply, _decision(Contact(name="Jean-Luc Dubois", email="jl.dubois@vasseur-traiteur.fr"))
    )
    assert forward is not None
    msg = email.message_from_bytes(forward.message, policy=email.policy.default)
    assert msg["To"] == "Jean-Luc Dubois <jl.dubois@vasseur-traiteur.fr>"
    assert reply.from_addr in msg["Cc"]
    assert msg["In-Reply-To"].strip() == reply.message_id and reply.message_id in msg["References"]
    body = msg.get_body().get_content()
    assert body.startswith("Hi Jean-Luc,") and "> " in body and "Contactez plutôt" in body
    assert forward.subject == f"{reply.from_name.split()[0]} suggested I get in touch"
    assert not forward.needs_review


def test_referral_to_another_domain_needs_review() -> None:
    forward = ForwardComposer().compose(_reply(), _decision(Contact(name="Ann Lee", email="ann@elsewhere.example.org")))
    assert forward is not None and forward.needs_review and "differs" in forward.review_reasons[0]


def test_guessed_address_needs_review() -> None:
    reply = _reply()
    forward = ForwardComposer().compose(reply, _decision(Contact(name="Ann Lee")))
    assert forward is not None and forward.needs_review
    assert any("guessed" in r for r in forward.review_reasons)


@pytest.mark.parametrize(
    "name",
    [
        "Jane\r\nBcc: attacker@evil.example",
        "Jane\nX-Injected: yes",
        "=?utf-8?q?Jane=0D=0ABcc=3A_attacker=40evil=2Eexample?=",
        "Jane\u2028Bcc: attacker@evil.example",
        "Jane\x00\rBcc: attacker@evil.example",
    ],
)
def test_names_cannot_inject_headers(name: str) -> None:
    reply = _reply()
    forward = ForwardComposer().compose(reply, _decision(Contact(name=name, email="jane@vasseur-traiteur.fr")))
    assert forward is not None
    names = [k.lower() for k, _ in _headers(forward.message)]
    assert "bcc" not in names and "x-injected" not in names
    assert names.count("to") == 1 and names.count("cc") == 1


@pytest.mark.parametrize("address", ["jane@acme.com\r\nBcc: x@evil.example", "jane@acme.com>, <x@evil.example", "x@evil.example\nTo: y@z.example"])
def test_addresses_cannot_inject_headers(address: str) -> None:
    forward = ForwardComposer().compose(_reply(), _decision(Contact(name="Jane", email=address)))
    if forward is not None:
        headers = _headers(forward.message)
        assert [k.lower() for k, _ in headers].count("to") == 1
        assert "evil" not in dict((k.lower(), v) for k, v in headers).get("to", "") or "jane" not in forward.to


def test_template_is_the_users(tmp_path) -> None:
    template = tmp_path / "forward.txt"
    template.write_text("Subject: Intro via $referrer_first\n\nDear $contact_name,\n$referrer_name pointed me to you.\n")
    forward = ForwardComposer.from_template_file(template).compose(_reply(), _decision(Contact(name="Jean-Luc Dubois", email="jl.dubois@vasseur-traiteur.fr")))
    assert forward is not None and forward.subject.startswith("Intro via ")
    assert b"Dear Jean-Luc Dubois," in forward.message

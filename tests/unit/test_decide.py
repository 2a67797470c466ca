"""Decisions on hard cases a keyword list gets wrong, written fresh (not in the training fixtures)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, ROOT
from triage import classifier as clf
from triage import corpus
from triage.decide import Decider
from triage.parsing import parse
from triage.records import RawMessage

QUOTE = "\n\nOn Mon, Mar 2, 2026 at 9:00 AM Sam Carter <sam.carter@brightline.io> wrote:\n> Hi - who looks after pipeline reporting at your company?\n> Sam Carter | +1 (415) 555-0142\n"


def _reply(body: str, *, subject: str = "Re: pipeline reporting", headers: str = "", quote: bool = True):
    data = (
        "From: Robin Achterberg <robin@kestrel-analytics.nl>\r\nTo: sam.carter@brightline.io\r\n"
        f"Subject: {subject}\r\nDate: Tue, 3 Mar 2026 10:00:00 +0100\r\nMessage-ID: <hard-{abs(hash(body))}@kestrel-analytics.nl>\r\n"
        f"{headers}Content-Type: text/plain; charset=utf-8\r\n\r\n{body}{QUOTE if quote else ''}"
    ).encode()
    return parse(RawMessage("hard.eml", data))


@pytest.mark.parametrize(
    ("body", "label"),
    [
        ("Thanks Sam, but we're not interested at this time.", "not_interested"),
        ("I'm not really interested, and honestly nobody here would be interested either.", "not_interested"),
        ("Sounds great, but we just signed a two-year contract with Clari last month.", "not_interested"),
        ("unsubscribe", "not_interested"),
        ("Not me, sorry - no idea who deals with that.", "not_interested"),
        ("Not me, ask Jane Whitfield (jane.whitfield@kestrel-analytics.nl), she owns reporting.", "referral"),
        ("Yes, that's me. I'll bring Marco from finance along - does Thursday 3pm work for a call?", "interested"),
        ("Could you send over pricing for a team of 25? Happy to jump on a call next week.", "interested"),
        ("Please speak to our Head of Sales Ops, Priyanka Rao - priyanka.rao@kestrel-analytics.nl or +31 20 555 0182.", "referral"),
    ],
)
def test_hard_cases(decider: Decider, body: str, label: str) -> None:
    assert decider.decide(_reply(body)).label == label


def test_absence_with_interim_contact_stays_out_of_office(decider: Decider) -> None:
    reply = _reply(
        "I'm on holiday until 16 March with no access to email. For anything urgent please contact my colleague Femke de Wit, "
        "femke.dewit@kestrel-analytics.nl.",
        subject="Automatic reply: pipeline reporting",
        headers="Auto-Submitted: auto-replied\r\nX-Autoreply: yes\r\n",
        quote=False,
    )
    decision = decider.decide(reply)
    assert decision.label == "out_of_office"
    assert decision.contact is not None and decision.contact.email == "femke.dewit@kestrel-analytics.nl"
    assert decision.return_date is not None and decision.return_date.isoformat() == "2026-03-16"


def test_left_the_company_auto_reply_is_a_referral_to_the_successor(decider: Decider) -> None:
    reply = _reply(
        "Thank you for your message. I have left Kestrel Analytics. My successor is Daan Visser, daan.visser@kestrel-analytics.nl.",
        subject="Automatic reply: pipeline reporting",
        headers="Auto-Submitted: auto-replied\r\n",
        quote=False,
    )
    decision = decider.decide(reply)
    assert decision.label == "referral"
    assert decision.contact is not None and (decision.contact.name, decision.contact.email) == ("Daan Visser", "daan.visser@kestrel-analytics.nl")


def test_the_sdrs_phone_in_the_quote_is_not_the_referral(decider: Decider) -> None:
    decision = decider.decide(_reply("Talk to Jane Whitfield, she runs reporting."))
    assert decision.label == "referral"
    assert decision.contact is not None and decision.contact.name == "Jane Whitfield" and decision.contact.phone is None


def test_low_confidence_goes_to_review(model: clf.Classifier) -> None:
    strict = Decider(model=model, threshold=0.99)
    decision = strict.decide(_reply("Hmm. Maybe. Let me think about it and get back to you at some point."))
    assert decision.needs_review and decision.confidence < 0.99


def test_the_shipped_model_was_trained_on_the_shipped_fixtures(model: clf.Classifier) -> None:
    """A model out of date with the corpus or with triage's features fails here: retrain with `triage train fixtures/emails --out models`."""
    examples, _ = corpus.load(FIXTURES)
    usable = [e for e in examples if e.label != "bounce"]
    docs = [clf.document(e.reply) for e in usable]
    meta = json.loads((ROOT / "models" / clf.METADATA_FILE).read_text())
    assert meta["data_hash"] == clf.data_hash(docs, [e.label for e in usable])
    assert Path(ROOT / "models" / "ner").is_dir()


@pytest.mark.parametrize(
    "body",
    [
        "I'm out of the office until 2 December. For help with an order in the meantime, please call the sales counter at +1 916 555 0143.",
        "Jestem nieobecna w biurze do 15 maja 2026 r. W pilnych sprawach proszę pisać na adres sekretariat@lubawa-meble.pl.",
    ],
)
def test_an_absence_that_names_only_a_desk_has_no_interim_contact(decider: Decider, body: str) -> None:
    reply = _reply(body, subject="Automatic reply: pipeline reporting", headers="Auto-Submitted: auto-replied\r\n", quote=False)
    decision = decider.decide(reply)
    assert decision.label == "out_of_office"
    assert decision.contact is None
    assert any(r.startswith("no interim contact:") for r in decision.reasons)


def test_an_unsure_referral_that_names_nobody_takes_the_next_label(decider: Decider) -> None:
    # Croatian is in neither the fixtures nor the cue lexicons: the model leans to "referral", but nobody is named
    body = (
        "Zdravo Diego, nisam ja. Radim u financijama i iskreno nemam pojma tko se bavi prodajnim operacijama kod nas. "
        "Žao mi je."
    )
    decision = decider.decide(_reply(body))
    assert decision.probabilities["referral"] == max(decision.probabilities.values()) < 0.7
    assert decision.label == "not_interested" and decision.contact is None and decision.needs_review
    assert any(r.startswith("nobody to refer to: not_interested") for r in decision.reasons)
    named = decider.decide(_reply(body.replace("Žao mi je.", "Javite se kolegici Ani Horvat, ana.horvat@altamira.hr.")))
    assert named.label == "referral" and named.contact is not None and named.contact.email == "ana.horvat@altamira.hr"

"""The store: idempotent by construction, migrations recorded, guards applied."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import fixture_bytes
from triage.forward import ForwardComposer
from triage.parsing import parse
from triage.records import Contact, Decision, RawMessage
from triage.store import MIGRATIONS, Store


def _reply(relative: str = "referral/gmail_fr_referral_contactez_plutot.eml"):
    return parse(RawMessage(relative, fixture_bytes(relative)))


def test_a_reply_and_its_forward_are_stored_once(tmp_path: Path) -> None:
    reply = _reply()
    decision = Decision("referral", 0.9, False, ("r",), {"referral": 0.9}, contact=Contact(name="Jean-Luc Dubois", email="jl.dubois@vasseur-traiteur.fr", phone="+33143278164"))
    forward = ForwardComposer().compose(reply, decision)
    with Store(tmp_path / "t.db") as store:
        assert store.record(reply, decision, forward) is True
        assert store.record(reply, decision, forward) is False
        assert store.table_count("replies") == 1 and store.table_count("outbox") == 1 and store.table_count("calls") == 1
    with Store(tmp_path / "t.db") as store:  # reopening applies no migration twice
        names = [r[0] for r in store.db.execute("SELECT name FROM migrations")]
        assert names == [name for name, _ in MIGRATIONS]


def test_labels_set_their_actions_in_motion(tmp_path: Path) -> None:
    with Store(tmp_path / "t.db") as store:
        store.record(_reply("not_interested/gmail_not_interested_short_polite.eml"), Decision("not_interested", 0.9, False, (), {}), None)
        bounce = _reply("bounce/mta_postfix_undelivered_recipient_not_found_dsn.eml")
        store.record(bounce, Decision("bounce", 1.0, False, (), {}), None)
        store.record(_reply("out_of_office/gmail_ooo_vacation_back_monday_relative.eml"), Decision("out_of_office", 0.9, False, (), {}), None)
        assert store.table_count("suppression") == 1 and store.table_count("undeliverable") == 1 and store.table_count("followups") == 1
        assert store.is_blocked(bounce.signals.bounce_recipient or "") is not None


def test_a_forward_to_a_suppressed_address_is_held_for_review(tmp_path: Path) -> None:
    decline = _reply("not_interested/gmail_not_interested_short_polite.eml")
    referral = _reply()
    with Store(tmp_path / "t.db") as store:
        store.record(decline, Decision("not_interested", 0.9, False, (), {}), None)
        decision = Decision("referral", 0.9, False, (), {}, contact=Contact(name="X Y", email=decline.from_addr))
        forward = ForwardComposer().compose(referral, decision)
        assert forward is not None
        store.record(referral, decision, forward)
        (item,) = store.outbox()
        assert item.needs_review and any("suppression" in r for r in store.review_reasons(item.id))


def test_failures_are_recorded_with_their_reason(tmp_path: Path) -> None:
    with Store(tmp_path / "t.db") as store:
        store.record_failure("x.eml", "empty message")
        store.record_failure("x.eml", "empty message")
        (row,) = store.failures()
        assert row["reason"] == "empty message" and row["attempts"] == 2

"""The store: idempotent by construction, migrations recorded, guards applied; on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from tests.conftest import fixture_bytes
from triage.forward import ForwardComposer
from triage.parsing import parse
from triage.records import Contact, Decision, RawMessage
from triage.store import MIGRATIONS, Store


def _reply(relative: str = "referral/gmail_fr_referral_contactez_plutot.eml"):
    return parse(RawMessage(relative, fixture_bytes(relative)))


def test_a_reply_and_its_forward_are_stored_once(store_url: str) -> None:
    reply = _reply()
    decision = Decision("referral", 0.9, False, ("r",), {"referral": 0.9}, contact=Contact(name="Jean-Luc Dubois", email="jl.dubois@vasseur-traiteur.fr", phone="+33143278164"))
    forward = ForwardComposer().compose(reply, decision)
    with Store(store_url) as store:
        assert store.record(reply, decision, forward) is True
        assert store.record(reply, decision, forward) is False
        assert store.table_count("replies") == 1 and store.table_count("outbox") == 1 and store.table_count("calls") == 1
    with Store(store_url) as store:  # reopening applies no migration twice
        names = [r[0] for r in store.db.execute("SELECT name FROM migrations")]
        assert names == [name for name, _ in MIGRATIONS]


def test_labels_set_their_actions_in_motion(store_url: str) -> None:
    with Store(store_url) as store:
        store.record(_reply("not_interested/gmail_not_interested_short_polite.eml"), Decision("not_interested", 0.9, False, (), {}), None)
        bounce = _reply("bounce/mta_postfix_undelivered_recipient_not_found_dsn.eml")
        store.record(bounce, Decision("bounce", 1.0, False, (), {}), None)
        store.record(_reply("out_of_office/gmail_ooo_vacation_back_monday_relative.eml"), Decision("out_of_office", 0.9, False, (), {}), None)
        assert store.table_count("suppression") == 1 and store.table_count("undeliverable") == 1 and store.table_count("followups") == 1
        assert store.is_blocked(bounce.signals.bounce_recipient or "") is not None


def test_a_forward_to_a_suppressed_address_is_held_for_review(store_url: str) -> None:
    decline = _reply("not_interested/gmail_not_interested_short_polite.eml")
    referral = _reply()
    with Store(store_url) as store:
        store.record(decline, Decision("not_interested", 0.9, False, (), {}), None)
        decision = Decision("referral", 0.9, False, (), {}, contact=Contact(name="X Y", email=decline.from_addr))
        forward = ForwardComposer().compose(referral, decision)
        assert forward is not None
        store.record(referral, decision, forward)
        (item,) = store.outbox()
        assert item.needs_review and any("suppression" in r for r in store.review_reasons(item.id))


def test_failures_are_recorded_with_their_reason(store_url: str) -> None:
    with Store(store_url) as store:
        store.record_failure("x.eml", "empty message")
        store.record_failure("x.eml", "empty message")
        (row,) = store.failures()
        assert row["reason"] == "empty message" and row["attempts"] == 2


def test_leases_expire_and_are_taken_over(store_url: str) -> None:
    with Store(store_url) as a, Store(store_url) as b:
        assert a.acquire_lease("sdr@imap.example/INBOX", "daemon-a", 0.5)
        assert not b.acquire_lease("sdr@imap.example/INBOX", "daemon-b", 0.5)
        assert a.acquire_lease("sdr@imap.example/INBOX", "daemon-a", 0.5)  # renewal
        import time

        time.sleep(0.6)
        assert b.acquire_lease("sdr@imap.example/INBOX", "daemon-b", 5)
        assert b.lease_holder("sdr@imap.example/INBOX") == "daemon-b"
        assert not a.acquire_lease("sdr@imap.example/INBOX", "daemon-a", 5)


def test_two_stores_never_claim_the_same_outbox_item(store_url: str) -> None:
    referral = _reply()
    with Store(store_url) as a, Store(store_url) as b:
        for n in range(6):
            reply = dataclasses.replace(referral, message_id=f"<claim-{n}@x>")
            decision = Decision("referral", 0.9, False, (), {}, contact=Contact(name="Jean-Luc Dubois", email=f"jl{n}@vasseur-traiteur.fr"))
            a.record(reply, decision, ForwardComposer().compose(reply, decision))
        for item in a.outbox():
            a.set_state(item.id, "approved")
        first, second = a.claim_approved(4), b.claim_approved(4)
        ids = [i.id for i in first] + [i.id for i in second]
        assert len(ids) == 6 and len(set(ids)) == 6
        assert {i.state for i in a.outbox()} == {"sending"}


def test_database_url_password_never_in_errors() -> None:
    import pytest

    from triage.errors import StoreError

    with pytest.raises(StoreError) as info:
        Store("postgresql://triage:hunter2@127.0.0.1:1/nowhere")
    assert "hunter2" not in str(info.value)


def test_follow_up_after_the_return_date_with_a_cap(tmp_path: Path) -> None:
    import datetime as dt

    reply = _reply("out_of_office/gmail_ooo_vacation_back_monday_relative.eml")
    assert reply.date is not None
    sent = reply.date.date()
    with Store(tmp_path / "t.db", follow_up_days=2, no_date_follow_up_days=14, follow_up_cap_days=30) as store:
        store.record(reply, Decision("out_of_office", 0.9, False, (), {}, return_date=sent + dt.timedelta(days=5)), None)
        far = dataclasses.replace(reply, message_id="<far@x>")
        store.record(far, Decision("out_of_office", 0.9, False, (), {}, return_date=sent + dt.timedelta(days=200)), None)
        none = dataclasses.replace(reply, message_id="<none@x>")
        store.record(none, Decision("out_of_office", 0.9, False, (), {}), None)
        due = dict(store.db.execute("SELECT reply_key, due FROM followups").fetchall())
    assert due[reply.key] == (sent + dt.timedelta(days=7)).isoformat()
    assert due["<far@x>"] == (sent + dt.timedelta(days=30)).isoformat()
    assert due["<none@x>"] == (sent + dt.timedelta(days=14)).isoformat()

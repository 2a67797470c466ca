"""Sharing mailboxes between daemons through leases (the store is real; the mailboxes are in-memory sources)."""

from __future__ import annotations

import re
import time

from tests.conftest import FIXTURES
from triage.config import ImapSettings
from triage.decide import Decider
from triage.fleet import Fleet, mailbox_name
from triage.forward import ForwardComposer
from triage.records import RawMessage
from triage.runner import Runner
from triage.store import Store


class MemoryMailbox:
    """A mailbox that hands out its messages once (like a watermark) and acknowledges nothing."""

    def __init__(self, messages: list[RawMessage]) -> None:
        self.messages = messages
        self.read = 0

    def __enter__(self) -> MemoryMailbox:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def fetch_new(self):
        new, self.read = self.messages[self.read :], len(self.messages)
        return iter(new)

    def done(self, source: str) -> None:
        pass


def _mailboxes(count: int, per: int) -> tuple[list[ImapSettings], dict[str, list[RawMessage]]]:
    emls = sorted(FIXTURES.glob("*/*.eml"))
    settings, messages = [], {}
    for n in range(count):
        box = ImapSettings(host="imap.example", user=f"sdr{n}@example.com", folder="INBOX")
        settings.append(box)
        raws = []
        for k in range(per):
            data = emls[(n * per + k) % len(emls)].read_bytes()
            data = re.sub(rb"(?im)^message-id:.*$", f"Message-ID: <fleet-{n}-{k}@example.com>".encode(), data, count=1)
            raws.append(RawMessage(f"{mailbox_name(box)}:1:{k + 1}", data))
        messages[mailbox_name(box)] = raws
    return settings, messages


def _fleet(store: Store, decider: Decider, boxes, sources, holder: str, stopped: list[bool]) -> Fleet:
    runner = Runner(decider=decider, composer=ForwardComposer(), store=store, workers=1)
    return Fleet(
        runner=runner, store=store, mailboxes=boxes, open_source=lambda s: sources[mailbox_name(s)],
        stop=lambda: stopped[0], poll_seconds=0.1, lease_seconds=0.6, holder=holder,
    )


def test_daemons_split_the_mailboxes_and_take_over_a_dead_ones(store_url: str, decider: Decider) -> None:
    boxes, messages = _mailboxes(6, 3)
    sources = {name: MemoryMailbox(raws) for name, raws in messages.items()}
    stopped = [False]
    with Store(store_url) as s1, Store(store_url) as s2:
        a = _fleet(s1, decider, boxes, sources, "a", stopped)
        b = _fleet(s2, decider, boxes, sources, "b", stopped)
        a.round()  # alone: a takes everything
        assert len(a.held) == 6
        b.round()  # b's heartbeat makes the share 3 each; a hands back on its next round
        a.round()
        b.round()
        assert len(a.held) == 3 and len(b.held) == 3 and not set(a.held) & set(b.held)
        # a dies: no more rounds.  Once its leases lapse, b takes over everything.
        time.sleep(0.7)
        b.round()
        assert len(b.held) == 6
        keys = [r[0] for r in s2.db.execute("SELECT key FROM replies").fetchall()]
        failures = s2.table_count("failures")
        assert len(keys) + failures == 18 and len(set(keys)) == len(keys)
        outbox = s2.db.execute("SELECT COUNT(*), COUNT(DISTINCT reply_key) FROM outbox").fetchone()
        assert outbox[0] == outbox[1]


def test_two_daemons_reading_one_mailbox_never_decide_twice(store_url: str, decider: Decider) -> None:
    boxes, messages = _mailboxes(1, 5)
    name = mailbox_name(boxes[0])
    with Store(store_url) as s1, Store(store_url) as s2:
        # a takeover in progress: both read the same messages
        for store in (s1, s2):
            Runner(decider=decider, composer=ForwardComposer(), store=store, workers=1).process(iter(messages[name]))
        rows = s1.db.execute("SELECT COUNT(*), COUNT(DISTINCT key) FROM replies").fetchone()
        assert rows[0] == rows[1] == 5 - s1.table_count("failures")

"""Several daemons share many mailboxes through PostgreSQL: real Dovecot, real PostgreSQL, real processes."""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.conftest import DaemonProcess, Mailbox, fixtures, report, wait_until
from triage.store import Store
from triage.testing.dovecot import Dovecot

pytestmark = pytest.mark.integration

MAILBOXES = 12
PER_MAILBOX = 5
LEASE = 6.0


def _messages(n: int) -> list[bytes]:
    """``PER_MAILBOX`` replies for mailbox ``n``, each with a Message-ID of its own."""
    out = []
    for k, path in enumerate(fixtures()[n * PER_MAILBOX : (n + 1) * PER_MAILBOX]):
        data = re.sub(rb"(?im)^message-id:.*$", f"Message-ID: <fleet-{n}-{k}@fleet.example>".encode(), path.read_bytes(), count=1)
        out.append(data)
    return out


def _config(tmp_path: Path, dovecot: Dovecot, boxes: list[Mailbox]) -> Path:
    lines = [f"lease_seconds = {LEASE}", "", "[imap]", 'host = "localhost"', f"port = {dovecot.tls_port}", 'tls = "ssl"', f'ca_file = "{dovecot.ca_file}"', ""]
    for box in boxes:
        lines += ["[[mailboxes]]", f'user = "{box.user}"', f'password = "{box.password}"', ""]
    path = tmp_path / "fleet.toml"
    path.write_text("\n".join(lines))
    return path


def test_three_daemons_twelve_mailboxes_one_killed(
    dovecot: Dovecot, postgres_url: str, tmp_path: Path, daemon_factory: Callable[..., DaemonProcess]
) -> None:
    boxes = []
    for n in range(MAILBOXES):
        user = f"fleet{n}-{time.monotonic_ns() % 10**8}@example.test"
        dovecot.add_user(user, f"pw-{n}")
        boxes.append(Mailbox(dovecot, user, f"pw-{n}"))
    for n, box in enumerate(boxes):
        box.append(_messages(n))
    total = MAILBOXES * PER_MAILBOX
    config = _config(tmp_path, dovecot, boxes)
    env = {"TRIAGE_CONFIG": str(config), "TRIAGE_DB": postgres_url}
    daemons = [daemon_factory(env, "--poll", "1") for _ in range(3)]

    def decided() -> int:
        with Store(postgres_url) as store:
            return store.table_count("replies") + store.table_count("failures")

    wait_until(lambda: decided() == total, timeout=120, what=f"{total} replies decided by 3 daemons")

    def balanced() -> dict[str, str | None]:
        with Store(postgres_url) as store:
            held = {name: store.lease_holder(name) for name in store.live_leases("fleet")}
        counts = [list(held.values()).count(h) for h in set(held.values())]
        return held if len(held) == MAILBOXES and sorted(counts) == [4, 4, 4] else {}

    holders = wait_until(balanced, timeout=60, interval=0.5, what="the 12 mailboxes split 4/4/4 between the 3 daemons")

    # more mail arrives; one daemon dies without a word
    victim = daemons[0]
    victim_boxes = []
    for name, holder in holders.items():
        if holder and holder.split(":")[1] == str(victim.pid):
            victim_boxes.append(name)
    assert victim_boxes, "the first daemon held no mailbox"
    victim.signal(signal.SIGKILL)
    killed_at = time.monotonic()
    extra = []
    for n, box in enumerate(boxes):
        data = re.sub(rb"(?im)^message-id:.*$", f"Message-ID: <fleet-late-{n}@fleet.example>".encode(), fixtures("referral")[n].read_bytes(), count=1)
        extra.append(data)
        box.append(data)
    wait_until(lambda: decided() == total + MAILBOXES, timeout=120, what="the late replies, the dead daemon's included")
    takeover = time.monotonic() - killed_at

    with Store(postgres_url) as store:
        replies = store.db.execute("SELECT COUNT(*), COUNT(DISTINCT key) FROM replies").fetchone()
        outbox = store.db.execute("SELECT COUNT(*), COUNT(DISTINCT reply_key) FROM outbox").fetchone()
        now_held = {name: store.lease_holder(name) for name in victim_boxes}
    assert replies[0] == replies[1], "a reply was decided twice"
    assert outbox[0] == outbox[1], "a forward was queued twice"
    assert all(h and h.split(":")[1] != str(victim.pid) for h in now_held.values()), now_held
    assert takeover < LEASE + 20
    for daemon in daemons[1:]:
        assert daemon.stop() == 0
    report(
        f"fleet: 3 daemons, {MAILBOXES} mailboxes, {total + MAILBOXES} replies decided once each ({replies[0]} rows, "
        f"{outbox[0]} forwards once each); one daemon SIGKILLed holding {len(victim_boxes)} mailboxes, "
        f"their new mail decided {takeover:.1f} s later (lease {LEASE:.0f} s)"
    )

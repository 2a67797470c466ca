"""Faults that must lose nothing and do nothing twice: ``triage daemon`` killed with SIGKILL again and again.

The other faults (Dovecot restarted, UIDVALIDITY changed, SMTP down, SIGTERM)
are in ``test_daemon.py``, ``test_mailbox.py`` and ``test_outbox.py``.
"""

from __future__ import annotations

import asyncio
import collections
import email.header
import os
import random
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.conftest import SENDER, DaemonProcess, Mailbox, connect, db_count, fixtures, message_id, report, wait_until
from triage.testing.forkserver import ForkServer
from triage.testing.smtp import SmtpServer

pytestmark = pytest.mark.integration

KILLS = 20


def _approve_pending(db: Path) -> None:
    """A reviewer approves every forward waiting (not those that came back from an interrupted send)."""
    if not db.exists():
        return
    con = sqlite3.connect(db, timeout=30)
    try:
        con.execute("UPDATE outbox SET state = 'approved' WHERE state = 'pending' AND error IS NULL")
        con.commit()
    except sqlite3.OperationalError:  # no tables yet
        pass
    finally:
        con.close()


def _reply_key(data: bytes) -> str:
    from email.parser import BytesHeaderParser

    value = BytesHeaderParser().parsebytes(data)["X-Triage-Reply"] or ""
    return " ".join(str(email.header.make_header(email.header.decode_header(value))).split())


def test_sigkill_at_random_moments_never_decides_or_sends_anything_twice(
    mailbox: Mailbox, tmp_path: Path, daemon_factory: Callable[..., DaemonProcess], smtp: SmtpServer, forkserver: ForkServer
) -> None:
    seed = int(os.environ.get("SIGKILL_TEST_SEED", time.time()))  # not TRIAGE_*: the tests clear those
    rng = random.Random(seed)
    paths = [p for label in ("referral", "interested", "not_interested", "out_of_office", "bounce") for p in fixtures(label, 12)]
    expected = {message_id(p.read_bytes()) for p in paths}
    assert len(paths) == len(expected) == 60
    chunks = [paths[i::KILLS] for i in range(KILLS)]  # three new replies before each start
    db = tmp_path / "triage.db"
    env = {**mailbox.env(), **SENDER, **smtp.settings(), "TRIAGE_DB": str(db), "TRIAGE_IMAP_BATCH": "2"}

    phases: collections.Counter[str] = collections.Counter()
    appended = 0
    for cycle in range(KILLS):
        mailbox.append_files(chunks[cycle])
        appended += len(chunks[cycle])
        _approve_pending(db)
        daemon = daemon_factory(env, "--auto-send", "--poll", "5", forkserver=forkserver)
        if cycle % 4 == 3:
            time.sleep(rng.uniform(0.0, 0.3))  # anywhere, start-up included
        else:
            daemon.wait_for_log("daemon started", timeout=60)
            time.sleep(rng.uniform(0.0, 0.3))
        stored = db_count(db, "SELECT COUNT(*) FROM replies")
        connected = any(r["msg"] == "imap connected" for r in daemon.logs())
        daemon.kill()  # SIGKILL
        phases["starting up" if not connected else "deciding" if stored < appended else "idle or sending"] += 1

    _approve_pending(db)
    final = daemon_factory(env, "--auto-send", "--poll", "1")  # the real command, for the run to completion
    wait_until(lambda: db_count(db, "SELECT COUNT(*) FROM replies") == len(paths), timeout=60, what="every reply decided")
    _approve_pending(db)
    wait_until(lambda: db_count(db, "SELECT COUNT(*) FROM outbox WHERE state IN ('approved', 'sending')") == 0, timeout=60, what="the outbox sent")
    assert final.stop() == 0

    con = connect(db)
    keys = [row[0] for row in con.execute("SELECT key FROM replies")]
    assert sorted(keys) == sorted(expected)  # every reply decided exactly once
    assert con.execute("SELECT COUNT(*) FROM failures").fetchone()[0] == 0
    outbox = con.execute("SELECT COUNT(*), COUNT(DISTINCT reply_key) FROM outbox").fetchone()
    assert outbox[0] == outbox[1] > 0  # no forward queued twice
    assert tuple(con.execute("SELECT last_uid FROM watermarks").fetchone()) == (60,)

    received = collections.Counter(_reply_key(got.data) for got in smtp.received)
    assert all(count == 1 for count in received.values()), received.most_common(3)  # no forward sent twice
    sent = {row[0] for row in con.execute("SELECT reply_key FROM outbox WHERE state = 'sent'")}
    interrupted = {row[0] for row in con.execute("SELECT reply_key FROM outbox WHERE state = 'pending' AND error LIKE 'interrupted%'")}
    assert sent <= set(received) <= sent | interrupted
    states = dict(con.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state").fetchall())
    logs = [r for path in sorted(tmp_path.glob("daemon-*.log")) for r in _records(path)]
    decided_lines = sum(r["msg"] == "reply decided" for r in logs)
    report(
        f"SIGKILL x{KILLS} (seed {seed}) while {len(paths)} replies came in, 3 before each start: kills {dict(phases)}; "
        f"then one run to completion: {len(keys)} replies decided once each ({decided_lines} 'reply decided' log lines over "
        f"{KILLS + 1} runs), {outbox[0]} forwards queued once each, outbox {states}, "
        f"{len(received)} forwards received by SMTP, none twice ({len(interrupted)} interrupted mid-send went back to review)"
    )


def _records(path: Path) -> list[dict[str, object]]:
    import json

    records = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            pass
    return records


def test_a_crash_in_the_middle_of_a_send_never_sends_it_again(
    mailbox: Mailbox, tmp_path: Path, daemon_factory: Callable[..., DaemonProcess], smtp: SmtpServer, forkserver: ForkServer
) -> None:
    db = tmp_path / "triage.db"
    env = {**mailbox.env(), **SENDER, **smtp.settings(), "TRIAGE_DB": str(db)}
    mailbox.append_files(fixtures("referral", 1))

    # the server takes the message, then stalls before its "250": the daemon is killed while it waits
    handler = smtp.handler
    record = handler.handle_DATA

    async def take_then_stall(server: object, session: object, envelope: object) -> str:
        await record(server, session, envelope)
        await asyncio.sleep(30)
        return "250 OK"

    handler.handle_DATA = take_then_stall  # type: ignore[method-assign]
    first = daemon_factory(env, "--auto-send", "--poll", "1", forkserver=forkserver)
    wait_until(lambda: db_count(db, "SELECT COUNT(*) FROM outbox") == 1, timeout=30, what="the forward")
    _approve_pending(db)
    wait_until(lambda: smtp.received, timeout=30, what="the message at the server")
    first.kill()
    assert db_count(db, "SELECT COUNT(*) FROM outbox WHERE state = 'sending'") == 1

    handler.handle_DATA = record  # type: ignore[method-assign]
    second = daemon_factory(env, "--auto-send", "--poll", "1", forkserver=forkserver)
    second.wait_for_log("forwards interrupted while sending went back to review")
    time.sleep(1.5)  # a poll and its delivery round
    assert second.stop() == 0
    state, error = connect(db).execute("SELECT state, error FROM outbox").fetchone()
    assert state == "pending" and error.startswith("interrupted while sending")
    assert len(smtp.received) == 1
    report("SIGKILL while the SMTP server held the forward: it went back to review on restart and was not sent a second time")

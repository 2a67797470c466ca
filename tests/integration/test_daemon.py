"""``triage daemon`` as a real process against Dovecot: IDLE, polling, signals, reconnects, metrics, logs.

The latency figures are printed in the "integration figures" section at the
end of the run.
"""

from __future__ import annotations

import logging
import re
import signal
import statistics
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import SENDER, DaemonProcess, Mailbox, connect, db_count, fixtures, report, wait_until
from triage.errors import ImapError
from triage.imap import ImapSource
from triage.testing.dovecot import Dovecot, free_port

pytestmark = pytest.mark.integration

# referrals that name an address at the replier's company: each gives a forward
LATENCY_REFERRALS = [
    "android_referral_apostrophe_name.eml",
    "apple_mail_referral_hyphenated_name.eml",
    "android_es_referral_lowercase_habla_con_nacho.eml",
    "android_gmail_referral_nz_lowercase.eml",
    "apple_mail_referral_forwarded_head_finance_systems.eml",
]

Start = Callable[..., DaemonProcess]


def _env(mailbox: Mailbox, db: Path, **extra: str) -> dict[str, str]:
    return {**mailbox.env(), **SENDER, "TRIAGE_DB": str(db), **extra}


def _replies(db: Path) -> int:
    return db_count(db, "SELECT COUNT(*) FROM replies")


def _queued(db: Path, count: int) -> bool:
    return db_count(db, "SELECT COUNT(*) FROM outbox") >= count


def _measure(mailbox: Mailbox, db: Path, names: list[str]) -> list[float]:
    """APPEND each referral on an open connection; seconds until its outbox row is committed."""
    latencies = []
    referral = Path(fixtures("referral")[0]).parent
    with mailbox.client() as conn:
        for name in names:
            data = (referral / name).read_bytes()
            count = db_count(db, "SELECT COUNT(*) FROM outbox") + 1
            started = time.monotonic()
            conn.append("INBOX", data)
            wait_until(partial(_queued, db, count), timeout=15, interval=0.005, what=f"the forward for {name}")
            latencies.append(time.monotonic() - started)
    return latencies


def test_idle_a_new_reply_is_decided_and_its_forward_queued_within_seconds(mailbox: Mailbox, tmp_path: Path, daemon_factory: Start) -> None:
    db = tmp_path / "triage.db"
    mailbox.append_files(fixtures("interested", 2))
    daemon = daemon_factory(_env(mailbox, db), "--poll", "300")
    assert daemon.wait_for_log("imap connected")["idle"] is True
    wait_until(lambda: _replies(db) == 2, what="the first two replies")
    time.sleep(0.3)  # let it settle into IDLE

    latencies = _measure(mailbox, db, LATENCY_REFERRALS)
    report(
        f"IDLE latency, APPEND -> outbox row committed ({len(latencies)} replies): "
        f"median {statistics.median(latencies):.2f} s, min {min(latencies):.2f} s, max {max(latencies):.2f} s "
        f"[{', '.join(f'{x:.2f}' for x in latencies)}]"
    )
    assert max(latencies) < 10.0
    assert _replies(db) == 2 + len(LATENCY_REFERRALS)

    # SIGTERM while it waits in IDLE: out within a second or so, exit code 0
    started = time.monotonic()
    assert daemon.stop() == 0
    report(f"SIGTERM during IDLE -> exit 0 in {time.monotonic() - started:.2f} s")
    assert time.monotonic() - started < 5
    messages = [r["msg"] for r in daemon.logs()]
    assert "stop requested" in messages and messages[-1] == "daemon stopped"


@pytest.fixture
def dovecot_without_idle(tmp_path: Path) -> Iterator[Dovecot]:
    server = Dovecot(tmp_path / "no-idle", idle=False).start()
    yield server
    server.stop()


def test_polling_where_the_server_has_no_idle(dovecot_without_idle: Dovecot, tmp_path: Path, daemon_factory: Start) -> None:
    mailbox = Mailbox(dovecot_without_idle, dovecot_without_idle.user, dovecot_without_idle.password)
    db = tmp_path / "triage.db"
    daemon = daemon_factory(_env(mailbox, db), "--poll", "1")
    assert daemon.wait_for_log("imap connected")["idle"] is False
    time.sleep(0.5)
    latencies = _measure(mailbox, db, LATENCY_REFERRALS[:3])
    report(
        f"polling (no IDLE, --poll 1) latency, APPEND -> outbox row: median {statistics.median(latencies):.2f} s, "
        f"max {max(latencies):.2f} s"
    )
    assert max(latencies) < 10.0
    assert daemon.stop() == 0


def test_sigterm_finishes_the_replies_in_hand_and_exits_0(mailbox: Mailbox, tmp_path: Path, daemon_factory: Start) -> None:
    db = tmp_path / "triage.db"
    paths = fixtures("referral", 30) + fixtures("interested", 30)
    mailbox.append_files(paths)
    daemon = daemon_factory(_env(mailbox, db, TRIAGE_IMAP_BATCH="5"))
    daemon.wait_for_log("reply decided")
    daemon.signal(signal.SIGTERM)
    assert daemon.wait() == 0
    records = daemon.logs()
    decided_logged = [r["source"] for r in records if r["msg"] == "reply decided"]
    stored = _replies(db)
    report(f"SIGTERM mid-run: exit 0 with {stored} of {len(paths)} replies decided and stored, the rest left for the next run")
    assert 0 < stored < len(paths)
    assert len(decided_logged) == stored  # everything it took in hand was finished, logged and stored
    assert records[-1]["msg"] == "daemon stopped"
    con = connect(db)
    # every stored referral has its forward: no reply half-handled
    missing = con.execute(
        "SELECT COUNT(*) FROM replies r WHERE label = 'referral' AND json_extract(contact, '$.email') IS NOT NULL"
        " AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.reply_key = r.key)"
    ).fetchone()[0]
    assert missing == 0

    # the next run takes up exactly where it stopped
    rest = daemon_factory(_env(mailbox, db))
    wait_until(lambda: _replies(db) == len(paths), timeout=30, what="the rest of the mailbox")
    assert rest.stop() == 0
    assert tuple(con.execute("SELECT COUNT(*), COUNT(DISTINCT key) FROM replies").fetchone()) == (len(paths), len(paths))
    assert [r for r in rest.logs() if r["msg"] == "reply decided"].__len__() == len(paths) - stored


def test_dovecot_restarted_the_daemon_reconnects_and_catches_up(dovecot: Dovecot, mailbox: Mailbox, tmp_path: Path, daemon_factory: Start) -> None:
    db = tmp_path / "triage.db"
    mailbox.append_files(fixtures("referral", 3))
    daemon = daemon_factory(_env(mailbox, db))
    wait_until(lambda: _replies(db) == 3, timeout=30, what="the first replies")
    time.sleep(0.3)

    restarted = time.monotonic()
    dovecot.restart()
    mailbox.append_files(fixtures("referral", 6)[3:])
    wait_until(lambda: _replies(db) == 6, timeout=30, what="the replies that came after the restart")
    caught_up = time.monotonic() - restarted
    assert daemon.stop() == 0

    errors = [r for r in daemon.logs() if r["msg"] == "source error, reconnecting"]
    connects = [r for r in daemon.logs() if r["msg"] == "imap connected"]
    report(
        f"Dovecot restart: {len(errors)} reconnect attempt(s) (waits {[e['retry_in'] for e in errors]} s), "
        f"caught up {caught_up:.2f} s after the restart began"
    )
    assert errors and len(connects) >= 2
    queued, distinct = connect(db).execute("SELECT COUNT(*), COUNT(DISTINCT reply_key) FROM outbox").fetchone()
    assert queued == distinct >= 5


def test_backoff_grows_with_jitter_and_a_wrong_password_never_shows(mailbox: Mailbox, tmp_path: Path, daemon_factory: Start) -> None:
    # two daemons at once: one facing a closed port (fast failures show the backoff), one a wrong password
    unreachable = daemon_factory(_env(mailbox, tmp_path / "a.db", TRIAGE_IMAP_PORT=str(free_port())))
    wrong = "wrong-" + mailbox.password
    refused = daemon_factory(_env(mailbox, tmp_path / "b.db", TRIAGE_IMAP_PASSWORD=wrong), global_args=("-vv",))

    def errors(daemon: DaemonProcess) -> list[dict[str, Any]]:
        return [r for r in daemon.logs() if r["msg"] == "source error, reconnecting"]

    wait_until(lambda: len(errors(unreachable)) >= 3, timeout=30, what="three failed connections")
    wait_until(lambda: errors(refused), timeout=30, what="a failed login")
    assert unreachable.stop() == 0 and refused.stop() == 0

    attempts = errors(unreachable)
    report(f"backoff while the server is unreachable: attempts {[e['attempt'] for e in attempts]}, waits {[e['retry_in'] for e in attempts]} s")
    assert [e["attempt"] for e in attempts] == list(range(1, len(attempts) + 1))
    assert all(0.5 <= e["retry_in"] <= 2 ** (e["attempt"] - 1) for e in attempts)
    assert len({e["retry_in"] for e in attempts}) == len(attempts)  # jitter
    assert all("Connection refused" in str(e["error"]) for e in attempts)

    assert all("AUTHENTICATIONFAILED" in str(e["error"]) for e in errors(refused))
    text = refused.text()
    assert wrong not in text and mailbox.password not in text


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_metrics_health_and_json_logs_without_credentials(mailbox: Mailbox, tmp_path: Path, daemon_factory: Start) -> None:
    db = tmp_path / "triage.db"
    paths = fixtures("referral", 3) + fixtures("interested", 2) + fixtures("not_interested", 2) + fixtures("out_of_office", 2) + fixtures("bounce", 1)
    mailbox.append_files(paths)
    port = free_port()
    daemon = daemon_factory(_env(mailbox, db), "--metrics-port", str(port), global_args=("-vv",))

    def totals() -> dict[str, int] | None:
        """The replies counted by label, once they add up to every reply."""
        try:
            status, text = _get(port, "/metrics")
        except OSError:
            return None
        counts = {m[0]: int(m[1]) for m in re.findall(r'^triage_replies_total\{label="(\w+)"\} (\d+)$', text, re.MULTILINE)}
        return counts if status == 200 and sum(counts.values()) == len(paths) else None

    found = wait_until(totals, timeout=30, what="the metrics")
    by_label = dict(connect(db).execute("SELECT label, COUNT(*) FROM replies GROUP BY label").fetchall())
    assert {k: v for k, v in found.items() if v} == by_label
    assert set(found) == {"referral", "interested", "not_interested", "out_of_office", "bounce"}
    _, text = _get(port, "/metrics")
    pending = db_count(db, "SELECT COUNT(*) FROM outbox WHERE state IN ('pending', 'approved')")
    assert f"triage_outbox_pending {pending}" in text and "triage_errors_total 0" in text and "triage_up 1" in text
    last_poll = re.search(r"^triage_last_poll_timestamp_seconds (\S+)$", text, re.MULTILINE)
    assert last_poll and float(last_poll[1]) > time.time() - 60
    assert _get(port, "/healthz") == (200, "ok\n")
    assert _get(port, "/nothing")[0] == 404
    assert daemon.stop() == 0

    lines = [line for line in daemon.text().splitlines() if line.strip()]
    records = daemon.logs()
    assert len(records) == len(lines)  # every stderr line is one JSON object
    assert all({"time", "level", "logger", "msg"} <= set(r) for r in records)
    assert {"debug", "info"} <= {r["level"] for r in records}
    assert mailbox.password not in daemon.text()


def test_idle_is_renewed_and_still_sees_new_mail(mailbox: Mailbox) -> None:
    env = mailbox.env()
    messages: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    logger = logging.getLogger("triage.imap")
    handler, level = Keep(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    source = ImapSource(host=env["TRIAGE_IMAP_HOST"], port=int(env["TRIAGE_IMAP_PORT"]), user=mailbox.user, password=mailbox.password,
                        ca_file=env["TRIAGE_IMAP_CA_FILE"], idle_renew=0.4)
    try:
        with source:
            assert list(source.fetch_new()) == []
            timer = threading.Timer(1.6, lambda: mailbox.append_files(fixtures("referral", 1)))
            timer.start()
            started = time.monotonic()
            assert source.wait(20) is True
            elapsed = time.monotonic() - started
            timer.join()
            assert len(list(source.fetch_new())) == 1
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    renewals = messages.count("idle renewed")
    report(f"IDLE renewal (every 0.4 s): {renewals} renewals before the new message was seen {elapsed:.2f} s into the wait")
    assert renewals >= 3 and 1.6 <= elapsed < 5


def test_idle_notices_at_once_when_the_server_goes_away(dovecot: Dovecot, mailbox: Mailbox) -> None:
    env = mailbox.env()
    source = ImapSource(host=env["TRIAGE_IMAP_HOST"], port=int(env["TRIAGE_IMAP_PORT"]), user=mailbox.user, password=mailbox.password,
                        ca_file=env["TRIAGE_IMAP_CA_FILE"])
    errors: list[Exception] = []

    def wait() -> None:
        try:
            source.wait(60)
        except ImapError as exc:
            errors.append(exc)

    with source:
        list(source.fetch_new())
        waiter = threading.Thread(target=wait)
        waiter.start()
        time.sleep(0.5)
        started = time.monotonic()
        dovecot.restart()
        waiter.join(15)
        noticed = time.monotonic() - started
    assert not waiter.is_alive() and errors, "IDLE did not notice the server going away"
    report(f"IDLE noticed the server going away within {noticed:.2f} s (restart included): {errors[0]}")
    assert noticed < 10

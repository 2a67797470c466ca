"""Real servers on loopback: one private Dovecot per session, a fresh mailbox per test, aiosmtpd.

- ``dovecot``: the session's Dovecot (TLS with a certificate made for the
  run).  Skipped only when Dovecot is not installed; ``./scripts/test``
  installs it, so in CI these tests run.
- ``mailbox``: a Dovecot user of its own for each test, so no test sees
  another's mail; :meth:`Mailbox.append` sets INTERNALDATE from the Date
  header, as mail that arrived then would have it (``SEARCH SINCE`` reads it).
- ``smtp``: aiosmtpd on 127.0.0.1, recording what it receives.
- ``cli``: ``triage`` in process (click's CliRunner) with the mailbox's
  ``TRIAGE_*`` settings and a SQLite file of the test's own.
- ``daemon``: ``triage daemon`` as a real subprocess, its JSON log lines readable.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import itertools
import json
import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tests.conftest import FIXTURES
from triage.cli import main
from triage.testing.dovecot import Dovecot, available
from triage.testing.forkserver import ForkServer
from triage.testing.smtp import SmtpServer

SENDER = {"TRIAGE_SENDER": "sam.carter@brightline.io", "TRIAGE_SENDER_NAME": "Sam Carter", "TRIAGE_OURS": "sam.carter@brightline.io"}
TRIAGE = Path(sys.executable).with_name("triage")
_users = itertools.count(1)


def header_date(data: bytes) -> dt.datetime | None:
    """The Date header of a message, or None."""
    value = BytesHeaderParser(policy=compat32).parsebytes(data).get("Date")
    try:
        return email.utils.parsedate_to_datetime(str(value)) if value else None
    except (TypeError, ValueError):
        return None


def message_id(data: bytes) -> str:
    return str(BytesHeaderParser(policy=compat32).parsebytes(data).get("Message-ID", "")).strip()


def fixtures(label: str = "", limit: int | None = None) -> list[Path]:
    """Fixture files, in path order, of one label or all."""
    paths = sorted((FIXTURES / label).rglob("*.eml") if label else FIXTURES.rglob("*.eml"))
    return paths[:limit] if limit is not None else paths


# -- Dovecot -----------------------------------------------------------------


@pytest.fixture(scope="session")
def dovecot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dovecot]:
    if not available():
        pytest.skip("Dovecot (Debian's dovecot-imapd) or openssl is not installed: ./scripts/test installs them")
    server = Dovecot(tmp_path_factory.mktemp("dovecot")).start()
    yield server
    server.stop()


@dataclass
class Mailbox:
    """One Dovecot user's mailbox, with helpers to fill and inspect it."""

    server: Dovecot
    user: str
    password: str

    def env(self, *, tls: str = "ssl", folder: str = "INBOX") -> dict[str, str]:
        return self.server.settings(tls=tls, folder=folder, user=self.user)

    @contextmanager
    def client(self) -> Iterator[Any]:
        with self.server.client(self.user) as conn:
            yield conn

    def append(self, messages: list[bytes] | bytes, folder: str = "INBOX") -> list[int]:
        """APPEND messages with INTERNALDATE from their Date header; returns their UIDs (UIDPLUS)."""
        if isinstance(messages, bytes):
            messages = [messages]
        uids = []
        with self.client() as conn:
            for data in messages:
                answer = conn.append(folder, data, msg_time=header_date(data))
                # "[APPENDUID <uidvalidity> <uid>] Append completed."
                uids.append(int(answer.split(b"]")[0].split()[-1]))
        return uids

    def append_files(self, paths: list[Path], folder: str = "INBOX") -> list[int]:
        return self.append([p.read_bytes() for p in paths], folder)

    def seen(self, folder: str = "INBOX") -> list[int]:
        with self.client() as conn:
            conn.select_folder(folder, readonly=True)
            return list(conn.search(["SEEN"]))

    def uidvalidity(self, folder: str = "INBOX") -> int:
        with self.client() as conn:
            return int(conn.folder_status(folder, ["UIDVALIDITY"])[b"UIDVALIDITY"])


@pytest.fixture
def mailbox(dovecot: Dovecot) -> Mailbox:
    """A fresh, empty mailbox (a new Dovecot user) for this test."""
    user = f"sdr{next(_users)}-{secrets.token_hex(3)}@example.test"
    password = f"pw-{secrets.token_urlsafe(12)}"
    dovecot.add_user(user, password)
    return Mailbox(dovecot, user, password)


# -- SMTP --------------------------------------------------------------------


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


# -- triage in process -------------------------------------------------------


@dataclass
class Cli:
    """``triage`` in process with a base environment; ``run`` adds to it."""

    env: dict[str, str]
    db: Path

    def run(self, *args: str, **env: str) -> Result:
        return CliRunner().invoke(main, list(args), env={**self.env, **env}, catch_exceptions=False)

    def connect(self) -> sqlite3.Connection:
        return connect(self.db)


def connect(db: Path) -> sqlite3.Connection:
    con = sqlite3.connect(db, timeout=30)
    con.row_factory = sqlite3.Row
    return con


@pytest.fixture
def cli(mailbox: Mailbox, tmp_path: Path) -> Cli:
    db = tmp_path / "triage.db"
    return Cli(env={**mailbox.env(), **SENDER, "TRIAGE_DB": str(db)}, db=db)


# -- triage daemon as a subprocess --------------------------------------------


@dataclass
class DaemonProcess:
    """``triage daemon`` in a process of its own; stderr (JSON lines) goes to a file.

    Started as ``.venv/bin/triage``, or, given a :class:`ForkServer`, forked
    from a warm interpreter (same code, same process semantics, no 3-second
    import: for the test that starts it twenty times).
    """

    env: dict[str, str]
    log_path: Path
    args: tuple[str, ...] = ()
    global_args: tuple[str, ...] = ()
    forkserver: ForkServer | None = None
    process: subprocess.Popen[bytes] | None = None
    pid: int = 0
    returncode: int | None = None

    def start(self) -> DaemonProcess:
        argv = [*self.global_args, "daemon", *self.args]
        if self.forkserver is not None:
            self.pid = self.forkserver.spawn(argv, self.env, self.log_path)
            return self
        command = [str(TRIAGE)] if TRIAGE.exists() else [sys.executable, "-c", "from triage.cli import main; main()"]
        environ = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")} | self.env
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen([*command, *argv], env=environ, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        self.pid = self.process.pid
        return self

    def signal(self, signum: int) -> None:
        os.kill(self.pid, signum)

    def wait(self, timeout: float = 20.0) -> int:
        if self.returncode is None:
            if self.forkserver is not None:
                self.returncode = self.forkserver.wait(self.pid)
            else:
                assert self.process is not None
                self.returncode = self.process.wait(timeout)
        return self.returncode

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM and the exit code."""
        self.signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill(self) -> None:
        """SIGKILL (if it still runs) and reap it."""
        if self.returncode is None:
            try:
                self.signal(signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.wait()

    def exited(self) -> bool:
        return self.process is not None and self.process.poll() is not None

    def text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    def logs(self) -> list[dict[str, Any]]:
        """Every JSON log line written so far (other lines are skipped)."""
        records = []
        for line in self.text().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                records.append(record)
        return records

    def wait_for_log(self, message: str, *, timeout: float = 30.0, count: int = 1) -> dict[str, Any]:
        """Wait for the ``count``-th log record with ``msg == message``."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            found = [r for r in self.logs() if r.get("msg") == message]
            if len(found) >= count:
                return found[count - 1]
            if self.exited():
                raise AssertionError(f"the daemon exited before logging {message!r}:\n{self.text()[-3000:]}")
            time.sleep(0.01)
        raise AssertionError(f"no {message!r} log line within {timeout} s:\n{self.text()[-3000:]}")


@pytest.fixture
def daemon_factory(tmp_path: Path) -> Iterator[Callable[..., DaemonProcess]]:
    """Start ``triage daemon`` processes; any still running at the end are killed."""
    started: list[DaemonProcess] = []
    numbers = itertools.count(1)

    def start(env: dict[str, str], *args: str, global_args: tuple[str, ...] = (), forkserver: ForkServer | None = None) -> DaemonProcess:
        log = tmp_path / f"daemon-{next(numbers)}.log"
        process = DaemonProcess(env=env, log_path=log, args=args, global_args=global_args, forkserver=forkserver).start()
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()


@pytest.fixture(scope="session")
def forkserver() -> Iterator[ForkServer]:
    server = ForkServer()
    yield server
    server.close()


def wait_until(check: Callable[[], Any], *, timeout: float = 20.0, interval: float = 0.01, what: str = "condition") -> Any:
    """Poll ``check`` until it returns something true; that value."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def db_count(db: Path, sql: str, *args: Any) -> int:
    """A COUNT from the daemon's database, 0 while it does not exist yet."""
    if not db.exists():
        return 0
    con = sqlite3.connect(db, timeout=30)
    try:
        return int(con.execute(sql, args).fetchone()[0])
    except sqlite3.OperationalError:  # the tables are not created yet
        return 0
    finally:
        con.close()


FIGURES: list[str] = []
"""Measured figures (latencies, fault counts), printed at the end of the run."""


def report(line: str) -> None:
    """Keep a measured figure for the terminal summary (and show it with ``-s`` at once)."""
    FIGURES.append(line)
    print(line)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    # pytest loads this file as a plugin under one module name and the tests import it under another
    figures = [*FIGURES, *getattr(sys.modules.get("tests.integration.conftest"), "FIGURES", [])]
    if figures:
        terminalreporter.section("integration figures")
        for line in dict.fromkeys(figures):
            terminalreporter.write_line(line)


def summary(stdout: str) -> dict[str, int]:
    """The rows of the summary table: {"decided": 312, "referral": 95, ...}."""
    import re

    return {name.strip(): int(value) for name, value in re.findall(r"│ ([a-z_ -]+?)\s+│\s+(\d+) │", stdout)}

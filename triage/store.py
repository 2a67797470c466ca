"""The store: every decision with its reasons, the outbox, and what each label sets in motion.

SQLite by default (one file, nothing to set up); PostgreSQL when
``--db``/``TRIAGE_DB`` is a ``postgresql://`` URL, so that several daemons
can share the work.  Both run the same SQL: the few differences (an
auto-increment key, the bytes type, ``?`` against ``%s`` placeholders, how a
write transaction starts) live in the two small connection classes below,
where the errors of ``sqlite3`` and ``psycopg`` are also translated.  The store is idempotent by
construction: a reply is keyed by its Message-ID (else its source), a
forward by the reply it came from, and both are written in the same
transaction, so a crash at any moment leaves either both or neither, and a
second run over the same mail changes nothing.

Schema changes are ordered migrations recorded in the ``migrations`` table.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import StoreError
from .records import Decision, Forward, OutboxItem, Reply

MIGRATIONS: list[tuple[str, str]] = [
    (
        "0001_initial",
        """
        CREATE TABLE replies (
            key TEXT PRIMARY KEY,
            source TEXT NOT NULL,
            message_id TEXT NOT NULL,
            from_addr TEXT NOT NULL,
            subject TEXT NOT NULL,
            sent_at TEXT,
            label TEXT NOT NULL,
            confidence {double} NOT NULL,
            needs_review INTEGER NOT NULL,
            reasons TEXT NOT NULL,
            probabilities TEXT NOT NULL,
            contact TEXT,
            return_date TEXT,
            new_text TEXT NOT NULL,
            decided_at TEXT NOT NULL,
            corrected_label TEXT
        );
        CREATE TABLE failures (
            source TEXT PRIMARY KEY,
            reason TEXT NOT NULL,
            first_seen TEXT NOT NULL,
            last_seen TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 1
        );
        CREATE TABLE outbox (
            id {autoid},
            reply_key TEXT NOT NULL UNIQUE REFERENCES replies(key),
            to_addr TEXT NOT NULL,
            cc TEXT NOT NULL,
            subject TEXT NOT NULL,
            message {blob} NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'sending', 'sent', 'failed', 'discarded')),
            needs_review INTEGER NOT NULL,
            review_reasons TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            error TEXT,
            created TEXT NOT NULL,
            updated TEXT NOT NULL
        );
        CREATE INDEX outbox_state ON outbox(state);
        CREATE INDEX outbox_to ON outbox(to_addr);
        CREATE TABLE suppression (
            address TEXT PRIMARY KEY,
            reason TEXT NOT NULL,
            reply_key TEXT,
            created TEXT NOT NULL
        );
        CREATE TABLE undeliverable (
            address TEXT PRIMARY KEY,
            permanent INTEGER NOT NULL,
            reply_key TEXT,
            created TEXT NOT NULL
        );
        CREATE TABLE followups (
            reply_key TEXT PRIMARY KEY REFERENCES replies(key),
            address TEXT NOT NULL,
            due TEXT NOT NULL,
            interim_contact TEXT,
            created TEXT NOT NULL
        );
        CREATE TABLE handoffs (
            reply_key TEXT PRIMARY KEY REFERENCES replies(key),
            address TEXT NOT NULL,
            created TEXT NOT NULL
        );
        CREATE TABLE calls (
            reply_key TEXT PRIMARY KEY REFERENCES replies(key),
            name TEXT,
            phone TEXT NOT NULL,
            created TEXT NOT NULL
        );
        CREATE TABLE watermarks (
            mailbox TEXT NOT NULL,
            folder TEXT NOT NULL,
            uidvalidity INTEGER NOT NULL,
            last_uid INTEGER NOT NULL,
            PRIMARY KEY (mailbox, folder)
        );
        """,
    ),
    (
        "0002_leases",
        """
        CREATE TABLE leases (
            name TEXT PRIMARY KEY,
            holder TEXT NOT NULL,
            expires {double} NOT NULL
        );
        CREATE INDEX outbox_reply ON outbox(reply_key);
        """,
    ),
]

_DIALECT = {
    "sqlite": {"autoid": "INTEGER PRIMARY KEY AUTOINCREMENT", "blob": "BLOB", "double": "REAL"},
    # PostgreSQL's REAL is 4 bytes: an epoch time would lose minutes
    "postgresql": {"autoid": "BIGSERIAL PRIMARY KEY", "blob": "BYTEA", "double": "DOUBLE PRECISION"},
}


class _Row(dict[str, Any]):
    """A row readable by name and by position, like ``sqlite3.Row``."""

    def __init__(self, names: list[str], values: Any) -> None:
        super().__init__(zip(names, values))
        self._values = tuple(values)

    def __getitem__(self, key: Any) -> Any:
        return self._values[key] if isinstance(key, int) else super().__getitem__(key)


class _SqliteConnection:
    dialect = "sqlite"
    errors: tuple[type[BaseException], ...] = (sqlite3.Error,)

    def __init__(self, path: str) -> None:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA foreign_keys=ON")

    def execute(self, sql: str, params: Any = ()) -> Any:
        return self.conn.execute(sql, params)

    def begin(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")  # take the write lock now: no upgrade deadlock later

    def commit(self) -> None:
        self.conn.execute("COMMIT")

    def rollback(self) -> None:
        self.conn.execute("ROLLBACK")

    def lock_migrations(self) -> None:
        pass

    def close(self) -> None:
        self.conn.close()


class _PostgresConnection:
    dialect = "postgresql"

    def __init__(self, url: str) -> None:
        import psycopg

        self.errors = (psycopg.Error,)
        self.conn = psycopg.connect(url, autocommit=True, row_factory=self._rows)

    @staticmethod
    def _rows(cursor: Any) -> Any:
        names = [c.name for c in cursor.description or []]
        return lambda values: _Row(names, values)

    def execute(self, sql: str, params: Any = ()) -> Any:
        return self.conn.execute(sql.replace("?", "%s"), tuple(params))

    def begin(self) -> None:
        self.conn.execute("BEGIN")

    def commit(self) -> None:
        self.conn.execute("COMMIT")

    def rollback(self) -> None:
        self.conn.execute("ROLLBACK")

    def lock_migrations(self) -> None:
        # several daemons may start at once: one migrates, the others wait
        self.conn.execute("SELECT pg_advisory_xact_lock(4242)")

    def close(self) -> None:
        self.conn.close()


def _redact(url: str) -> str:
    """A database URL without its password, for messages and logs."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


class Store:
    """A SQLite or PostgreSQL store.  Use as a context manager or call :meth:`close`.

    >>> with Store(":memory:") as store:
    ...     store.counts()
    {}
    """

    def __init__(
        self,
        path: str | Path,
        *,
        follow_up_days: int = 2,
        no_date_follow_up_days: int = 14,
        follow_up_cap_days: int = 90,
    ) -> None:
        self.path = str(path)
        self.follow_up_days = follow_up_days
        self.no_date_follow_up_days = no_date_follow_up_days
        self.follow_up_cap_days = follow_up_cap_days
        postgres = self.path.startswith(("postgresql://", "postgres://"))
        try:
            self.db: Any = _PostgresConnection(self.path) if postgres else _SqliteConnection(self.path)
        except ImportError as exc:
            raise StoreError("a postgresql:// database needs psycopg: pip install 'triage[postgres]'") from exc
        except Exception as exc:
            raise StoreError(f"cannot open the database {_redact(self.path)}: {exc}; check --db / TRIAGE_DB") from exc
        try:
            self._migrate()
        except self.db.errors as exc:
            raise StoreError(f"cannot prepare the database {_redact(self.path)}: {exc}") from exc

    @property
    def dialect(self) -> str:
        return str(self.db.dialect)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        try:
            self.db.begin()
            try:
                yield self.db
            except BaseException:
                self.db.rollback()
                raise
            self.db.commit()
        except self.db.errors as exc:
            raise StoreError(f"database error in {_redact(self.path)}: {exc}") from exc

    def _migrate(self) -> None:
        self.db.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
        for name, sql in MIGRATIONS:
            self.db.begin()
            try:
                self.db.lock_migrations()
                if self.db.execute("SELECT 1 FROM migrations WHERE name = ?", (name,)).fetchone() is None:
                    for statement in sql.format(**_DIALECT[self.db.dialect]).split(";"):
                        if statement.strip():
                            self.db.execute(statement)
                    self.db.execute("INSERT INTO migrations (name, applied_at) VALUES (?, ?)", (name, _now()))
                self.db.commit()
            except BaseException:
                self.db.rollback()
                raise

    # -- decisions -------------------------------------------------------

    def seen(self, key: str) -> bool:
        return self.db.execute("SELECT 1 FROM replies WHERE key = ?", (key,)).fetchone() is not None

    def record(self, reply: Reply, decision: Decision, forward: Forward | None) -> bool:
        """Store a decision and what it sets in motion, once.  Returns False if already stored."""
        now = _now()
        contact = decision.contact
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO replies (key, source, message_id, from_addr, subject, sent_at, label, confidence, needs_review, reasons,"
                " probabilities, contact, return_date, new_text, decided_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING",
                (
                    reply.key, reply.source, reply.message_id, reply.from_addr, reply.subject,
                    reply.date.isoformat() if reply.date else None, decision.label, decision.confidence,
                    int(decision.needs_review), json.dumps(decision.reasons, ensure_ascii=False),
                    json.dumps(decision.probabilities), json.dumps(
                        {"name": contact.name, "email": contact.email, "phone": contact.phone, "title": contact.title, "spans": contact.spans},
                        ensure_ascii=False,
                    ) if contact else None,
                    decision.return_date.isoformat() if decision.return_date else None,
                    reply.new_text[:20000], now,
                ),
            )
            if cur.rowcount == 0:
                return False
            db.execute("DELETE FROM failures WHERE source = ?", (reply.source,))
            self._act(db, reply, decision, forward, now)
        return True

    def _act(self, db: Any, reply: Reply, decision: Decision, forward: Forward | None, now: str) -> None:
        label = decision.label
        if label == "not_interested" and reply.from_addr:
            db.execute(
                "INSERT INTO suppression (address, reason, reply_key, created) VALUES (?, ?, ?, ?) ON CONFLICT (address) DO NOTHING",
                (reply.from_addr, "not_interested", reply.key, now),
            )
        elif label == "bounce" and reply.signals.bounce_recipient:
            db.execute(
                "INSERT INTO undeliverable (address, permanent, reply_key, created) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (address) DO UPDATE SET permanent = CASE WHEN excluded.permanent > undeliverable.permanent"
                " THEN excluded.permanent ELSE undeliverable.permanent END",
                (reply.signals.bounce_recipient, int(reply.signals.bounce_permanent is not False), reply.key, now),
            )
        elif label == "interested":
            db.execute("INSERT INTO handoffs (reply_key, address, created) VALUES (?, ?, ?) ON CONFLICT DO NOTHING", (reply.key, reply.from_addr, now))
        elif label == "out_of_office":
            sent = reply.date.date() if reply.date else dt.date.today()
            base = decision.return_date or sent
            delay = self.follow_up_days if decision.return_date else self.no_date_follow_up_days
            # "back in 2027" should not park a lead for a year: follow up by the cap at the latest
            due = min(base + dt.timedelta(days=delay), sent + dt.timedelta(days=self.follow_up_cap_days))
            interim = decision.contact
            db.execute(
                "INSERT INTO followups (reply_key, address, due, interim_contact, created) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (reply.key, reply.from_addr, due.isoformat(),
                 json.dumps({"name": interim.name, "email": interim.email, "phone": interim.phone}, ensure_ascii=False) if interim else None, now),
            )
        if label == "referral" and decision.contact and decision.contact.phone:
            db.execute(
                "INSERT INTO calls (reply_key, name, phone, created) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (reply.key, decision.contact.name, decision.contact.phone, now),
            )
        if forward is not None:
            reasons = list(forward.review_reasons)
            blocked = self._blocked(db, forward.to)
            if blocked:
                reasons.append(blocked)
            if db.execute("SELECT 1 FROM outbox WHERE to_addr = ? AND state IN ('pending', 'approved', 'sending', 'sent')", (forward.to,)).fetchone():
                reasons.append(f"{forward.to} already has a forward pending or sent")
            db.execute(
                "INSERT INTO outbox (reply_key, to_addr, cc, subject, message, state, needs_review, review_reasons, created, updated)"
                " VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?) ON CONFLICT (reply_key) DO NOTHING",
                (reply.key, forward.to, json.dumps(forward.cc), forward.subject, forward.message, int(bool(reasons)),
                 json.dumps(reasons, ensure_ascii=False), now, now),
            )

    def _blocked(self, db: Any, address: str) -> str | None:
        domain = address.partition("@")[2]
        if db.execute("SELECT 1 FROM suppression WHERE address IN (?, ?)", (address, "@" + domain)).fetchone():
            return f"{address} is on the suppression list"
        if db.execute("SELECT 1 FROM undeliverable WHERE address = ?", (address,)).fetchone():
            return f"{address} is marked undeliverable"
        return None

    def record_failure(self, source: str, reason: str) -> None:
        now = _now()
        with self._tx() as db:
            db.execute(
                "INSERT INTO failures (source, reason, first_seen, last_seen) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (source) DO UPDATE SET reason = excluded.reason, last_seen = excluded.last_seen, attempts = failures.attempts + 1",
                (source, reason, now, now),
            )

    # -- reading ---------------------------------------------------------

    def counts(self) -> dict[str, int]:
        return {row[0]: row[1] for row in self.db.execute("SELECT label, COUNT(*) FROM replies GROUP BY label ORDER BY label")}

    def decision(self, key: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT * FROM replies WHERE key = ?", (key,)).fetchone()
        return dict(row) if row else None

    def correct(self, key: str, label: str) -> bool:
        """Record a person's correction of a decision's label."""
        with self._tx() as db:
            return bool(db.execute("UPDATE replies SET corrected_label = ? WHERE key = ?", (label, key)).rowcount == 1)

    def corrections(self) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT key, subject, new_text, corrected_label FROM replies WHERE corrected_label IS NOT NULL ORDER BY key")
        return [dict(r) for r in rows]

    def failures(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.db.execute("SELECT * FROM failures ORDER BY source")]

    def table_count(self, table: str) -> int:
        if table not in ("replies", "failures", "outbox", "suppression", "undeliverable", "followups", "handoffs", "calls"):
            raise ValueError(table)
        return int(self.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])

    def is_blocked(self, address: str) -> str | None:
        return self._blocked(self.db, address.lower())

    # -- outbox ----------------------------------------------------------

    def _item(self, row: Any) -> OutboxItem:
        return OutboxItem(
            id=row["id"], reply_key=row["reply_key"], to=row["to_addr"], subject=row["subject"], state=row["state"],
            created=row["created"], needs_review=bool(row["needs_review"]), message=bytes(row["message"]), error=row["error"],
        )

    def outbox(self, state: str | None = None) -> list[OutboxItem]:
        if state:
            rows = self.db.execute("SELECT * FROM outbox WHERE state = ? ORDER BY id", (state,))
        else:
            rows = self.db.execute("SELECT * FROM outbox ORDER BY id")
        return [self._item(r) for r in rows]

    def outbox_item(self, item_id: int) -> OutboxItem | None:
        row = self.db.execute("SELECT * FROM outbox WHERE id = ?", (item_id,)).fetchone()
        return self._item(row) if row else None

    def outbox_cc(self, item_id: int) -> list[str]:
        """The Cc addresses an outbox item was queued with."""
        row = self.db.execute("SELECT cc FROM outbox WHERE id = ?", (item_id,)).fetchone()
        return list(json.loads(row[0])) if row else []

    def review_reasons(self, item_id: int) -> list[str]:
        row = self.db.execute("SELECT review_reasons FROM outbox WHERE id = ?", (item_id,)).fetchone()
        return list(json.loads(row[0])) if row else []

    def set_state(self, item_id: int, state: str, *, error: str | None = None, expect: tuple[str, ...] = ()) -> bool:
        """Move an item to ``state``; with ``expect``, only from one of those states."""
        with self._tx() as db:
            sql = "UPDATE outbox SET state = ?, error = ?, updated = ?, attempts = attempts + ? WHERE id = ?"
            args: list[Any] = [state, error, _now(), int(state in ("sent", "failed")), item_id]
            if expect:
                sql += f" AND state IN ({', '.join('?' for _ in expect)})"
                args.extend(expect)
            return bool(db.execute(sql, args).rowcount == 1)

    # -- watermarks ------------------------------------------------------

    def watermark(self, mailbox: str, folder: str) -> tuple[int, int] | None:
        row = self.db.execute("SELECT uidvalidity, last_uid FROM watermarks WHERE mailbox = ? AND folder = ?", (mailbox, folder)).fetchone()
        return (int(row[0]), int(row[1])) if row else None

    def set_watermark(self, mailbox: str, folder: str, uidvalidity: int, last_uid: int) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO watermarks (mailbox, folder, uidvalidity, last_uid) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (mailbox, folder) DO UPDATE SET uidvalidity = excluded.uidvalidity, last_uid = excluded.last_uid",
                (mailbox, folder, uidvalidity, last_uid),
            )

    # -- leases and shared delivery (several daemons on one PostgreSQL) -----

    def acquire_lease(self, name: str, holder: str, seconds: float) -> bool:
        """Take or renew the lease ``name`` for ``holder``; False while another holder's lease runs."""
        now = time.time()
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO leases (name, holder, expires) VALUES (?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires = excluded.expires"
                " WHERE leases.holder = excluded.holder OR leases.expires < ?",
                (name, holder, now + seconds, now),
            )
            return bool(cur.rowcount == 1)

    def release_lease(self, name: str, holder: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM leases WHERE name = ? AND holder = ?", (name, holder))

    def live_leases(self, prefix: str) -> list[str]:
        """Names of the leases starting with ``prefix`` that have not expired."""
        rows = self.db.execute("SELECT name FROM leases WHERE name LIKE ? AND expires >= ?", (prefix + "%", time.time())).fetchall()
        return sorted(str(r[0]) for r in rows)

    def lease_holder(self, name: str) -> str | None:
        row = self.db.execute("SELECT holder, expires FROM leases WHERE name = ?", (name,)).fetchone()
        return str(row[0]) if row and float(row[1]) >= time.time() else None

    def claim_approved(self, limit: int = 20) -> list[OutboxItem]:
        """Move up to ``limit`` approved items to ``sending`` and return them.

        On PostgreSQL, ``FOR UPDATE SKIP LOCKED`` lets several daemons claim
        different items at the same moment; SQLite has one writer at a time.
        """
        lock = " FOR UPDATE SKIP LOCKED" if self.dialect == "postgresql" else ""
        with self._tx() as db:
            rows = db.execute(
                "UPDATE outbox SET state = 'sending', updated = ? WHERE id IN"
                f" (SELECT id FROM outbox WHERE state = 'approved' ORDER BY id LIMIT ?{lock}) RETURNING *",
                (_now(), limit),
            ).fetchall()
        return sorted((self._item(r) for r in rows), key=lambda item: item.id)

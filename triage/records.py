"""The typed records that cross module lines.

Data flows one way: a source yields :class:`RawMessage`, parsing makes a
:class:`Reply`, the decider makes a :class:`Decision` (with its
:class:`Contact`), and the outbox holds :class:`OutboxItem`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

LABELS: tuple[str, ...] = ("referral", "interested", "not_interested", "out_of_office")
"""The labels the classifier predicts."""

ALL_LABELS: tuple[str, ...] = LABELS + ("bounce",)
"""Every label a decision can carry; ``bounce`` comes from the parser."""


@dataclass(frozen=True)
class RawMessage:
    """The bytes of one message and where they came from.

    ``source`` is a file path, or ``mailbox:uidvalidity:uid`` for IMAP; it is
    the reply's identity when the message has no Message-ID.
    """

    source: str
    data: bytes
    received: dt.datetime | None = None
    #: set by a source that could not read the message whole (too large...)
    problem: str | None = None
    #: the text of our own message this one replies to, when the source found it (IMAP Sent folder)
    outreach: str | None = None


@dataclass(frozen=True)
class AutoSignals:
    """What the headers (and then the text) say about machine-generated mail."""

    auto_reply: bool = False
    bounce: bool = False
    #: ``"absence"``, ``"left_company"``, ``"automated"`` or ``""``
    kind: str = ""
    reasons: tuple[str, ...] = ()
    bounce_recipient: str | None = None
    bounce_permanent: bool | None = None


@dataclass(frozen=True)
class Reply:
    """A parsed reply: the headers that matter and the text split in parts.

    ``new_text`` is what the replier wrote in this message, without the quoted
    thread or the signature; ``signature`` and ``quoted`` are kept because
    later stages must tell the replier's own phone, and our own SDR's, apart
    from a referred one.
    """

    source: str
    message_id: str
    from_name: str
    from_addr: str
    to: tuple[str, ...]
    cc: tuple[tuple[str, str], ...]
    subject: str
    date: dt.datetime | None
    in_reply_to: str
    references: tuple[str, ...]
    headers: dict[str, str]
    body: str
    new_text: str
    quoted: str
    signature: str
    signals: AutoSignals
    vcards: tuple[str, ...] = ()
    defects: tuple[str, ...] = ()
    digest: str = ""

    @property
    def key(self) -> str:
        """The reply's identity in the store: its Message-ID, else a hash of its bytes.

        Not the IMAP UID: the same reply must keep its key when a mailbox's
        UIDVALIDITY changes or when it is read from another source.
        """
        if self.message_id:
            return self.message_id
        return f"sha256:{self.digest}" if self.digest else self.source


@dataclass(frozen=True)
class Contact:
    """A person extracted from a reply; ``spans`` says where each field came from."""

    name: str | None = None
    email: str | None = None
    phone: str | None = None
    title: str | None = None
    spans: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, str | None]:
        return {"name": self.name, "email": self.email, "phone": self.phone}

    @property
    def empty(self) -> bool:
        return not (self.name or self.email or self.phone)


@dataclass(frozen=True)
class Decision:
    """What triage decided about one reply, with the reasons to audit it."""

    label: str
    confidence: float
    needs_review: bool
    reasons: tuple[str, ...]
    probabilities: dict[str, float]
    contact: Contact | None = None
    return_date: dt.date | None = None


@dataclass(frozen=True)
class Forward:
    """A warm forward ready to queue: recipients, subject and the full message."""

    to: str
    cc: tuple[str, ...]
    subject: str
    message: bytes
    needs_review: bool
    review_reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class OutboxItem:
    """A queued forward as the store holds it."""

    id: int
    reply_key: str
    to: str
    subject: str
    state: str
    created: str
    needs_review: bool
    message: bytes
    error: str | None = None


@dataclass(frozen=True)
class Outcome:
    """The result of running one message through the pipeline."""

    source: str
    reply: Reply | None
    decision: Decision | None
    forward: Forward | None
    error: str | None = None
    duplicate: bool = False

    def as_json(self) -> dict[str, Any]:
        """The record of DESIGN.md section 4."""
        assert self.reply is not None and self.decision is not None
        d = self.decision
        contact = d.contact.as_json() if d.contact and not d.contact.empty else None
        return {
            "source": self.source,
            "message_id": self.reply.message_id,
            "from": self.reply.from_addr,
            "label": d.label,
            "confidence": round(d.confidence, 4),
            "needs_review": d.needs_review,
            "contact": contact,
            "return_date": d.return_date.isoformat() if d.return_date else None,
            "forward": (
                {"to": self.forward.to, "subject": self.forward.subject}
                if self.forward
                else None
            ),
        }

"""Delivery of queued forwards: ``none`` (queue only), ``drafts`` (IMAP APPEND) or ``smtp``.

A transport is anything with ``deliver(item)``; it raises
:class:`~triage.errors.DeliveryError` for a failure worth retrying and
:class:`~triage.errors.PermanentDeliveryError` for a refusal.  Errors of
smtplib, ssl and sockets are translated here.

Sending is at most once: an item is marked ``sending`` before it is handed to
the server and ``sent`` after; an item found in ``sending`` after a crash
may or may not have gone out, so it goes back to review instead of being sent
again.
"""

from __future__ import annotations

import logging
import random
import smtplib
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from .config import Settings
from .errors import ConfigError, DeliveryError, PermanentDeliveryError
from .records import OutboxItem
from .store import Store

log = logging.getLogger(__name__)


class Transport(Protocol):
    def deliver(self, item: OutboxItem) -> None: ...


class SmtpTransport:
    """Send through an SMTP server (STARTTLS, SSL or plain; optional AUTH)."""

    def __init__(self, *, host: str, port: int = 0, tls: str = "starttls", user: str = "", password: str = "", ca_file: str = "", timeout: float = 30) -> None:
        if tls not in ("ssl", "starttls", "none"):
            raise ConfigError(f"smtp tls = {tls!r}: use ssl, starttls or none")
        self.host = host
        self.port = port or {"ssl": 465, "starttls": 587, "none": 25}[tls]
        self.tls = tls
        self.user = user
        self._password = password
        self.context = ssl.create_default_context(cafile=ca_file or None)
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"SmtpTransport({self.host!r}, {self.port}, tls={self.tls!r})"

    def deliver(self, item: OutboxItem) -> None:
        try:
            if self.tls == "ssl":
                server: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=self.context)
            else:
                server = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with server:
                if self.tls == "starttls":
                    server.starttls(context=self.context)
                if self.user:
                    server.login(self.user, self._password)
                refused = server.send_message(_parse(item.message))
                if refused:
                    raise PermanentDeliveryError(f"recipients refused: {refused}")
        except smtplib.SMTPResponseException as exc:
            text = f"SMTP {exc.smtp_code} {exc.smtp_error.decode(errors='replace') if isinstance(exc.smtp_error, bytes) else exc.smtp_error}"
            if 500 <= exc.smtp_code < 600:
                raise PermanentDeliveryError(text) from exc
            raise DeliveryError(text) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            raise PermanentDeliveryError(f"recipients refused: {exc.recipients}") from exc
        except (smtplib.SMTPException, ssl.SSLError, socket.error) as exc:
            raise DeliveryError(f"SMTP {self.host}:{self.port}: {exc}") from exc


class DraftsTransport:
    """APPEND each forward to the mailbox's Drafts folder, for a person to send."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def deliver(self, item: OutboxItem) -> None:
        from .errors import ImapError
        from .imap import ImapSource

        try:
            with ImapSource.from_settings(self.settings.imap) as source:
                source.append(self.settings.imap.drafts_folder, item.message)
        except ImapError as exc:
            raise DeliveryError(str(exc)) from exc


def _parse(data: bytes) -> object:
    import email
    from email.policy import SMTP

    return email.message_from_bytes(data, policy=SMTP)


def transport_for(settings: Settings) -> Transport:
    if settings.delivery == "smtp":
        if not settings.smtp.host:
            raise ConfigError("delivery = smtp needs smtp.host (TRIAGE_SMTP_HOST)")
        s = settings.smtp
        return SmtpTransport(host=s.host, port=s.port, tls=s.tls, user=s.user, password=s.password, ca_file=s.ca_file)
    if settings.delivery == "drafts":
        if not settings.imap.host:
            raise ConfigError("delivery = drafts needs the IMAP mailbox (TRIAGE_IMAP_HOST ...)")
        return DraftsTransport(settings)
    raise ConfigError("delivery is 'none': set delivery = smtp or drafts (TRIAGE_DELIVERY) to send forwards")


@dataclass
class SendResult:
    sent: int = 0
    failed: int = 0
    deferred: int = 0


def send_approved(
    store: Store,
    transport: Transport,
    *,
    retries: int = 3,
    backoff: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> SendResult:
    """Deliver every approved item; transient errors are retried with backoff and jitter."""
    result = SendResult()
    for item in store.outbox("approved"):
        blocked = store.is_blocked(item.to)
        if blocked:
            store.set_state(item.id, "failed", error=blocked, expect=("approved",))
            result.failed += 1
            continue
        if not store.set_state(item.id, "sending", expect=("approved",)):
            continue  # another process took it
        for attempt in range(retries + 1):
            try:
                transport.deliver(item)
            except PermanentDeliveryError as exc:
                store.set_state(item.id, "failed", error=str(exc))
                log.warning("forward refused", extra={"item": item.id, "error": str(exc)})
                result.failed += 1
                break
            except DeliveryError as exc:
                if attempt == retries:
                    store.set_state(item.id, "approved", error=f"will retry: {exc}")
                    log.warning("forward deferred", extra={"item": item.id, "error": str(exc)})
                    result.deferred += 1
                    break
                sleep(backoff * (2**attempt) * (0.5 + random.random()))
            else:
                store.set_state(item.id, "sent")
                log.info("forward sent", extra={"item": item.id, "to": item.to})
                result.sent += 1
                break
    return result


def recover_interrupted(store: Store) -> int:
    """Items left in ``sending`` by a crash go back to review: they may have gone out."""
    count = 0
    for item in store.outbox("sending"):
        store.set_state(item.id, "pending", error="interrupted while sending: check whether it went out before approving again", expect=("sending",))
        count += 1
    return count

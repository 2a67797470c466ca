"""Delivery of queued forwards: ``none`` (queue only), ``drafts`` (IMAP APPEND) or ``smtp``.

A transport is anything with ``deliver(item)``; it raises
:class:`~triage.errors.DeliveryError` for a failure worth retrying and
:class:`~triage.errors.PermanentDeliveryError` for a refusal.  Errors of
smtplib, ssl and sockets are translated here, once (:func:`smtp_errors`).

What goes out is exactly the bytes a person saw with ``triage outbox show``:
the stored message is sent as it is, never re-serialised by the ``email``
package (which would decode RFC 2047 words in display names on the way and
could turn an encoded line break back into a header).  Its recipients are
checked against the item before anything is sent.

Sending is at most once: an item is marked ``sending`` before it is handed to
the server and ``sent`` after; an item found in ``sending`` after a crash
may or may not have gone out, so it goes back to review instead of being sent
again.
"""

from __future__ import annotations

import email.utils
import logging
import random
import smtplib
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Protocol

from .config import Settings
from .errors import ConfigError, DeliveryError, ImapError, PermanentDeliveryError
from .records import OutboxItem
from .store import Store

log = logging.getLogger(__name__)


class Transport(Protocol):
    def deliver(self, item: OutboxItem) -> None: ...


@dataclass(frozen=True)
class Envelope:
    """Who a stored forward goes to, read from its own headers and checked against the item."""

    sender: str
    recipients: tuple[str, ...]


def envelope(item: OutboxItem) -> Envelope:
    """The SMTP envelope of a stored forward: its one To (the item's) and its Cc.

    A forward is built by :mod:`triage.forward` with one To header and at
    most one Cc header; a second recipient header, or a Bcc, means the
    stored message is not what triage wrote, and it is refused.
    """
    headers: Message = BytesHeaderParser(policy=compat32).parsebytes(item.message)
    to_fields = headers.get_all("To") or []
    cc_fields = headers.get_all("Cc") or []
    if len(to_fields) != 1 or len(cc_fields) > 1 or headers.get_all("Bcc") or headers.get_all("Resent-To"):
        raise PermanentDeliveryError(f"item {item.id}: the stored forward has unexpected recipient headers; refusing to send it")
    to = [addr.lower() for _, addr in email.utils.getaddresses(to_fields)]
    cc = [addr.lower() for _, addr in email.utils.getaddresses(cc_fields)]
    if to != [item.to.lower()] or any(not addr or "@" not in addr for addr in cc):
        raise PermanentDeliveryError(f"item {item.id}: the stored forward's recipients do not match the outbox item; refusing to send it")
    sender = email.utils.parseaddr(headers.get("From", ""))[1]
    return Envelope(sender=sender, recipients=tuple(to + cc))


@contextmanager
def smtp_errors(where: str) -> Iterator[None]:
    """Translate smtplib, ssl and socket errors: 5xx refusals are permanent, the rest are worth retrying."""
    try:
        yield
    except DeliveryError:
        raise
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        text = f"SMTP {where}: recipients refused: " + "; ".join(f"{addr} {code}" for addr, (code, _) in exc.recipients.items())
        if codes and all(500 <= code < 600 for code in codes):
            raise PermanentDeliveryError(text) from exc
        raise DeliveryError(text) from exc
    except smtplib.SMTPAuthenticationError as exc:
        # the account, not this forward: keep it queued
        raise DeliveryError(f"SMTP {where}: login refused ({exc.smtp_code}); check smtp.user and the password") from exc
    except smtplib.SMTPResponseException as exc:
        answer = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        text = f"SMTP {where}: {exc.smtp_code} {answer}"
        if 500 <= exc.smtp_code < 600:
            raise PermanentDeliveryError(text) from exc
        raise DeliveryError(text) from exc
    except ssl.SSLCertVerificationError as exc:
        raise DeliveryError(
            f"SMTP {where}: the server's TLS certificate could not be verified ({exc.verify_message}); give its CA with smtp.ca_file (TRIAGE_SMTP_CA_FILE)"
        ) from exc
    except (smtplib.SMTPException, ssl.SSLError, OSError) as exc:
        raise DeliveryError(f"SMTP {where}: {exc or type(exc).__name__}") from exc


class SmtpTransport:
    """Send through an SMTP server (STARTTLS, SSL or plain; optional AUTH)."""

    def __init__(self, *, host: str, port: int = 0, tls: str = "starttls", user: str = "", password: str = "", ca_file: str = "", timeout: float = 30) -> None:
        if tls not in ("ssl", "starttls", "none"):
            raise ConfigError(f"smtp tls = {tls!r}: use ssl, starttls or none (TRIAGE_SMTP_TLS)")
        self.host = host
        self.port = port or {"ssl": 465, "starttls": 587, "none": 25}[tls]
        self.tls = tls
        self.user = user
        self._password = password
        try:
            self.context = ssl.create_default_context(cafile=ca_file or None)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"cannot load the CA file {ca_file!r} (smtp.ca_file / TRIAGE_SMTP_CA_FILE): {exc}") from exc
        self.timeout = timeout

    def __repr__(self) -> str:  # never show the password
        return f"SmtpTransport({self.host!r}, {self.port}, tls={self.tls!r})"

    def deliver(self, item: OutboxItem) -> None:
        """Send the stored bytes of ``item`` to its To and Cc."""
        env = envelope(item)
        where = f"{self.host}:{self.port}"
        with smtp_errors(where):
            server = self._connect()
        try:
            with smtp_errors(where):
                refused = server.sendmail(env.sender or self.user, list(env.recipients), item.message)
        finally:
            _quit(server)
        if item.to.lower() in {addr.lower() for addr in refused}:
            code, answer = refused.get(item.to) or next(iter(refused.values()))
            raise PermanentDeliveryError(
                f"SMTP {where}: the contact {item.to} was refused ({code} {answer.decode(errors='replace')}); "
                f"the copy to {', '.join(sorted(set(env.recipients) - set(refused)))} went out: do not approve it again"
            )
        if refused:
            # the contact took it: it went out, so it must not be sent again
            log.warning("forward sent, but some recipients were refused", extra={"item": item.id, "refused": sorted(refused)})

    def _connect(self) -> smtplib.SMTP:
        if self.tls == "ssl":
            server: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=self.context)
        else:
            server = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            if self.tls == "starttls":
                server.starttls(context=self.context)
            if self.user:
                server.login(self.user, self._password)
        except BaseException:
            server.close()
            raise
        return server


def _quit(server: smtplib.SMTP) -> None:
    """QUIT; an error now is not a failed delivery (the message may be out): just close."""
    try:
        server.quit()
    except (smtplib.SMTPException, OSError):
        server.close()


class DraftsTransport:
    """APPEND each forward to the mailbox's Drafts folder, for a person to send from their mail client."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def deliver(self, item: OutboxItem) -> None:
        from .imap import ImapSource

        envelope(item)  # the same checks as for SMTP: a draft is one click from being sent
        try:
            with ImapSource.from_settings(self.settings.imap) as source:
                source.append(self.settings.imap.drafts_folder, item.message)
        except ImapError as exc:
            raise DeliveryError(str(exc)) from exc


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
    """What one round of :func:`send_approved` did; ``problems`` holds (item id, reason) for the rest."""

    sent: int = 0
    failed: int = 0
    deferred: int = 0
    problems: list[tuple[int, str]] = field(default_factory=list)


def send_approved(
    store: Store,
    transport: Transport,
    *,
    retries: int = 3,
    backoff: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
    should_stop: Callable[[], bool] = lambda: False,
) -> SendResult:
    """Deliver every approved item; transient errors are retried with backoff and jitter.

    When an item still fails after its retries the server is most likely
    down: the remaining items are not tried this round.  They stay
    ``approved``, with the error recorded, for the next ``outbox send``.
    """
    result = SendResult()
    while not should_stop():
        # claimed in small batches: on PostgreSQL several daemons claim different items at once
        # (FOR UPDATE SKIP LOCKED); a claimed item is already "sending"
        batch = store.claim_approved(limit=10)
        if not batch:
            break
        for index, item in enumerate(batch):
            if should_stop():
                _put_back(store, batch[index:], "not tried: stopping")
                return result
            blocked = _blocked(store, item)
            if blocked:
                store.set_state(item.id, "failed", error=blocked, expect=("sending",))
                log.warning("forward not sent", extra={"item": item.id, "error": blocked})
                result.failed += 1
                result.problems.append((item.id, blocked))
                continue
            outcome, error = _deliver(store, transport, item, retries=retries, backoff=backoff, sleep=sleep)
            setattr(result, outcome, getattr(result, outcome) + 1)
            if error:
                result.problems.append((item.id, error))
            if outcome == "deferred":
                note = "will retry: not tried, the server was unavailable"
                for rest in batch[index + 1 :]:
                    if store.set_state(rest.id, "approved", error=note, expect=("sending",)):
                        result.deferred += 1
                        result.problems.append((rest.id, note))
                in_batch = {b.id for b in batch}
                for rest in store.outbox("approved"):
                    if rest.id not in in_batch:
                        store.set_state(rest.id, "approved", error=note, expect=("approved",))
                        result.deferred += 1
                        result.problems.append((rest.id, note))
                return result
    return result


def _put_back(store: Store, items: list[OutboxItem], note: str) -> None:
    for item in items:
        store.set_state(item.id, "approved", error=note, expect=("sending",))


def _blocked(store: Store, item: OutboxItem) -> str | None:
    """Why ``item`` must not go out (odd recipients, a suppressed or undeliverable one), or None."""
    try:
        recipients = envelope(item).recipients
    except PermanentDeliveryError as exc:
        return str(exc)
    expected = {item.to.lower(), *(addr.lower() for addr in store.outbox_cc(item.id))}
    if set(recipients) != expected:
        return f"item {item.id}: the stored forward's recipients {sorted(recipients)} are not the outbox item's {sorted(expected)}"
    for address in recipients:
        blocked = store.is_blocked(address)
        if blocked:
            return blocked
    return None


def _deliver(
    store: Store, transport: Transport, item: OutboxItem, *, retries: int, backoff: float, sleep: Callable[[float], None]
) -> tuple[str, str]:
    """One item, already marked ``sending``: (``sent``, ``failed`` or ``deferred``; the error, if any)."""
    for attempt in range(retries + 1):
        try:
            transport.deliver(item)
        except PermanentDeliveryError as exc:
            store.set_state(item.id, "failed", error=str(exc))
            log.warning("forward refused", extra={"item": item.id, "error": str(exc)})
            return "failed", str(exc)
        except DeliveryError as exc:
            if attempt == retries:
                store.set_state(item.id, "approved", error=f"will retry: {exc}")
                log.warning("forward deferred", extra={"item": item.id, "error": str(exc), "attempts": attempt + 1})
                return "deferred", f"will retry: {exc}"
            sleep(backoff * (2**attempt) * (0.5 + random.random()))
        else:
            store.set_state(item.id, "sent")
            log.info("forward sent", extra={"item": item.id, "to": item.to})
            return "sent", ""
    raise AssertionError("unreachable")


def recover_interrupted(store: Store) -> int:
    """Items left in ``sending`` by a crash go back to review: they may have gone out."""
    count = 0
    for item in store.outbox("sending"):
        store.set_state(item.id, "pending", error="interrupted while sending: check whether it went out before approving again", expect=("sending",))
        count += 1
    return count

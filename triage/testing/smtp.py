"""A real SMTP server on loopback for tests: aiosmtpd, recording what it receives.

The handler is kept apart from the server (as aiosmtpd does it), so the
server can be stopped and started again on the same port while the record of
received mail survives: that is how the tests take the server "down".
Needs aiosmtpd (the ``test`` extra).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32
from typing import Any

from .dovecot import free_port


@dataclass(frozen=True)
class Received:
    """One message as the server got it: the envelope and the bytes of DATA."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes

    def message(self) -> Message:
        return BytesParser(policy=compat32).parsebytes(self.data)


class RecordingHandler:
    """An aiosmtpd handler that accepts everything and keeps it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received: list[Received] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # aiosmtpd's naming
        content = envelope.original_content or envelope.content
        with self.lock:
            self.received.append(Received(envelope.mail_from, tuple(envelope.rcpt_tos), bytes(content)))
        return "250 OK message accepted"


class SmtpServer:
    """aiosmtpd on 127.0.0.1 (plain SMTP).  ``start()`` / ``stop()`` may be called again and again.

    >>> SmtpServer(port=2525).settings()["TRIAGE_SMTP_PORT"]
    '2525'
    """

    def __init__(self, port: int = 0) -> None:
        self.port = port or free_port()
        self.handler = RecordingHandler()
        self._controller: Any = None

    @property
    def received(self) -> list[Received]:
        with self.handler.lock:
            return list(self.handler.received)

    def start(self) -> SmtpServer:
        from aiosmtpd.controller import Controller

        if self._controller is None:
            # aiosmtpd closes the event loop on stop: a fresh controller each time
            self._controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, ready_timeout=10)
            self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def clear(self) -> None:
        with self.handler.lock:
            self.handler.received.clear()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """The received messages once there are at least ``count`` (or whatever came within ``timeout``)."""
        end = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < end:
            time.sleep(0.02)
        return self.received

    def settings(self) -> dict[str, str]:
        """``TRIAGE_*`` variables that make triage deliver here."""
        return {"TRIAGE_DELIVERY": "smtp", "TRIAGE_SMTP_HOST": "127.0.0.1", "TRIAGE_SMTP_PORT": str(self.port), "TRIAGE_SMTP_TLS": "none"}

"""Many mailboxes, several daemons: the work shared through leases in the store.

Each daemon renews a heartbeat lease (``daemon:<holder>``) and counts the
live ones to know its fair share of the mailboxes.  A mailbox is read only by
the daemon holding its lease; a lease not renewed within ``lease_seconds``
(the daemon died, or lost its network) is taken over by another daemon on
its next round.  Nothing depends on the leases for correctness: replies and
forwards are unique by key in the store, so even two daemons reading one
mailbox during a takeover cannot decide a reply twice or queue a forward
twice.  The leases keep the work from being done twice, not the results.

Mailboxes are polled (IDLE needs one connection per mailbox and daemon; the
single-mailbox daemon keeps using it).
"""

from __future__ import annotations

import logging
import math
import os
import socket
import time
import uuid
from collections.abc import Callable
from typing import Any

from .config import ImapSettings
from .errors import ImapError, StoreError
from .runner import Runner
from .store import Store

log = logging.getLogger(__name__)


def mailbox_name(settings: ImapSettings) -> str:
    """The lease name of a mailbox: ``user@host/folder``."""
    return f"{settings.user}@{settings.host}/{settings.folder}"


class Fleet:
    """Runs the share of ``mailboxes`` this daemon holds, until ``stop`` says so."""

    def __init__(
        self,
        *,
        runner: Runner,
        store: Store,
        mailboxes: list[ImapSettings],
        open_source: Callable[[ImapSettings], Any],
        stop: Callable[[], bool],
        poll_seconds: float = 10.0,
        lease_seconds: float = 30.0,
        holder: str | None = None,
        after_poll: Callable[[], None] | None = None,
    ) -> None:
        if lease_seconds <= poll_seconds:
            raise ValueError("lease_seconds must be longer than poll_seconds, or leases lapse between rounds")
        self.runner = runner
        self.store = store
        self.mailboxes = {mailbox_name(m): m for m in mailboxes}
        self.open_source = open_source
        self.stop = stop
        self.poll_seconds = poll_seconds
        self.lease_seconds = lease_seconds
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.after_poll = after_poll
        self.held: dict[str, Any] = {}
        runner.should_stop = stop

    def share(self) -> int:
        """How many mailboxes this daemon should hold: an even split among the live daemons."""
        live = max(1, len(self.store.live_leases("daemon:")))
        return math.ceil(len(self.mailboxes) / live)

    def run(self) -> None:
        log.info("fleet started", extra={"holder": self.holder, "mailboxes": len(self.mailboxes)})
        try:
            while not self.stop():
                try:
                    self.round()
                except StoreError as exc:
                    log.warning("store error, retrying", extra={"error": str(exc)})
                self._sleep(self.poll_seconds)
        finally:
            for name in list(self.held):
                self._drop(name, release=True)
            try:
                self.store.release_lease(f"daemon:{self.holder}", self.holder)
            except StoreError:
                pass
            log.info("fleet stopped", extra={"holder": self.holder})

    def round(self) -> None:
        """Renew the heartbeat, rebalance the leases, then read every mailbox held."""
        self.store.acquire_lease(f"daemon:{self.holder}", self.holder, self.lease_seconds)
        share = self.share()
        for name in sorted(self.mailboxes):
            if self.stop():
                return
            if name in self.held:
                if not self.store.acquire_lease(name, self.holder, self.lease_seconds):
                    log.warning("lease lost", extra={"mailbox": name})
                    self._drop(name, release=False)
                elif len(self.held) > share:
                    log.info("lease handed back for balance", extra={"mailbox": name, "share": share})
                    self._drop(name, release=True)
            elif len(self.held) < share and self.store.acquire_lease(name, self.holder, self.lease_seconds):
                log.info("lease taken", extra={"mailbox": name})
                try:
                    source = self.open_source(self.mailboxes[name])
                    source.__enter__()
                except ImapError as exc:
                    log.warning("mailbox unreachable", extra={"mailbox": name, "error": str(exc)})
                    self.store.release_lease(name, self.holder)
                    continue
                self.held[name] = source
        for name in sorted(self.held):
            if self.stop():
                return
            source = self.held[name]
            self.runner.on_done = source.done
            self.runner.on_decided = getattr(source, "decided", None)
            try:
                self.runner.process(source.fetch_new())
                if hasattr(source, "apply_actions"):
                    source.apply_actions()
            except ImapError as exc:
                log.warning("mailbox error, letting it go", extra={"mailbox": name, "error": str(exc)})
                self._drop(name, release=True)
                continue
            # a long read must not let the lease lapse under us
            self.store.acquire_lease(name, self.holder, self.lease_seconds)
        if self.after_poll:
            self.after_poll()

    def _drop(self, name: str, *, release: bool) -> None:
        source = self.held.pop(name, None)
        if source is not None:
            try:
                source.__exit__(None, None, None)
            except ImapError:
                pass
        if release:
            try:
                self.store.release_lease(name, self.holder)
            except StoreError:
                pass

    def _sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end and not self.stop():
            time.sleep(min(0.2, max(0.0, end - time.monotonic())))

"""The IMAP source: new replies from one or more folders of a mailbox, through imapclient.

- TLS is verified by default (IMAPS or STARTTLS); a CA file can be given for
  a private server; turning verification off needs ``insecure`` and logs a
  warning.  Password login and XOAUTH2 (a token from a command or a file).
- ``BODY.PEEK[]`` so that nothing is marked ``\\Seen``; FETCH in batches.
- A UID watermark per folder, stored with the folder's UIDVALIDITY (RFC 3501
  §2.3.1.1): when UIDVALIDITY changes the UIDs mean nothing any more and the
  folder is rescanned; the store's per-reply keys make the rescan free of
  duplicates.  The watermark only moves past a UID once the runner has
  stored (or recorded the failure of) every message up to it.
- ``--since`` maps to ``SEARCH SINCE``, which compares the server's
  received date (INTERNALDATE), not the Date header.

Errors of imaplib, imapclient, ssl and sockets are translated here, once, to
:class:`~triage.errors.ImapError`.
"""

from __future__ import annotations

import datetime as dt
import logging
import shlex
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import imapclient
from imapclient.exceptions import IMAPClientError

from .config import ImapSettings
from .errors import ConfigError, ImapError
from .records import RawMessage

log = logging.getLogger(__name__)

IDLE_RENEW_SECONDS = 25 * 60
"""Re-issue IDLE well before the 29-minute limit of RFC 2177."""


@contextmanager
def imap_errors(action: str) -> Iterator[None]:
    """Translate the errors of the IMAP stack into :class:`ImapError`."""
    try:
        yield
    except ImapError:
        raise
    except (IMAPClientError, imapclient.imaplib.IMAP4.error, ssl.SSLError, socket.error, EOFError) as exc:
        raise ImapError(f"IMAP {action} failed: {exc}") from exc


def tls_context(ca_file: str = "", *, insecure: bool = False) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=ca_file or None)
    if insecure:
        log.warning("TLS certificate verification is OFF for IMAP; anyone on the path can read the mailbox password")
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def oauth_token(command: str, path: str) -> str:
    """An XOAUTH2 access token from a command's output or a file."""
    if command:
        try:
            out = subprocess.run(shlex.split(command), capture_output=True, text=True, timeout=60, check=True)
        except (OSError, subprocess.SubprocessError) as exc:
            raise ConfigError(f"the OAuth token command failed ({type(exc).__name__}); check imap.oauth_token_command") from exc
        return out.stdout.strip()
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"cannot read the OAuth token file {path}: {exc.strerror}") from exc


class ImapSource:
    """New messages of one mailbox.  Use as a context manager.

    ``store`` keeps the watermarks; without it (``--dry-run``) every message
    matching the search is read.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int = 0,
        user: str,
        password: str = "",
        folders: tuple[str, ...] = ("INBOX",),
        tls: str = "ssl",
        ca_file: str = "",
        insecure: bool = False,
        oauth_token_command: str = "",
        oauth_token_file: str = "",
        batch: int = 200,
        store: Any = None,
        since: dt.date | None = None,
        timeout: float = 30.0,
    ) -> None:
        if tls not in ("ssl", "starttls", "none"):
            raise ConfigError(f"imap tls = {tls!r}: use ssl, starttls or none")
        self.host = host
        self.port = port or (993 if tls == "ssl" else 143)
        self.user = user
        self._password = password
        self.folders = folders
        self.tls = tls
        self.ca_file = ca_file
        self.insecure = insecure
        self.oauth_token_command = oauth_token_command
        self.oauth_token_file = oauth_token_file
        self.batch = max(1, batch)
        self.store = store
        self.since = since
        self.timeout = timeout
        self.mailbox = f"{user}@{host}"
        self.client: imapclient.IMAPClient | None = None
        self._pending: dict[str, dict[int, bool]] = {}
        self._validity: dict[str, int] = {}

    @classmethod
    def from_settings(cls, settings: ImapSettings, **kwargs: Any) -> ImapSource:
        return cls(
            host=settings.host, port=settings.port, user=settings.user, password=settings.password,
            folders=tuple(f.strip() for f in settings.folder.split(",") if f.strip()) or ("INBOX",),
            tls=settings.tls, ca_file=settings.ca_file, insecure=settings.insecure,
            oauth_token_command=settings.oauth_token_command, oauth_token_file=settings.oauth_token_file,
            batch=settings.batch, **kwargs,
        )

    def __repr__(self) -> str:  # never show the password
        return f"ImapSource({self.mailbox!r}, folders={self.folders!r}, tls={self.tls!r})"

    # -- connection --------------------------------------------------------

    def connect(self) -> None:
        context = tls_context(self.ca_file, insecure=self.insecure)
        with imap_errors(f"connection to {self.host}:{self.port}"):
            client = imapclient.IMAPClient(self.host, port=self.port, ssl=self.tls == "ssl", ssl_context=context, timeout=self.timeout)
            if self.tls == "starttls":
                client.starttls(context)
        with imap_errors(f"login as {self.user}"):
            if self.oauth_token_command or self.oauth_token_file:
                client.oauth2_login(self.user, oauth_token(self.oauth_token_command, self.oauth_token_file))
            else:
                client.login(self.user, self._password)
        self.client = client
        log.info("imap connected", extra={"mailbox": self.mailbox, "tls": self.tls})

    def close(self) -> None:
        if self.client is not None:
            try:
                self.client.logout()
            except (IMAPClientError, OSError, imapclient.imaplib.IMAP4.error):
                pass
            self.client = None

    def __enter__(self) -> ImapSource:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _client(self) -> imapclient.IMAPClient:
        if self.client is None:
            raise ImapError("not connected")
        return self.client

    # -- reading -----------------------------------------------------------

    def _select(self, folder: str) -> int:
        with imap_errors(f"SELECT {folder}"):
            info = self._client().select_folder(folder, readonly=True)
        return int(info[b"UIDVALIDITY"])

    def _uids(self, folder: str, validity: int) -> list[int]:
        last = 0
        if self.store is not None:
            mark = self.store.watermark(self.mailbox, folder)
            if mark is not None:
                if mark[0] == validity:
                    last = mark[1]
                else:
                    log.warning("UIDVALIDITY changed, rescanning", extra={"folder": folder, "old": mark[0], "new": validity})
                    self.store.set_watermark(self.mailbox, folder, validity, 0)
        criteria: list[Any] = ["UID", f"{last + 1}:*"] if last else ["ALL"]
        if self.since:
            criteria += ["SINCE", self.since]
        with imap_errors(f"SEARCH in {folder}"):
            uids = self._client().search(criteria)
        return sorted(uid for uid in uids if uid > last)

    def fetch_new(self) -> Iterator[RawMessage]:
        """Every message not read before, folder by folder, oldest UID first."""
        client = self._client()
        for folder in self.folders:
            validity = self._select(folder)
            self._validity[folder] = validity
            uids = self._uids(folder, validity)
            pending = self._pending.setdefault(folder, {})
            for start in range(0, len(uids), self.batch):
                chunk = uids[start : start + self.batch]
                with imap_errors(f"FETCH in {folder}"):
                    response = client.fetch(chunk, ["BODY.PEEK[]", "INTERNALDATE"])
                for uid in chunk:
                    data = response.get(uid, {})
                    body = data.get(b"BODY[]")
                    source = f"{folder}:{validity}:{uid}"
                    pending[uid] = False
                    if body is None:
                        yield RawMessage(source, b"", problem="the server returned no body for this UID (deleted while reading?)")
                    else:
                        received = data.get(b"INTERNALDATE")
                        yield RawMessage(source, bytes(body), received=received if isinstance(received, dt.datetime) else None)

    def done(self, source: str) -> None:
        """The runner has stored (or recorded) ``source``: move the watermark as far as is safe."""
        folder, _, rest = source.rpartition(":")
        folder, _, validity = folder.rpartition(":")
        if not folder or folder not in self._pending:
            return
        pending = self._pending[folder]
        uid = int(rest)
        if uid in pending:
            pending[uid] = True
        high = None
        for key in sorted(pending):
            if not pending[key]:
                break
            high = key
            del pending[key]
        if high is not None and self.store is not None:
            self.store.set_watermark(self.mailbox, folder, int(validity), high)

    # -- waiting -------------------------------------------------------------

    def wait(self, timeout: float, *, should_stop: Any = lambda: False) -> bool:
        """Wait up to ``timeout`` seconds for new mail: IDLE where the server has it, else sleep.

        Returns True when the server announced something.
        """
        client = self._client()
        with imap_errors("capability"):
            has_idle = client.has_capability("IDLE")
        if not has_idle:
            end = time.monotonic() + timeout
            while time.monotonic() < end and not should_stop():
                time.sleep(min(0.5, max(0.0, end - time.monotonic())))
            return False
        folder = self.folders[0]
        with imap_errors(f"SELECT {folder}"):
            client.select_folder(folder, readonly=True)
        with imap_errors("IDLE"):
            client.idle()
            try:
                end = time.monotonic() + min(timeout, IDLE_RENEW_SECONDS)
                while time.monotonic() < end and not should_stop():
                    responses = client.idle_check(timeout=min(0.5, max(0.05, end - time.monotonic())))
                    if any(isinstance(r, tuple) and len(r) > 1 and r[1] in (b"EXISTS", b"RECENT") for r in responses):
                        return True
                return False
            finally:
                client.idle_done()

    def append(self, folder: str, message: bytes, *, flags: tuple[bytes, ...] = (b"\\Draft",)) -> None:
        """APPEND a message (a draft) to ``folder``."""
        with imap_errors(f"APPEND to {folder}"):
            self._client().append(folder, message, flags=flags)

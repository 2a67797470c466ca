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
- Waiting for mail (the daemon): IDLE (RFC 2177), re-issued well before the
  server's 30-minute limit, where the server has it; a plain sleep where it
  has not.  A server that goes away during IDLE (BYE, or a closed socket)
  is noticed at once, so the daemon can reconnect.

Errors of imaplib, imapclient, ssl and sockets are translated here, once, to
:class:`~triage.errors.ImapError`.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import shlex
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

import imapclient
import imapclient.datetime_util
import imapclient.imapclient
from imapclient.exceptions import IMAPClientError, LoginError
from imapclient.imapclient import _parse_untagged_response  # private; its own idle_check has used it since early releases

from .config import ImapSettings
from .errors import ConfigError, ImapError
from .records import RawMessage

log = logging.getLogger(__name__)

IDLE_RENEW_SECONDS = 25 * 60
"""Re-issue IDLE well before the 29-minute limit of RFC 2177."""


@contextmanager
def imap_errors(action: str) -> Iterator[None]:
    """Translate the errors of the IMAP stack (imaplib, imapclient, ssl, sockets) into :class:`ImapError`."""
    try:
        yield
    except ImapError:
        raise
    except ssl.SSLCertVerificationError as exc:
        raise ImapError(
            f"IMAP {action} failed: the server's TLS certificate could not be verified ({exc.verify_message}); "
            "give its CA with imap.ca_file (TRIAGE_IMAP_CA_FILE), or, for a test server only, set imap.insecure = true (TRIAGE_IMAP_INSECURE=1)"
        ) from exc
    except LoginError as exc:
        raise ImapError(f"IMAP {action} failed: {exc}; check imap.user and the password or OAuth token") from exc
    except (IMAPClientError, ssl.SSLError, OSError, EOFError) as exc:
        raise ImapError(f"IMAP {action} failed: {exc or type(exc).__name__}") from exc


def tls_context(ca_file: str = "", *, insecure: bool = False) -> ssl.SSLContext:
    """A verifying TLS context (with ``ca_file`` for a private CA); ``insecure`` turns verification off, loudly."""
    try:
        context = ssl.create_default_context(cafile=ca_file or None)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot load the CA file {ca_file!r} (imap.ca_file / TRIAGE_IMAP_CA_FILE): {exc}") from exc
    if insecure:
        log.warning("TLS certificate verification is OFF for IMAP (imap.insecure): anyone on the path can read the mailbox password")
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def oauth_token(command: str, path: str) -> str:
    """An XOAUTH2 access token from a command's output or a file."""
    if command:
        try:
            out = subprocess.run(shlex.split(command), capture_output=True, text=True, timeout=60, check=True)
        except (OSError, subprocess.SubprocessError) as exc:
            # the command line may carry a secret: name only the error's type
            raise ConfigError(f"the OAuth token command failed ({type(exc).__name__}); check imap.oauth_token_command") from exc
        token = out.stdout.strip()
    else:
        try:
            token = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"cannot read the OAuth token file {path}: {exc.strerror}") from exc
    if not token or any(c in token for c in "\r\n\x01"):
        raise ConfigError("the OAuth token is empty or has line breaks: check imap.oauth_token_command / imap.oauth_token_file")
    return token


class _Client(imapclient.IMAPClient):  # type: ignore[misc]
    """imapclient with its ``idle_check`` reading whole lines.

    imapclient reads IDLE responses with the socket non-blocking.  When a TLS
    record ends in the middle of a line (Dovecot's ``* 5 EXISTS`` and
    ``* 1 RECENT`` often share a packet, and the split falls anywhere), the
    part of the line already read is dropped, and the rest comes back later
    as a line of its own: "unexpected response: b'T'", a broken connection
    and a missed EXISTS.  Here the poll only says that the server has begun
    to send; each line is then read whole, with the socket blocking under its
    usual read timeout.  Lines already in imaplib's buffer or in the TLS
    layer count as readable: a socket with nothing more to send would never
    wake the poll for them.
    """

    def idle_check(self, timeout: float | None = None) -> list[Any]:
        sock = self.socket()
        if not self._readable(sock, timeout):
            return []
        responses = []
        while True:
            try:
                line = self._imap._get_line()
            except imapclient.IMAPClient.AbortError as exc:
                if "EOF" in str(exc.args[0] if exc.args else ""):
                    break  # as imapclient: a closed connection answers with what was read (the caller notices)
                raise
            responses.append(_parse_untagged_response(line))
            if not self._readable(sock, 0):
                return responses
        return responses

    def _readable(self, sock: socket.socket, timeout: float | None) -> bool:
        if _buffered(self):
            return True
        poll = self._poll_socket if imapclient.imapclient.POLL_SUPPORT else self._select_poll_socket
        return bool(poll(sock, timeout))


def _buffered(client: imapclient.IMAPClient) -> bool:
    """Whether unread bytes wait in imaplib's buffered reader or in the TLS layer, without blocking."""
    sock = client.socket()
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return True
    saved = sock.gettimeout()
    sock.setblocking(False)  # peek reads the socket only when the buffer is empty: then it must not wait
    try:
        return bool(client._imap.file.peek(1))
    except (OSError, ValueError):  # nothing there (SSLWantReadError, BlockingIOError) or closed
        return False
    finally:
        sock.settimeout(saved)


_IN_REPLY_TO = re.compile(rb"^in-reply-to:\s*(<[^<>\s]+>)", re.I | re.M)
_FETCH_UID = re.compile(rb"\bUID (\d+)")
_FETCH_DATE = re.compile(rb'\bINTERNALDATE "([^"]+)"')


def fetch_bodies(client: imapclient.IMAPClient, uids: list[int]) -> dict[int, tuple[bytes, dt.datetime | None]]:
    """``UID FETCH uids (BODY.PEEK[] INTERNALDATE)``: each UID's raw message and received time.

    imapclient tokenises every response in Python, which costs more than
    everything else of a bare fetch (DESIGN.md section 5).  A body is one
    literal, which imaplib already reads whole; only the few bytes around it
    (``UID``, ``INTERNALDATE``) need reading.  So the command goes through
    imaplib on imapclient's own connection, and a UID whose answer has any
    other form (a server that sends the body as a quoted string, say) is
    fetched again through imapclient.
    """
    imap = client._imap
    typ, data = imap.uid("FETCH", ",".join(map(str, uids)), "(BODY.PEEK[] INTERNALDATE)")
    if typ != "OK":
        raise _fetch_error(typ, data)
    out: dict[int, tuple[bytes, dt.datetime | None]] = {}
    for i, item in enumerate(data):
        if not isinstance(item, tuple) or len(item) != 2:
            continue  # the rest of a line after a literal, or an unsolicited FETCH (flags)
        meta = item[0] + (data[i + 1] if i + 1 < len(data) and isinstance(data[i + 1], bytes) else b"")
        uid = _FETCH_UID.search(meta)
        if uid is None or b"BODY[]" not in item[0].upper():
            continue
        date = _FETCH_DATE.search(meta)
        received = None
        if date:
            try:
                received = imapclient.datetime_util.parse_to_datetime(date.group(1), normalise=client.normalise_times)
            except ValueError:
                received = None
        out[int(uid.group(1))] = (item[1], received)
    missing = [uid for uid in uids if uid not in out]
    if missing:
        for uid, fields in client.fetch(missing, ["BODY.PEEK[]", "INTERNALDATE"]).items():
            body, received = fields.get(b"BODY[]"), fields.get(b"INTERNALDATE")
            if body is not None:
                out[uid] = (bytes(body), received if isinstance(received, dt.datetime) else None)
    return out


def _fetch_error(typ: str, data: Any) -> IMAPClientError:
    detail = b" ".join(d for d in data if isinstance(d, bytes)).decode("utf-8", "replace")
    return IMAPClientError(f"FETCH failed: {typ} {detail}")


def _in_reply_to(data: bytes) -> str:
    """The In-Reply-To Message-ID of a raw message (headers only), or ""."""
    end = data.find(b"\r\n\r\n")
    end = len(data) if end < 0 else end
    lf = data.find(b"\n\n", 0, end)
    m = _IN_REPLY_TO.search(data, 0, end if lf < 0 else lf)  # the headers only, without copying them
    return m.group(1).decode("ascii", "replace") if m else ""


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
        idle_renew: float = IDLE_RENEW_SECONDS,
        flag_handled: bool = False,
        move_handled: str = "",
        sent_folder: str = "",
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
        self.idle_renew = idle_renew
        self.flag_handled = flag_handled
        self.move_handled = move_handled
        self.sent_folder = sent_folder
        #: a second connection for the Sent folder: the first one is busy reading the inbox
        self._sent: imapclient.IMAPClient | None = None
        self._sent_name: str | None = None
        self._sent_cache: dict[str, str | None] = {}
        self._sent_ids: dict[str, int] = {}
        self._sent_last = 0
        self._sent_validity = 0
        #: (folder, uidvalidity, uid, label) of stored replies, for :meth:`apply_actions`
        self._handled: list[tuple[str, int, int, str]] = []
        self.mailbox = f"{user}@{host}"
        self.client: imapclient.IMAPClient | None = None
        #: per folder, the UIDs handed out and not yet acknowledged by :meth:`done` (True once done);
        #: guarded by the lock, since fetching and acknowledging may happen in different threads
        self._pending: dict[str, dict[int, bool]] = {}
        self._lock = threading.Lock()
        self._validity: dict[str, int] = {}
        #: per folder, UIDNEXT when it was last read: IDLE compares it to see mail that came in between
        self._uidnext: dict[str, int] = {}

    @classmethod
    def from_settings(cls, settings: ImapSettings, **kwargs: Any) -> ImapSource:
        return cls(
            host=settings.host, port=settings.port, user=settings.user, password=settings.password,
            folders=tuple(f.strip() for f in settings.folder.split(",") if f.strip()) or ("INBOX",),
            tls=settings.tls, ca_file=settings.ca_file, insecure=settings.insecure,
            oauth_token_command=settings.oauth_token_command, oauth_token_file=settings.oauth_token_file,
            batch=settings.batch, flag_handled=settings.flag_handled, move_handled=settings.move_handled,
            sent_folder=settings.sent_folder, **kwargs,
        )

    def __repr__(self) -> str:  # never show the password
        return f"ImapSource({self.mailbox!r}, folders={self.folders!r}, tls={self.tls!r})"

    # -- connection --------------------------------------------------------

    def connect(self) -> None:
        """Connect, start TLS as configured and log in; errors become :class:`ImapError`."""
        context = None
        if self.tls == "none":
            log.warning("IMAP without TLS (imap.tls = none): the password crosses the network in clear", extra={"host": self.host})
        else:
            context = tls_context(self.ca_file, insecure=self.insecure)
        token = oauth_token(self.oauth_token_command, self.oauth_token_file) if self.oauth_token_command or self.oauth_token_file else ""
        with imap_errors(f"connection to {self.host}:{self.port}"):
            client = _Client(self.host, port=self.port, ssl=self.tls == "ssl", ssl_context=context, timeout=self.timeout)
        try:
            with imap_errors(f"STARTTLS with {self.host}:{self.port}"):
                if self.tls == "starttls":
                    client.starttls(context)
            with imap_errors(f"login as {self.user}"):
                if token:
                    client.oauth2_login(self.user, token)
                else:
                    client.login(self.user, self._password)
            with imap_errors("CAPABILITY"):
                idle = client.has_capability("IDLE")
        except ImapError:
            _shutdown(client)
            raise
        self.client = client
        log.info("imap connected", extra={"mailbox": self.mailbox, "tls": self.tls, "auth": "xoauth2" if token else "password", "idle": idle})

    def _close_sent(self) -> None:
        if self._sent is not None:
            try:
                self._sent.logout()
            except (IMAPClientError, OSError, EOFError):
                _shutdown(self._sent)
            self._sent = None

    def close(self) -> None:
        """Log out; a connection that is already broken is just dropped."""
        self._close_sent()
        if self.client is not None:
            client, self.client = self.client, None
            try:
                client.logout()
            except (IMAPClientError, OSError, EOFError):
                _shutdown(client)

    def __enter__(self) -> Self:
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
        """EXAMINE ``folder`` (read-only, so nothing can be changed by accident); returns its UIDVALIDITY."""
        with imap_errors(f"SELECT {folder}"):
            info = self._client().select_folder(folder, readonly=True)
        validity = int(info[b"UIDVALIDITY"])
        with self._lock:
            if self._validity.get(folder) not in (None, validity):
                self._pending.pop(folder, None)  # UIDs of the old folder mean nothing now
            self._validity[folder] = validity
        if b"UIDNEXT" in info:
            self._uidnext[folder] = int(info[b"UIDNEXT"])
        return validity

    def _uids(self, folder: str, validity: int, mark: tuple[int, int] | None) -> list[int]:
        last = 0
        if mark is not None:
            if mark[0] == validity:
                last = mark[1]
            else:
                # the watermark takes the new UIDVALIDITY with the first message done
                log.warning("UIDVALIDITY changed, rescanning", extra={"folder": folder, "old": mark[0], "new": validity})
        # "n:*" always matches the highest UID, even below n (RFC 3501 §6.4.8): filter below
        criteria: list[Any] = ["UID", f"{last + 1}:*"] if last else ["ALL"]
        if self.since:
            criteria += ["SINCE", self.since]
        with imap_errors(f"SEARCH in {folder}"):
            uids = self._client().search(criteria)
        return sorted(uid for uid in uids if uid > last)

    def fetch_new(self) -> Iterator[RawMessage]:
        """Every message not read before, folder by folder, oldest UID first, ``batch`` per FETCH.

        The watermarks are read here, at the call; the messages are fetched
        as the iterator is consumed, which may be in another thread (the
        runner's worker pool reads its input in one): the iterator touches
        only the IMAP connection, never the store.
        """
        self._client()
        marks = {folder: self.store.watermark(self.mailbox, folder) if self.store is not None else None for folder in self.folders}
        return self._fetch(marks)

    def _fetch(self, marks: dict[str, tuple[int, int] | None]) -> Iterator[RawMessage]:
        client = self._client()
        for folder in self.folders:
            validity = self._select(folder)
            uids = self._uids(folder, validity, marks[folder])
            if uids:
                log.debug("new messages", extra={"folder": folder, "count": len(uids), "first_uid": uids[0]})
            for start in range(0, len(uids), self.batch):
                chunk = uids[start : start + self.batch]
                with imap_errors(f"FETCH in {folder}"):
                    response = fetch_bodies(client, chunk)
                ours = self._outreach([response[uid][0] if uid in response else b"" for uid in chunk])
                for uid in chunk:
                    source = f"{folder}:{validity}:{uid}"
                    with self._lock:
                        self._pending.setdefault(folder, {})[uid] = False
                    if uid not in response:
                        yield RawMessage(source, b"", problem="the server returned no body for this UID (deleted while reading?)")
                    else:
                        body, received = response[uid]
                        yield RawMessage(source, body, received=received, outreach=ours.get(_in_reply_to(body)))

    def _outreach(self, bodies: list[bytes]) -> dict[str, str | None]:
        """Our sent messages that these replies answer, by Message-ID, from the Sent folder."""
        if self.sent_folder.lower() == "none":
            return {}
        wanted = {mid for mid in (_in_reply_to(b) for b in bodies) if mid and mid not in self._sent_cache}
        if wanted:
            try:
                self._lookup_sent(wanted)
            except ImapError as exc:
                # removing our text is a refinement: without it the quote splitter still works
                log.warning("cannot read the Sent folder", extra={"error": str(exc)})
                self._sent_cache.update(dict.fromkeys(wanted))
        return {mid: text for mid in (_in_reply_to(b) for b in bodies) if mid and (text := self._sent_cache.get(mid))}

    def _lookup_sent(self, message_ids: set[str]) -> None:
        from .parsing import parse

        if self._sent is None:
            helper = ImapSource(
                host=self.host, port=self.port, user=self.user, password=self._password, tls=self.tls, ca_file=self.ca_file,
                insecure=self.insecure, oauth_token_command=self.oauth_token_command, oauth_token_file=self.oauth_token_file,
                timeout=self.timeout,
            )
            helper.connect()
            connection = helper._client()
            self._sent = connection
            with imap_errors("LIST"):
                self._sent_name = self.sent_folder or connection.find_special_folder(imapclient.imapclient.SENT)
            if self._sent_name:
                with imap_errors(f"SELECT {self._sent_name}"):
                    connection.select_folder(self._sent_name, readonly=True)
        sent = self._sent
        if not self._sent_name or sent is None:
            self._sent_cache.update(dict.fromkeys(message_ids))
            return
        index = self._sent_index(sent)
        uids = {mid: index[mid] for mid in message_ids if mid in index}
        bodies: dict[int, Any] = {}
        if uids:
            with imap_errors(f"FETCH in {self._sent_name}"):
                bodies = sent.fetch(sorted(set(uids.values())), ["BODY.PEEK[]"])
        if len(self._sent_cache) > 5000:
            self._sent_cache.clear()
        for mid in message_ids:
            data = bodies.get(uids[mid], {}).get(b"BODY[]") if mid in uids else None
            text = None
            if data:
                try:
                    text = parse(RawMessage("sent", bytes(data))).body
                except Exception:  # noqa: BLE001 - a sent message we cannot read just is not used
                    text = None
            self._sent_cache[mid] = text

    def _sent_index(self, sent: imapclient.IMAPClient) -> dict[str, int]:
        """Message-ID → UID of the Sent folder, read once and then only for new UIDs.

        One FETCH of a header field for the new messages costs less than a
        SEARCH per reply (which halved the reading rate).
        """
        with imap_errors(f"SELECT {self._sent_name}"):
            info = sent.select_folder(self._sent_name, readonly=True)
        validity = int(info.get(b"UIDVALIDITY", 0))
        if validity != self._sent_validity:
            self._sent_ids, self._sent_last, self._sent_validity = {}, 0, validity
        if int(info.get(b"UIDNEXT", 0)) > self._sent_last + 1 or not info.get(b"UIDNEXT"):
            with imap_errors(f"FETCH in {self._sent_name}"):
                new = [uid for uid in sent.search(["UID", f"{self._sent_last + 1}:*"]) if uid > self._sent_last]
                fetched = sent.fetch(new, ["BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"]) if new else {}
            for uid, data in fetched.items():
                if uid <= self._sent_last:
                    continue
                header = next((v for k, v in data.items() if k.startswith(b"BODY[HEADER")), b"") or b""
                m = re.search(rb"<[^<>\s]+>", bytes(header))
                if m:
                    self._sent_ids[m.group(0).decode("ascii", "replace")] = uid
            if fetched:
                self._sent_last = max(self._sent_last, max(fetched))
        return self._sent_ids

    def decided(self, source: str, label: str) -> None:
        """Remember a stored reply's label for the optional flag or move (:meth:`apply_actions`)."""
        if not (self.flag_handled or self.move_handled):
            return
        rest, _, uid = source.rpartition(":")
        folder, _, validity = rest.rpartition(":")
        if folder and uid.isdigit() and validity.isdigit():
            with self._lock:
                self._handled.append((folder, int(validity), int(uid), label))

    def apply_actions(self) -> None:
        """Flag (``$triage_<label>``) or move the replies stored since the last call; off by default.

        Run after a pass, not during it: the folders are read with EXAMINE
        (read-only) so that reading can never change the mailbox.
        """
        with self._lock:
            handled, self._handled = self._handled, []
        if not handled:
            return
        client = self._client()
        groups: dict[tuple[str, int, str], list[int]] = {}
        for folder, validity, uid, label in handled:
            groups.setdefault((folder, validity, label), []).append(uid)
        for (folder, validity, label), uids in sorted(groups.items()):
            with imap_errors(f"SELECT {folder}"):
                info = client.select_folder(folder)
            if int(info[b"UIDVALIDITY"]) != validity:
                log.warning("UIDVALIDITY changed before the handled replies were flagged or moved", extra={"folder": folder})
                continue
            if self.flag_handled:
                with imap_errors(f"STORE in {folder}"):
                    client.add_flags(uids, [f"$triage_{label}".encode()], silent=True)
            if self.move_handled:
                target = self.move_handled.replace("{label}", label)
                with imap_errors(f"MOVE to {target}"):
                    if not client.folder_exists(target):
                        client.create_folder(target)
                    if client.has_capability("MOVE"):
                        client.move(uids, target)
                    else:
                        client.copy(uids, target)
                        client.delete_messages(uids, silent=True)
                        client.uid_expunge(uids)
            log.info("replies post-processed", extra={"folder": folder, "label": label, "count": len(uids), "moved_to": self.move_handled or None})
        for folder in {f for f, _, _ in groups}:
            with imap_errors(f"SELECT {folder}"):
                client.select_folder(folder, readonly=True)

    def done(self, source: str) -> None:
        """The runner has stored (or recorded) ``source``: move the watermark as far as is safe."""
        folder, _, rest = source.rpartition(":")
        folder, _, validity = folder.rpartition(":")
        with self._lock:
            if not folder or folder not in self._pending or str(self._validity.get(folder)) != validity:
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

    def wait(self, timeout: float, *, should_stop: Callable[[], bool] = lambda: False) -> bool:
        """Wait up to ``timeout`` seconds for new mail: IDLE (RFC 2177) where the server has it, else sleep.

        Returns True when new mail may be there.  IDLE watches the first
        folder and is re-issued every ``idle_renew`` seconds, well before
        the server's 30-minute inactivity limit; the other folders are read
        at the next poll.  ``should_stop`` is checked twice a second.
        """
        client = self._client()
        with imap_errors("CAPABILITY"):
            has_idle = client.has_capability("IDLE")
        if not has_idle:
            _sleep(timeout, should_stop)
            return False
        folder = self.folders[0]
        seen_next = self._uidnext.get(folder)
        self._select(folder)
        if seen_next is not None and self._uidnext.get(folder, seen_next) != seen_next:
            return True  # mail came in between the last FETCH and now: IDLE would not announce it
        end = time.monotonic() + timeout
        while not should_stop():
            left = end - time.monotonic()
            if left <= 0:
                return False
            if self._idle_once(min(left, self.idle_renew), should_stop):
                return True
            log.debug("idle renewed", extra={"folder": folder})
        return False

    def _idle_once(self, seconds: float, should_stop: Callable[[], bool]) -> bool:
        client = self._client()
        with imap_errors("IDLE"):
            client.idle()
            found = self._idle_check(client, seconds, should_stop)
            _, responses = client.idle_done()
        # an EXISTS may also come in just before the server ends IDLE
        return found or any(len(r) > 1 and r[1] == b"EXISTS" for r in responses)

    @staticmethod
    def _idle_check(client: imapclient.IMAPClient, seconds: float, should_stop: Callable[[], bool]) -> bool:
        """True on an ``EXISTS``; raises when the server says BYE or the connection is gone.

        imapclient's ``idle_check`` swallows end-of-file and returns an empty
        list at once, so a dead connection shows up as quick empty answers:
        a live server only wakes the socket to send a whole line.
        """
        end = time.monotonic() + seconds
        quick_empty = 0
        while not should_stop():
            left = end - time.monotonic()
            if left <= 0:
                return False
            step = min(0.5, left)
            started = time.monotonic()
            responses = client.idle_check(timeout=step)
            for response in responses:
                if response and response[0] == b"BYE":
                    raise ImapError(f"the IMAP server closed the connection: {b' '.join(x for x in response if isinstance(x, bytes)).decode(errors='replace')}")
            if any(len(r) > 1 and r[1] == b"EXISTS" for r in responses):
                return True
            if not responses and time.monotonic() - started < step / 2:
                quick_empty += 1
                if quick_empty >= 3:
                    raise ImapError("the IMAP server closed the connection during IDLE")
            else:
                quick_empty = 0
        return False

    def append(self, folder: str, message: bytes, *, flags: tuple[bytes, ...] = (b"\\Draft",)) -> None:
        """APPEND a message (a draft) to ``folder``."""
        with imap_errors(f"APPEND to {folder}"):
            self._client().append(folder, message, flags=flags)


def _sleep(seconds: float, should_stop: Callable[[], bool]) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end and not should_stop():
        time.sleep(min(0.5, max(0.0, end - time.monotonic())))


def _shutdown(client: imapclient.IMAPClient) -> None:
    """Drop a connection without the LOGOUT exchange (it is broken or never logged in)."""
    try:
        client.shutdown()
    except (IMAPClientError, OSError, EOFError):
        pass

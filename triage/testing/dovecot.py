"""A private Dovecot for tests and benchmarks: its own config, users, Maildir and TLS certificate.

It never touches ``/etc/dovecot`` or ``/run/dovecot``: everything lives under
one directory, the server listens on loopback ports chosen at start, and it
is stopped by its own pid file.  Needs Debian's ``dovecot-imapd`` and the
``openssl`` command.

Each test can have a mailbox of its own: :meth:`Dovecot.add_user` writes a
passwd file for a new user (one file per user, which Dovecot opens on the
user's first login) and the user's Maildir is created on that login.
``oauth2_url`` turns on XOAUTH2 and OAUTHBEARER, checked by Dovecot's
``oauth2`` passdb against an RFC 7662 token introspection endpoint (a fake
one in the tests).  ``idle=False`` hides IDLE from the capability list.

>>> Dovecot(Path("/tmp/x")).settings(tls="none")["TRIAGE_IMAP_TLS"]
'none'
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _group_alive(pgid: int) -> bool:
    """Whether a process of group ``pgid`` still runs (zombies aside: nobody may reap them here)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def available() -> bool:
    return Path(DOVECOT).exists() and shutil.which("openssl") is not None


@dataclass
class Dovecot:
    """A running private Dovecot.  ``start()`` returns it; ``stop()`` ends it."""

    root: Path
    port: int = 0
    tls_port: int = 0
    user: str = "sdr@example.test"
    password: str = "s3cret-pass"
    idle: bool = True
    #: an RFC 7662 introspection URL: turns on XOAUTH2/OAUTHBEARER through the ``oauth2`` passdb
    oauth2_url: str = ""
    users: dict[str, str] = field(default_factory=dict)
    _ids: tuple[int, int] = field(default=(0, 0), init=False, repr=False)

    @property
    def conf(self) -> Path:
        return self.root / "dovecot.conf"

    @property
    def ca_file(self) -> Path:
        return self.root / "cert.pem"

    def _write_certificate(self) -> None:
        subprocess.run(
            [
                "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                "-keyout", str(self.root / "key.pem"), "-out", str(self.ca_file),
                "-subj", "/CN=localhost",
                "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,digitalSignature,keyEncipherment,keyCertSign",
            ],
            check=True, capture_output=True,
        )

    def _write_config(self) -> None:
        root = self.root
        is_root = os.geteuid() == 0
        if is_root:
            account = pwd.getpwnam("nobody")
            uid, gid = account.pw_uid, account.pw_gid
            user_line = f"uid={uid} gid={gid}"
            service_users = ""
        else:
            me = pwd.getpwuid(os.geteuid()).pw_name
            uid, gid = os.geteuid(), os.getegid()
            user_line = f"uid={uid} gid={gid}"
            service_users = (
                f"default_login_user = {me}\ndefault_internal_user = {me}\ndefault_internal_group = {pwd.getpwuid(os.geteuid()).pw_name}\n"
                "service imap-login {\n  chroot =\n}\nservice anvil {\n  chroot =\n}\nservice ipc {\n  chroot =\n}\n"
                "service old-stats {\n  chroot =\n}\nservice imap-urlauth-login {\n  chroot =\n}\n"
            )
        self._ids = (uid, gid)
        self.users.setdefault(self.user, self.password)
        self._write_passwd()
        capability = "" if self.idle else "imap_capability = IMAP4rev1 LITERAL+ SASL-IR LOGIN-REFERRALS ID ENABLE SORT THREAD=REFERENCES MULTIAPPEND UIDPLUS UNSELECT CHILDREN NAMESPACE ESEARCH\n"
        self.conf.write_text(
            f"""
instance_name = triage-test-{uuid.uuid4().hex[:8]}
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <{root}/cert.pem
ssl_key = <{root}/key.pem
disable_plaintext_auth = no
auth_failure_delay = 0
# no auth penalty for loopback: a test's failed login must not slow the next test's logins
login_trusted_networks = 127.0.0.0/8
auth_mechanisms = plain login{" xoauth2 oauthbearer" if self.oauth2_url else ""}
mail_location = maildir:{root}/mail/%u/Maildir
mail_fsync = never
mail_max_userip_connections = 200
first_valid_uid = {min(uid, 65534)}
first_valid_gid = {min(gid, 65534)}
{service_users}{capability}
{self._oauth2_passdb()}passdb {{
  driver = passwd-file
{"  mechanisms = plain login" + chr(10) if self.oauth2_url else ""}  args = scheme=PLAIN username_format=%u {root}/users/%u
}}
userdb {{
  driver = static
  args = {user_line} home={root}/mail/%u
}}
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Drafts {{
    special_use = \\Drafts
    auto = subscribe
  }}
  mailbox Sent {{
    special_use = \\Sent
    auto = subscribe
  }}
  mailbox Trash {{
    special_use = \\Trash
    auto = subscribe
  }}
  mailbox Junk {{
    special_use = \\Junk
    auto = subscribe
  }}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self.tls_port}
    ssl = yes
  }}
}}
"""
        )

    def _write_passwd(self) -> None:
        # one passwd file per user: Dovecot re-reads a changed passwd file at most
        # once a second, but opens a file it has not seen at once
        uid, gid = self._ids
        (self.root / "users").mkdir(exist_ok=True)
        for user, password in self.users.items():
            if "/" in user or ":" in user or ":" in password:
                raise ValueError(f"unusable test user {user!r}")
            tmp = self.root / "users" / f".{user}.tmp"
            tmp.write_text(f"{user}:{{PLAIN}}{password}:{uid}:{gid}::{self.root}/mail/{user}::\n")
            tmp.replace(self.root / "users" / user)  # atomic: the auth process may be reading it

    def _oauth2_passdb(self) -> str:
        if not self.oauth2_url:
            return ""
        (self.root / "oauth2.conf").write_text(
            f"introspection_mode = post\nintrospection_url = {self.oauth2_url}\nforce_introspection = yes\n"
            "username_attribute = username\nactive_attribute = active\nactive_value = true\n"
        )
        return f"passdb {{\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n  args = {self.root}/oauth2.conf\n}}\n"

    def add_user(self, user: str, password: str) -> None:
        """Give ``user`` a mailbox of its own (created on first login)."""
        self.users[user] = password
        if self.conf.exists():  # started: else start() writes it
            self._write_passwd()

    def start(self) -> Dovecot:
        self.root.mkdir(parents=True, exist_ok=True)
        for sub in ("run", "state", "mail"):
            (self.root / sub).mkdir(exist_ok=True)
        if os.geteuid() == 0:
            # the unprivileged processes must reach the passwd file and the mail
            path = self.root
            while path != path.parent:
                path.chmod(path.stat().st_mode | 0o011)
                path = path.parent
            account = pwd.getpwnam("nobody")
            os.chown(self.root / "mail", account.pw_uid, account.pw_gid)
        self.port = self.port or free_port()
        self.tls_port = self.tls_port or free_port()
        if not self.ca_file.exists():
            self._write_certificate()
        self._write_config()
        (self.root / "key.pem").chmod(0o644)
        self._launch()
        self._wait()
        return self

    def _launch(self) -> None:
        # dovecot daemonises; its children must not hold our pipes open
        with (self.root / "start.log").open("ab") as log:
            subprocess.run([DOVECOT, "-c", str(self.conf)], check=True, stdin=subprocess.DEVNULL, stdout=log, stderr=log)

    def _wait(self, timeout: float = 15.0) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    if s.recv(100).startswith(b"* OK"):
                        return
            except OSError:
                time.sleep(0.05)
        log = (self.root / "dovecot.log").read_text() if (self.root / "dovecot.log").exists() else ""
        raise RuntimeError(f"dovecot did not start on port {self.port}: {log[-2000:]}")

    def stop(self) -> None:
        """Stop the master and every process it started, clients' ``imap`` processes included.

        ``dovecot stop`` alone ends the master but, here, leaves its children
        running: logged-in ``imap`` processes keep serving their clients and
        an ``imap-login`` keeps the listening sockets, so a "restart" would
        not drop any connection.  The whole process group is signalled
        instead (the master leads it), and waited for.
        """
        pid_file = self.root / "run" / "master.pid"
        try:
            pgid = int(pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return
        if not _group_alive(pgid):
            return
        os.killpg(pgid, signal.SIGTERM)
        end = time.monotonic() + 10
        while _group_alive(pgid):
            if time.monotonic() > end:
                os.killpg(pgid, signal.SIGKILL)
                end = time.monotonic() + 10
            time.sleep(0.02)
        pid_file.unlink(missing_ok=True)

    def restart(self) -> None:
        """Stop (dropping every client connection) and start again on the same ports."""
        self.stop()
        self._launch()
        self._wait()

    def doveadm(self, *args: str) -> str:
        out = subprocess.run(["doveadm", "-c", str(self.conf), *args], check=True, capture_output=True, text=True)
        return out.stdout

    def settings(self, *, tls: str = "ssl", folder: str = "INBOX", user: str = "") -> dict[str, str]:
        """``TRIAGE_IMAP_*`` variables that point triage at this server (as ``user``, default the first)."""
        user = user or self.user
        return {
            "TRIAGE_IMAP_HOST": "127.0.0.1" if tls == "none" else "localhost",
            "TRIAGE_IMAP_PORT": str(self.tls_port if tls == "ssl" else self.port),
            "TRIAGE_IMAP_USER": user,
            "TRIAGE_IMAP_PASSWORD": self.users.get(user, self.password),
            "TRIAGE_IMAP_FOLDER": folder,
            "TRIAGE_IMAP_TLS": tls,
            "TRIAGE_IMAP_CA_FILE": str(self.ca_file),
        }

    @contextmanager
    def client(self, user: str = "") -> Iterator[Any]:
        """A logged-in imapclient connection over IMAPS, to set up and inspect mailboxes in tests."""
        import ssl

        import imapclient

        user = user or self.user
        context = ssl.create_default_context(cafile=str(self.ca_file))
        conn = imapclient.IMAPClient("localhost", port=self.tls_port, ssl=True, ssl_context=context, timeout=30)
        try:
            conn.login(user, self.users.get(user, self.password))
            yield conn
        finally:
            try:
                conn.logout()
            except (imapclient.exceptions.IMAPClientError, OSError):
                pass

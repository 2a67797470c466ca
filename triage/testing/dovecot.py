"""A private Dovecot for tests and benchmarks: its own config, users, Maildir and TLS certificate.

It never touches ``/etc/dovecot`` or ``/run/dovecot``: everything lives under
one directory, the server listens on loopback ports chosen at start, and it
is stopped by its own pid file.  Needs Debian's ``dovecot-imapd`` and the
``openssl`` command.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
        (root / "passwd").write_text(f"{self.user}:{{PLAIN}}{self.password}:{uid}:{gid}::{root}/mail/{self.user}::\n")
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
auth_mechanisms = plain login
mail_location = maildir:{root}/mail/%u/Maildir
mail_fsync = never
mail_max_userip_connections = 200
first_valid_uid = {min(uid, 65534)}
first_valid_gid = {min(gid, 65534)}
{service_users}{capability}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
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
        subprocess.run([DOVECOT, "-c", str(self.conf), "stop"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        pid_file = self.root / "run" / "master.pid"
        end = time.monotonic() + 10
        while pid_file.exists() and time.monotonic() < end:
            time.sleep(0.05)

    def restart(self) -> None:
        self.stop()
        time.sleep(0.2)
        self._launch()
        self._wait()

    def doveadm(self, *args: str) -> str:
        out = subprocess.run(["doveadm", "-c", str(self.conf), *args], check=True, capture_output=True, text=True)
        return out.stdout

    def settings(self, *, tls: str = "ssl", folder: str = "INBOX") -> dict[str, str]:
        """``TRIAGE_IMAP_*`` variables that point triage at this server."""
        return {
            "TRIAGE_IMAP_HOST": "127.0.0.1" if tls == "none" else "localhost",
            "TRIAGE_IMAP_PORT": str(self.tls_port if tls == "ssl" else self.port),
            "TRIAGE_IMAP_USER": self.user,
            "TRIAGE_IMAP_PASSWORD": self.password,
            "TRIAGE_IMAP_FOLDER": folder,
            "TRIAGE_IMAP_TLS": tls,
            "TRIAGE_IMAP_CA_FILE": str(self.ca_file),
        }

"""IDLE responses split across TLS records: every line read whole.

Dovecot sends ``* N EXISTS`` and ``* N RECENT`` together, and where a TLS
record ends depends on the moment; the benchmark's daemon once saw a line cut
in two ("unexpected response: b'T'").  A Dovecot cannot be made to cut a line
on demand, so this server is a small real one on loopback that speaks just
enough IMAP over real TLS, and sends its IDLE answer in two records cut in
the middle of a line, with a pause between them.
"""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

import imapclient
import pytest

from triage.imap import _Client

PAUSE = 0.3


def _certificate(root: Path) -> tuple[Path, Path]:
    key, cert = root / "key.pem", root / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-keyout", str(key), "-out", str(cert),
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"],
        check=True, capture_output=True,
    )
    return key, cert


class _SplittingServer(threading.Thread):
    """One connection: greeting, LOGIN, SELECT, then IDLE answered in ``pieces``, each its own TLS record."""

    def __init__(self, root: Path, pieces: list[bytes]) -> None:
        super().__init__(daemon=True)
        key, self.cert = _certificate(root)
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(self.cert, key)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.pieces = pieces
        self.commands: list[bytes] = []
        self.error: OSError | None = None

    def run(self) -> None:
        try:
            self._serve()
        except OSError as exc:  # the client went away: the test says whether that was expected
            self.error = exc
        finally:
            self.listener.close()

    def _serve(self) -> None:
        raw, _ = self.listener.accept()
        with self.context.wrap_socket(raw, server_side=True) as conn, conn.makefile("rb") as reader:
            conn.sendall(b"* OK [CAPABILITY IMAP4rev1 IDLE] scripted server ready\r\n")
            for line in reader:
                tag, _, rest = line.rstrip(b"\r\n").partition(b" ")
                command = rest.split(b" ", 1)[0].upper()
                self.commands.append(command)
                if command == b"LOGIN":
                    conn.sendall(tag + b" OK [CAPABILITY IMAP4rev1 IDLE] logged in\r\n")
                elif command == b"CAPABILITY":
                    conn.sendall(b"* CAPABILITY IMAP4rev1 IDLE\r\n" + tag + b" OK done\r\n")
                elif command in (b"SELECT", b"EXAMINE"):
                    conn.sendall(b"* 0 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n* OK [UIDNEXT 1] ok\r\n" + tag + b" OK [READ-WRITE] selected\r\n")
                elif command == b"IDLE":
                    conn.sendall(b"+ idling\r\n")
                    time.sleep(0.1)
                    for piece in self.pieces:
                        conn.sendall(piece)  # one record each
                        time.sleep(PAUSE)
                    done = reader.readline()
                    self.commands.append(done.strip())
                    conn.sendall(tag + b" OK idle done\r\n")
                elif command == b"LOGOUT":
                    conn.sendall(b"* BYE bye\r\n" + tag + b" OK logged out\r\n")
                    return
                else:
                    conn.sendall(tag + b" BAD unknown\r\n")


@pytest.mark.parametrize("pieces", [
    [b"* 1 EXISTS\r\n* 1 REC", b"ENT\r\n"],  # the cut of the benchmark's run
    [b"* 1 EXI", b"STS\r\n* 1 RECENT\r\n"],  # the EXISTS itself cut
    [b"* 1 EXISTS\r", b"\n* 1 RECENT\r\n"],  # between CR and LF
], ids=["second-line", "first-line", "crlf"])
def test_an_idle_line_cut_between_tls_records_is_read_whole(tmp_path: Path, pieces: list[bytes]) -> None:
    server = _SplittingServer(tmp_path, pieces)
    server.start()
    client = _Client("localhost", port=server.port, ssl=True, ssl_context=ssl.create_default_context(cafile=str(server.cert)), timeout=10)
    client.login("sdr@example.test", "secret")
    client.select_folder("INBOX")
    client.idle()
    seen: list[object] = []
    deadline = time.monotonic() + 5
    while (1, b"RECENT") not in seen and time.monotonic() < deadline:
        seen += client.idle_check(timeout=1)
    text, after = client.idle_done()
    assert seen[:2] == [(1, b"EXISTS"), (1, b"RECENT")]
    assert text == b"idle done" and after == []
    client.logout()
    server.join(5)
    assert server.commands[-3:] == [b"IDLE", b"DONE", b"LOGOUT"] and server.error is None


def test_imapclient_alone_loses_the_cut_line(tmp_path: Path) -> None:
    # why _Client exists: the same exchange through imapclient's own idle_check breaks
    server = _SplittingServer(tmp_path, [b"* 1 EXISTS\r\n* 1 REC", b"ENT\r\n"])
    server.start()
    client = imapclient.IMAPClient("localhost", port=server.port, ssl=True, ssl_context=ssl.create_default_context(cafile=str(server.cert)), timeout=10)
    client.login("sdr@example.test", "secret")
    client.select_folder("INBOX")
    client.idle()
    seen = client.idle_check(timeout=1)
    time.sleep(PAUSE * 2)
    with pytest.raises((imapclient.exceptions.IMAPClientError, imapclient.exceptions.ProtocolError)):
        seen += client.idle_check(timeout=1)
        client.idle_done()
    assert (1, b"RECENT") not in seen
    client.shutdown()
    server.join(5)

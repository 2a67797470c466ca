"""Delivering the outbox for real: IMAP Drafts, SMTP while the server is down and back, header injection.

The forwards come from replies read from Dovecot by ``triage``; the SMTP
server is aiosmtpd on loopback.
"""

from __future__ import annotations

import email.utils
from pathlib import Path

import pytest

from tests.integration.conftest import Cli, Mailbox, fixtures
from triage.testing.smtp import SmtpServer

pytestmark = pytest.mark.integration

def _queue(mailbox: Mailbox, cli: Cli, paths: list[Path]) -> list[str]:
    """Triage ``paths`` from the mailbox and approve every forward; their ids."""
    mailbox.append_files(paths)
    result = cli.run()
    assert result.exit_code == 0, result.output
    ids = [str(row[0]) for row in cli.connect().execute("SELECT id FROM outbox ORDER BY id")]
    assert ids, "no forward was queued"
    assert cli.run("outbox", "approve", *ids).exit_code == 0
    return ids


def test_drafts_delivery_appends_each_forward_to_the_drafts_folder(mailbox: Mailbox, cli: Cli) -> None:
    ids = _queue(mailbox, cli, fixtures("referral", 6))
    result = cli.run("outbox", "send", TRIAGE_DELIVERY="drafts")
    assert result.exit_code == 0, result.output
    assert f"sent {len(ids)}, failed 0, deferred 0" in result.stdout

    con = cli.connect()
    stored = {row["message"] for row in con.execute("SELECT message FROM outbox WHERE state = 'sent'")}
    assert len(stored) == len(ids)
    with mailbox.client() as conn:
        conn.select_folder("Drafts", readonly=True)
        drafts = conn.fetch(conn.search(["ALL"]), ["BODY.PEEK[]", "FLAGS"])
    assert len(drafts) == len(ids)
    assert all(b"\\Draft" in data[b"FLAGS"] for data in drafts.values())
    # the very bytes a person reviewed (line endings aside)
    assert {bytes(data[b"BODY[]"]).replace(b"\r\n", b"\n") for data in drafts.values()} == {m.replace(b"\r\n", b"\n") for m in stored}
    assert mailbox.seen() == []  # the replies themselves are still unread


def test_smtp_down_keeps_items_queued_and_they_go_out_when_it_is_back(mailbox: Mailbox, cli: Cli, smtp: SmtpServer) -> None:
    ids = _queue(mailbox, cli, fixtures("referral", 5))
    smtp.stop()

    down = cli.run("outbox", "send", "--retries", "1", "--backoff", "0.05", **smtp.settings())
    assert down.exit_code == 1
    assert f"sent 0, failed 0, deferred {len(ids)}" in down.stdout
    assert "Connection refused" in down.stderr
    con = cli.connect()
    rows = con.execute("SELECT state, error FROM outbox").fetchall()
    assert [row["state"] for row in rows] == ["approved"] * len(ids)
    assert all(row["error"] and row["error"].startswith("will retry") for row in rows)
    assert smtp.received == []

    smtp.start()
    back = cli.run("outbox", "send", **smtp.settings())
    assert back.exit_code == 0, back.output
    assert f"sent {len(ids)}, failed 0, deferred 0" in back.stdout
    assert len(smtp.wait_for(len(ids))) == len(ids)
    assert {row[0] for row in con.execute("SELECT state FROM outbox")} == {"sent"}


def test_a_refused_recipient_fails_the_item_with_the_servers_answer(mailbox: Mailbox, cli: Cli, smtp: SmtpServer) -> None:
    ids = _queue(mailbox, cli, fixtures("referral", 2))
    con = cli.connect()
    victim = con.execute("SELECT id, to_addr FROM outbox ORDER BY id").fetchone()

    async def refuse(server: object, session: object, envelope: object, address: str, options: list[str]) -> str:
        if address == victim["to_addr"]:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)  # type: ignore[attr-defined]
        return "250 OK"

    smtp.handler.handle_RCPT = refuse  # type: ignore[attr-defined]
    result = cli.run("outbox", "send", "--retries", "0", **smtp.settings())
    assert result.exit_code == 1
    state, error = con.execute("SELECT state, error FROM outbox WHERE id = ?", (victim["id"],)).fetchone()
    assert state == "failed" and "550" in error
    assert con.execute("SELECT COUNT(*) FROM outbox WHERE state = 'sent'").fetchone()[0] == len(ids) - 1


INJECTION = b"""\
From: Liam Brennan <lbrennan@harborline.example>
To: Sam Carter <sam.carter@brightline.io>
Cc: =?utf-8?q?Siobhan_O=27Neill=0D=0ABcc=3A_spy2=40evil=2Eexample=0D=0AX-Injected=3A_yes?= <siobhan.oneill@harborline.example>
Subject: =?utf-8?q?Re=3A_Harborline_+_Brightline=0D=0ABcc=3A_spy3=40evil=2Eexample?=
Message-ID: <inject-1@harborline.example>
In-Reply-To: <orig-1@brightline.io>
References: <orig-1@brightline.io>
Date: Fri, 20 Mar 2026 07:12:38 -0400
MIME-Version: 1.0
Content-Type: text/plain; charset="utf-8"

Hi Sam,

I'm not the right person for this. Siobhan O'Neill is who you want, she heads up sales ops.
I've cc'd her: siobhan.oneill@harborline.example

Liam

On Thu, Mar 19, 2026, 4:50 PM Sam Carter <sam.carter@brightline.io> wrote:
> Hi Liam, who looks after sales forecasting at Harborline?
"""


def _only_expected_headers(data: bytes) -> None:
    message = email.message_from_bytes(data)
    names = [name.lower() for name in message]
    assert names.count("to") == 1 and names.count("cc") <= 1 and names.count("subject") == 1
    assert not {"bcc", "x-injected", "resent-to", "reply-to"} & set(names), names
    assert set(names) <= {
        "from", "to", "cc", "subject", "date", "message-id", "in-reply-to", "references", "x-triage-reply",
        "content-type", "content-transfer-encoding", "mime-version",
    }, names
    head = data.split(b"\r\n\r\n", 1)[0]
    assert b"spy" not in head.lower() or all(
        line.lower().startswith((b"subject:", b" ", b"\t")) for line in head.split(b"\r\n") if b"spy" in line.lower()
    )


def test_an_encoded_line_break_in_a_name_or_subject_never_makes_a_header(mailbox: Mailbox, cli: Cli, smtp: SmtpServer) -> None:
    mailbox.append(INJECTION)
    assert cli.run().exit_code == 0
    con = cli.connect()
    (item_id, to_addr) = con.execute("SELECT id, to_addr FROM outbox").fetchone()
    assert to_addr == "siobhan.oneill@harborline.example"
    assert cli.run("outbox", "approve", str(item_id)).exit_code == 0
    result = cli.run("outbox", "send", **smtp.settings())
    assert result.exit_code == 0, result.output

    [got] = smtp.wait_for(1)
    assert sorted(got.rcpt_tos) == ["lbrennan@harborline.example", "siobhan.oneill@harborline.example"]
    _only_expected_headers(got.data)
    message = got.message()
    [(name, address)] = email.utils.getaddresses(message.get_all("To") or [])
    assert address == "siobhan.oneill@harborline.example" and "\n" not in name and "\r" not in name


def test_an_encoded_line_break_in_the_referrers_name_does_not_change_the_cc(mailbox: Mailbox, cli: Cli, smtp: SmtpServer) -> None:
    data = INJECTION.replace(
        b"From: Liam Brennan <lbrennan@harborline.example>",
        b"From: =?utf-8?q?Liam_Brennan=0D=0ABcc=3A_spy=40evil=2Eexample?= <lbrennan@harborline.example>",
    )
    mailbox.append(data)
    assert cli.run().exit_code == 0
    con = cli.connect()
    (item_id,) = con.execute("SELECT id FROM outbox").fetchone()
    assert cli.run("outbox", "approve", str(item_id)).exit_code == 0
    assert cli.run("outbox", "send", **smtp.settings()).exit_code == 0
    [got] = smtp.wait_for(1)
    _only_expected_headers(got.data)  # this part holds today: one To, one Cc, nothing injected
    assert sorted(got.rcpt_tos) == ["lbrennan@harborline.example", "siobhan.oneill@harborline.example"]


def test_a_stored_forward_with_an_extra_recipient_header_is_refused(mailbox: Mailbox, cli: Cli, smtp: SmtpServer) -> None:
    ids = _queue(mailbox, cli, fixtures("referral", 1))
    con = cli.connect()
    (message,) = con.execute("SELECT message FROM outbox WHERE id = ?", (ids[0],)).fetchone()
    tampered = message.replace(b"\r\nSubject:", b"\r\nBcc: spy@evil.example\r\nSubject:", 1)
    con.execute("UPDATE outbox SET message = ? WHERE id = ?", (tampered, ids[0]))
    con.commit()
    result = cli.run("outbox", "send", **smtp.settings())
    assert result.exit_code == 1 and "unexpected recipient headers" in result.stderr
    assert smtp.received == []
    assert con.execute("SELECT state FROM outbox WHERE id = ?", (ids[0],)).fetchone()[0] == "failed"

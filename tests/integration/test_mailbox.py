"""The one-shot run over a real IMAP mailbox: fixtures APPENDed to Dovecot, ``triage --since``, then SMTP.

Shows: one forward per referral; aiosmtpd receives each with the right To,
Cc, Subject, In-Reply-To and body; nothing is marked ``\\Seen``; a second
run fetches nothing (the watermark); ``--since`` is ``SEARCH SINCE``;
IMAPS, STARTTLS and plain IMAP; certificate verification and its failure;
a UIDVALIDITY change rescans without duplicates.
"""

from __future__ import annotations

import datetime as dt
import email.header
import re
from email.message import Message

import pytest

from tests.integration.conftest import Cli, Mailbox, fixtures, header_date, message_id, summary
from triage.testing.smtp import SmtpServer

pytestmark = pytest.mark.integration


def _decoded(value: str | None) -> str:
    return str(email.header.make_header(email.header.decode_header(value or "")))


def _unfold(value: str | None) -> str:
    """A header value without folding, RFC 2047 words decoded (see the xfail test below for why)."""
    return " ".join(_decoded(value).split())


def _body(message: Message) -> str:
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode(message.get_content_charset() or "utf-8")


def test_fixtures_from_dovecot_to_aiosmtpd_end_to_end(mailbox: Mailbox, cli: Cli, smtp: SmtpServer) -> None:
    paths = fixtures()
    mailbox.append_files(paths)
    appended = {message_id(p.read_bytes()) for p in paths}

    first = cli.run("--since", "2026-01-01")
    assert first.exit_code == 0, first.output
    assert summary(first.stdout)["decided"] == len(paths)

    con = cli.connect()
    keys = [row["key"] for row in con.execute("SELECT key FROM replies")]
    assert len(keys) == len(set(keys)) == len(paths) and set(keys) == appended
    assert con.execute("SELECT COUNT(*) FROM failures").fetchone()[0] == 0
    assert all(row["source"].startswith("INBOX:") for row in con.execute("SELECT source FROM replies"))
    # one forward per referral that names someone to write to, and forwards for nothing else
    referrals = {
        row["key"] for row in con.execute("SELECT key FROM replies WHERE label = 'referral' AND json_extract(contact, '$.email') IS NOT NULL")
    }
    forwards = [row["reply_key"] for row in con.execute("SELECT reply_key FROM outbox")]
    assert len(forwards) == len(set(forwards)) > 60
    assert set(forwards) <= {row["key"] for row in con.execute("SELECT key FROM replies WHERE label = 'referral'")}
    assert referrals <= set(forwards)

    # BODY.PEEK[]: nothing was marked read
    assert mailbox.seen() == []

    # the watermark: a second run fetches nothing at all (no "already decided" either)
    second = cli.run("--since", "2026-01-01")
    assert second.exit_code == 0 and summary(second.stdout)["decided"] == 0
    assert "already decided earlier" not in summary(second.stdout)

    # a person approves every forward that may go out; triage sends them through aiosmtpd
    replies = {row["key"]: dict(row) for row in con.execute("SELECT * FROM replies")}
    items = {row["id"]: dict(row) for row in con.execute("SELECT * FROM outbox")}
    ids = [str(i) for i in items]
    assert cli.run("outbox", "approve", *ids).exit_code == 0
    sent = cli.run("outbox", "send", **smtp.settings())
    blocked = con.execute("SELECT COUNT(*) FROM outbox WHERE state = 'failed'").fetchone()[0]
    assert f"sent {len(items) - blocked}, failed {blocked}, deferred 0" in sent.stdout
    assert blocked == 0 or "suppression list" in sent.stderr or "undeliverable" in sent.stderr
    received = smtp.wait_for(len(items) - blocked)
    assert len(received) == len(items) - blocked

    by_reply = {}
    for got in received:
        message = got.message()
        by_reply[_unfold(message["X-Triage-Reply"])] = (got, message)
    assert len(by_reply) == len(received)  # no forward twice
    items = {row["id"]: dict(row) for row in con.execute("SELECT * FROM outbox")}
    for item in items.values():
        if item["state"] == "failed":
            continue
        got, message = by_reply[item["reply_key"]]
        reply = replies[item["reply_key"]]
        assert len(message.get_all("To") or []) == 1 and len(message.get_all("Cc") or []) == 1
        assert email.utils.parseaddr(message["To"])[1] == item["to_addr"]
        assert email.utils.parseaddr(message["Cc"])[1] == reply["from_addr"]
        assert sorted(got.rcpt_tos) == sorted({item["to_addr"], reply["from_addr"]})
        assert _decoded(message["Subject"]) == item["subject"]
        assert _unfold(message["In-Reply-To"]) == reply["message_id"]
        assert _unfold(message["References"]).split()[-1] == reply["message_id"]
        body = _body(message)
        assert "suggested I get in touch" in body and "---------- Forwarded message ---------" in body
        first_line = next(line for line in reply["new_text"].splitlines() if line.strip())
        assert "> " + first_line.rstrip() in body.replace("\r\n", "\n")
    assert con.execute("SELECT COUNT(*) FROM outbox WHERE state = 'sent'").fetchone()[0] == len(received)

    again = cli.run("outbox", "send", **smtp.settings())
    assert "sent 0" in again.stdout and len(smtp.received) == len(received)


def test_since_is_search_since_on_the_received_date(mailbox: Mailbox, cli: Cli) -> None:
    paths = fixtures()
    mailbox.append_files(paths)
    since = dt.date(2026, 6, 1)
    result = cli.run("--since", since.isoformat(), "--json")
    assert result.exit_code == 0, result.output
    decided = {record.split('"message_id": "')[1].split('"')[0] for record in result.stdout.splitlines()}
    dates = {message_id(p.read_bytes()): header_date(p.read_bytes()) for p in paths}
    # INTERNALDATE was set from the Date header; the server compares dates in its own zone: allow a day either side
    surely_in = {key for key, when in dates.items() if when and when.astimezone(dt.UTC).date() >= since + dt.timedelta(days=1)}
    maybe_in = {key for key, when in dates.items() if when and when.astimezone(dt.UTC).date() >= since - dt.timedelta(days=1)}
    assert surely_in <= decided <= maybe_in
    assert 0 < len(decided) < len(paths)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_new_message_after_a_run_is_the_only_one_fetched(mailbox: Mailbox, cli: Cli, workers: str) -> None:
    # workers: the serial runner, and the worker pool that reads the mailbox from its own thread
    paths = fixtures("interested", 5)
    mailbox.append_files(paths[:4])
    assert cli.run(TRIAGE_WORKERS=workers).exit_code == 0
    mailbox.append_files(paths[4:])
    result = cli.run("--json", TRIAGE_WORKERS=workers)
    assert result.exit_code == 0
    assert [message_id(paths[4].read_bytes())] == re.findall(r'"message_id": "([^"]+)"', result.stdout)
    con = cli.connect()
    (validity, last) = con.execute("SELECT uidvalidity, last_uid FROM watermarks").fetchone()
    assert (validity, last) == (mailbox.uidvalidity(), 5)


@pytest.mark.parametrize("tls", ["ssl", "starttls", "none"])
def test_imaps_starttls_and_plain_imap(mailbox: Mailbox, cli: Cli, tls: str) -> None:
    mailbox.append_files(fixtures("referral", 3))
    result = cli.run("--json", **mailbox.env(tls=tls))
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 3
    if tls == "none":
        assert "without TLS" in result.stderr
    else:
        assert "verification is OFF" not in result.stderr


@pytest.mark.parametrize("tls", ["ssl", "starttls"])
def test_an_unknown_certificate_is_refused_with_a_clear_error(mailbox: Mailbox, cli: Cli, tls: str) -> None:
    mailbox.append_files(fixtures("referral", 1))
    env = mailbox.env(tls=tls)
    env["TRIAGE_IMAP_CA_FILE"] = ""  # the system's CAs do not know the test certificate
    result = cli.run(**env)
    assert result.exit_code == 1
    assert "certificate could not be verified" in result.stderr and "TRIAGE_IMAP_CA_FILE" in result.stderr
    assert "Traceback" not in result.output
    assert cli.connect().execute("SELECT COUNT(*) FROM replies").fetchone()[0] == 0


def test_insecure_turns_verification_off_with_a_warning(mailbox: Mailbox, cli: Cli) -> None:
    mailbox.append_files(fixtures("referral", 1))
    result = cli.run("--json", TRIAGE_IMAP_CA_FILE="", TRIAGE_IMAP_INSECURE="1")
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 1
    assert "TLS certificate verification is OFF" in result.stderr


def test_a_wrong_password_is_a_clear_error_that_never_shows_the_password(mailbox: Mailbox, cli: Cli) -> None:
    wrong = "not-the-password-" + mailbox.password
    result = cli.run("-vv", TRIAGE_IMAP_PASSWORD=wrong)
    assert result.exit_code == 1
    assert f"login as {mailbox.user} failed" in result.stderr and "AUTHENTICATIONFAILED" in result.stderr
    assert wrong not in result.output and mailbox.password not in result.output


def test_uidvalidity_change_rescans_without_duplicates(mailbox: Mailbox, cli: Cli) -> None:
    paths = fixtures("referral", 4) + fixtures("not_interested", 2)
    with mailbox.client() as conn:
        conn.create_folder("Replies")
    mailbox.append_files(paths[:5], folder="Replies")
    env = mailbox.env(folder="Replies")
    first = cli.run(**env)
    assert first.exit_code == 0, first.output
    old = mailbox.uidvalidity("Replies")

    # the folder is deleted and made again (a server migration, a restore): same mail, new UIDs
    with mailbox.client() as conn:
        conn.delete_folder("Replies")
        conn.create_folder("Replies")
    new = mailbox.uidvalidity("Replies")
    assert new != old
    mailbox.append_files(paths, folder="Replies")

    second = cli.run(**env)
    assert second.exit_code == 0, second.output
    assert "UIDVALIDITY changed, rescanning" in second.stderr
    assert summary(second.stdout)["decided"] == 1 and summary(second.stdout)["already decided earlier"] == 5
    con = cli.connect()
    assert tuple(con.execute("SELECT COUNT(*), COUNT(DISTINCT key) FROM replies").fetchone()) == (6, 6)
    assert con.execute("SELECT COUNT(*) = COUNT(DISTINCT reply_key) FROM outbox").fetchone()[0] == 1
    assert tuple(con.execute("SELECT uidvalidity, last_uid FROM watermarks").fetchone()) == (new, 6)
    third = cli.run(**env)
    assert summary(third.stdout)["decided"] == 0 and "already decided earlier" not in summary(third.stdout)


def test_long_message_ids_keep_their_threading_headers_as_they_are(mailbox: Mailbox, cli: Cli, smtp: SmtpServer) -> None:
    long_ids = [p for p in fixtures("referral") if len(message_id(p.read_bytes())) > 77]
    assert long_ids
    mailbox.append_files(long_ids)
    assert cli.run().exit_code == 0
    ids = [str(row[0]) for row in cli.connect().execute("SELECT id FROM outbox")]
    assert ids and cli.run("outbox", "approve", *ids).exit_code == 0
    assert cli.run("outbox", "send", **smtp.settings()).exit_code == 0
    for got in smtp.wait_for(len(ids)):
        message = got.message()
        assert "=?" not in message["In-Reply-To"] and "=?" not in message["References"], message["In-Reply-To"]


def test_handled_replies_are_flagged_and_moved_per_label_when_asked(mailbox: Mailbox, cli: Cli) -> None:
    paths = fixtures("referral", 2) + fixtures("not_interested", 2)
    mailbox.append_files(paths)
    result = cli.run(TRIAGE_IMAP_MOVE_HANDLED="Triage/{label}", TRIAGE_IMAP_FLAG_HANDLED="1")
    assert result.exit_code == 0, result.stderr
    with mailbox.client() as conn:
        conn.select_folder("INBOX", readonly=True)
        assert conn.search(["ALL"]) == []
        for label in ("referral", "not_interested"):
            conn.select_folder(f"Triage/{label}", readonly=True)
            uids = conn.search(["ALL"])
            assert len(uids) == 2
            flags = conn.get_flags(uids)
            assert all(f"$triage_{label}".encode() in f for f in flags.values())
            assert all(b"\\Seen" not in f for f in flags.values())


def test_handled_replies_stay_put_by_default(mailbox: Mailbox, cli: Cli) -> None:
    mailbox.append_files(fixtures("referral", 2))
    assert cli.run().exit_code == 0
    with mailbox.client() as conn:
        conn.select_folder("INBOX", readonly=True)
        uids = conn.search(["ALL"])
        assert len(uids) == 2
        assert all(not any(f.startswith(b"$triage") for f in flags) for flags in conn.get_flags(uids).values())


def test_our_sent_outreach_is_removed_even_when_the_client_lost_the_quoting(mailbox: Mailbox, cli: Cli) -> None:
    outreach = (
        b"From: Sam Carter <sam.carter@brightline.io>\r\nTo: Hana Kobayashi <hana@kestrel-dyn.example>\r\n"
        b"Subject: pipeline reviews at Kestrel\r\nDate: Mon, 02 Mar 2026 09:00:00 +0000\r\nMessage-ID: <outreach-77@brightline.io>\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
        b"Hi Hana,\r\n\r\nWho runs the weekly pipeline review at Kestrel Dynamics? We help revenue teams stop\r\n"
        b"rebuilding the forecast in spreadsheets every Monday morning.\r\n\r\nCould you point me to the right person?\r\n\r\nSam\r\n"
    )
    reply = (
        b"From: Hana Kobayashi <hana@kestrel-dyn.example>\r\nTo: Sam Carter <sam.carter@brightline.io>\r\n"
        b"Subject: Re: pipeline reviews at Kestrel\r\nDate: Tue, 03 Mar 2026 10:00:00 +0000\r\nMessage-ID: <reply-77@kestrel-dyn.example>\r\n"
        b"In-Reply-To: <outreach-77@brightline.io>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        b"Not interested, thanks.\r\n\r\n"
        b"Who runs the weekly pipeline review at Kestrel Dynamics? We help revenue teams stop rebuilding the forecast in\r\n"
        b"spreadsheets every Monday morning. Could you point me to the right person?\r\n"
    )
    mailbox.append(outreach, folder="Sent")
    mailbox.append(reply)
    result = cli.run("--json")
    assert result.exit_code == 0, result.stderr
    con = cli.connect()
    (new_text,) = con.execute("SELECT new_text FROM replies WHERE key = '<reply-77@kestrel-dyn.example>'").fetchone()
    assert new_text == "Not interested, thanks."


def test_without_the_sent_folder_the_pasted_outreach_stays(mailbox: Mailbox, cli: Cli) -> None:
    """The control for the test above: the quote splitter alone cannot know this text is ours."""
    reply = (
        b"From: Hana Kobayashi <hana@kestrel-dyn.example>\r\nTo: Sam Carter <sam.carter@brightline.io>\r\n"
        b"Subject: Re: pipeline reviews\r\nDate: Tue, 03 Mar 2026 10:00:00 +0000\r\nMessage-ID: <reply-78@kestrel-dyn.example>\r\n"
        b"In-Reply-To: <outreach-78@brightline.io>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        b"Not interested, thanks.\r\n\r\nWho runs the weekly pipeline review at Kestrel Dynamics?\r\n"
    )
    mailbox.append(reply)
    assert cli.run(TRIAGE_IMAP_SENT_FOLDER="none").exit_code == 0
    (new_text,) = cli.connect().execute("SELECT new_text FROM replies").fetchone()
    assert "weekly pipeline review" in new_text


def test_the_raw_fetch_gives_what_imapclient_gives(mailbox: Mailbox) -> None:
    """triage reads bodies through imaplib on imapclient's connection: same bytes, same received times."""
    from triage.imap import fetch_bodies

    tricky = (
        b"From: Jane <jane@acme.test>\r\nTo: sam@brightline.test\r\nSubject: UID 999 INTERNALDATE \"1-Jan-2000 00:00:00 +0000\"\r\n"
        b"Date: Tue, 3 Mar 2026 09:00:00 +0000\r\nMessage-ID: <t@acme.test>\r\n\r\nBODY[] {12}\r\n) UID 7)\r\n* 1 FETCH (UID 1)\r\n"
    )
    paths = fixtures("referral", limit=6) + fixtures("bounce", limit=2)
    uids = mailbox.append([p.read_bytes() for p in paths] + [tricky, b"From: a@b.test\r\n\r\n"])
    with mailbox.client() as conn:
        conn.select_folder("INBOX", readonly=True)
        expected = conn.fetch(uids, ["BODY.PEEK[]", "INTERNALDATE"])
        got = fetch_bodies(conn, uids + [max(uids) + 50])  # one UID that does not exist
    assert sorted(got) == sorted(uids)
    for uid in uids:
        body, received = got[uid]
        assert body == expected[uid][b"BODY[]"]
        assert received == expected[uid][b"INTERNALDATE"]
    assert mailbox.seen() == []  # BODY.PEEK: nothing marked read

"""The command line end to end over the shipped corpus, in-process with click's CliRunner."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from tests.conftest import FIXTURES, MALFORMED
from triage.cli import main

KEYS = {"source", "message_id", "from", "label", "confidence", "needs_review", "contact", "return_date", "forward"}


def _run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


@pytest.fixture(scope="module")
def dry_run_records() -> list[dict]:
    result = CliRunner().invoke(main, ["--source", str(FIXTURES), "--json", "--dry-run"], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_json_has_one_record_per_fixture_with_every_key(dry_run_records: list[dict]) -> None:
    fixtures = sorted(str(p) for p in FIXTURES.rglob("*.eml"))
    assert sorted(r["source"] for r in dry_run_records) == fixtures
    for record in dry_run_records:
        assert set(record) == KEYS
        assert record["label"] in ("referral", "interested", "not_interested", "out_of_office", "bounce")
        assert 0.0 <= record["confidence"] <= 1.0
        if record["contact"] is not None:
            assert set(record["contact"]) == {"name", "email", "phone"}
            assert record["label"] in ("referral", "out_of_office")
            if record["contact"]["phone"]:
                assert record["contact"]["phone"].startswith("+")
        if record["forward"] is not None:
            assert record["label"] == "referral" and set(record["forward"]) == {"to", "subject"}


def test_json_labels_match_the_corpus_mostly(dry_run_records: list[dict]) -> None:
    # the shipped model has seen these fixtures: this checks the wiring, not the accuracy
    right = sum(json.loads(Path(r["source"]).with_suffix(".json").read_text())["label"] == r["label"] for r in dry_run_records)
    assert right / len(dry_run_records) > 0.9


def test_summary_table_by_label(tmp_path: Path) -> None:
    result = _run("--source", str(FIXTURES / "bounce"), "--db", str(tmp_path / "t.db"))
    assert result.exit_code == 0
    assert "replies by label" in result.stdout and "bounce" in result.stdout


def test_running_twice_stores_each_reply_once_and_queues_each_forward_once(store_url: str) -> None:
    first = _run("--source", str(FIXTURES), "--db", store_url)
    second = _run("--source", str(FIXTURES), "--db", store_url)
    assert first.exit_code == second.exit_code == 0
    from triage.store import Store

    with Store(store_url) as store:
        replies = store.db.execute("SELECT COUNT(*), COUNT(DISTINCT key) FROM replies").fetchone()
        forwards = store.db.execute("SELECT COUNT(*), COUNT(DISTINCT reply_key) FROM outbox").fetchone()
    assert replies[0] == replies[1] == len(list(FIXTURES.rglob("*.eml")))
    assert forwards[0] == forwards[1] > 0
    assert "already decided earlier" in second.stdout


def test_malformed_files_are_reported_recorded_and_the_run_goes_on(tmp_path: Path, corpus_copy: Path) -> None:
    for name in ("empty_file.eml", "binary_blob.eml", "truncated_mime.eml", "undecodable_charset.eml"):
        shutil.copy(MALFORMED / name, corpus_copy / name)
    db = tmp_path / "t.db"
    result = _run("--source", str(corpus_copy), "--db", str(db), "--json")
    assert result.exit_code == 1
    assert len(result.stdout.splitlines()) == len(list(corpus_copy.rglob("*.eml"))) - 4
    for reason in ("empty message", "not an email message", "truncated", "unknown charset"):
        assert reason in result.stderr
    failures = sqlite3.connect(db).execute("SELECT COUNT(*) FROM failures").fetchone()[0]
    assert failures == 4


def test_since_filters_local_mail_by_date_header(tmp_path: Path) -> None:
    every = _run("--source", str(FIXTURES), "--json", "--dry-run")
    recent = _run("--source", str(FIXTURES), "--json", "--dry-run", "--since", "2026-10-01")
    assert 0 < len(recent.stdout.splitlines()) < len(every.stdout.splitlines())


def test_mbox_and_maildir_sources(tmp_path: Path, corpus_copy: Path) -> None:
    import mailbox

    emls = sorted(corpus_copy.rglob("*.eml"))
    box = mailbox.mbox(tmp_path / "replies.mbox")
    maildir = mailbox.Maildir(tmp_path / "Maildir")
    for eml in emls:
        box.add(eml.read_bytes())
        maildir.add(eml.read_bytes())
    box.close()
    for source in (tmp_path / "replies.mbox", tmp_path / "Maildir", emls[0]):
        result = _run("--source", str(source), "--json", "--dry-run")
        assert result.exit_code == 0
        assert len(result.stdout.splitlines()) == (1 if source == emls[0] else len(emls))


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--source", "/nonexistent/path"], {}, "does not exist"),
        (["--since", "someday", "--source", "."], {}, "N days ago"),
        ([], {}, "no mailbox configured"),
        (["--source", "."], {"TRIAGE_THRESHOLD": "high"}, "TRIAGE_THRESHOLD"),
        (["--model", "/nonexistent", "--source", "."], {}, "triage train"),
    ],
)
def test_usage_errors_exit_2_and_say_what_to_fix(args: list[str], env: dict[str, str], message: str) -> None:
    result = CliRunner().invoke(main, args, env=env)
    assert result.exit_code == 2, result.output
    assert message in result.stderr


def test_every_command_is_documented_with_an_example() -> None:
    def walk(command: click.Command, path: str) -> list[tuple[str, click.Command]]:
        found = [(path, command)]
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                found += walk(sub, f"{path} {name}")
        return found

    for path, command in walk(main, "triage"):
        assert command.help and "Example:" in command.help, f"{path} has no example in its --help"
        result = CliRunner().invoke(main, path.split()[1:] + ["--help"])
        assert result.exit_code == 0 and "Example:" in result.stdout


def test_outbox_list_show_approve_discard(tmp_path: Path) -> None:
    db = str(tmp_path / "t.db")
    _run("--source", str(FIXTURES / "referral"), "--db", db)
    listing = _run("outbox", "--help")
    assert listing.exit_code == 0
    shown = CliRunner().invoke(main, ["--db", db, "outbox", "show", "1"])
    assert shown.exit_code == 0 and "To:" in shown.stdout
    assert CliRunner().invoke(main, ["--db", db, "outbox", "approve", "1"]).exit_code == 0
    assert CliRunner().invoke(main, ["--db", db, "outbox", "discard", "2"]).exit_code == 0
    again = CliRunner().invoke(main, ["--db", db, "outbox", "approve", "2"])
    assert again.exit_code == 2 and "not in a state" in again.stderr
    listed = CliRunner().invoke(main, ["--db", db, "outbox", "list", "--state", "approved"])
    assert "approved" in listed.stdout


def test_label_correction_is_stored_and_used_by_training(tmp_path: Path) -> None:
    db = str(tmp_path / "t.db")
    result = _run("--source", str(FIXTURES / "interested"), "--db", db, "--json")
    first = json.loads(result.stdout.splitlines()[0])
    fixed = CliRunner().invoke(main, ["--db", db, "label", first["message_id"], "not_interested"])
    assert fixed.exit_code == 0
    row = sqlite3.connect(db).execute("SELECT corrected_label FROM replies WHERE key = ?", (first["message_id"],)).fetchone()
    assert row == ("not_interested",)
    missing = CliRunner().invoke(main, ["--db", db, "label", "<nope@x>", "referral"])
    assert missing.exit_code == 2


def test_parallel_workers_give_the_same_records_in_the_same_order(tmp_path: Path, corpus_copy: Path) -> None:
    shutil.copy(MALFORMED / "truncated_mime.eml", corpus_copy / "truncated_mime.eml")
    serial = _run("--source", str(corpus_copy), "--json", "--db", str(tmp_path / "a.db"), "--workers", "1")
    parallel = _run("--source", str(corpus_copy), "--json", "--db", str(tmp_path / "b.db"), "--workers", "2")
    assert serial.exit_code == parallel.exit_code == 1
    assert serial.stdout == parallel.stdout and serial.stdout.count("\n") == len(list(corpus_copy.rglob("*.eml"))) - 1
    stored = []
    for db in ("a.db", "b.db"):
        con = sqlite3.connect(tmp_path / db)
        assert con.execute("SELECT COUNT(*) FROM failures").fetchone()[0] == 1
        # the workers send back slimmed replies: the store must not see the difference
        stored.append((
            con.execute(
                "SELECT key, source, message_id, from_addr, subject, sent_at, label, reasons, contact, return_date, new_text"
                " FROM replies ORDER BY key"
            ).fetchall(),
            [  # the forward's own Date and Message-ID are made when it is composed
                (*row[:4], re.sub(rb"(?m)^(Date|Message-ID): .*\r\n", b"", row[4]))
                for row in con.execute("SELECT reply_key, to_addr, cc, subject, message FROM outbox ORDER BY reply_key")
            ],
            con.execute("SELECT address, reply_key FROM suppression ORDER BY address").fetchall(),
            con.execute("SELECT address, permanent FROM undeliverable ORDER BY address").fetchall(),
            con.execute("SELECT reply_key, due, interim_contact FROM followups ORDER BY reply_key").fetchall(),
        ))
    assert stored[0] == stored[1] and len(stored[0][0]) == serial.stdout.count("\n") and stored[0][1]

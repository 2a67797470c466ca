"""The fast MIME splitter builds exactly the tree the standard library's feed parser builds."""

from __future__ import annotations

import email
from email.message import Message
from email.policy import compat32
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from triage import mime

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted((ROOT / "fixtures").rglob("*.eml"))
SAMPLES = [p.read_bytes() for p in FILES]


def _payload(part: Message) -> Any:
    if part.is_multipart():
        return None
    try:
        return part.get_payload()
    except ValueError as exc:  # a NUL in a charset parameter: the same error from both trees
        return ("error", str(exc))


def tree(msg: Message) -> list[Any]:
    """Everything of a parsed message that a reader can see, part by part."""
    return [
        (
            part.get_content_type(), part.items(), _payload(part),
            part.preamble, part.epilogue, [type(d).__name__ for d in part.defects], part.get_unixfrom(), part.get_default_type(),
        )
        for part in msg.walk()
    ]


def same_as_feed_parser(data: bytes) -> None:
    assert tree(mime.message_from_bytes(data)) == tree(email.message_from_bytes(data, policy=compat32))


def fast(data: bytes) -> bool:
    return mime.fast_tree(data) is not None


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(ROOT / "fixtures")) for p in FILES])
def test_every_fixture_gives_the_feed_parsers_tree(path: Path) -> None:
    data = path.read_bytes()
    same_as_feed_parser(data)
    same_as_feed_parser(data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))  # the same mail with CRLF line ends


def test_the_fast_path_takes_most_replies() -> None:
    share = sum(map(fast, SAMPLES)) / len(SAMPLES)
    assert share > 0.95
    bounces = [data for path, data in zip(FILES, SAMPLES) if path.parent.name == "bounce"]
    assert sum(map(fast, bounces)) / len(bounces) > 0.9  # delivery reports and attached messages too


MULTIPART = (
    "From: a@b.c\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"{outer}\"\n\n"
    "{preamble}--{outer}\nContent-Type: multipart/alternative; boundary={inner}\n\n"
    "--{inner}\nContent-Type: text/plain; charset=utf-8\n\nplain\n\n--{inner}{pad}\nContent-Type: text/html\n\n<p>html</p>\n"
    "--{inner}--{inner_epilogue}\n--{outer}\nContent-Type: text/plain\nContent-Disposition: attachment; filename=a.txt\n\nfile\n"
    "--{outer}--{epilogue}"
)


@pytest.mark.parametrize("preamble", ["", "\n", "This is a multi-part message in MIME format.\n"])
@pytest.mark.parametrize("epilogue", ["", "\n", "\n\n", "\ntrailing words\n"])
@pytest.mark.parametrize("inner_epilogue", ["", "\n", "\nx"])
@pytest.mark.parametrize("pad", ["", "  ", "\t"])
def test_preambles_epilogues_and_boundary_padding(preamble: str, epilogue: str, inner_epilogue: str, pad: str) -> None:
    text = MULTIPART.format(outer="out", inner="in-1", preamble=preamble, epilogue=epilogue, inner_epilogue=inner_epilogue, pad=pad)
    for data in (text.encode(), text.replace("\n", "\r\n").encode()):
        assert fast(data)
        same_as_feed_parser(data)


@pytest.mark.parametrize(
    "broken",
    [
        MULTIPART.replace("--{outer}--{epilogue}", ""),  # no close boundary
        MULTIPART.replace("--{outer}\n", ""),  # no start boundary
        MULTIPART.replace("plain\n\n--{inner}{pad}\n", "plain\n\n--{inner}{pad}\n--{inner}\n"),  # a boundary twice
        MULTIPART.replace("Content-Type: text/html", "Content Type: text/html"),  # a header line the parser takes for body
        MULTIPART.replace("From: a@b.c\n", "From a@b.c Mon Jan  1 00:00:00 2026\nFrom: a@b.c\n"),  # a Unix From line
        MULTIPART.replace("boundary={inner}", "boundary={outer}-x"),  # an inner boundary that starts as the outer one
        MULTIPART.replace("multipart/mixed", "multipart/digest"),
        MULTIPART.replace("plain\n\n", "plain\r\rmore\n\n"),  # bare CRs
    ],
)
def test_unusual_shapes_go_to_the_feed_parser(broken: str) -> None:
    data = broken.format(outer="out", inner="in", preamble="", epilogue="\n", inner_epilogue="", pad="").encode()
    assert not fast(data)
    same_as_feed_parser(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    index=st.integers(0, len(SAMPLES) - 1),
    cut=st.floats(0, 1),
    insert=st.sampled_from(["", "\n", "\r\n", "--", "\n--", "\n\n", " ", ":", "\t", "\x00", "=\n", "\n-- \n", "\xff"]),
    where=st.floats(0, 1),
)
def test_mutated_fixtures_give_the_feed_parsers_tree(index: int, cut: float, insert: str, where: float) -> None:
    data = SAMPLES[index]
    data = data[: max(1, int(len(data) * (0.5 + cut / 2)))]  # truncated somewhere in its second half
    at = int(len(data) * where)
    same_as_feed_parser(data[:at] + insert.encode("latin-1") + data[at:])


BOUNCES = [p.read_bytes() for p in FILES if p.parent.name == "bounce"]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    index=st.integers(0, len(BOUNCES) - 1),
    insert=st.sampled_from(["\n", "\r\n", "\n\n", "\n\n\n", "x", ":", " ", "\nReporting-MTA: x\n", "\nContent-Type: message/rfc822\n\n"]),
    where=st.floats(0, 1),
)
def test_mutated_delivery_reports_give_the_feed_parsers_tree(index: int, insert: str, where: float) -> None:
    data = BOUNCES[index]
    at = int(len(data) * where)
    same_as_feed_parser(data[:at] + insert.encode() + data[at:])


def test_nesting_beyond_the_limit_goes_to_the_feed_parser() -> None:
    body = "x\n"
    for level in range(mime.MAX_DEPTH + 3):
        body = f"Content-Type: multipart/mixed; boundary=b{level}\n\n--b{level}\n{body}--b{level}--\n"
    data = ("From: a@b.c\n" + body).encode()
    assert not fast(data)
    same_as_feed_parser(data)


def test_a_status_block_that_says_it_holds_a_message_goes_to_the_feed_parser() -> None:
    # found by the mutation test above: the feed parser reads the lines after such a block as its body
    report = (
        b"From: postmaster@x.test\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\n\n"
        b"--b\nContent-Type: text/plain\n\nIt failed.\n--b\nContent-Type: message/delivery-status\n\n"
        b"Reporting-MTA: dns; x.test\n\nContent-Type: message/rfc822\n\n\nFinal-Recipient: rfc822; a@y.test\nStatus: 5.1.1\n\n--b--\n"
    )
    assert not fast(report)
    same_as_feed_parser(report)
    assert fast(report.replace(b"Content-Type: message/rfc822\n\n\n", b""))

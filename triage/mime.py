"""Raw bytes to a ``compat32`` :class:`email.message.Message` tree, fast for the shapes replies have.

The standard library's feed parser reads a message line by line in Python:
on a 12 KB reply with a long quoted thread that is most of the parse.  The
bodies do not need that: a leaf part's payload is just the text after its
blank line, and a multipart's parts lie between its boundary lines, which
one regular expression finds at C speed.  :func:`message_from_bytes` builds
the same tree as ``email.message_from_bytes(data, policy=compat32)`` that
way, parsing only the header blocks with the standard parser.

Attached messages (``message/rfc822``) and delivery reports
(``message/delivery-status``, blocks of headers) are split the same way.
Anything out of the ordinary goes to the standard parser instead, which then
records its defects as before: no blank line after the headers, a header
block the parser finds defective, bare CR line ends, ``multipart/digest``,
a missing or repeated boundary, nesting deeper than :data:`MAX_DEPTH`.  A test compares
both parsers' trees on every fixture and on mutated copies of them.
"""

from __future__ import annotations

import email
import re
from email.message import Message
from email.policy import compat32

MAX_DEPTH = 12
MAX_PARTS = 500

_BLANK = re.compile(r"\r?\n\r?\n")
# a header line as the feed parser accepts one (its ``headerRE``, without the "From " and
# continuation forms, which are handled apart); anything else ends its header block
_HEADER_LINE = re.compile(r"[\041-\071\073-\176]+:")
_BOUNDARY_END = re.compile(r"(--)?[ \t]*\r?$", re.M)


class _Unusual(Exception):
    """The message is not of a shape the fast path reproduces exactly."""


def message_from_bytes(data: bytes) -> Message:
    """``email.message_from_bytes(data, policy=compat32)``, built faster where that is safe."""
    return fast_tree(data) or email.message_from_bytes(data, policy=compat32)


def fast_tree(data: bytes) -> Message | None:
    """The tree by the fast path, or ``None`` for a message of a shape it leaves to the feed parser."""
    text = data.decode("ascii", "surrogateescape")  # as the standard library's bytes parser reads it
    if "\r" in text and text.count("\r") != text.count("\r\n"):
        return None  # bare CRs end lines for the feed parser
    try:
        return _message(text, _Walk(), 0, (), last_eol=False)
    except _Unusual:
        return None


class _Walk:
    """Counts the parts of one message, to stop where the feed parser's callers would."""

    def __init__(self) -> None:
        self.parts = 0


def _message(text: str, walk: _Walk, depth: int, enclosing: tuple[str, ...], *, last_eol: bool) -> Message:
    """The message in ``text``; ``last_eol``: its final line end belongs to an enclosing boundary (RFC 2046)."""
    walk.parts += 1
    if depth > MAX_DEPTH or walk.parts > MAX_PARTS:
        raise _Unusual
    blank = _BLANK.search(text)
    # the first line ends the headers only if it is blank; the search finds the first blank line after one
    if blank is None or text.startswith(("\n", "\r\n")):
        raise _Unusual
    head_end = blank.start() + (2 if text[blank.start()] == "\r" else 1)  # keep the last header line's end
    msg = _headers(text[:head_end])
    body = text[blank.end() :]
    maintype = msg.get_content_maintype()
    ctype = msg.get_content_type()
    if ctype == "multipart/digest":
        raise _Unusual  # its parts default to message/rfc822
    if ctype == "message/delivery-status":
        msg.set_payload(_status_blocks(body))  # the last block has no body, so nothing to give back
    elif maintype == "message":
        # an attached message (a bounce's copy of what bounced): a message of its own
        msg.set_payload([_message(body, walk, depth + 1, enclosing, last_eol=last_eol)])
    elif maintype == "multipart":
        boundary = msg.get_boundary()
        if boundary is None or str(msg.get("content-transfer-encoding", "8bit")).lower() not in ("7bit", "8bit", "binary"):
            raise _Unusual
        if any(boundary.startswith(b) or b.startswith(boundary) for b in enclosing):
            raise _Unusual  # an inner boundary line could be read as an outer one
        _split(msg, body, boundary, walk, depth, enclosing)
        if last_eol:
            msg.epilogue = _strip_eol(msg.epilogue) if msg.epilogue else None
    else:
        msg.set_payload(_strip_eol(body) if last_eol else body)
    return msg


def _status_blocks(body: str) -> list[Message | str]:
    """The header blocks of a delivery status (RFC 3464), one body-less message each, as the feed parser makes them.

    A block ends at a blank line or at the end; after its blank line, any
    further line starts the next block, so extra blank lines make empty ones.
    """
    lines = body.split("\n")
    if lines[-1] == "":
        lines.pop()  # the text ends with a line end
    blocks: list[Message | str] = []
    at = 0
    while True:
        first = at
        while at < len(lines) and lines[at] not in ("", "\r"):
            at += 1
        block = Message() if at == first else _headers("".join(line + "\n" for line in lines[first:at]))
        if block.get_content_maintype() in ("message", "multipart"):
            raise _Unusual  # the feed parser would read what follows as that block's body
        block.set_payload("")
        blocks.append(block)
        at += 1  # the blank line
        if at >= len(lines):
            return blocks


def _headers(block: str) -> Message:
    """A message with the headers of ``block`` (lines with their ends), as ``compat32`` stores them."""
    msg = Message()
    name = ""
    lines: list[str] = []
    for line in block[:-1].split("\n"):
        line += "\n"
        if line[0] in " \t":
            if not name:
                raise _Unusual  # a continuation first: a defect the feed parser records
            lines.append(line)
            continue
        if name:
            msg.set_raw(*compat32.header_source_parse(lines))
        if line.startswith("From ") or not _HEADER_LINE.match(line):
            raise _Unusual  # a Unix From line, or a line the feed parser takes for the body
        name, lines = line[: line.index(":")], [line]
    if not name:
        raise _Unusual
    msg.set_raw(*compat32.header_source_parse(lines))
    return msg


def _boundary_lines(body: str, boundary: str) -> list[tuple[int, int, bool]]:
    """``(start, end, closing)`` of every line of ``body`` that is a boundary line for ``boundary``."""
    marker = "--" + boundary
    starts = [0] if body.startswith(marker) else []
    at = body.find("\n" + marker)
    while at >= 0:
        starts.append(at + 1)
        at = body.find("\n" + marker, at + 1 + len(marker))
    found = []
    for start in starts:
        tail = _BOUNDARY_END.match(body, start + len(marker))  # the rest of the line: "--", blanks, nothing else
        if tail:
            found.append((start, tail.end(), bool(tail.group(1))))
    return found


def _split(msg: Message, body: str, boundary: str, walk: _Walk, depth: int, enclosing: tuple[str, ...]) -> None:
    """Set the parts, preamble and epilogue of ``msg`` from its ``body`` as the feed parser would."""
    lines = _boundary_lines(body, boundary)
    if not lines or lines[0][2] or not any(closing for _, _, closing in lines):
        raise _Unusual  # no start boundary, or no close boundary
    close = next(i for i, line in enumerate(lines) if line[2])
    preamble = body[: lines[0][0]]
    msg.preamble = _strip_eol(preamble) if preamble else None
    children: list[Message | str] = []
    for opening, following in zip(lines[:close], lines[1 : close + 1]):
        chunk = body[_after_line(body, opening[1]) : following[0]]
        if not chunk:
            raise _Unusual  # two boundary lines in a row
        children.append(_message(chunk, walk, depth + 1, (*enclosing, boundary), last_eol=True))
    msg.set_payload(children)
    end = lines[close][1]  # at the line's "\n" ("\r" is inside the match), or at the end of the body
    msg.epilogue = body[end + 1 :] if end < len(body) else ""


def _after_line(text: str, end: int) -> int:
    """The position after the line end at ``end`` (a boundary line's ``$``)."""
    if text.startswith("\r\n", end):
        return end + 2
    return end + 1 if text.startswith("\n", end) else end


def _strip_eol(text: str) -> str:
    if text.endswith("\r\n"):
        return text[:-2]
    return text[:-1] if text.endswith("\n") else text

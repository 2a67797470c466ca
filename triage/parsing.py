"""Raw bytes to a typed :class:`~triage.records.Reply`.

Parsing uses the standard library's ``compat32`` message tree and
``get_payload(decode=True)``: about five times faster than ``policy.default``
with ``get_content()`` on real replies (see ``bench/``), and just as able to
decode what real mail carries once charsets are handled here.  The tree is
built by :mod:`triage.mime`, which splits the common shapes of reply
without reading the bodies line by line.

Hostile input is bounded: a size cap is applied by the sources, the MIME
tree walk stops at :data:`MAX_DEPTH` levels and :data:`MAX_PARTS` parts, and
anything that cannot be understood raises :class:`~triage.errors.MessageError`
with a reason the store records.
"""

from __future__ import annotations

import codecs
import datetime as dt
import email
import email.errors
import email.header
import email.utils
import hashlib
import re
from email.message import Message

from . import autoreply, mime
from .errors import MessageError
from .html import html_to_text
from .quotes import split_reply
from .records import AutoSignals, RawMessage, Reply

MAX_DEPTH = mime.MAX_DEPTH
MAX_PARTS = mime.MAX_PARTS
MAX_TEXT_CHARS = 200_000

# Charset names seen in the wild that Python's codecs do not know by that name.
_CHARSET_ALIASES = {
    "ks_c_5601-1987": "cp949",
    "x-sjis": "shift_jis",
    "x-euc-jp": "euc_jp",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "windows-874": "cp874",
    "x-mac-cyrillic": "mac_cyrillic",
    "unicode-1-1-utf-7": "utf-7",
    "ansi_x3.4-1968": "ascii",
    "iso-8859-8-i": "iso-8859-8",
}
_UNKNOWN_8BIT = frozenset(("unknown-8bit", "x-unknown", "unknown", "x-user-defined", "8bit", "default", "us-ascii"))
_WS = re.compile(r"[ \t]+\n")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\u0085]+")
_QUOTE_LINE = re.compile(r"^[ \t]*>", re.M)
_HEADER_BLOCK = re.compile(r"^[ \t]*\*?(?:from|von|de|от|da|van|fra)\s*:.*\n[ \t]*\*?(?:sent|date|gesendet|envoyé|enviado|отправлено|дата|datum|sendt)\s*:", re.I | re.M)
# HTML quote containers whose plain alternative often loses the quoting (Outlook's plain
# part keeps its From:/Sent: block, which the splitter reads: no need to convert its HTML)
_HTML_QUOTE = re.compile(r"<blockquote|yahoo_quoted|gmail_quote|moz-cite-prefix", re.I)
_NUL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _codec(charset: str) -> str | None:
    name = charset.strip().strip('"').lower()
    name = _CHARSET_ALIASES.get(name, name)
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def _decode_bytes(data: bytes, charset: str, *, strict: bool = True) -> str:
    """Decode ``data`` declared as ``charset``; mislabelled mail is common.

    A known charset decodes with replacement characters where bytes are bad;
    an unknown one is tried as UTF-8 (and, for the ``unknown-8bit`` family,
    as windows-1252) and otherwise is an error.
    """
    name = charset.strip().strip('"').lower()
    codec = _codec(name)
    if codec in ("ascii", None) or name in _UNKNOWN_8BIT:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            if codec == "ascii" or name in _UNKNOWN_8BIT:
                return data.decode("cp1252", errors="replace")
            if strict:
                raise MessageError(f"undecodable text: unknown charset {charset!r} and the bytes are not UTF-8") from None
            return data.decode("utf-8", errors="replace")
    if codec == "utf-8":
        # many clients send windows-1252 labelled as UTF-8
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            text = data.decode("utf-8", errors="replace")
            if text.count("\ufffd") > max(3, len(text) // 50):
                return data.decode("cp1252", errors="replace")
            return text
    return data.decode(codec, errors="replace")


def _part_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or part.get_charset() or "utf-8"
    text = _decode_bytes(payload[: MAX_TEXT_CHARS * 4], str(charset))
    return text


def _walk(msg: Message, depth: int, counter: list[int], out: dict[str, list[str]]) -> None:
    """Collect text parts; descend into multiparts, never into attached messages."""
    counter[0] += 1
    if counter[0] > MAX_PARTS:
        raise MessageError(f"more than {MAX_PARTS} MIME parts")
    if depth > MAX_DEPTH:
        raise MessageError(f"MIME parts nested deeper than {MAX_DEPTH} levels")
    ctype = msg.get_content_type()
    if msg.is_multipart():
        payload = msg.get_payload()
        if not isinstance(payload, list):
            return
        if ctype == "multipart/alternative":
            # the plain alternative wins; HTML only when there is no plain one, or when the
            # plain one lost the quoting that the HTML still marks (Yahoo, some Outlooks)
            kinds = [p.get_content_type() for p in payload if isinstance(p, Message)]
            wanted = "text/plain" if "text/plain" in kinds else None
            plain_before = len(out["plain"])
            for part in payload:
                if isinstance(part, Message) and (wanted is None or part.get_content_type() == wanted or part.is_multipart()):
                    _walk(part, depth + 1, counter, out)
                    if wanted is None and out["plain"] + out["html"]:
                        break
            added = out["plain"][plain_before:]
            if wanted and added and not any(_QUOTE_LINE.search(t) or _HEADER_BLOCK.search(t) for t in added):
                html = next((p for p in payload if isinstance(p, Message) and p.get_content_type() == "text/html"), None)
                if html is not None:
                    markup = _part_text(html)
                    if _HTML_QUOTE.search(markup):
                        del out["plain"][plain_before:]
                        out["plain"].append(html_to_text(markup))
            return
        if ctype == "multipart/report":
            for part in payload:
                if not isinstance(part, Message):
                    continue
                sub = part.get_content_type()
                if sub in ("message/delivery-status", "message/global-delivery-status"):
                    out["report"].append(_report_text(part))
                elif sub.startswith("text/") and not out["plain"]:
                    _walk(part, depth + 1, counter, out)
                elif sub in ("message/rfc822", "text/rfc822-headers", "message/rfc822-headers"):
                    out["attached"].append("x")
            return
        for part in payload:
            if isinstance(part, Message):
                _walk(part, depth + 1, counter, out)
        return
    if ctype == "message/rfc822":
        out["attached"].append("x")
        return
    if ctype in ("message/delivery-status", "message/global-delivery-status"):
        out["report"].append(_report_text(msg))
        return
    disposition = (msg.get("content-disposition") or "").lower()
    filename = msg.get_filename()
    if ctype in ("text/vcard", "text/x-vcard", "text/directory") or (filename or "").lower().endswith(".vcf"):
        out["vcard"].append(_part_text(msg))
        return
    if disposition.startswith("attachment") or filename:
        return
    if ctype == "text/plain":
        out["plain"].append(_part_text(msg))
    elif ctype == "text/html":
        out["html"].append(_part_text(msg))


def _report_text(part: Message) -> str:
    """The text of a ``message/delivery-status`` part, however it was parsed."""
    payload = part.get_payload()
    if isinstance(payload, list):  # compat32 parses the fields as a list of header blocks
        return "\n".join(str(p) for p in payload if isinstance(p, Message))
    decoded = part.get_payload(decode=True)
    if isinstance(decoded, bytes):
        return decoded.decode("utf-8", errors="replace")
    return str(payload)


def _check_defects(msg: Message) -> list[str]:
    defects: list[str] = []
    for part in msg.walk():
        for defect in getattr(part, "defects", []):
            name = type(defect).__name__
            if name in ("StartBoundaryNotFoundDefect", "CloseBoundaryNotFoundDefect"):
                raise MessageError(
                    "truncated or broken MIME: "
                    + ("the closing boundary is missing" if name.startswith("Close") else "no part starts with the declared boundary")
                )
            defects.append(name)
    return defects


def _addresses(msg: Message, name: str) -> list[tuple[str, str]]:
    """The ``(display name, address)`` pairs of an address header.

    Addresses are taken from the raw header *before* any RFC 2047 word is
    decoded: ``=?utf-8?q?Liam=0D=0ABcc=3A_spy=40evil?= <liam@acme.com>`` is
    Liam's address with an odd display name, never ``spy@evil``.
    """
    raw = [str(v) for v in msg.get_all(name) or []]
    pairs = get_addresses(raw)
    out = []
    for display, addr in pairs:
        addr = addr.strip().lower()
        if not addr or "@" not in addr or _SPACE_OR_CONTROL.search(addr):
            continue
        out.append((_CONTROL.sub(" ", decode_words(display)).strip(), addr))
    return out


_ATOMS = r'[^\s"()<>@,;:\\\[\].]+'
_SIMPLE_ADDRESS = re.compile(
    rf'[ \t]*(?:"(?P<quoted>[^"\\\r\n]*)"|(?P<words>{_ATOMS}(?:[ \t]+{_ATOMS})*))?[ \t]*'
    r"<(?P<angle>[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9.-]+)>[ \t]*"
    r"|[ \t]*(?P<bare>[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9.-]+)[ \t]*"
)
_BLANKS = re.compile(r"[ \t]+")
_SPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f]")


def get_addresses(values: list[str]) -> list[tuple[str, str]]:
    """``email.utils.getaddresses(values)``, with the common one-address headers read by one regular expression.

    ``Jane Doe <jane@acme.com>``, ``"Doe, Jane" <jane@acme.com>`` and a bare
    address are most headers; anything else (comments, groups, several
    addresses, escapes) goes to the standard library, which a test checks
    this against.
    """
    pairs = []
    for value in values:
        match = _SIMPLE_ADDRESS.fullmatch(value)
        if match is None:
            return email.utils.getaddresses(values)
        if match["bare"] is not None:
            pairs.append(("", match["bare"]))
        else:
            name = match["quoted"] if match["quoted"] is not None else _BLANKS.sub(" ", match["words"] or "")
            pairs.append((name, match["angle"]))
    return pairs


def decode_words(value: str) -> str:
    """RFC 2047 encoded words decoded to text, in any charset triage reads; never raises."""
    if "=?" not in value:
        return value  # no encoded word (most headers): what decode_header would give back
    try:
        parts = email.header.decode_header(value)
    except (email.errors.HeaderParseError, ValueError, LookupError):
        return value
    if not any(charset for _, charset in parts):
        return value
    return "".join(_decode_bytes(v, c or "utf-8", strict=False) if isinstance(v, bytes) else v for v, c in parts)


def parse(raw: RawMessage) -> Reply:
    """Parse one message into a :class:`Reply` or raise :class:`MessageError`."""
    if raw.problem:
        raise MessageError(raw.problem, source=raw.source)
    data = raw.data
    if not data.strip():
        raise MessageError("empty message", source=raw.source)
    if data.count(b"\x00") > 16 and data.count(b"\x00") * 20 > len(data):
        raise MessageError("binary data, not an email message (NUL bytes)", source=raw.source)
    try:
        msg = mime.message_from_bytes(data)
    except (ValueError, TypeError, IndexError, LookupError, email.errors.MessageError) as exc:
        raise MessageError(f"cannot parse MIME: {exc}", source=raw.source) from exc
    if not msg.keys() or not (msg.get("from") or msg.get("message-id") or msg.get("date")):
        raise MessageError("no mail headers (From, Date, Message-ID): not an email message", source=raw.source)
    try:
        return _build(raw, msg)
    except MessageError as exc:
        raise MessageError(exc.reason, source=raw.source) from None
    except (ValueError, TypeError, LookupError, AttributeError, RecursionError, email.errors.MessageError) as exc:
        raise MessageError(f"cannot read message: {type(exc).__name__}: {exc}", source=raw.source) from exc


def _build(raw: RawMessage, msg: Message) -> Reply:
    defects = _check_defects(msg)
    out: dict[str, list[str]] = {"plain": [], "html": [], "report": [], "vcard": [], "attached": []}
    _walk(msg, 0, [0], out)
    if out["plain"]:
        body = "\n".join(out["plain"])
    elif out["html"]:
        body = html_to_text("\n".join(out["html"]))
    else:
        body = ""
    body = _NUL.sub("", body.replace("\r\n", "\n").replace("\r", "\n"))[:MAX_TEXT_CHARS]
    if " \n" in body or "\t\n" in body:  # a quick test first: the substitution tries every blank
        body = _WS.sub("\n", body)

    headers: dict[str, str] = {}
    first: dict[str, str] = {}  # raw values: msg.get scans every header, and is asked a dozen times
    for name, value in msg.items():  # the first of repeated headers, as msg.get gives it
        if name.lower() not in headers:
            first[name.lower()] = value
            headers[name.lower()] = " ".join(decode_words(str(value)).split())
    from_pairs = _addresses(msg, "from")
    from_name, from_addr = from_pairs[0] if from_pairs else ("", "")
    subject = headers.get("subject", "")
    date = None
    if first.get("date"):
        try:
            date = email.utils.parsedate_to_datetime(str(first["date"]))
        except (TypeError, ValueError, IndexError):
            defects.append("InvalidDateDefect")
    if date is not None and date.tzinfo is None:
        date = date.replace(tzinfo=dt.timezone.utc)

    split = split_reply(body, sender_name=from_pairs[0][0] if from_pairs else "")
    signals: AutoSignals = autoreply.detect(headers, subject, from_addr, body, report_parts=out["report"])
    to = tuple(a for _, a in _addresses(msg, "to"))
    if signals.bounce and not signals.bounce_recipient:
        signals = _with_flufl_recipient(msg, signals, set(to))
    message_id = (first.get("message-id") or "").strip()
    message_id = " ".join(str(message_id).split())
    refs = tuple(str(first.get("references") or "").split())
    return Reply(
        source=raw.source,
        message_id=message_id,
        from_name=from_name.strip().strip('"'),
        from_addr=from_addr,
        to=to,
        cc=tuple(_addresses(msg, "cc")),
        subject=subject,
        date=date,
        in_reply_to=" ".join(str(first.get("in-reply-to") or "").split()),
        references=refs,
        headers=headers,
        body=body,
        new_text=split.new_text,
        quoted=split.quoted,
        signature=split.signature,
        signals=signals,
        vcards=tuple(out["vcard"]),
        defects=tuple(defects),
        digest=hashlib.sha256(raw.data).hexdigest()[:32],
    )


def _with_flufl_recipient(msg: Message, signals: AutoSignals, ours: set[str]) -> AutoSignals:
    """Ask flufl.bounce for the failed recipient when our own reading found none."""
    try:
        from flufl.bounce import all_failures

        permanent, temporary = all_failures(msg)
    except Exception:  # noqa: BLE001 - a third-party heuristic must not fail the parse
        return signals
    found = sorted(a.decode("utf-8", "replace").lower() for a in (permanent | temporary))
    found = [a for a in found if a not in ours]
    if not found:
        return signals
    from dataclasses import replace

    return replace(signals, bounce_recipient=found[0], bounce_permanent=bool(permanent) if signals.bounce_permanent is None else signals.bounce_permanent)

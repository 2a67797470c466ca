"""The warm forward: a short note to the referred contact, the referrer's reply quoted below.

Everything taken from a message (names, addresses, subjects) passes through
:func:`clean_header_text` and email-validator before it reaches a header, and
headers are built with :class:`email.headerregistry.Address`, so nothing a
replier writes can add or change a header of the outgoing mail.

The message is written by :func:`_message_bytes`, which gives the bytes that
:class:`email.message.EmailMessage` (policy :data:`_POLICY`) gives, in a
fraction of the time, for the headers a forward has: plain text on one line,
names and subjects with RFC 2047 encoded words where they are not ASCII.
Anything else it leaves to the email package (:func:`_email_package_bytes`).
tests/unit/test_forward_bytes.py checks the two against each other.
"""

from __future__ import annotations

import base64
import email.utils
import re
import string
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

from .extract import guess_address, normalise_email
from .parsing import decode_words
from .records import Decision, Forward, Reply

DEFAULT_SUBJECT = "$referrer_first suggested I get in touch"
DEFAULT_BODY = """Hi $contact_first,

$referrer_first suggested I get in touch with you (see below). $referrer_first mentioned you are the right person to talk to about this.

Would you have 15 minutes this week or next for a quick call?

Thanks,
$sender_name
"""
# RFC 5322 allows 998 characters a line: with the default 78, a long Message-ID in
# In-Reply-To/References (Exchange, Lotus Notes) is RFC 2047-encoded and threading breaks
_POLICY = SMTP.clone(max_line_length=998)
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\u0085]+")
_PREFIX = re.compile(r"^\s*((re|aw|wg|fw|fwd|tr|rv|sv|vs|odp|antw|ответ|отв)\s*:\s*)+", re.I)


def clean_header_text(value: str, *, limit: int = 120) -> str:
    """Text safe for a header: no line breaks or control characters, bounded length.

    RFC 2047 encoded words are decoded first and any that remain are broken
    up: the standard library decodes an encoded word in a display name when
    it writes the header, so ``=?utf-8?q?Jane=0D=0ABcc...?=`` would otherwise
    come out as a second header line.

    >>> clean_header_text("Jane\\r\\nBcc: evil@x.com")
    'Jane Bcc: evil@x.com'
    >>> clean_header_text("=?utf-8?q?Jane=0D=0ABcc=3A_x=40evil.example?=")
    'Jane Bcc: x@evil.example'
    """
    for _ in range(3):
        decoded = decode_words(value)
        if decoded == value:
            break
        value = decoded
    value = _CONTROL.sub(" ", value).replace("=?", "= ?").replace("?=", "? =")
    return " ".join(value.split())[:limit]


_HEADER_LIKE = re.compile(r"@|\b[\w-]+:\s|[<>]")


def _safe_address(display: str, addr: str) -> Address | None:
    """An address with a display name that cannot pass for another address or a header.

    A name carrying an ``@``, angle brackets or ``Word:`` (a decoded
    ``Bcc: spy@evil``, a spoofed "ceo@bank.com") is dropped: the address alone is sent.
    """
    normal = normalise_email(addr)
    if not normal:
        return None
    local, _, domain = normal.partition("@")
    name = clean_header_text(display.replace('"', ""))
    if _HEADER_LIKE.search(name):
        name = ""
    return Address(display_name=name, username=local, domain=domain)


def _first(name: str) -> str:
    parts = clean_header_text(name).replace(",", " ").split()
    return parts[0] if parts else "there"


class ForwardComposer:
    """Builds warm forwards from a template the user can change.

    Templates use ``$name`` placeholders: ``$contact_first``,
    ``$contact_name``, ``$referrer_first``, ``$referrer_name``,
    ``$referrer_company``, ``$sender_name``, ``$original_subject``.
    """

    def __init__(
        self,
        *,
        sender: str = "",
        sender_name: str = "",
        subject: str = DEFAULT_SUBJECT,
        body: str = DEFAULT_BODY,
        cc_referrer: bool = True,
    ) -> None:
        self.sender = sender
        self.sender_name = sender_name
        self.subject = string.Template(subject)
        self.body = string.Template(body)
        self.cc_referrer = cc_referrer
        self._senders: dict[tuple[str, str], Address | None] = {}  # the sender's address, checked once

    @classmethod
    def from_template_file(cls, path: Path, **kwargs: object) -> ForwardComposer:
        """A template file: the first line ``Subject: ...``, a blank line, then the body."""
        text = path.read_text(encoding="utf-8")
        head, _, body = text.partition("\n\n")
        subject = head.removeprefix("Subject:").strip() if head.lower().startswith("subject:") else DEFAULT_SUBJECT
        return cls(subject=subject, body=body if head.lower().startswith("subject:") else text, **kwargs)  # type: ignore[arg-type]

    def _sender(self, addr: str) -> Address | None:
        """_safe_address of the sender, which is the same in every forward (email-validator is slow)."""
        key = (self.sender_name, addr)
        if key not in self._senders:
            if len(self._senders) > 64:
                self._senders.clear()
            self._senders[key] = _safe_address(*key)
        return self._senders[key]

    def compose(self, reply: Reply, decision: Decision) -> Forward | None:
        """The forward for a referral, or ``None`` when there is nobody to write to."""
        contact = decision.contact
        if decision.label != "referral" or contact is None:
            return None
        review: list[str] = []
        address = contact.email
        if not address and contact.name:
            address = guess_address(contact.name, reply.from_addr, reply.from_name)
            if address:
                review.append(f"address {address} guessed from the company's pattern")
        if not address:
            return None
        contact_name = contact.name or ""
        to = _safe_address(contact_name, address)
        if to is None:
            return None
        referrer_name = clean_header_text(reply.from_name) or reply.from_addr.partition("@")[0]
        sender_addr = self.sender or (reply.to[0] if reply.to else "")
        values = {
            "contact_first": _first(contact_name) if contact_name else "there",
            "contact_name": clean_header_text(contact_name),
            "referrer_first": _first(referrer_name),
            "referrer_name": referrer_name,
            "referrer_company": reply.from_addr.partition("@")[2],
            "sender_name": clean_header_text(self.sender_name) or sender_addr.partition("@")[0],
            "original_subject": clean_header_text(_PREFIX.sub("", reply.subject)),
        }
        subject = clean_header_text(self.subject.safe_substitute(values), limit=200)
        replier_domain = reply.from_addr.partition("@")[2]
        if to.domain.lower() != replier_domain.lower():
            review.append(f"contact domain {to.domain} differs from the replier's {replier_domain}")
        if decision.needs_review:
            review.append("the decision itself needs review")

        sender = self._sender(sender_addr) if sender_addr else None
        referrer = _safe_address(referrer_name, reply.from_addr) if self.cc_referrer else None
        headers: list[tuple[str, str | Address]] = []
        if sender is not None:
            headers.append(("From", sender))
        headers.append(("To", to))
        cc: tuple[str, ...] = ()
        if referrer is not None:
            headers.append(("Cc", referrer))
            cc = (referrer.addr_spec,)
        headers.append(("Subject", subject))
        headers.append(("Date", email.utils.formatdate(localtime=False)))
        domain = (sender.domain if sender is not None else "triage.invalid") or "triage.invalid"
        headers.append(("Message-ID", email.utils.make_msgid(domain=domain)))
        if reply.message_id and _MESSAGE_ID.fullmatch(reply.message_id):
            headers.append(("In-Reply-To", reply.message_id))
            refs = [r for r in reply.references if _MESSAGE_ID.fullmatch(r)][-10:]
            headers.append(("References", " ".join(refs + [reply.message_id])))
        headers.append(("X-Triage-Reply", clean_header_text(reply.key, limit=200)))
        quoted = "\n".join("> " + line for line in (reply.new_text or reply.body).splitlines())
        when = reply.date.strftime("%a, %d %b %Y %H:%M") if reply.date else ""
        body = self.body.safe_substitute(values).rstrip() + (
            f"\n\n---------- Forwarded message ---------\nFrom: {referrer_name} <{reply.from_addr}>\n"
            f"Date: {when}\nSubject: {clean_header_text(reply.subject)}\n\n{quoted}\n"
        )
        message = _message_bytes(headers, body)
        return Forward(
            to=to.addr_spec,
            cc=cc,
            subject=subject,
            message=message if message is not None else _email_package_bytes(headers, body),
            needs_review=bool(review),
            review_reasons=tuple(review),
        )


_MESSAGE_ID = re.compile(r"<[^<>\s]+>")


def _email_package_bytes(headers: list[tuple[str, str | Address]], body: str) -> bytes:
    """The message as the email package writes it: the reference for :func:`_message_bytes`."""
    msg = EmailMessage(policy=_POLICY)
    for name, value in headers:
        msg[name] = value
    msg.set_content(body)
    return msg.as_bytes()


# --- writing the message without the email package ---------------------------------------
#
# What the email package does with these headers (Python 3.11's _refold_parse_tree), in the
# cases _message_bytes takes on: a header that fits on a line (998 characters) is written as
# it is when it is ASCII.  Otherwise each word (a run of characters between spaces) that is
# not ASCII becomes an RFC 2047 encoded word, and an encoded word absorbs everything after
# it up to the next word to encode, so that the words from the first to the last non-ASCII
# one make a single encoded word, in UTF-8, "q" unless "b" is 5 characters shorter or more.
# In an address header the words are those of the display name, which must then hold no
# character the address syntax treats as special (the email package quotes such a name and
# encodes it otherwise).

_MAX_LINE = 998  # _POLICY.max_line_length
_UNSTRUCTURED = frozenset(("Subject", "In-Reply-To", "References", "X-Triage-Reply"))  # for the email package
# Room left on a line with encoded words: while it combines them the email package's line is
# briefly a few characters longer than the result, and it must not fold it then.
_EW_MARGIN = 48
_SPECIALS = frozenset('()<>@,:;.\\"[]')  # email._header_value_parser.SPECIALS
# RFC 2047 "q": these bytes as they are, a space as "_", any other byte as "=XX"
_Q = [chr(b) if chr(b).isascii() and (chr(b).isalnum() or chr(b) in "-!*+/") else f"={b:02X}" for b in range(256)]
_Q[32] = "_"
_Q_TABLE = dict(enumerate(_Q))


def _encoded_word(text: str) -> str:
    data = text.encode("utf-8")
    q = data.decode("latin-1").translate(_Q_TABLE)
    groups, rest = divmod(len(data), 3)
    if len(q) - (groups * 4 + (4 if rest else 0)) < 5:
        return f"=?utf-8?q?{q}?="
    return f"=?utf-8?b?{base64.b64encode(data).decode('ascii')}?="


def _words(text: str, *, quoted: bool = False) -> str | None:
    """``text`` with the words that need it encoded, or None when that is not the simple case.

    ``text`` must be printable with its words one space apart.  A word needs encoding when
    it is not ASCII, or, in a quoted display name, when it holds a special character.
    """
    if not text.isprintable() or "=?" in text or "  " in text or text[0] == " " or text[-1] == " ":
        return None
    words = text.split(" ")
    if quoted:
        plain = [w.isascii() and _SPECIALS.isdisjoint(w) for w in words]
    else:
        plain = [w.isascii() for w in words]
    if all(plain):
        return text
    first = plain.index(False)
    last = len(words) - 1 - plain[::-1].index(False)
    return " ".join([*words[:first], _encoded_word(" ".join(words[first : last + 1])), *words[last + 1 :]])


def _header_line(name: str, value: str | Address) -> str | None:
    """``name: value`` as the email package folds it, when that is one line; None otherwise."""
    if isinstance(value, Address):
        text = str(value)
        if not text.isprintable() or "=?" in text:
            return None
        if not text.isascii():
            # the display name is not ASCII: written as words, some encoded (unquoted when
            # quoted, as the email package does)
            display, spec = value.display_name, value.addr_spec
            words = _words(display, quoted=not _SPECIALS.isdisjoint(display)) if spec.isascii() else None
            if words is None:
                return None
            text = f"{words} <{spec}>"
    elif name in _UNSTRUCTURED or value.isascii():  # (Date, Message-ID: ASCII, or left alone)
        text = _words(value) if value else None  # type: ignore[assignment]
        if text is None:
            return None
    else:
        return None
    line = f"{name}: {text}"
    if len(line) > (_MAX_LINE - _EW_MARGIN if "=?" in text else _MAX_LINE):
        return None
    return line


def _message_bytes(headers: list[tuple[str, str | Address]], body: str) -> bytes | None:
    """:func:`_email_package_bytes`, written directly; None when it is not one of the simple cases."""
    lines = []
    for name, value in headers:
        line = _header_line(name, value)
        if line is None:
            return None
        lines.append(line)
    # set_content: 7bit or 8bit when no line is longer than 998 bytes (else quoted-printable or base64)
    body_lines = body.encode("utf-8").splitlines()
    if max(map(len, body_lines), default=0) > _MAX_LINE:
        return None
    lines.append('Content-Type: text/plain; charset="utf-8"')
    lines.append(f"Content-Transfer-Encoding: {'7bit' if body.isascii() else '8bit'}")
    lines.append("MIME-Version: 1.0")
    head = "\r\n".join(lines).encode("ascii") + b"\r\n\r\n"
    return head + b"\r\n".join(body_lines) + b"\r\n"

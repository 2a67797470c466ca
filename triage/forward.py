"""The warm forward: a short note to the referred contact, the referrer's reply quoted below.

Everything taken from a message (names, addresses, subjects) passes through
:func:`clean_header_text` and email-validator before it reaches a header, and
headers are built with :class:`email.headerregistry.Address`, so nothing a
replier writes can add or change a header of the outgoing mail.
"""

from __future__ import annotations

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

    @classmethod
    def from_template_file(cls, path: Path, **kwargs: object) -> ForwardComposer:
        """A template file: the first line ``Subject: ...``, a blank line, then the body."""
        text = path.read_text(encoding="utf-8")
        head, _, body = text.partition("\n\n")
        subject = head.removeprefix("Subject:").strip() if head.lower().startswith("subject:") else DEFAULT_SUBJECT
        return cls(subject=subject, body=body if head.lower().startswith("subject:") else text, **kwargs)  # type: ignore[arg-type]

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

        msg = EmailMessage(policy=_POLICY)
        sender = _safe_address(self.sender_name, sender_addr) if sender_addr else None
        if sender is not None:
            msg["From"] = sender
        msg["To"] = to
        cc: tuple[str, ...] = ()
        referrer = _safe_address(referrer_name, reply.from_addr) if self.cc_referrer else None
        if referrer is not None:
            msg["Cc"] = referrer
            cc = (referrer.addr_spec,)
        msg["Subject"] = subject
        msg["Date"] = email.utils.formatdate(localtime=False)
        domain = (sender.domain if sender is not None else "triage.invalid") or "triage.invalid"
        msg["Message-ID"] = email.utils.make_msgid(domain=domain)
        if reply.message_id and re.fullmatch(r"<[^<>\s]+>", reply.message_id):
            msg["In-Reply-To"] = reply.message_id
            refs = [r for r in reply.references if re.fullmatch(r"<[^<>\s]+>", r)][-10:]
            msg["References"] = " ".join(refs + [reply.message_id])
        msg["X-Triage-Reply"] = clean_header_text(reply.key, limit=200)
        quoted = "\n".join("> " + line for line in (reply.new_text or reply.body).splitlines())
        when = reply.date.strftime("%a, %d %b %Y %H:%M") if reply.date else ""
        body = self.body.safe_substitute(values).rstrip() + (
            f"\n\n---------- Forwarded message ---------\nFrom: {referrer_name} <{reply.from_addr}>\n"
            f"Date: {when}\nSubject: {clean_header_text(reply.subject)}\n\n{quoted}\n"
        )
        msg.set_content(body)
        return Forward(
            to=to.addr_spec,
            cc=cc,
            subject=subject,
            message=msg.as_bytes(),
            needs_review=bool(review),
            review_reasons=tuple(review),
        )

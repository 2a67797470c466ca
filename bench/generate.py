"""Benchmark load: N varied replies recombined from the shipped fixtures, deterministically (seeded).

This is *load* for bench/imap.py, not training data: nothing is ever written
under fixtures/.  Each generated message takes

- the **new text** of one fixture (so the label, the referred contact or the
  return date stay those the fixture's writer put there),
- a **signature** from another fixture of the same language,
- the **quoted outreach** from a third fixture (same SDR where possible, else
  same language), re-quoted in a Gmail, Outlook or Apple style with the
  language's attribution line, and padded with older follow-ups of the thread
  (more outreach texts, nested deeper) until the message reaches its size,
  drawn uniformly from 2-20 KB (mean about 11 KB, as in DESIGN.md section 5),
- a new Message-ID, Date, In-Reply-To and References.

The three referral fixtures whose contact is only in a vCard, a Cc header or
the quoted part are not reused (the recombination would drop the contact).

Formats: text/plain, HTML-only and multipart/alternative; charsets utf-8,
iso-8859-1 (Western languages), windows-1251 and koi8-r (Russian), with
quoted-printable, base64 or 8bit bodies.  Out-of-office replies carry
``Auto-Submitted: auto-replied`` (plus, on some, the X-Autoreply or the
Exchange headers); bounces are ``multipart/report; report-type=delivery-status``
built around the human text of the shipped DSNs, with the bounced outreach
attached as ``message/rfc822``.

Library use (bench/imap.py): ``generate(count, seed=...)`` returns a list of
:class:`Generated`.  Command line, to look at the output::

    .venv/bin/python bench/generate.py --count 200 --out /tmp/gen   # .eml files + manifest.jsonl
    .venv/bin/python bench/generate.py --count 2000 --stats         # the mix, sizes, and triage's parse of each
"""

from __future__ import annotations

import argparse
import base64
import binascii
import datetime as dt
import email
import email.header
import email.utils
import functools
import html
import json
import random
import re
import statistics
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from email.policy import compat32
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "emails"

#: share of each label in the default mix
MIX = {"referral": 0.30, "interested": 0.20, "not_interested": 0.25, "out_of_office": 0.17, "bounce": 0.08}
#: share of each MIME shape for human replies and auto-replies (bounces are always multipart/report)
SHAPES = {"plain": 0.40, "html": 0.15, "alternative": 0.45}
MIN_SIZE, MAX_SIZE = 2 * 1024, 20 * 1024

_ATTRIBUTION = {
    "en": "On {date}, {name} <{addr}> wrote:",
    "de": "Am {date} schrieb {name} <{addr}>:",
    "fr": "Le {date}, {name} <{addr}> a écrit :",
    "es": "El {date}, {name} (<{addr}>) escribió:",
    "ru": "{date}, {name} <{addr}> пишет:",
    "it": "Il giorno {date} {name} <{addr}> ha scritto:",
    "nl": "Op {date} schreef {name} <{addr}>:",
    "pt": "Em {date}, {name} <{addr}> escreveu:",
    "sv": "Den {date} skrev {name} <{addr}>:",
    "pl": "W dniu {date} {name} <{addr}> napisał:",
}
_OUTLOOK = {
    "en": ("From", "Sent", "To", "Subject"),
    "de": ("Von", "Gesendet", "An", "Betreff"),
    "fr": ("De", "Envoyé", "À", "Objet"),
    "es": ("De", "Enviado el", "Para", "Asunto"),
    "ru": ("От", "Отправлено", "Кому", "Тема"),
}
_REPLY_PREFIX = {"de": "AW: ", "sv": "SV: ", "nl": "Re: ", "pl": "Odp: "}
_MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
_DAYS = "Mon Tue Wed Thu Fri Sat Sun".split()
_TZ_HOURS = {"en": (-8, -5, 0, 1, 10), "ru": (3,), "pt": (0, -3), "es": (1, 2, -5), "pl": (1, 2)}
_TYPO = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "„": '"', "«": '"', "»": '"', "—": "-", "–": "-",
                       "…": "...", "\u202f": " ", "\u00a0": " ", "€": "EUR", "•": "*", "\ufeff": "", "\u200b": ""})
_TYPO_RE = re.compile("[" + "".join(map(chr, _TYPO)) + "]")
_PREFIX = re.compile(r"^\s*((re|aw|sv|odp|antw|rif|r|res|fw|fwd|wg|tr|ответ|отв)\s*(\[\d+\])?\s*:\s*)+", re.I)
_QUOTE_MARK = re.compile(r"^(?:\s?>)+ ?")
_HEADERISH = re.compile(r"^[\w\u00c0-\u024f\u0400-\u04ff .-]{1,24}:\s")
_ATTRIB_END = re.compile(r"(wrote|schrieb|écrit|escribió|пишет|написал[а]?|ha scritto|schreef|escreveu|skrev|napisał[a]?|pisze)\s*:?\s*$|:\s*$", re.I)
_BOUNCE_STATUS = [
    ("5.1.1", "550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown in virtual mailbox table"),
    ("5.2.2", "552 5.2.2 <{rcpt}>: Mailbox full, quota exceeded"),
    ("5.1.10", "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup"),
    ("5.4.1", "550 5.4.1 Recipient address rejected: Access denied"),
    ("5.7.1", "550 5.7.1 RESOLVER.RST.AuthRequired; authentication required"),
]


@dataclass(frozen=True)
class Piece:
    """The reusable texts of one shipped fixture."""

    path: str
    label: str
    language: str
    from_name: str
    from_addr: str
    sdr_name: str
    sdr_addr: str
    subject: str
    new_text: str
    signature: str
    outreach: str
    contact_email: str | None
    #: the expected contact (its email, name or phone) is in the new text, not only in a vCard or the quote
    contact_in_text: bool
    body: str
    bounce_recipient: str | None


@dataclass(frozen=True)
class Generated:
    """One generated message and what it was built from."""

    data: bytes
    message_id: str
    label: str
    language: str
    shape: str
    charset: str
    cte: str
    date: dt.datetime
    source: str  # the fixture that gave the new text

    def manifest(self) -> dict[str, object]:
        return {"message_id": self.message_id, "label": self.label, "language": self.language, "shape": self.shape,
                "charset": self.charset, "cte": self.cte, "size": len(self.data), "date": self.date.isoformat(),
                "new_text_from": self.source}


# -- reading the fixtures -------------------------------------------------------

def _decode_header(value: str | None) -> str:
    if not value:
        return ""
    try:
        return str(email.header.make_header(email.header.decode_header(str(value))))
    except (UnicodeError, LookupError, ValueError, email.errors.HeaderParseError):
        return str(value)


def _clean_outreach(quoted: str) -> str:
    """The quoted outreach without quote marks, attribution line or Outlook header block."""
    lines = [_QUOTE_MARK.sub("", line).rstrip() for line in quoted.splitlines()]
    while lines and not lines[0].strip():
        lines.pop(0)
    # an attribution line (possibly wrapped over two lines), an "Original Message" rule, a header block
    for _ in range(2):
        if lines and (lines[0].startswith("---") or lines[0].startswith("___")):
            lines.pop(0)
        head = 0
        while head < len(lines) and head < 8 and _HEADERISH.match(lines[head]):
            head += 1
        if head >= 2:
            del lines[:head]
        elif lines and len(lines[0]) < 200 and _ATTRIB_END.search(lines[0]):
            lines.pop(0)
        elif len(lines) > 1 and len(lines[0]) < 200 and _ATTRIB_END.search(lines[1]) and "@" in lines[0] + lines[1]:
            del lines[:2]
        while lines and not lines[0].strip():
            lines.pop(0)
    return "\n".join(lines).strip()


def _usable_signature(sig: str) -> str:
    sig = sig.strip()
    if not sig or len(sig) > 400 or sig.count("\n") > 9:
        return ""
    for line in sig.splitlines():
        if line.lstrip().startswith(">") or _ATTRIB_END.search(line) and ("@" in line or len(line) > 40):
            return ""
    return sig


def load_pieces(root: Path = FIXTURES) -> list[Piece]:
    """The texts of every labelled fixture (parsed with triage's own parser, read-only)."""
    sys.path.insert(0, str(ROOT))
    from triage.parsing import parse
    from triage.records import RawMessage

    pieces = []
    for path in sorted(root.rglob("*.eml")):
        meta_path = path.with_suffix(".json")
        meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else {}
        data = path.read_bytes()
        try:
            reply = parse(RawMessage(str(path), data))
        except Exception:  # a fixture the parser refuses is simply not reused
            continue
        msg = email.message_from_bytes(data, policy=compat32)
        to = email.utils.getaddresses([_decode_header(msg.get("to"))])
        sdr_name, sdr_addr = to[0] if to else ("", "")
        if not sdr_addr:
            sdr_name, sdr_addr = "Sam Carter", "sam.carter@brightline.io"
        contact = meta.get("contact") or {}
        new_text = reply.new_text.strip()
        digits = re.sub(r"\D", "", new_text)
        phone = re.sub(r"\D", "", contact.get("phone") or "")
        contact_in_text = bool(
            (contact.get("email") and contact["email"].lower() in new_text.lower())
            or (contact.get("name") and contact["name"].split()[-1] in new_text)
            or (len(phone) >= 6 and phone[-6:] in digits)
        )
        pieces.append(Piece(
            path=str(path.relative_to(ROOT)), label=str(meta.get("label") or path.parent.name),
            language=str(meta.get("language") or "en"), from_name=reply.from_name or reply.from_addr.split("@")[0],
            from_addr=reply.from_addr or "someone@example.com", sdr_name=sdr_name or sdr_addr.split("@")[0], sdr_addr=sdr_addr,
            subject=_decode_header(msg.get("subject")), new_text=new_text,
            signature=_usable_signature(reply.signature), outreach=_clean_outreach(reply.quoted),
            contact_email=contact.get("email"), contact_in_text=contact_in_text, body=reply.body, bounce_recipient=meta.get("bounce_recipient"),
        ))
    return pieces


# -- building messages -------------------------------------------------------------

class _Pools:
    def __init__(self, pieces: list[Piece]) -> None:
        self.by_label: dict[str, list[Piece]] = defaultdict(list)
        self.signatures: dict[str, list[str]] = defaultdict(list)
        self.outreach_lang: dict[str, list[Piece]] = defaultdict(list)
        self.outreach_sdr: dict[tuple[str, str], list[Piece]] = defaultdict(list)
        for p in pieces:
            if p.label == "bounce":
                self.by_label["bounce"].append(p)
                continue
            if p.new_text and (p.label != "referral" or p.contact_in_text):
                # a referral whose contact is only in a vCard or in the quoted part would lose it here
                self.by_label[p.label].append(p)
            if p.signature:
                self.signatures[p.language].append(p.signature)
            if len(p.outreach) >= 80:
                self.outreach_lang[p.language].append(p)
                self.outreach_sdr[(p.language, p.sdr_addr.lower())].append(p)
        self.outreach_all = [p for ps in self.outreach_lang.values() for p in ps]

    def outreach_for(self, language: str, sdr_addr: str, rng: random.Random) -> Piece:
        pool = self.outreach_sdr.get((language, sdr_addr.lower())) or self.outreach_lang.get(language) or self.outreach_all
        return rng.choice(pool)

    def signature_for(self, language: str, rng: random.Random) -> str:
        pool = self.signatures.get(language) or self.signatures["en"]
        return rng.choice(pool)


def _weighted(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _tz(language: str, rng: random.Random) -> dt.timezone:
    hours = _TZ_HOURS.get(language, (1, 2))
    return dt.timezone(dt.timedelta(hours=rng.choice(hours)))


def _when(language: str, moment: dt.datetime) -> str:
    if language == "en":
        hour = moment.hour % 12 or 12
        return f"{_DAYS[moment.weekday()]}, {_MONTHS[moment.month - 1]} {moment.day}, {moment.year} at {hour}:{moment.minute:02d} {'AM' if moment.hour < 12 else 'PM'}"
    if language in ("fr", "es", "pt", "it"):
        return moment.strftime("%d/%m/%Y %H:%M")
    return moment.strftime("%d.%m.%Y %H:%M")


def _charset(language: str, rng: random.Random) -> str:
    if language == "ru":
        return rng.choices(["utf-8", "windows-1251", "koi8-r"], weights=[0.4, 0.3, 0.3])[0]
    if language == "pl":
        return "utf-8"
    return rng.choices(["utf-8", "iso-8859-1"], weights=[0.6, 0.4])[0]


def _cte(charset: str, rng: random.Random) -> str:
    if charset == "utf-8":
        return rng.choices(["quoted-printable", "base64", "8bit"], weights=[0.45, 0.35, 0.20])[0]
    if charset == "iso-8859-1":
        return rng.choices(["quoted-printable", "8bit"], weights=[0.7, 0.3])[0]
    return rng.choices(["base64", "8bit", "quoted-printable"], weights=[0.5, 0.3, 0.2])[0]


def _simplify(text: str) -> str:
    return _TYPO_RE.sub(lambda m: _TYPO[ord(m.group())], text)


def _fit_charset(texts: list[str], charset: str) -> tuple[str, list[str]]:
    """The texts in a form the charset can carry (typography simplified for legacy charsets), else utf-8."""
    if charset == "utf-8":
        return charset, texts
    simple = [_simplify(t) for t in texts]
    try:
        for t in simple:
            t.encode(charset)
    except UnicodeEncodeError:
        return "utf-8", texts
    return charset, simple


def _encode_body(text: str, charset: str, cte: str) -> tuple[str, bytes]:
    raw = text.replace("\r\n", "\n").encode(charset)
    if cte == "8bit" and (raw.isascii()):
        cte = "7bit"
    if cte in ("8bit", "7bit") and any(len(line) > 900 for line in raw.split(b"\n")):
        cte = "quoted-printable"
    if cte == "quoted-printable":
        return cte, binascii.b2a_qp(raw, istext=True)
    if cte == "base64":
        return cte, base64.encodebytes(raw)
    return cte, raw


def _part(subtype: str, text: str, charset: str, cte: str) -> bytes:
    cte, body = _encode_body(text, charset, cte)
    head = f"Content-Type: text/{subtype}; charset=\"{charset}\"\nContent-Transfer-Encoding: {cte}\n\n".encode("ascii")
    return head + body + (b"" if body.endswith(b"\n") else b"\n")


@functools.lru_cache(maxsize=4096)
def _hdr(value: str, charset: str) -> str:
    if value.isascii():
        return value
    try:
        value.encode(charset)
    except UnicodeEncodeError:
        charset = "utf-8"
    return email.header.Header(value, charset, header_name="Subject").encode()


@functools.lru_cache(maxsize=4096)
def _addr(name: str, addr: str, charset: str) -> str:
    if name.isascii():
        return email.utils.formataddr((name, addr))
    return f"{_hdr(name, charset)} <{addr}>"


def _html_lines(text: str) -> str:
    return "<br>\n".join(html.escape(line) if line.strip() else "" for line in text.splitlines())


@dataclass
class _Thread:
    """The quoted part of a reply: the outreach answered, then older follow-ups."""

    style: str  # gmail | outlook | apple
    blocks: list[tuple[str, str, str, dt.datetime, str]]  # (sdr name, sdr addr, text, when, subject)
    replier: str

    def plain(self, language: str) -> str:
        out = []
        for depth, (name, addr, text, when, subject) in enumerate(self.blocks):
            if self.style == "outlook":
                labels = _OUTLOOK.get(language, _OUTLOOK["en"])
                head = [f"{labels[0]}: {name} <{addr}>", f"{labels[1]}: {_when(language, when)}", f"{labels[2]}: {self.replier}", f"{labels[3]}: {subject}"]
                out.append(("-----Original Message-----\n" if language == "en" and depth == 0 else "________________________________\n") + "\n".join(head) + "\n\n" + text)
            elif self.style == "apple":
                mark = "> " * (depth + 1)
                attribution = _ATTRIBUTION.get(language, _ATTRIBUTION["en"]).format(date=_when(language, when), name=name, addr=addr)
                out.append(mark + attribution + "\n" + mark.rstrip() + "\n" + "\n".join(mark + line if line else mark.rstrip() for line in text.splitlines()))
            else:
                outer = "> " * depth
                mark = "> " * (depth + 1)
                attribution = _ATTRIBUTION.get(language, _ATTRIBUTION["en"]).format(date=_when(language, when), name=name, addr=addr)
                out.append(outer + attribution + "\n" + outer.rstrip() + "\n" + "\n".join(mark + line if line else mark.rstrip() for line in text.splitlines()))
        return "\n\n".join(out)

    def html(self, language: str) -> str:
        out = ""
        for name, addr, text, when, subject in reversed(self.blocks):
            attribution = _ATTRIBUTION.get(language, _ATTRIBUTION["en"]).format(date=_when(language, when), name=name, addr=addr)
            body = f"<div>{_html_lines(text)}</div>"
            if self.style == "outlook":
                labels = _OUTLOOK.get(language, _OUTLOOK["en"])
                out = (f'<hr style="display:inline-block;width:98%" tabindex="-1">\n<div id="divRplyFwdMsg" dir="ltr">'
                       f'<font face="Calibri, sans-serif" style="font-size:11pt" color="#000000"><b>{labels[0]}:</b> {html.escape(name)} &lt;{addr}&gt;<br>\n'
                       f'<b>{labels[1]}:</b> {_when(language, when)}<br>\n<b>{labels[2]}:</b> {html.escape(self.replier)}<br>\n'
                       f'<b>{labels[3]}:</b> {html.escape(subject)}</font>\n<div>&nbsp;</div></div>\n{body}\n{out}')
            elif self.style == "apple":
                out = f'<blockquote type="cite"><div>{html.escape(attribution)}</div><br class="Apple-interchange-newline">\n{body}\n{out}</blockquote>'
            else:
                out = (f'<div class="gmail_quote"><div dir="ltr" class="gmail_attr">{html.escape(attribution)}<br></div>\n'
                       f'<blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex;border-left:1px solid rgb(204,204,204);padding-left:1ex">\n'
                       f'{body}\n{out}</blockquote></div>')
        return out


def _human_reply(index: int, piece: Piece, pools: _Pools, rng: random.Random, id_prefix: str, *, auto: bool) -> Generated:
    language = piece.language
    tz = _tz(language, rng)
    date = dt.datetime(2026, 1, 5, 8, tzinfo=dt.timezone.utc) + dt.timedelta(seconds=rng.randrange(300 * 86400))
    date = date.astimezone(tz).replace(microsecond=0)
    signature = pools.signature_for(language, rng) if rng.random() < 0.85 else ""
    first = pools.outreach_for(language, piece.sdr_addr, rng)
    sdr_name, sdr_addr = first.sdr_name, first.sdr_addr
    base_subject = _PREFIX.sub("", first.subject).strip() or "Quick question"
    if auto or piece.label == "out_of_office":
        subject = piece.subject or f"Automatic reply: {base_subject}"
    else:
        subject = _REPLY_PREFIX.get(language, "Re: ") + base_subject
    style = rng.choices(["gmail", "outlook", "apple"], weights=[0.5, 0.3, 0.2])[0]
    shape = _weighted(rng, SHAPES)
    charset = _charset(language, rng)
    cte = _cte(charset, rng)
    target = rng.randint(MIN_SIZE, MAX_SIZE)
    domain = piece.from_addr.rsplit("@", 1)[-1]
    message_id = f"<{id_prefix}.{index}.{rng.getrandbits(48):012x}@{domain}>"
    outreach_ids = [f"<{rng.getrandbits(64):016x}.{rng.getrandbits(20)}@{sdr_addr.rsplit('@', 1)[-1]}>" for _ in range(3)]
    extra_pool = pools.outreach_sdr.get((language, sdr_addr.lower())) or pools.outreach_lang.get(language) or pools.outreach_all
    replier = f"{piece.from_name} <{piece.from_addr}>"
    sig_dash = rng.random() < 0.3
    boundary = f"----=_Part_{rng.getrandbits(40):010x}"
    extra_headers = []
    if auto:
        extra_headers.append("Auto-Submitted: auto-replied")
        roll = rng.random()
        if roll < 0.3:
            extra_headers += ["X-Auto-Response-Suppress: All", f"X-MS-Exchange-Inbox-Rules-Loop: {piece.from_addr}"]
        elif roll < 0.5:
            extra_headers += ["X-Autoreply: yes", "Precedence: auto_reply"]
    mailer = {"gmail": "", "outlook": "X-Mailer: Microsoft Outlook 16.0\n", "apple": "X-Mailer: Apple Mail (2.3826.400.121)\n"}[style]

    first_gap = dt.timedelta(hours=rng.randint(2, 96))
    extra = [(rng.choice(extra_pool), dt.timedelta(days=rng.randint(2, 9), minutes=rng.randint(0, 600))) for _ in range(80)]
    received_ip = rng.randint(2, 250)

    def build(n_blocks: int) -> tuple[bytes, str, str]:
        blocks = []
        when = date - first_gap
        for k in range(n_blocks):
            src = first if k == 0 else extra[k][0]
            blocks.append((sdr_name, sdr_addr, src.outreach, when.replace(microsecond=0), base_subject))
            when -= extra[k][1]
        thread = _Thread(style, blocks, replier)
        new_text = piece.new_text
        sig = ("-- \n" if sig_dash else "") + signature if signature else ""
        quote_plain = thread.plain(language) if blocks else ""
        plain = new_text + ("\n\n" + sig if sig else "") + ("\n\n" + quote_plain if quote_plain else "") + "\n"
        used_charset, (plain, new_html, sig_html, subj) = _fit_charset([plain, new_text, sig, subject], charset)
        if shape in ("html", "alternative"):
            _, (quote_html,) = _fit_charset([thread.html(language) if blocks else ""], used_charset)
            html_doc = (f'<html><head><meta http-equiv="Content-Type" content="text/html; charset={used_charset}"></head>\n'
                        f'<body><div dir="ltr">{_html_lines(new_html)}</div>\n'
                        + (f'<div><br></div><div dir="ltr" class="gmail_signature">{_html_lines(sig_html)}</div>\n' if sig_html else "")
                        + (f"<br>\n{quote_html}\n" if quote_html else "") + "</body></html>\n")
        if shape == "plain":
            mime = _part("plain", plain, used_charset, cte)
        elif shape == "html":
            mime = _part("html", html_doc, used_charset, cte)
        else:
            mime = (f'Content-Type: multipart/alternative; boundary="{boundary}"\n\n--{boundary}\n'.encode()
                    + _part("plain", plain, used_charset, cte) + f"--{boundary}\n".encode()
                    + _part("html", html_doc, used_charset, cte) + f"--{boundary}--\n".encode())
        head = (f"Return-Path: <{piece.from_addr}>\n"
                f"Received: from mail.{domain} (mail.{domain} [203.0.113.{received_ip}])\n\tby mx.{sdr_addr.rsplit('@', 1)[-1]} with ESMTPS; {email.utils.format_datetime(date)}\n"
                f"From: {_addr(piece.from_name, piece.from_addr, used_charset)}\n"
                f"To: {_addr(sdr_name, sdr_addr, used_charset)}\n"
                f"Subject: {_hdr(subj, used_charset)}\n"
                f"Date: {email.utils.format_datetime(date)}\n"
                f"Message-ID: {message_id}\n"
                f"In-Reply-To: {outreach_ids[0]}\n"
                f"References: {' '.join(reversed(outreach_ids[: max(1, n_blocks)]))}\n"
                + "".join(h + "\n" for h in extra_headers) + mailer + "MIME-Version: 1.0\n")
        return (head.encode("ascii") + mime).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"), used_charset, cte

    # padding: find how many quoted blocks reach the size (same random draws for every attempt)
    n = 0 if (auto and rng.random() < 0.3) else 1
    data, used_charset, used_cte = build(n)
    if len(data) < target:
        # estimate the blocks needed from the text lengths, then correct by one block at a time
        grown, _, _ = build(n + 1)
        text_len = [len(first.outreach) + 150] + [len(src.outreach) + 150 for src, _ in extra[1:]]
        per_char = max(0.5, (len(grown) - len(data)) / text_len[n])
        size, k = len(data), n
        while size < target and k < len(extra) - 1:
            size += per_char * text_len[k]
            k += 1
        n = max(n + 1, k)
        data, used_charset, used_cte = build(n)
        while len(data) < target and n < len(extra) - 1:
            n += 1
            data, used_charset, used_cte = build(n)
        while len(data) > min(target + 2048, MAX_SIZE) and n > 1:  # the estimate overshot
            n -= 1
            data, used_charset, used_cte = build(n)
    return Generated(data, message_id, piece.label, language, shape, used_charset, used_cte, date, piece.path)


def _bounce(index: int, piece: Piece, pools: _Pools, rng: random.Random, id_prefix: str) -> Generated:
    language = piece.language
    date = (dt.datetime(2026, 1, 5, 8, tzinfo=dt.timezone.utc) + dt.timedelta(seconds=rng.randrange(300 * 86400))).replace(microsecond=0)
    rcpt = piece.bounce_recipient or f"someone@{piece.from_addr.rsplit('@', 1)[-1]}"
    rcpt_domain = rcpt.rsplit("@", 1)[-1]
    first = pools.outreach_for(language if language in pools.outreach_lang else "en", "", rng)
    sdr_name, sdr_addr = first.sdr_name, first.sdr_addr
    status, diagnostic = rng.choice(_BOUNCE_STATUS)
    human = "\n".join(piece.body.splitlines()[:60])[:3000].strip() or f"Delivery to {rcpt} failed permanently."
    charset = "utf-8" if not human.isascii() else "us-ascii"
    cte = rng.choice(["quoted-printable", "base64", "8bit"]) if charset == "utf-8" else "7bit"
    boundary = f"{rng.getrandbits(40):010X}.{rng.getrandbits(24)}/mx.{rcpt_domain}"
    message_id = f"<{id_prefix}.{index}.{rng.getrandbits(48):012x}@mx.{rcpt_domain}>"
    original_id = f"<{rng.getrandbits(64):016x}@{sdr_addr.rsplit('@', 1)[-1]}>"
    subject = piece.subject or "Undelivered Mail Returned to Sender"
    target = rng.randint(MIN_SIZE, MAX_SIZE)
    seed_local = rng.getrandbits(64)

    def build(n_blocks: int) -> bytes:
        local = random.Random(seed_local)
        texts = [first.outreach] + [local.choice(pools.outreach_all).outreach for _ in range(max(0, n_blocks - 1))]
        original_body = ("\n\n" + "-" * 20 + "\n\n").join(texts) + "\n"
        original = (f"From: {_addr(sdr_name, sdr_addr, 'utf-8')}\nTo: {rcpt}\nSubject: {_hdr(_PREFIX.sub('', first.subject) or 'Quick question', 'utf-8')}\n"
                    f"Date: {email.utils.format_datetime(date - dt.timedelta(seconds=local.randint(5, 3600)))}\nMessage-ID: {original_id}\nMIME-Version: 1.0\n").encode() + _part("plain", original_body, "utf-8", "quoted-printable")
        dsn = (f"Reporting-MTA: dns; mx.{rcpt_domain}\nArrival-Date: {email.utils.format_datetime(date)}\n\n"
               f"Final-Recipient: rfc822; {rcpt}\nOriginal-Recipient: rfc822;{rcpt}\nAction: failed\nStatus: {status}\n"
               f"Remote-MTA: dns; mail.{rcpt_domain}\nDiagnostic-Code: smtp; {diagnostic.format(rcpt=rcpt)}\n")
        body = (f"--{boundary}\nContent-Description: Notification\n".encode() + _part("plain", human + "\n", charset, cte)
                + f"--{boundary}\nContent-Description: Delivery report\nContent-Type: message/delivery-status\n\n{dsn}\n".encode()
                + f"--{boundary}\nContent-Description: Undelivered Message\nContent-Type: message/rfc822\n\n".encode() + original
                + f"--{boundary}--\n".encode())
        head = (f"Return-Path: <>\nFrom: Mail Delivery System <MAILER-DAEMON@mx.{rcpt_domain}>\nTo: {_addr(sdr_name, sdr_addr, 'utf-8')}\n"
                f"Subject: {_hdr(subject, 'utf-8')}\nDate: {email.utils.format_datetime(date)}\nMessage-ID: {message_id}\n"
                f"Auto-Submitted: auto-replied\nMIME-Version: 1.0\n"
                f'Content-Type: multipart/report; report-type=delivery-status;\n\tboundary="{boundary}"\n\n'
                "This is a MIME-encapsulated message.\n\n")
        return (head.encode("utf-8") + body).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")

    n = 1
    data = build(n)
    if len(data) < target:
        per_block = max(200, len(build(2)) - len(data))
        n += max(1, (target - len(data)) // per_block)
        data = build(n)
        while len(data) < target and n < 80:
            n += 1
            data = build(n)
        while len(data) > min(target + 2048, MAX_SIZE) and n > 1:
            n -= 1
            data = build(n)
    return Generated(data, message_id, "bounce", language, "report", charset, cte, date, piece.path)


_WORKER: dict[str, object] = {}


def _one(i: int) -> Generated:
    pools: _Pools = _WORKER["pools"]  # type: ignore[assignment]
    seed, id_prefix, mix, require_contact_email = _WORKER["args"]  # type: ignore[misc]
    rng = random.Random(f"{id_prefix}:{seed}:{i}")  # one stream per message: the same bytes in any process
    label = _weighted(rng, mix)
    pool = pools.by_label[label]
    if require_contact_email and label == "referral":
        pool = [p for p in pool if p.contact_email and p.contact_email.lower() in p.new_text.lower()] or pool
    piece = rng.choice(pool)
    if label == "bounce":
        return _bounce(i, piece, pools, rng, id_prefix)
    return _human_reply(i, piece, pools, rng, id_prefix, auto=label == "out_of_office")


def generate(count: int = 10_000, *, seed: int = 20261127, labels: tuple[str, ...] | None = None,
             id_prefix: str = "bench", require_contact_email: bool = False, pieces: list[Piece] | None = None,
             processes: int = 1) -> list[Generated]:
    """``count`` messages; the same arguments always give the same bytes (whatever ``processes``)."""
    _WORKER["pools"] = _Pools(pieces if pieces is not None else load_pieces())
    _WORKER["args"] = (seed, id_prefix, {k: v for k, v in MIX.items() if labels is None or k in labels}, require_contact_email)
    if processes <= 1 or count < 500:
        return [_one(i) for i in range(count)]
    import multiprocessing

    with multiprocessing.get_context("fork").Pool(processes) as pool:
        return pool.map(_one, range(count), chunksize=250)


def describe(messages: list[Generated]) -> dict[str, object]:
    sizes = [len(m.data) for m in messages]
    return {
        "count": len(messages),
        "bytes": sum(sizes),
        "size_mean": statistics.mean(sizes) if sizes else 0,
        "size_min": min(sizes, default=0),
        "size_max": max(sizes, default=0),
        "labels": dict(Counter(m.label for m in messages).most_common()),
        "shapes": dict(Counter(m.shape for m in messages).most_common()),
        "charsets": dict(Counter(m.charset for m in messages).most_common()),
        "ctes": dict(Counter(m.cte for m in messages).most_common()),
        "languages": dict(Counter(m.language for m in messages).most_common()),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=20261127)
    ap.add_argument("--processes", type=int, default=2, help="generate in this many processes (same output)")
    ap.add_argument("--out", type=Path, help="write <n>.eml files and manifest.jsonl into this (new or empty) folder")
    ap.add_argument("--stats", action="store_true", help="parse every message with triage.parsing.parse and tally what it sees")
    args = ap.parse_args(argv)
    import time

    t0 = time.perf_counter()
    messages = generate(args.count, seed=args.seed, processes=args.processes)
    seconds = time.perf_counter() - t0
    info = describe(messages)
    print(json.dumps(info, ensure_ascii=False))
    print(f"generated {len(messages)} messages ({info['bytes'] / 1e6:.1f} MB) in {seconds:.1f} s")
    if args.out:
        out = args.out.resolve()
        if out == FIXTURES.parent or FIXTURES.parent in out.parents:
            raise SystemExit("refusing to write under fixtures/: this is benchmark load, not labelled data")
        out.mkdir(parents=True, exist_ok=True)
        if any(out.iterdir()):
            raise SystemExit(f"{out} is not empty")
        with (out / "manifest.jsonl").open("w", encoding="utf-8") as fh:
            for i, m in enumerate(messages):
                (out / f"{i:05d}_{m.label}.eml").write_bytes(m.data)
                fh.write(json.dumps(m.manifest(), ensure_ascii=False) + "\n")
        print(f"written to {out}")
    if args.stats:
        sys.path.insert(0, str(ROOT))
        from triage.errors import MessageError
        from triage.parsing import parse
        from triage.records import RawMessage

        failures: Counter[str] = Counter()
        signals: Counter[tuple[str, str]] = Counter()
        t0 = time.perf_counter()
        for m in messages:
            try:
                r = parse(RawMessage(m.message_id, m.data))
            except MessageError as exc:
                failures[exc.reason[:80]] += 1
                continue
            kind = "bounce" if r.signals.bounce else "auto_reply" if r.signals.auto_reply else "human"
            signals[(m.label, kind)] += 1
        seconds = time.perf_counter() - t0
        print(f"triage.parsing.parse: {len(messages) / seconds:.0f} msgs/s in this process; failures: {dict(failures) or 'none'}")
        for (label, kind), n in sorted(signals.items()):
            print(f"  {label:15s} parsed as {kind:10s} {n}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Split a reply's text into what the replier wrote, the signature, and the quoted thread.

The rules cover the attribution lines and header blocks of the common clients
in several languages (Gmail "On ... wrote:" and its localised forms including
the Russian date form, Outlook "From:/Sent:" blocks, "-----Original
Message-----", Apple Mail, Thunderbird, Yandex and Mail.ru), ``>`` quoting
with bottom-posting and inline replies, and signatures.

A line that carries an address or a phone is never taken for a signature
delimiter: a bulleted "- Ken Ito, ken.ito@acme.com" is content.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .alternation import first_char_dispatch, ignorecase_fold

# An attribution line ends with one of these (the line may be wrapped in two).
_ATTRIBUTION_END = re.compile(
    r"(wrote|writes|schrieb|schreef|a écrit|a ecrit|escribió|escribio|escreveu|scrisse|ha scritto|skrev|kirjoitti|napisał\(a\)|napisał|napisala|"
    r"pisze|napisał\(a\)|написал\(а\)|написала|написал|писал\(а\)|писала|писал|писали|пишет|пише|wrote on|yazdı)\s*:?\s*$",
    re.I,
)
# the same test at C speed (see triage.alternation): it runs on most lines of every reply
_ATTRIBUTION_END_FOLDED = first_char_dispatch([("", _ATTRIBUTION_END.pattern)], tagged=False)[0]


def _ends_attribution(text: str) -> bool:
    """Whether the last 40 characters of ``text`` end like an attribution line ("... wrote:")."""
    return _ATTRIBUTION_END_FOLDED.search(ignorecase_fold(text[-40:])) is not None


_ATTRIBUTION_START = re.compile(
    r"^\s*(on|am|le|el|em|il|op|den|dnia|w dniu|\d|[a-zа-яё]{2,3}[.,]|понедельник|вторник|среда|четверг|пятница|суббота|воскресенье|"
    r"lunes|martes|miércoles|jueves|viernes|sábado|domingo|montag|dienstag|mittwoch|donnerstag|freitag|samstag|sonntag|"
    r"lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche|[\"'«]?[A-ZА-ЯЁ])",
    re.I,
)
# Gmail's Russian form ends in the address: "вт, 4 мар. 2025 г. в 09:12, Имя <addr>:"
_RU_GMAIL = re.compile(r"\d{4}\s*г\.?.*<[^<>@\s]+@[^<>\s]+>\s*:\s*$")
# Yandex: "04.03.2026, 09:12, "Имя" <addr>:" ; Mail.ru: "..., 9:12 +03:00 от Имя <addr>:"
_DATED_ADDR = re.compile(r"^\s*\S*\d{1,2}[./]\d{1,2}[./]\d{2,4}.*<[^<>@\s]+@[^<>\s]+>\s*:\s*$|\sот\s.*<[^<>@\s]+@[^<>\s]+>\s*:\s*$")
_SEPARATOR = re.compile(
    r"^\s*[-_=*]{2,}\s*("
    r"original message|original-nachricht|ursprüngliche nachricht|message d'origine|message original|mensaje original|"
    r"исходное сообщение|пересылаемое сообщение|messaggio originale|oorspronkelijk bericht|ursprungligt meddelande|"
    r"wiadomość oryginalna|mensagem original|forwarded message|weitergeleitete nachricht|message transféré|mensaje reenviado|"
    r"reply message|reply above this line|eredeti üzenet|původní zpráva|alkuperäinen viesti|orijinal ileti|mesaj original|"
    r"αρχικό μήνυμα|оригінальне повідомлення|вихідне повідомлення|oprindelig meddelelse|opprinnelig melding|原始邮件|元のメッセージ"
    r")\s*[-_=*]{0,}\s*$",
    re.I,
)
_HEADER_FROM = re.compile(
    r"^\s*\*?\s*(from|von|de|от|da|van|från|od|fra|frá|lähettäjä|de la|kimden|feladó|від|από|差出人|发件人|寄件者|보낸 사람)\s*\*?\s*[:：]\s*\*?\s*\S",
    re.I,
)
# Yahoo's HTML puts the attribution and the first quoted line on one line:
# "  Le mar., sept. 29, 2026 à 10:20, Claire Martin<c@k.fr> a écrit :   Bonjour ..."
_ATTRIBUTION_MID = re.compile(
    r"^\s*\S.{5,200}?(?:<[^<>@\s]+@[^<>\s]+>|\d{1,2}:\d{2}).{0,80}?\b(?:wrote|a écrit|escribió|schrieb|ha scritto|escreveu|написал\(а\)|пишет)\s*:\s+\S",
    re.I,
)
_HEADER_NEXT = re.compile(
    r"^\s*\*?\s*(sent|date|gesendet|datum|envoyé|envoye|date d'envoi|enviado|enviado el|fecha|отправлено|дата|inviato|data|verzonden|skickat|"
    r"wysłano|wysłane|enviada|sendt|dato|to|an|à|a|para|кому|aan|till|til|do|subject|betreff|objet|asunto|тема|oggetto|onderwerp|ämne|emne|"
    r"temat|assunto|cc|elküldve|címzett|tárgy|dátum|trimis|către|subiect|odesláno|komu|předmět|lähetetty|vastaanottaja|aihe|"
    r"gönderildi|gönderilme tarihi|kime|konu|στάλθηκε|προς|θέμα|надіслано|відправлено|送信日時|宛先|件名|发送时间|收件人|主题|日期|"
    r"보낸 날짜|받는 사람|제목)\s*\*?\s*[:：]",
    re.I,
)
_QUOTED = re.compile(r"^\s*[\w.]{0,4}>")
# the same test over a whole text at once: a line (of text split at "\n" only) that _QUOTED matches
_QUOTED_LINE = re.compile(r"^[^\S\n]*[\w.]{0,4}>", re.M)
# a line with some text that is not quoted
_OWN_LINE = re.compile(r"^(?![^\S\n]*[\w.]{0,4}>)[^\n]*\S[^\n]*$", re.M)
# The Bat!: "Дмитрий Орлов писал(а) 21.09.2026 10:15:" / "You wrote 21.09.2026:"
# German and Italian Gmail put the writer after the verb: "... um 09:12 Uhr schrieb Lena Vogel <l@k.de>:"
_VERB_THEN_WRITER = re.compile(r"\b(schrieb|ha scritto|scrisse|skrev|schreef|escreveu|wrote)\s+[^<>]{1,80}(<[^<>@\s]+@[^<>\s]+>)?\s*:\s*$", re.I)
_WROTE_DATED = re.compile(r"(писал\(а\)|писали|wrote|schrieb|a écrit)\s+(on\s+)?\d{1,2}[./]\d{1,2}[./]\d{2,4}.*:\s*$", re.I)

_DASHES = re.compile(r"^\s*(--|—|__+|-{3,})\s*$")
_MOBILE = re.compile(
    r"^\s*(sent from my|sent from|get outlook for|envoyé de mon|envoyé depuis|von meinem|gesendet von|enviado desde|enviado do|"
    r"inviato da|verzonden vanaf|skickat från|wysłane z|отправлено с|отправлено из|sent with|sent via)\b",
    re.I,
)
_VALEDICTION = re.compile(
    r"^\s*(best|best regards|kind regards|warm regards|regards|many thanks|thanks|thank you|thx|cheers|all the best|sincerely|"
    r"yours|cordially|br|rgds|tschüss|mit freundlichen grüßen|mit freundlichen grüssen|freundliche grüße|beste grüße|viele grüße|"
    r"liebe grüße|lg|vg|mfg|gruß|grüße|herzliche grüße|cordialement|bien cordialement|bien à vous|salutations|merci|bonne journée|"
    r"saludos|un saludo|saludos cordiales|atentamente|gracias|un abrazo|с уважением|спасибо|всего доброго|всего хорошего|"
    r"distinti saluti|cordiali saluti|met vriendelijke groet|groeten|med vänliga hälsningar|hälsningar|pozdrawiam|z poważaniem|"
    r"atenciosamente|abraços|obrigado|obrigada|"
    r"best wishes|warmly|warm wishes|talk soon|speak soon|thanks again|many thanks again|thanks so much|with thanks|kr|"
    r"danke|besten dank|schöne grüße|schöne grüsse|grüsse|viele grüsse|liebe grüsse|beste grüsse|freundliche grüsse|mit besten grüßen|"
    r"amitiés|bises|bonne soirée|merci d'avance|un cordial saludo|cordialmente|muchas gracias|saludos!|"
    r"groet|groetjes|hartelijke groet|vriendelijke groet|met vriendelijke groeten|mvg|"
    r"med venlig hilsen|venlig hilsen|med vennlig hilsen|vennlig hilsen|hilsen|mvh|vänliga hälsningar|"
    r"saluti|un saluto|grazie|grazie mille|buona giornata|pozdrowienia|"
    r"abraço|um abraço|att|atte|с наилучшими пожеланиями|всего наилучшего|"
    r"よろしくお願いします|よろしくお願いいたします|敬具)\s*[,.!]*\s*$",
    re.I,
)
_CARRIES_CONTACT = re.compile(r"@|\+?\d[\d\s().-]{6,}\d")


@dataclass(frozen=True)
class Split:
    """The three parts of a reply's text."""

    new_text: str
    signature: str
    quoted: str


def _is_attribution(lines: list[str], i: int) -> int:
    """Return how many lines the attribution at ``i`` spans (0 if none).

    Most lines are plainly not attributions; the cheap tests come first
    because this runs on every line of every reply.
    """
    line = lines[i].strip()
    if not line or len(line) > 300:
        return 0
    nxt = lines[i + 1].strip() if i + 1 < len(lines) else ""
    if ":" not in line and line[0] not in "-_=*" and ":" not in nxt and not _ends_attribution(line):
        return 0
    if _SEPARATOR.match(line):
        return 1
    starts = _ATTRIBUTION_START.match(line) is not None
    if ":" in line:
        if _RU_GMAIL.search(line) or _DATED_ADDR.search(line) or _WROTE_DATED.search(line):
            return 1
        if starts and _VERB_THEN_WRITER.search(line) and re.search(r"\d", line):
            return 1
        if starts and _ATTRIBUTION_MID.match(line):
            return 1
    if starts and len(line) > 8 and _ends_attribution(line):
        return 1
    # Gmail and others wrap long attributions: "On Tue, ... Sam Carter <\nsam@x.io> wrote:"
    # Gmail may wrap right before the closing bracket: "... <lena@kontora.de\n>:" (that ">" is no quote)
    wrapped_bracket = bool(re.fullmatch(r">\s*:", nxt)) and "<" in line
    if starts and nxt and (wrapped_bracket or not _QUOTED.match(lines[i + 1])):
        joined = line + ("" if wrapped_bracket else " ") + nxt
        if len(joined) < 300 and (
            _ends_attribution(joined) or _RU_GMAIL.search(joined) or _DATED_ADDR.search(joined)
            or (_VERB_THEN_WRITER.search(joined) and re.search(r"\d", joined))
        ):
            return 2
    if ":" in line and _HEADER_FROM.match(line):
        following = [ln for ln in lines[i + 1 : i + 6] if ln.strip()]
        if sum(1 for ln in following[:4] if _HEADER_NEXT.match(ln)) >= 1:
            return 1
    return 0


def _name_words(name: str) -> set[str]:
    return {w.casefold() for w in re.findall(r"[^\W\d_]{2,}", name)}


def _is_sender_line(line: str, sender: set[str]) -> bool:
    """A short line that is the sender's name: "Bob", "Bob Smith", "Smith Bob, CFO", "-- Bob"."""
    words = re.findall(r"[^\W\d_]{2,}", line.split("|")[0].split(",")[0])
    if not words or len(words) > 4 or len(line.strip()) > 60:
        return False
    folded = {w.casefold() for w in words}
    return bool(folded & sender) and len(folded - sender) <= 1 and not _CARRIES_CONTACT.search(line.split("|")[0])


def _find_signature(lines: list[str], sender_name: str = "", *, after: int = 0) -> int | None:
    """Index where the signature starts in ``lines`` (the new text), if any.

    ``after``: where the last answer starts when the replier answered between
    quoted lines; a sign-off above it ("LG Elisabeth" before the inline
    answers) does not end the new text.
    """
    first_content = next((i for i, ln in enumerate(lines) if ln.strip()), None)
    if first_content is None:
        return None
    # A signature starts at the first of: a delimiter ("--", "___") or a mobile client's
    # line, the last valediction, the sender's own name on a line of its own.  Each may be
    # missing, and a client's delimiter often comes after the person's own sign-off
    # ("Wei Ling\n\nTan Wei Ling | Head of ...\n\nGet Outlook for iOS").
    found = len(lines)
    for i, line in enumerate(lines):
        if (i > first_content and _DASHES.match(line)) or (_MOBILE.match(line) and len(line) < 80):
            found = i
            break
    for i in range(found - 1, max(first_content, after - 1), -1):
        line = lines[i]
        if _VALEDICTION.match(line) and not _CARRIES_CONTACT.search(line):
            found = i
            break
    sender = _name_words(sender_name)
    if sender:
        for i in range(max(first_content + 1, after), found):
            if _is_sender_line(lines[i], sender) and not lines[i - 1].strip().endswith((",", ":")) or (
                _is_sender_line(lines[i], sender) and i == len(lines) - 1
            ):
                found = i
                break
    return found if found < len(lines) else None


def _inline(quoted: list[str]) -> bool:
    """Inline answers: the replier's lines between ``>`` lines after the attribution.

    True when, after the first ``>`` line, a line of the replier's own (not a
    header block or another attribution) is followed by another ``>`` line.
    The lines are searched as one text: long quoted threads are common.
    """
    text = "\n".join(quoted[1:])
    first = _QUOTED_LINE.search(text)
    if first is None:
        return False
    own_lines = list(_OWN_LINE.finditer(text, first.end()))
    for i, own in enumerate(own_lines):
        line = own.group()
        if _HEADER_FROM.match(line) or _is_attribution([line], 0):
            return False
        later_quote = _QUOTED_LINE.search(text, own.end())
        if later_quote is None:
            return False
        if i + 1 == len(own_lines) or later_quote.start() < own_lines[i + 1].start():
            return True
    return False


def split_reply(text: str, *, sender_name: str = "") -> Split:
    """Split ``text`` into new text, signature and quoted thread.

    >>> s = split_reply("Talk to Jane.\\n\\nBest,\\nBob\\n\\nOn Tue, Mar 4, 2025 at 9:12 AM Sam <s@x.io> wrote:\\n> Hi")
    >>> s.new_text, s.signature.splitlines()[0], s.quoted.splitlines()[0]
    ('Talk to Jane.', 'Best,', 'On Tue, Mar 4, 2025 at 9:12 AM Sam <s@x.io> wrote:')
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    start = None
    span = 0
    last_answer = 0
    for i in range(len(lines)):
        span = _is_attribution(lines, i)
        if span:
            start = i
            break
        if _QUOTED.match(lines[i]):
            break
    quote_at = _QUOTED_LINE.search(text)
    first_quote = text.count("\n", 0, quote_at.start()) if quote_at else None
    before_has_text = start is not None and any(ln.strip() for ln in lines[:start])

    if start is not None and before_has_text and not _inline(lines[start:]):
        own, quoted = lines[:start], lines[start:]
    elif first_quote is not None and (start is None or start <= first_quote):
        # bottom-posting or inline replies: what is not quoted is new
        skip = set(range(start, start + span)) if start is not None else set()
        is_quoted = [i in skip or _QUOTED.match(ln) is not None for i, ln in enumerate(lines)]
        own = [ln for ln, q in zip(lines, is_quoted) if not q]
        quoted = [ln for ln, q in zip(lines, is_quoted) if q]
        # answers below the last quoted line: a sign-off above them is not the signature
        last_quoted = max(i for i, q in enumerate(is_quoted) if q)
        if any(ln.strip() for ln in lines[last_quoted + 1 :]):
            last_answer = sum(1 for q in is_quoted[:last_quoted] if not q)
        # a header block (Outlook) after the quote ends everything that follows
        for j in range(len(own)):
            if _is_attribution(own, j):
                quoted = own[j:] + quoted
                own = own[:j]
                break
    elif start is not None:
        own, quoted = [], lines[start:]
    else:
        own, quoted = lines, []

    sig_at = _find_signature(own, sender_name, after=min(last_answer, len(own)))
    signature: list[str] = []
    if sig_at is not None:
        own, signature = own[:sig_at], own[sig_at:]
    return Split(
        new_text="\n".join(own).strip(),
        signature="\n".join(signature).strip(),
        quoted="\n".join(quoted).strip(),
    )

"""Who the reply points to: name, email, phone and title of the referred contact.

Sources, in order of trust: the new text the replier wrote, the Cc header (a
colleague the replier copied in), an attached vCard.  Never the replier's own
signature, never our own SDR from the quoted outreach.

Email addresses are checked with email-validator (offline, no DNS), phone
numbers are read with phonenumbers in the region of the replier's country
(from their domain, else from their signature's number) and written in E.164.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from . import names
from .quotes import split_reply
from .records import Contact, Reply

_EMAIL = re.compile(r"(?<![\w.+-])([A-Za-z0-9][A-Za-z0-9._%+'-]*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})")
_OBFUSCATED = re.compile(
    r"\b([a-z0-9][a-z0-9._-]*(?:\s*(?:\[dot\]|\(dot\)|\bdot\b)\s*[a-z0-9_-]+)*)\s*(?:\[at\]|\(at\)|\{at\}|\bat\b)\s*"
    # a plain "." joins only without spaces: ". Su extensión" ends the sentence, not the domain
    r"([a-z0-9-]+(?:(?:\s*(?:\[dot\]|\(dot\)|\bdot\b)\s*|\.)[a-z0-9-]+)+)\b",
    re.I,
)
_DOT = re.compile(r"\s*(?:\[dot\]|\(dot\)|\bdot\b)\s*", re.I)

# Domains whose region is not their own name in capitals: any other two-letter country domain
# gives its region directly (region_for), unless companies anywhere use it (_GENERIC_TLDS).
_TLD_REGION = {
    "uk": "GB", "su": "RU", "рф": "RU",
    "cat": "ES", "eus": "ES", "gal": "ES", "bzh": "FR", "paris": "FR", "scot": "GB", "wales": "GB", "london": "GB", "quebec": "CA",
    "berlin": "DE", "bayern": "DE", "hamburg": "DE", "koeln": "DE", "wien": "AT", "swiss": "CH", "moscow": "RU", "tokyo": "JP",
}

_PLUS_NUMBER = re.compile(r"[+\uff0b][\d\s().\-\u00a0]{6,}\d")
# country domains used by companies anywhere (start-ups, media): they say nothing of a phone's country
_GENERIC_TLDS = frozenset("io ai me tv fm ly gg to ws cc la sh ac so im vc gl ms nu tk ag sc gd ht".split())

_TITLE_WORDS = re.compile(
    r"\b(head of [\w &/-]+|vp(?: of)? [\w &/-]+|vice president[\w &/,-]*|director of [\w &/-]+|[\w-]+ director|[\w&/ -]{0,30}manager|"
    r"chief [\w ]+ officer|ceo|cfo|coo|cto|cro|controller|leiter(?:in)? [\w &/-]+|responsable [\w éèàç&/'-]+|directeur [\w éèàç&/'-]+|"
    r"directora? de [\w áéíóú&/-]+|gerente de [\w áéíóú&/-]+|jef[ae] de [\w áéíóú&/-]+|руководитель [\w ]+|директор [\w ]+)",
    re.I,
)


_strip_accents = names.strip_accents


def domain_region(address: str) -> str | None:
    """The phone region an address's domain names, if it names one."""
    domain = address.rpartition("@")[2].lower()
    tld = domain.rsplit(".", 1)[-1] if domain else ""
    if tld in _TLD_REGION:
        return _TLD_REGION[tld]
    if len(tld) == 2 and tld not in _GENERIC_TLDS and tld.upper() in phonenumbers.SUPPORTED_REGIONS:
        return tld.upper()  # any other country's domain: .ng, .ke, .vn...
    return None


def region_for(reply: Reply, default: str = "US") -> str:
    """The phone region to assume for numbers written without a country prefix."""
    region = domain_region(reply.from_addr)
    if region is not None:
        return region
    signature = reply.signature or ""
    if "+" not in signature and "\uff0b" not in signature:
        # without a default region phonenumbers reads only numbers written with a plus sign
        return default
    # the country code is all that is needed here: a number need not be valid to give it
    # ("+234 1 270 4415", a Lagos line one digit short, still says Nigeria)
    for written in _PLUS_NUMBER.findall(signature):
        try:
            number = phonenumbers.parse(written, None)
        except phonenumbers.NumberParseException:
            continue
        region = phonenumbers.region_code_for_number(number)
        if (not region or region == "ZZ") and number.country_code:
            region = phonenumbers.region_code_for_country_code(number.country_code)
        if region and region != "ZZ":
            return region
    return default


def normalise_email(candidate: str) -> str | None:
    """The address in normal form, or ``None`` if it is not a valid address (offline check)."""
    try:
        result = validate_email(candidate.strip(".,;:()<>[]'\""), check_deliverability=False)
    except EmailNotValidError:
        return None
    return str(result.normalized).lower()


# Every obfuscated address has one of these "at"s; a text without any is not searched for them.
_OBFUSCATED_AT = re.compile(r"\[at\]|\(at\)|\{at\}|\bat\b", re.I)


def find_emails(text: str) -> list[tuple[str, int]]:
    """Addresses in ``text`` (plain and obfuscated), with their offsets, in order."""
    found: list[tuple[str, int]] = []
    for m in _EMAIL.finditer(text):
        addr = normalise_email(m.group(1))
        if addr:
            found.append((addr, m.start(1)))
    if not _OBFUSCATED_AT.search(text):
        found.sort(key=lambda item: item[1])
        return found
    for m in _OBFUSCATED.finditer(text):
        if "@" in m.group(0) or text[m.end() : m.end() + 1] == "@":
            continue
        local = _DOT.sub(".", m.group(1)).replace(" ", "")
        domain = _DOT.sub(".", m.group(2)).replace(" ", "")
        if "." not in domain:
            continue
        addr = normalise_email(f"{local}@{domain}")
        if addr and not any(a == addr for a, _ in found):
            found.append((addr, m.start()))
    found.sort(key=lambda item: item[1])
    return found


@dataclass(frozen=True)
class Phone:
    e164: str
    extension: str | None
    start: int
    raw: str


#: the fewest digits of any valid number in phonenumbers' metadata (Niue, Saint Helena...); a text
#: with fewer holds no phone, and the matcher costs ~150 µs on a reply even when it finds nothing
MIN_PHONE_DIGITS = 4
_DIGIT = re.compile(r"\d")  # every Unicode digit, as the matcher reads them
_DATE_LIKE = re.compile(r"\d{1,2}([./])\d{1,2}\1(?:\d{4}|\d{2})|\d{4}-\d{2}-\d{2}")


def _iter_phones(text: str, region: str) -> Iterator[Phone]:
    if not any(n >= MIN_PHONE_DIGITS for n, _ in enumerate(_DIGIT.finditer(text), 1)):
        return
    for match in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.VALID):
        if _DATE_LIKE.fullmatch(match.raw_string):
            continue  # "bis einschließlich 04.12.2026" is a valid German number, and a date
        number = match.number
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        yield Phone(e164, number.extension or None, match.start, match.raw_string)


def find_phones(text: str, region: str) -> list[Phone]:
    """Valid phone numbers in ``text``, read in ``region`` when they have no prefix."""
    return list(_iter_phones(text, region))


_ROLE_ADDRESS = re.compile(r"(info|sales|support|admin|office|contact|hello|team|accounts|purchasing|billing|ap|invoices?|orders|reception)@")


def _is_own(name: str, own: set[str]) -> bool:
    """The replier's own name (or a part of it) is never the referred person."""
    words = {_strip_accents(w) for w in name.split()}
    return bool(words) and words <= own


def _own_names(reply: Reply) -> set[str]:
    names = {_strip_accents(reply.from_name)} if reply.from_name else set()
    for token in reply.from_name.replace(",", " ").split():
        if len(token) > 2:
            names.add(_strip_accents(token))
    return names


_FOLDED = re.compile(r"\r?\n[ \t]")
_CYRILLIC = re.compile("[а-яё]", re.I)
_NON_DIGITS = re.compile(r"\D+")  # removes what r"\D" removes, a run at a time
_CC_CUE = re.compile(r"\bcc\b|cc'd|copied|copying|copy|in kopie|in cc|en copie|copio|в копи", re.I)


def _quotes_us(quoted: str, addresses: Iterable[str]) -> bool:
    """One of our ``addresses`` (lower case) is in the quoted text, whatever its case there."""
    if any(a and a == a.casefold() and a in quoted for a in addresses):
        return True  # found as written: no need to case-fold the whole thread
    folded = quoted.casefold()
    return any(a and a in folded for a in addresses)


def _parse_vcard(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in _FOLDED.sub("", text).splitlines():
        key, _, value = line.partition(":")
        key = key.split(";")[0].upper()
        if key in ("FN", "EMAIL", "TEL", "TITLE") and key not in fields and value.strip():
            fields[key] = value.strip()
    return fields


def extract_contact(
    reply: Reply,
    *,
    ours: Iterable[str] = (),
    default_region: str = "US",
    recognised: Callable[[], Sequence[names.Candidate]] = lambda: (),
    region: str | None = None,
    prepared: PreparedContact | None = None,
) -> Contact | None:
    """The person ``reply`` refers us to, or ``None`` when it names nobody.

    ``ours`` are our own addresses (the outreach mailbox, the SDRs): never a
    contact.  ``recognised`` gives the names an entity recogniser finds in the
    new text; it is asked only when the rules find nobody.  ``region`` is
    :func:`region_for` of the reply when the caller has it already, and
    ``prepared`` the :func:`prepare_contact` of the same reply and arguments.
    """
    if prepared is None:
        prepared = prepare_contact(reply, ours=ours, default_region=default_region, region=region)
    text, region, own_addrs, own_names = prepared.text, prepared.region, prepared.own_addrs, prepared.own_names
    spans: dict[str, str] = {}

    emails = prepared.emails
    phones = _first_phone(reply, text, region, own_addrs)
    name: str | None = None
    email: str | None = None

    cues = prepared.cues
    if not cues:
        cues = [c for c in recognised() if not _is_own(c.name, own_names)]
    chosen: names.Candidate | None = None
    if emails:
        # the address the reply points to: the one that fits a cued name, else the first personal one
        best: tuple[str, names.Candidate | None] | None = None
        near_of: dict[int, list[names.Candidate]] = {}  # names.near of each address tried, for the fallback
        for addr, pos in emails:
            near_of[pos] = names.near(text, pos)
            candidates = cues + near_of[pos]
            scored = sorted(((names.address_fit(c.name, addr), -abs(c.position - pos), i) for i, c in enumerate(candidates)), reverse=True)
            if scored and scored[0][0] > 0:
                best = (addr, candidates[scored[0][2]])
                break
        if best is None:
            personal = [e for e in emails if not _ROLE_ADDRESS.match(e[0])]
            addr, pos = (personal or emails)[0]
            near = [c for c in near_of[pos] if abs(c.position - pos) < 80]
            best = (addr, cues[0] if cues else near[0] if near else None)
        email, chosen = best
        spans["email"] = email
        if chosen is not None:
            name = chosen.name
    elif cues:
        chosen = cues[0]
        name = chosen.name
    if chosen is not None and name and _CYRILLIC.search(name):
        name = names.russian_nominative(name, chosen.case)
    if name:
        spans["name"] = name

    # a colleague copied in: "I've cc'd Bob"
    if email is None:
        for cc_name, cc_addr in reply.cc:
            if cc_addr in own_addrs:
                continue
            cc_name = names.from_display_name(cc_name)
            first = cc_name.split()[0] if cc_name.split() else ""
            if _CC_CUE.search(text) or (first and first in text):
                email = cc_addr
                spans["email"] = f"Cc: {cc_addr}"
                if cc_name and (name is None or (first and name.split()[0] == first)):
                    name = cc_name.strip().strip('"')
                    spans["name"] = f"Cc: {cc_name}"
                break

    for vcard in reply.vcards:
        fields = _parse_vcard(vcard)
        if fields.get("FN") and not name:
            name = fields["FN"]
            spans["name"] = "vCard FN"
        if fields.get("EMAIL") and not email:
            email = normalise_email(fields["EMAIL"])
            spans["email"] = "vCard EMAIL"
        if fields.get("TEL") and not phones:
            phones = find_phones(fields["TEL"], region)

    phone = None
    if phones:
        phone = phones[0].e164
        spans["phone"] = phones[0].raw

    title = None
    if name:
        idx = text.find(name.split()[0])
        window = text[max(0, idx - 60) : idx + len(name) + 80] if idx >= 0 else ""
        m = _TITLE_WORDS.search(window)
        if m:
            title = m.group(1).strip(" ,.")
    contact = Contact(name=name, email=email, phone=phone, title=title, spans=spans)
    if not (contact.name or contact.email):
        # last in trust: a colleague's message the replier forwarded to us ("see Darren's note below")
        forwarded = _colleague_forward(reply)
        if forwarded is not None:
            found = extract_contact(forwarded, ours=[*own_addrs], default_region=default_region)
            if found is not None:
                spans = {k: f"forwarded from {forwarded.from_addr}: {v}" for k, v in found.spans.items()}
                return dataclasses.replace(found, spans=spans)
    return None if contact.empty else contact


@dataclass(frozen=True)
class PreparedContact:
    """The rule-based first half of :func:`extract_contact`, made by :func:`prepare_contact`."""

    text: str
    region: str
    own_addrs: set[str]
    own_names: set[str]
    emails: list[tuple[str, int]]
    cues: list[names.Candidate]

    @property
    def needs_names(self) -> bool:
        """The rules found no name: :func:`extract_contact` will ask ``recognised`` for some."""
        return not self.cues


def prepare_contact(reply: Reply, *, ours: Iterable[str] = (), default_region: str = "US", region: str | None = None) -> PreparedContact:
    """The addresses and the cued names of ``reply``: what :func:`extract_contact` finds before it asks ``recognised``.

    Apart so that a caller can ask an entity recogniser about many replies at
    once, for those whose ``needs_names``, and then pass ``prepared=``.
    """
    text = reply.new_text or ""
    own_addrs = {reply.from_addr} | {a.lower() for a in ours} | set(reply.to)
    own_names = _own_names(reply)
    emails = [(a, pos) for a, pos in find_emails(text) if a not in own_addrs]
    cues = [c for c in names.after_cues(text) + names.leading(text) if not _is_own(c.name, own_names)]
    cues.sort(key=lambda c: (c.position, -c.strength))
    region = region_for(reply, default_region) if region is None else region
    return PreparedContact(text, region, own_addrs, own_names, emails, cues)


def _first_phone(reply: Reply, text: str, region: str, own_addrs: set[str]) -> list[Phone]:
    """The first number of ``text`` that is not ours: a list of one, or empty."""
    # The replier's own number sits in the signature, which is not searched.  Our SDR's
    # number sits in the quoted outreach: a number of the new text that is also there is
    # ours, leaked through a client's odd quoting.  (Digits are compared, not parsed:
    # phonenumbers over a long quoted thread is the slowest step of extraction.)  Only
    # the first number that is not ours is used, so the search stops there, and the
    # quoted thread is only looked at once the new text has a number.
    ours_quoted: str | None = None
    for phone in _iter_phones(text, region):
        if ours_quoted is None:
            quoted = reply.quoted
            ours_quoted = _NON_DIGITS.sub("", quoted) if _quotes_us(quoted, own_addrs - {reply.from_addr}) else ""
        if not (ours_quoted and phone.e164[-8:] in ours_quoted):
            return [phone]
    return []


_FORWARD_FROM = re.compile(r"^[ \t]*\*?(?:from|von|de|от|da|van)\s*:\*?\s*(.*?)\s*<?([\w.+'-]+@[\w-]+(?:\.[\w-]+)+)>?\s*$", re.I)


def _colleague_forward(reply: Reply) -> Reply | None:
    """The message of a colleague (same domain as the replier) at the top of the quoted part, as a reply."""
    lines = reply.quoted.split("\n")
    for index, line in enumerate(lines[:12]):
        m = _FORWARD_FROM.match(line)
        if m is None:
            continue
        addr = m.group(2).lower()
        if addr == reply.from_addr or addr.partition("@")[2] != reply.from_addr.partition("@")[2]:
            return None
        rest = "\n".join(lines[index + 1 :])
        body = rest.split("\n\n", 1)[1] if "\n\n" in rest else ""
        sender = m.group(1).strip().strip('"')
        split = split_reply(body, sender_name=sender)
        return dataclasses.replace(
            reply, from_name=sender, from_addr=addr, new_text=split.new_text, signature=split.signature,
            quoted=split.quoted + "\n" + reply.signature, cc=(), vcards=(),
        )
    return None


_PATTERNS: dict[str, Callable[[str, str], str]] = {
    "first.last": lambda f, l: f"{f}.{l}",
    "f.last": lambda f, l: f"{f[0]}.{l}",
    "flast": lambda f, l: f"{f[0]}{l}",
    "firstlast": lambda f, l: f"{f}{l}",
    "first_last": lambda f, l: f"{f}_{l}",
    "first-last": lambda f, l: f"{f}-{l}",
    "firstl": lambda f, l: f"{f}{l[0]}",
    "last.first": lambda f, l: f"{l}.{f}",
    "first": lambda f, l: f,
    "last": lambda f, l: l,
}


def _first_last(name: str) -> tuple[str, str] | None:
    parts = [names.ascii_letters(p) for p in name.split() if p.lower() not in names.PARTICLES]
    parts = [p for p in parts if p]
    return (parts[0], parts[-1]) if len(parts) >= 2 else None


def guess_address(name: str, replier_addr: str, replier_name: str = "") -> str | None:
    """Propose an address for ``name`` from the pattern of the replier's own address.

    The pattern (first.last, flast, first...) is the one that rebuilds the
    replier's own address from the replier's own name; without that name,
    the separator in the address decides.

    >>> guess_address("Jane Doe", "bob.smith@acme.com", "Bob Smith")
    'jane.doe@acme.com'
    >>> guess_address("Jane Doe", "bsmith@acme.com", "Bob Smith")
    'jdoe@acme.com'
    >>> guess_address("Jane Doe", "bob@acme.com", "Bob Smith")
    'jane@acme.com'
    """
    referred = _first_last(name)
    local, _, domain = replier_addr.lower().partition("@")
    if referred is None or not domain:
        return None
    replier = _first_last(replier_name)
    pattern = None
    if replier:
        pattern = next((key for key, make in _PATTERNS.items() if make(*replier) == local), None)
    if pattern is None:
        pattern = "first.last" if "." in local else "first_last" if "_" in local else None
    if pattern is None:
        return None
    return normalise_email(f"{_PATTERNS[pattern](*referred)}@{domain}")

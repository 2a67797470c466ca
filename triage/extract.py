"""Who the reply points to: name, email, phone and title of the referred contact.

Sources, in order of trust: the new text the replier wrote, the Cc header (a
colleague the replier copied in), an attached vCard.  Never the replier's own
signature, never our own SDR from the quoted outreach.

Email addresses are checked with email-validator (offline, no DNS), phone
numbers are read with phonenumbers in the region of the replier's country
(from their domain, else from their signature's number) and written in E.164.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from .records import Contact, Reply

_EMAIL = re.compile(r"(?<![\w.+-])([A-Za-z0-9][A-Za-z0-9._%+'-]*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})")
_OBFUSCATED = re.compile(
    r"\b([a-z0-9][a-z0-9._-]*(?:\s*(?:\[dot\]|\(dot\)|\bdot\b)\s*[a-z0-9_-]+)*)\s*(?:\[at\]|\(at\)|\{at\}|\bat\b)\s*"
    r"([a-z0-9-]+(?:\s*(?:\[dot\]|\(dot\)|\bdot\b|\.)\s*[a-z0-9-]+)+)\b",
    re.I,
)
_DOT = re.compile(r"\s*(?:\[dot\]|\(dot\)|\bdot\b)\s*", re.I)

_TLD_REGION = {
    "uk": "GB", "ie": "IE", "de": "DE", "at": "AT", "ch": "CH", "fr": "FR", "be": "BE", "es": "ES", "it": "IT", "nl": "NL",
    "pt": "PT", "pl": "PL", "se": "SE", "no": "NO", "dk": "DK", "fi": "FI", "ru": "RU", "ua": "UA", "by": "BY", "kz": "KZ",
    "mx": "MX", "ar": "AR", "cl": "CL", "co": "CO", "pe": "PE", "br": "BR", "ca": "CA", "au": "AU", "nz": "NZ", "in": "IN",
    "sg": "SG", "jp": "JP", "cn": "CN", "hk": "HK", "za": "ZA", "il": "IL", "tr": "TR", "cz": "CZ", "sk": "SK", "hu": "HU",
    "ro": "RO", "gr": "GR", "lu": "LU", "us": "US", "my": "MY", "ph": "PH", "id": "ID", "ae": "AE", "ve": "VE", "uy": "UY",
    "ec": "EC", "bo": "BO", "py": "PY", "cr": "CR", "gt": "GT", "do": "DO", "pa": "PA", "su": "RU", "рф": "RU",
}

# Words that introduce the referred person, in the languages we serve.
_CUE = (
    r"(?:contact|talk (?:to|with)|speak (?:to|with)|chat (?:to|with)|reach out to|reach|ask|email|e-mail|write to|get in touch with|"
    r"try|ping|call|go to|loop(?:ing)? in|cc'?d|cc'?ing|copied|copying|copy|forwarded (?:this |your (?:email|note|message) )?to|"
    r"the (?:right |best )?(?:person|contact|one)(?: (?:you want|to (?:talk|speak) to|for this|for that|you need|to ask))? is|"
    r"you(?:'ll| will)? (?:want|need)|your (?:best )?(?:bet|contact) is|successor(?: is)?|replacement(?: is)?|"
    r"taken over by|handled by|owned by|managed by|run by|is with|over to|"
    r"wenden sie sich (?:bitte )?an|wende dich an|melden sie sich (?:bitte )?bei|ansprechpartner(?:in)? (?:ist|wäre)|zuständig ist|"
    r"kontaktieren sie|an (?:meine[n]? )?(?:kolleg(?:en|in)|nachfolger(?:in)?)|nachfolger(?:in)? (?:ist|als [^:,.]+ ist)|in cc gesetzt|in kopie|"
    r"contactez|contacter|adressez-vous à|voyez avec|la bonne personne est|le bon interlocuteur est|mon successeur(?: est)?|"
    r"je mets en copie|en copie|hable con|habla con|contacte a|contacta a|contactá a|escriba a|escribe a|escríbale a|le paso el contacto de|"
    r"la persona (?:indicada|encargada) es|mi suce(?:sor|sora)(?: es)?|copio a|"
    r"обратитесь к|обращайтесь к|пишите|напишите|свяжитесь с|звоните|позвоните|спросите|вам нужен|вам нужна|вам к|это к|"
    r"contatti|scriva a|contattare|rivolgersi a|neem contact op met|kontakta|skontaktuj się z|entre em contato com|fale com)"
)
_HONORIFIC = r"(?:(?:mr|mrs|ms|miss|herrn?|frau|m|mme|madame|monsieur|mlle|sr|sra|srta|don|doña|ing|lic|dott|dott\.ssa|stb|ir|г-н|г-жа|mgr|inż)\.?\s+)*"
_PARTICLES = frozenset("van von der den de la le du da di del dos das do ter ten zu y bin al el mc st.".split())
_STOP_NAMES = frozenset(
    "I We He She They It The Our My Your His Her Their This That Please Thanks Thank Hi Hello Dear Best Regards Kind Sales Team Finance "
    "Procurement Operations Marketing Accounts Head VP CEO CFO COO CTO IT HR Director Manager Monday Tuesday Wednesday Thursday Friday "
    "Saturday Sunday January February March April May June July August September October November December LinkedIn Email Phone "
    "Mobile Tel Herr Frau Herrn Mr Mrs Ms Dr Sie Ihr Ihre Er Ich Wir Il Elle Vous Nous Je Él Ella Usted Он Она Вы Мы Я Если "
    "Office Support Admin Team Gmail Outlook US UK EU Group CPA AP AR".split()
)
_TITLE_WORDS = re.compile(
    r"\b(head of [\w &/-]+|vp(?: of)? [\w &/-]+|vice president[\w &/,-]*|director of [\w &/-]+|[\w-]+ director|[\w&/ -]{0,30}manager|"
    r"chief [\w ]+ officer|ceo|cfo|coo|cto|cro|controller|leiter(?:in)? [\w &/-]+|responsable [\w éèàç&/'-]+|directeur [\w éèàç&/'-]+|"
    r"directora? de [\w áéíóú&/-]+|gerente de [\w áéíóú&/-]+|jef[ae] de [\w áéíóú&/-]+|руководитель [\w ]+|директор [\w ]+)",
    re.I,
)


def _strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)).lower()


def region_for(reply: Reply, default: str = "US") -> str:
    """The phone region to assume for numbers written without a country prefix."""
    domain = reply.from_addr.rpartition("@")[2].lower()
    tld = domain.rsplit(".", 1)[-1] if domain else ""
    if tld in _TLD_REGION:
        return _TLD_REGION[tld]
    for match in phonenumbers.PhoneNumberMatcher(reply.signature or "", None):
        region = phonenumbers.region_code_for_number(match.number)
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


def find_emails(text: str) -> list[tuple[str, int]]:
    """Addresses in ``text`` (plain and obfuscated), with their offsets, in order."""
    found: list[tuple[str, int]] = []
    for m in _EMAIL.finditer(text):
        addr = normalise_email(m.group(1))
        if addr:
            found.append((addr, m.start(1)))
    for m in _OBFUSCATED.finditer(text):
        if "@" in m.group(0):
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


def find_phones(text: str, region: str) -> list[Phone]:
    """Valid phone numbers in ``text``, read in ``region`` when they have no prefix."""
    phones = []
    for match in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.VALID):
        number = match.number
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        phones.append(Phone(e164, number.extension or None, match.start, match.raw_string))
    return phones


def _name_tokens(text: str) -> list[str]:
    """The run of capitalised name words at the start of ``text``."""
    tokens: list[str] = []
    text = text.split("\n", 1)[0].lstrip(" \t")  # a name does not run across lines
    for raw in re.findall(r"[^\s,;:()<>\[\]\"|/]+", text)[:8]:
        word = raw.strip(".!?")
        if word.endswith(("'s", "’s")):
            word = word[:-2]
            raw = word + "."
        if not word:
            break
        if word.lower() in _PARTICLES and tokens:
            tokens.append(word)
            continue
        first = word[0]
        if first.isupper() and word not in _STOP_NAMES and not any(ch.isdigit() for ch in word) and "@" not in word:
            tokens.append(word)
            if raw.endswith((".", "!", "?")) and len(word) > 1:
                break
            continue
        break
    while tokens and tokens[-1].lower() in _PARTICLES:
        tokens.pop()
    return tokens[:5]


def _after_cue(text: str) -> list[tuple[str, int]]:
    """Names that follow a referral cue, with their offsets."""
    names = []
    pattern = re.compile(_CUE + r"[\s:,]+(?:(?:our|my|unsere[nm]?|notre|nuestr[oa]|наш[уае]?|моему?|моей)\s+[^,]{0,40},\s*)?" + _HONORIFIC, re.I)
    for m in pattern.finditer(text):
        tokens = _name_tokens(text[m.end() : m.end() + 80])
        if tokens:
            names.append((" ".join(tokens), m.end()))
    return names


def _leading_names(text: str) -> list[tuple[str, int]]:
    """``Jane Doe is the one``, ``Tony Russo runs sales ops``, ``Dave Ng — dave@...``."""
    out = []
    verbs = re.compile(
        r"\s*(?:is|runs|handles|heads|owns|looks after|manages|leads|takes care|does|would be|should be|will be|in our|from our|"
        r"—|–|-|<|\(|,\s*(?:our|my|who|she|he)|ist|est|es|leitet|gère|lleva|ведёт|ведет|отвечает|занимается)\b",
        re.I,
    )
    for m in re.finditer(r"(?:^|(?<=[.!?:\n]))\s*" + _HONORIFIC, text, re.I):
        tokens = _name_tokens(text[m.end() : m.end() + 80])
        if len(tokens) >= 2 or (tokens and len(tokens[0]) > 2):
            name = " ".join(tokens)
            rest = text[m.end() + len(name) : m.end() + len(name) + 30]
            if verbs.match(rest) and len(tokens) >= 1:
                out.append((name, m.end()))
    return out


def _names_near(text: str, pos: int) -> list[tuple[str, int]]:
    """Capitalised name runs in the 160 characters before ``pos``."""
    start = max(0, pos - 160)
    window = text[start:pos]
    out = []
    for m in re.finditer(r"(?<![\w'’-])[A-ZÀ-ÖØ-ÞА-ЯЁ]", window):
        tokens = _name_tokens(window[m.start() :])
        if len(tokens) >= 2:
            out.append((" ".join(tokens), start + m.start()))
    return out


def _matches_address(name: str, addr: str) -> int:
    """How well ``name`` fits the local part of ``addr`` (0 = not at all)."""
    local = re.sub(r"[^a-z]", "", _strip_accents(addr.partition("@")[0]))
    score = 0
    for token in name.split():
        t = re.sub(r"[^a-z]", "", _strip_accents(token))
        if len(t) >= 3 and t in local:
            score += 2
        elif t and local.startswith(t[0]) and len(t) > 1:
            score += 0  # an initial alone is weak evidence
    return score


_RU_DATIVE_MALE = [("ову", "ов"), ("еву", "ев"), ("ёву", "ёв"), ("ину", "ин"), ("ыну", "ын"), ("скому", "ский"), ("цкому", "цкий")]
_RU_DATIVE_FEMALE = [("овой", "ова"), ("евой", "ева"), ("иной", "ина"), ("ской", "ская"), ("цкой", "цкая")]


def russian_nominative(name: str) -> str:
    """Put a Russian first + last name given in the dative or accusative back in the nominative.

    >>> russian_nominative("Ивану Петрову"), russian_nominative("Анне Смирновой"), russian_nominative("Сергею Кузнецову")
    ('Иван Петров', 'Анна Смирнова', 'Сергей Кузнецов')
    """
    parts = name.split()
    if not parts or not re.search("[а-яё]", name, re.I):
        return name
    female = any(parts[-1].endswith(suf) for suf, _ in _RU_DATIVE_FEMALE) or parts[0].endswith(("не", "ии", "ье"))
    out = []
    for i, word in enumerate(parts):
        last = i == len(parts) - 1 and len(parts) > 1
        if last:
            table = _RU_DATIVE_FEMALE if female else _RU_DATIVE_MALE
            for suffix, repl in table:
                if word.endswith(suffix):
                    word = word[: -len(suffix)] + repl
                    break
            else:
                if female and word.endswith("у"):
                    word = word[:-1] + "а"
        elif female:
            if word.endswith("ии"):
                word = word[:-1] + "я"
            elif word.endswith(("е", "у")):
                word = word[:-1] + "а"
        else:
            if word.endswith("ею"):
                word = word[:-2] + "ей"
            elif word.endswith("ию"):
                word = word[:-1] + "й"
            elif word.endswith(("у", "а")) and len(word) > 3:
                word = word[:-1]
            elif word.endswith("ю"):
                word = word[:-1] + "ь"
        out.append(word)
    return " ".join(out)


def _own_names(reply: Reply) -> set[str]:
    names = {_strip_accents(reply.from_name)} if reply.from_name else set()
    for token in reply.from_name.replace(",", " ").split():
        if len(token) > 2:
            names.add(_strip_accents(token))
    return names


def _parse_vcard(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in re.sub(r"\r?\n[ \t]", "", text).splitlines():
        key, _, value = line.partition(":")
        key = key.split(";")[0].upper()
        if key in ("FN", "EMAIL", "TEL", "TITLE") and key not in fields and value.strip():
            fields[key] = value.strip()
    return fields


def extract_contact(reply: Reply, *, ours: Iterable[str] = (), default_region: str = "US") -> Contact | None:
    """The person ``reply`` refers us to, or ``None`` when it names nobody.

    ``ours`` are our own addresses (the outreach mailbox, the SDRs): never a contact.
    """
    text = reply.new_text or ""
    region = region_for(reply, default_region)
    own_addrs = {reply.from_addr} | {a.lower() for a in ours} | set(reply.to)
    own_names = _own_names(reply)
    own_phones = {p.e164 for p in find_phones(reply.signature + "\n" + reply.quoted, region)}
    spans: dict[str, str] = {}

    emails = [(a, pos) for a, pos in find_emails(text) if a not in own_addrs]
    phones = [p for p in find_phones(text, region) if p.e164 not in own_phones]
    name: str | None = None
    email: str | None = None

    cued = [(n, p) for n, p in _after_cue(text) + _leading_names(text) if _strip_accents(n) not in own_names]
    cued.sort(key=lambda item: item[1])
    if emails:
        # the address the reply points to: the one that fits a cued name, else the first personal one
        best = None
        for addr, pos in emails:
            candidates = cued + _names_near(text, pos + len(addr) + 2)
            scored = sorted(((_matches_address(n, addr), -abs(p - pos), n) for n, p in candidates), reverse=True)
            if scored and scored[0][0] > 0:
                best = (addr, pos, scored[0][2])
                break
        if best is None:
            personal = [e for e in emails if not re.match(r"(info|sales|support|admin|office|contact|hello|team|accounts|purchasing|billing|ap|invoices?)@", e[0])]
            addr, pos = (personal or emails)[0]
            best = (addr, pos, cued[0][0] if cued else None)
        email, _, name = best
        spans["email"] = email
    elif cued:
        name = cued[0][0]
    if name:
        spans["name"] = name

    # a colleague copied in: "I've cc'd Bob"
    if email is None:
        for cc_name, cc_addr in reply.cc:
            if cc_addr in own_addrs:
                continue
            first = cc_name.split()[0] if cc_name.split() else ""
            if re.search(r"\bcc\b|cc'd|copied|copying|copy|in kopie|in cc|en copie|copio|в копи", text, re.I) or (first and first in text):
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

    if name and re.search("[а-яё]", name, re.I):
        name = russian_nominative(name)
    title = None
    if name:
        idx = text.find(name.split()[0])
        window = text[max(0, idx - 60) : idx + len(name) + 80] if idx >= 0 else ""
        m = _TITLE_WORDS.search(window)
        if m:
            title = m.group(1).strip(" ,.")
    contact = Contact(name=name, email=email, phone=phone, title=title, spans=spans)
    return None if contact.empty else contact


_PATTERNS = {
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
    parts = [re.sub(r"[^a-z]", "", _strip_accents(p)) for p in name.split() if p.lower() not in _PARTICLES]
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

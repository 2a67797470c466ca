"""Finding a person's name in a reply, in the languages triage serves.

Names are found where a reply points: after a referral cue ("please contact",
"wenden Sie sich an", "обратитесь к"), at the start of a sentence that says
what the person does ("Tony Russo runs sales ops"), or right before an
address.  A name is a run of capitalised words with particles (van der, de
la), hyphens, apostrophes and diacritics; job titles end the run.  Russian
names after a cue that governs the dative or accusative are put back in the
nominative.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

from .alternation import first_char_dispatch, ignorecase_fold

PARTICLES = frozenset("van von der den de la le du da di del dos das do ter ten zu y i bin al el mc".split())
_KEEP_TITLES = frozenset("dr dr. prof prof. mag mag. di dipl.-ing.".split())
_HONORIFICS = frozenset(
    "mr mr. mrs mrs. ms ms. miss herr herrn frau m. mme mme. madame monsieur mlle mlle. sr sr. sra sra. srta srta. don doña ing ing. "
    "lic lic. dott dott. dott.ssa stb stb. ir ir. mgr mgr. inż inż. г-н г-жа господин госпожа".split()
)
# Honorifics that begin a new name even in the middle of a run: "Kollegen Herrn Jürgen Maßmann"
# (German nouns are capitalised); not "Don" or "Ing", which are also first names and words.
_RESTARTS = frozenset("mr mr. mrs mrs. ms ms. herr herrn frau mme mme. madame monsieur mlle mlle. sra sra. srta srta. г-н г-жа".split())
# Words that end a name: job titles and departments written after it, and common capitalised words.
_STOP = frozenset(
    w.casefold()
    for w in (
        "I We He She They It The Our My Your His Her Their This That These Please Thanks Thank Hi Hello Dear Best Regards Kind Cheers Adding "
        "Sales Team Finance Financial Procurement Purchasing Operations Ops Marketing Accounts Accounting Head VP SVP EVP CEO CFO COO CTO CRO "
        "IT HR Director Directeur Directrice Directora Diretor Diretora Manager Managing Coordinator Coordinadora Coordinador Coordinatrice "
        "Assistant Asst Dy Deputy Controller Commercial Credit Control Fleet Transport Logistics Logistik Supervisor Analyst Specialist "
        "Officer Lead Partner Engineer Accountant Buyer Office Support Admin Group CPA AP AR Jefe Jefa Responsable Gerente Leiter Leiterin "
        "Kanzlei Geschäftsführer Geschäftsführerin Prokurist Kaufmännischer Kaufmännische Einkauf Buchhaltung Assistenz Adjointe Adjoint "
        "Contrôleuse Contrôleur Chef Cheffe Comptable Ingeniero Ingeniera Administración Administrativo Administrativa "
        "Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February March April May June July August September October "
        "November December LinkedIn Email E-Mail Phone Mobile Mobil Tel Tél Teams Zoom Sie Ihr Ihre Er Ich Wir Il Elle Vous Nous Je "
        "Él Ella Usted Он Она Вы Мы Я Если Если Gmail Outlook US UK EU Inc Ltd GmbH AG SA SL LLC Pty "
        "Руководитель Директор Начальник Менеджер Бухгалтер Заместитель Главный Главбух ООО АО ЗАО ОАО ИП"
    ).split()
)
_WORD = re.compile(r"[^\W\d_](?:[^\W\d_]|['’.-](?=[^\W\d_]))*\.?")
_SENTENCE_END = re.compile(r"[.!?;](?:\s|$)|\n\s*\n")
_LAST_WORD = re.compile(r"(\S+)$")
_INITIAL = re.compile(r"[^\W\d_]\.")
_HYPHEN = re.compile(r"[-‐]")


def _sentence_end(text: str) -> re.Match[str] | None:
    """The first sentence end that is not the dot of "Dr.", "Mme." or an initial."""
    for m in _SENTENCE_END.finditer(text):
        if text[m.start()] == ".":
            before = _LAST_WORD.search(text, 0, m.start() + 1)
            word = before.group(1).casefold() if before else ""
            if word in _HONORIFICS or word in _KEEP_TITLES or _INITIAL.fullmatch(word):
                continue
        return m
    return None


@dataclass(frozen=True)
class Candidate:
    """A name found in the text, where, and the grammatical case its cue implies."""

    name: str
    position: int
    case: str = "nom"
    strength: int = 2


def strip_accents(text: str) -> str:
    if text.isascii():
        return text.casefold()  # NFKD changes no ASCII character and adds no combining mark
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)).casefold()


def _is_name_word(word: str) -> bool:
    bare = word.rstrip(".")
    if not bare or not bare[0].isupper() or bare.casefold() in _STOP:
        return False
    if ("-" in bare or "‐" in bare) and any(part[:1].islower() for part in _HYPHEN.split(bare)[1:]):
        return False  # "IT-директор", "E-mail": not a name
    return not (bare.isupper() and len(bare) > 1)  # shouting and acronyms are not names


def _cannot_start_name(word: str) -> bool:
    """``name_run`` of a text that starts with ``word`` is certainly empty (a cheap test run before it).

    A run starts with a capitalised word, an honorific (skipped) or a kept title
    ("Dr."); any other first word ends it at once.
    """
    if word[0].isupper():
        return False
    low = word.casefold()
    return low not in _HONORIFICS and low + "." not in _HONORIFICS and low not in _KEEP_TITLES


def name_run(text: str) -> list[str]:
    """The run of name words at the start of ``text`` (one line at most)."""
    end = text.find("\n")
    line = text if end < 0 else text[:end]
    tokens: list[str] = []
    pos = 0
    for m in _WORD.finditer(line):
        gap = line[pos : m.start()]
        if tokens and gap.strip(" \t"):  # punctuation between words ends the run
            break
        if not tokens and gap.strip(" \t"):
            break
        word = m.group(0)
        pos = m.end()
        low = word.casefold()
        if not tokens and (low in _HONORIFICS or low + "." in _HONORIFICS):
            continue
        if tokens and low in _RESTARTS:
            tokens = []
            continue
        if not tokens and low in _KEEP_TITLES:
            tokens.append(word if word.endswith(".") or low in ("di",) else word + ".")
            continue
        if low.endswith(("'s", "’s")):
            word = word[:-2]
            if _is_name_word(word):
                tokens.append(word)
            break
        if low in PARTICLES and tokens:
            tokens.append(word)
            continue
        if _is_name_word(word):
            tokens.append(word.rstrip(".") if len(word) > 3 else word)
            if word.endswith(".") and len(word) > 3:
                break
            continue
        break
    # a particle left at the end is dangling ("Jan van"), unless capitalised: "Priya Das", "Linh Van" are surnames
    while tokens and ((tokens[-1].islower() and tokens[-1] in PARTICLES) or tokens[-1].casefold() in _KEEP_TITLES):
        tokens.pop()
    if tokens and all(t.casefold() in _KEEP_TITLES for t in tokens):
        return []
    return tokens[:6]


# Cues, with the Russian case they govern.
_CUES_DATIVE = r"обратитесь к|обращайтесь к|обращаться к|обратиться к|пишите|напишите|писать|позвоните|звоните|звонить|вам к|это к|к"
_CUES_ACCUSATIVE = r"копирую|спросите|спрашивайте|поставил(?:а)? в копию|добавил(?:а)? в копию|позовите|ищите"
_CUES = (
    r"contact|talk (?:to|with)|speak (?:to|with)|chat (?:to|with)|reach out to|reach|ask|email|e-mail|write to|get in touch with|"
    r"try|ping|call|ring|phone|give|go to|loop(?:ing)? in|cc'?d|cc'?ing|copied|copying|copy|adding|forwarded (?:this |your (?:email|note|message) )?to|"
    r"passed (?:this|your \w+) (?:on )?to|the (?:right |best )?(?:person|contact|one)(?: (?:you want|to (?:talk|speak) to|for this|for that|you need|to ask))? is|"
    r"you(?:'ll| will)? (?:want|need)|your (?:best )?(?:bet|contact|person) is|successor(?: is)?|replacement(?: is)?|deputy|covering|"
    r"taken over by|handled by|owned by|managed by|run by|sits with|lies with|is with|over to|"
    r"wenden sie sich (?:bitte )?(?:am besten )?(?:direkt )?an|wende dich an|bitte an|melden sie sich (?:bitte )?(?:am besten )?(?:direkt )?bei|ansprechpartner(?:in)? (?:ist|wäre)|zuständig ist|"
    r"kontaktieren sie|vertretung|vertreten durch|übernimmt|nachfolger(?:in)?(?: ist)?|in cc gesetzt|in kopie|liegt bei|macht (?:alles|das)|"
    r"contactez|contacter|joindre|adressez-vous à|voyez avec|la bonne personne est|le bon interlocuteur est|successeur(?: est)?|remplaçante?|"
    r"je mets en copie|en copie|"
    r"hable con|habla con|contacte a|contacta a|contactá a|contactar a|escriba a|escribe a|escríbale a|llame a|le paso el contacto de|"
    r"la persona (?:indicada|encargada) es|suce(?:sor|sora)(?: es)?|copio a|con|"
    r"contatti|scriva a|contattare|rivolgersi a|neem contact op met|opvolger|kontakta|ring|skontaktuj się z|następc[aą]|entre em contato com|fale com|"
    r"обратитесь к|обращайтесь к|обращаться к|обратиться к|свяжитесь с|пишите|напишите|позвоните|звоните|вам нужен|вам нужна|вам к|это к|"
    r"копирую|спросите|преемник|преемница|замещает|"
    r"my (?:colleague|deputy|boss|manager|partner|daughter|son|wife|husband|assistant|cfo|ceo)|"
    r"mein(?:e[mnr]?)? (?:kolleg(?:e|in|en)|schwiegersohn|sohn|tochter|frau|mann|chef(?:in)?|vertreter(?:in)?)|"
    r"(?:mon|ma) (?:collègue|adjointe?|associée?|remplaçante?)|mi (?:compañer[oa]|colega|jef[ae]|sucesor[a]?)"
)


# The cues are many literal alternatives: searched as triage.alternation's first-character
# dispatch over the case-folded text (the same matches as the pattern with re.I, several
# times faster; tests/unit/test_extract_fast.py compares them).
_CUE = first_char_dispatch([("", r"\b(?:" + _CUES + r")(?![\w])")], tagged=False)[0]


def _cues_in(text: str) -> Iterator[tuple[int, int]]:
    """Where the referral cues of ``text`` start and end."""
    for m in _CUE.finditer(ignorecase_fold(text)):
        yield m.start(), m.end()


_SKIP_WORDS = 7


_GERMAN_ARTICLES = frozenset(("die", "der", "den", "dem", "das"))  # as written: "Das" is also a surname
_ACCUSATIVE = re.compile(_CUES_ACCUSATIVE)
_DATIVE = re.compile(_CUES_DATIVE)
_BREAKS_DIRECT = re.compile(r"[:—–\n]")


def _case_for(cue: str) -> str:
    low = cue.casefold()
    if _ACCUSATIVE.fullmatch(low):
        return "acc"
    if _DATIVE.fullmatch(low) or low.startswith(("обрат", "пиш", "напиш", "позвон", "звон")):
        return "dat"
    return "nom"


def after_cues(text: str) -> list[Candidate]:
    """Names that follow a referral cue within the same sentence."""
    found: list[Candidate] = []
    for cue_start, cue_end in _cues_in(text):
        rest = text[cue_end : cue_end + 160]
        end = _sentence_end(rest)
        # a colon may introduce the name on the next line: "contact:\nJane Doe"
        window = rest[: end.start() + 1] if end and not rest[: end.start() + 1].rstrip().endswith(":") else rest[:120]
        skipped = 0
        direct = True
        previous = ""
        for w in _WORD.finditer(window):
            word = w.group(0)
            low = word.casefold()
            if low in _HONORIFICS:
                previous = word
                continue
            # "bitte an die Werkstatt", "an den Vertrieb": after a German article a capital is a noun
            tokens = [] if _cannot_start_name(word) or previous in _GERMAN_ARTICLES else name_run(window[w.start() :])
            previous = word
            if tokens and (len(tokens) >= 2 or _single_ok(window[w.start() + len(tokens[0]) :])):
                case = _case_for(text[cue_start:cue_end]) if direct else "nom"
                found.append(Candidate(" ".join(tokens), cue_end + w.start(), case))
                break
            skipped += 1
            direct = direct and not _BREAKS_DIRECT.search(window, 0, w.start())
            if skipped > _SKIP_WORDS:
                break
    return found


_PERSON_FOLLOWS = re.compile(
    r"\s*(?:$|[,(:—–-]|\s(?:in|from|at|on|who|he|she|er|sie|il|elle|él|ella|он|она|is|ist|est|es|runs|handles|does|leitet|macht|y|and|und|et)\b)"
)


def _single_ok(after: str) -> bool:
    """A lone first name counts when what follows shows it is a person: "Raj in procurement", "Bob, he ..."."""
    return bool(_PERSON_FOLLOWS.match(after))


_DOES = re.compile(
    r"\s*(?:\([^)]{0,60}\)\s*)?(?:is|runs|handles|heads|owns|looks after|manages|leads|takes care|does|would be|should be|will be|"
    r"has taken over|took over|has replaced|is replacing|replaces|will be taking over|has succeeded|"
    r"ist|leitet|macht|kümmert|est|gère|s'occupe|es|lleva|maneja|ведёт|ведет|отвечает|занимается)\b",
    re.I,
)


_SENTENCE_START = re.compile(r"(?:^|(?<=[.!?:\n]))[ \t-]*")
_DASH_OR_ADDRESS = re.compile(r"\s*(?:[—–<(]|-\s|,\s*[\w.+-]+@)")
_WORD_START = re.compile(r"(?<![\w'’-])[^\W\d_]")
_NOT_AZ = re.compile(r"[^a-z]+")


def ascii_letters(text: str) -> str:
    """The plain lower-case letters of ``text``, accents stripped: "Zoë O'Brien" → "zoeobrien"."""
    return _NOT_AZ.sub("", strip_accents(text))


def leading(text: str) -> list[Candidate]:
    """``Jane Doe is the one``, ``Tony Russo runs sales ops``, ``Dave Ng — dave@...``."""
    out: list[Candidate] = []
    for m in _SENTENCE_START.finditer(text):
        at = m.end()
        first = _WORD.match(text, at)
        if first is None or _cannot_start_name(first.group(0)):
            continue  # name_run would find nothing here
        line_end = text.find("\n", at)
        tokens = name_run(text[at : line_end if line_end >= 0 else len(text)])
        if len(tokens) < 2:
            continue
        name = " ".join(tokens)
        rest = text[at + len(name) : at + len(name) + 80]
        if _DOES.match(rest) or _DASH_OR_ADDRESS.match(rest):
            out.append(Candidate(name, at, "nom", 1))
    return out


def near(text: str, position: int) -> list[Candidate]:
    """Name runs on the line before ``position`` (an address), nearest first."""
    start = max(0, position - 160)
    window = text[start:position]
    out = []
    for m in _WORD_START.finditer(window):
        at = m.start()
        word = _WORD.match(window, at)
        if word is None or _cannot_start_name(word.group(0)):
            continue
        tokens = name_run(window[at:])
        if len(tokens) < 2:
            continue
        before = window[max(0, at - 30) : at]
        prev = _WORD.findall(before)
        if prev and name_run(prev[-1]) and not before.rstrip().endswith((",", ":", ".", "-", "—", "(")):
            continue  # inside a longer run: take the run from its start
        out.append(Candidate(" ".join(tokens), start + at, "nom", 1))
    out.sort(key=lambda c: -c.position)
    return out


def address_fit(name: str, address: str) -> int:
    """How well ``name`` fits the local part of ``address`` (0 = not at all)."""
    local = ascii_letters(address.partition("@")[0])
    return sum(2 for token in name.split() if len(t := ascii_letters(token)) >= 3 and t in local)


def from_display_name(display: str) -> str:
    """``"Reinhardt, Tobias"`` as Outlook writes it becomes ``Tobias Reinhardt``."""
    display = display.strip().strip('"').strip()
    if display.count(",") == 1:
        last, first = (p.strip() for p in display.split(","))
        if last and first and " " not in last and len(first.split()) <= 2:
            return f"{first} {last}"
    return display


_RU_MALE = {
    "dat": [("ову", "ов"), ("еву", "ев"), ("ёву", "ёв"), ("ину", "ин"), ("ыну", "ын"), ("скому", "ский"), ("цкому", "цкий"), ("ому", "ой")],
    "acc": [("ова", "ов"), ("ева", "ев"), ("ёва", "ёв"), ("ина", "ин"), ("ына", "ын"), ("ского", "ский"), ("цкого", "цкий"), ("ого", "ой")],
}
_RU_FEMALE = {
    "dat": [("овой", "ова"), ("евой", "ева"), ("иной", "ина"), ("ской", "ская"), ("цкой", "цкая")],
    "acc": [("ову", "ова"), ("еву", "ева"), ("ину", "ина"), ("скую", "ская"), ("цкую", "цкая")],
}
_RU_FLEETING = {"Павл": "Павел", "Льв": "Лев", "Петр": "Пётр"}


def _ru_first(word: str, case: str, female: bool) -> str:
    if female:
        if word.endswith("ии"):
            return word[:-1] + "я"
        if word.endswith("ье") or word.endswith("ью"):
            return word[:-1] + "я"
        if word.endswith(("е", "у")):
            return word[:-1] + "а"
        return word
    if word.endswith(("ею", "ея")):
        return word[:-2] + "ей"
    if word.endswith(("ию", "ия")) and case in ("dat", "acc"):
        return word[:-1] + "й"
    if word.endswith("ю") or (case == "acc" and word.endswith("я")):
        return word[:-1] + "ь"
    if word.endswith("у" if case == "dat" else "а") and len(word) > 3:
        stem = word[:-1]
        return _RU_FLEETING.get(stem, stem)
    return word


def _guess_case(parts: list[str]) -> str:
    """Dative forms that cannot be a nominative: "Елене Воронцовой", "Ивану Петрову"."""
    if len(parts) == 2 and parts[1].endswith(("овой", "евой", "иной", "скому", "цкому", "ову", "еву", "ину")) and parts[0].endswith(("е", "у", "ю", "ии")):
        return "dat"
    return "nom"


def russian_nominative(name: str, case: str = "dat") -> str:
    """Put a Russian first + last name given in the dative or accusative back in the nominative.

    >>> russian_nominative("Ивану Петрову"), russian_nominative("Анне Смирновой"), russian_nominative("Виктора Лебедева", "acc")
    ('Иван Петров', 'Анна Смирнова', 'Виктор Лебедев')
    >>> russian_nominative("Павлу Гончарову"), russian_nominative("Наталье Морозовой"), russian_nominative("Игорю Мельнику")
    ('Павел Гончаров', 'Наталья Морозова', 'Игорь Мельник')
    """
    parts = name.split()
    if case == "nom":
        case = _guess_case(parts)
    if case == "nom" or not parts or not re.search("[а-яё]", name, re.I):
        return name
    first, *rest = parts
    female = (rest and any(rest[-1].endswith(suf) for suf, _ in _RU_FEMALE[case])) or first.endswith(("не", "ии", "ье", "ью") if case == "dat" else ("ну", "ию", "ью"))
    female = bool(female) and not (case == "acc" and not rest and first.endswith("а"))
    out = [_ru_first(first, case, female)]
    for word in rest:
        for suffix, repl in (_RU_FEMALE if female else _RU_MALE)[case]:
            if word.endswith(suffix):
                word = word[: -len(suffix)] + repl
                break
        else:
            if not female and case == "dat" and word.endswith("у") and len(word) > 3 or not female and case == "acc" and word.endswith("а") and len(word) > 3:
                word = word[:-1]
        out.append(word)
    return " ".join(out)

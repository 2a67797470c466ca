"""Cue tokens, and the faster regexes behind them (and behind triage.autoreply).

The fast regexes (:func:`triage.first_char_dispatch`, :func:`triage.ignorecase_fold`)
must match exactly where the original patterns match: the shipped model was trained on
these tokens.  The original patterns stay in the modules and are the reference here.
"""

from __future__ import annotations

import re
import sys
from functools import lru_cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import FIXTURES
from triage import autoreply, cues
from triage.alternation import first_char_dispatch, ignorecase_fold
from triage.cues import cue_tokens
from triage.parsing import parse
from triage.records import RawMessage

_IGNORECASE = {
    "negated interest": cues._NEGATED_INTEREST,
    "absence subject": autoreply._ABSENCE_SUBJECT,
    "left text": autoreply._LEFT_TEXT,
    "ack text": autoreply._ACK_TEXT,
    "bounce subject": autoreply._BOUNCE_SUBJECT,
}
_FOLDED = {
    "negated interest": cues._NEGATED_INTEREST_FOLDED,
    "absence subject": autoreply._ABSENCE_SUBJECT_FOLDED,
    "left text": autoreply._LEFT_TEXT_FOLDED,
    "ack text": autoreply._ACK_TEXT_FOLDED,
    "bounce subject": autoreply._BOUNCE_SUBJECT_FOLDED,
}


def _reference_cue_tokens(text: str, sender_addr: str = "") -> list[str]:
    """cue_tokens as it was written first, with the original patterns."""
    counts = dict.fromkeys(cues._CUES, 0)
    for m in cues._COMBINED.finditer(text.lower()):
        counts[m.lastgroup or ""] += 1
    tokens: list[str] = []
    for name, hits in counts.items():
        tokens += [f"cue{name}"] * min(hits, 3)
    if cues._NEGATED_INTEREST.search(text):
        tokens.append("cuenegint")
    if [e for e in cues._EMAIL.findall(text) if e.lower() != sender_addr.lower()]:
        tokens.append("cueotheremail")
    if cues._PHONE.search(text):
        tokens.append("cuephone")
    words = len(text.split())
    tokens.append("cueshort" if words <= 5 else "cuelong" if words > 80 else "cuemedium")
    return tokens


def _literals(pattern: str) -> set[str]:
    """The characters a pattern compares text with: everything but syntax and escapes like ``\\w``."""
    out: set[str] = set()
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\":
            i += 2
            continue
        if pattern[i] not in "\\.^$*+?{}[]|()":
            out.add(pattern[i])
        i += 1
    return out


# -- text made of pieces of the patterns, in any case, with the letters re.IGNORECASE treats specially

def _words() -> list[str]:
    sources = [*cues._CUES.values(), *(p.pattern for p in _IGNORECASE.values())]
    return sorted({w for source in sources for w in re.split(r"\\[a-zA-Z]|[^\w' -]+", source) if w.strip()})


_TRICKY = ["İ", "ı", "ſ", "K", "ẞ", "ß", "Σ", "ς", "σ", "ᲀ", "ᲂ", "ᲃ", "ᲄ", "ͅ", "µ", "\n", " ", "  ", "_", "-", "@", "+", "1", "5", ".", "'", "é", "É", "Ü", "\u00a0", "#"]
_piece = st.one_of(
    st.sampled_from(_words()).flatmap(lambda w: st.sampled_from([w, w.upper(), w.title(), w.swapcase()])),
    st.sampled_from(_TRICKY),
    st.text(max_size=3),
)
texts = st.lists(_piece, max_size=25).map("".join)


@given(texts)
@settings(max_examples=400, deadline=None)
def test_cue_dispatch_finds_the_same_matches_of_the_same_kinds(text: str) -> None:
    lowered = text.lower()
    old = [(m.span(), m.lastgroup) for m in cues._COMBINED.finditer(lowered)]
    new = [(m.span(), cues._CUE_KIND[m.lastindex or 0]) for m in cues._CUE_DISPATCH.finditer(lowered)]
    assert new == old


@given(texts)
@settings(max_examples=400, deadline=None)
def test_folded_patterns_match_where_the_case_insensitive_ones_do(text: str) -> None:
    folded = ignorecase_fold(text)
    assert len(folded) == len(text)
    for name, pattern in _IGNORECASE.items():
        old = [m.span() for m in pattern.finditer(text)]
        assert [m.span() for m in _FOLDED[name].finditer(folded)] == old, name


@given(texts, st.sampled_from(["", "jane@acme.com", "JANE@ACME.COM"]))
@settings(max_examples=400, deadline=None)
def test_cue_tokens_as_first_written(text: str, sender: str) -> None:
    assert cue_tokens(text, sender_addr=sender) == _reference_cue_tokens(text, sender)


@given(st.lists(st.sampled_from(["4", "5", "0", "1", "2", ".", " ", "-", "a", "_", "\n", "550 5.1.1", "4.4.7", "x5.0.0"]), max_size=30).map("".join))
@settings(max_examples=400, deadline=None)
def test_smtp_code_scan_is_the_original(text: str) -> None:
    old = autoreply._SMTP_CODE.search(text)
    new = autoreply._SMTP_CODE_FAST.search(text)
    assert (new and (new.span(), new.group()[0])) == (old and (old.span(), old.group(1) or old.group(3)))


@pytest.mark.parametrize(
    "text",
    [
        "Not interested, please remove me.",
        "NOT INTERESTED. Talk to Jane, she's the one.",
        "Please CONTACT HIM: jane@acme.com, +33 1 23 45 67 89",
        "İNTEREST? ſtop. Kall me",  # letters whose case mapping re treats specially
        "Нам не интересно, обратитесь к Ивану",
        "Ich bin nicht mehr im Unternehmen, wenden Sie sich an Frau Müller.",
        "callback, recall, a call, demos, demo.",  # \b on both sides of "call" and "demo"
        "",
    ],
)
def test_cue_tokens_examples(text: str) -> None:
    assert cue_tokens(text, sender_addr="jane@acme.com") == _reference_cue_tokens(text, "jane@acme.com")


def test_the_boundary_before_a_cue_is_kept() -> None:
    assert "cueinterest" not in cue_tokens("recall")
    assert "cueinterest" in cue_tokens("a call")
    assert cue_tokens("Not interested, please remove me.") == ["cuedecline", "cuedecline", "cuenegint", "cueshort"]


@lru_cache(maxsize=1)
def _every_character() -> str:
    return "".join(map(chr, range(sys.maxunicode + 1)))


def test_fold_is_what_ignorecase_compares_for_every_character_of_the_patterns() -> None:
    everything = _every_character()
    folded = ignorecase_fold(everything)
    assert len(folded) == len(everything)
    letters = set().union(*(_literals(p) for p in cues._CUES.values()), *(_literals(p.pattern) for p in _IGNORECASE.values()))
    assert {"a", "i", "s", "k", "т", "о", "ß", "é", "自"} <= letters
    for letter in sorted(letters):
        ignorecase = [m.start() for m in re.finditer(re.escape(letter), everything, re.I)]
        same_fold = [m.start() for m in re.finditer(re.escape(letter), folded)]
        assert same_fold == ignorecase, (letter, [everything[i] for i in set(same_fold) ^ set(ignorecase)])


@pytest.mark.parametrize("cls", [r"\w", r"\s", r"\d", r"\n"])
def test_fold_keeps_every_character_class(cls: str) -> None:
    everything = _every_character()
    folded = ignorecase_fold(everything)
    assert [m.start() for m in re.finditer(cls, folded)] == [m.start() for m in re.finditer(cls, everything)]


def test_fold_of_dotted_capital_i_and_final_sigma() -> None:
    assert ignorecase_fold("İSTANBUL") == "istanbul"
    assert ignorecase_fold("ΟΔΟΣ ΟΔΟΣΑ") == "οδος οδοςα"  # σ and ς are one letter for re.IGNORECASE
    assert ignorecase_fold("Hello", "hello") == "hello"


@pytest.mark.parametrize(
    ("patterns", "text"),
    [
        ([("a", r"ab|ac"), ("b", r"abc")], "xabc abc"),  # the first alternative wins, as in the original
        ([("a", r"x(?:y|yz)"), ("b", r"xyz")], "xyz"),
        ([("a", r"\bfoo"), ("b", r"oo")], "foo xfoo"),
        ([("a", r"(?:he|she) is"), ("b", r"s")], "she is, he is"),
        ([("a", r"k"), ("b", r"kk")], "kkk"),
    ],
)
def test_dispatch_keeps_the_order_of_the_alternatives(patterns: list[tuple[str, str]], text: str) -> None:
    fast, tags = first_char_dispatch(patterns)
    reference = re.compile("|".join(f"(?P<{tag}>{p})" for tag, p in patterns))
    assert [(m.span(), tags[m.lastindex or 0]) for m in fast.finditer(text)] == [(m.span(), m.lastgroup) for m in reference.finditer(text)]


@pytest.mark.parametrize("pattern", [r"a?b", r"(?:a|b)?c", r"[ab]c", r"\wc", r".c", r"(?=a)a", r"(a)b"])
def test_dispatch_refuses_what_it_cannot_expand(pattern: str) -> None:
    with pytest.raises(ValueError):
        first_char_dispatch([("x", pattern)])


def test_every_fixture_gets_the_same_cue_tokens() -> None:
    for path in sorted(FIXTURES.rglob("*.eml")):
        reply = parse(RawMessage(str(path), path.read_bytes()))
        for text in (reply.body[:4000], reply.new_text, reply.subject):
            assert cue_tokens(text, sender_addr=reply.from_addr) == _reference_cue_tokens(text, reply.from_addr), path
            folded = ignorecase_fold(text[:1500])
            for name, pattern in _IGNORECASE.items():
                assert bool(_FOLDED[name].search(folded)) == bool(pattern.search(text[:1500])), (path, name)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("Dat ben ik eigenlijk. Kun je me wat meer info sturen over wat het kost?", "cueinterest"),
        ("Det er mig, men vi har allerede en fast leverandør. Så det bliver et nej tak.", "cuedecline"),
        ("Olha, não sou eu. Não faço ideia de quem cuida disso.", "cueunknown"),
        ("Продажами занимаюсь я, но смысла не вижу. Так что спасибо, но нет.", "cuedecline"),
        ("Děkujeme, ale nemáme zájem, už máme dodavatele.", "cuedecline"),
        ("Toplantı için fiyat bilgisi alabilir miyim?", "cueinterest"),
        ("Nem érdekel, kérem, iratkoztasson le.", "cuedecline"),
        ("我们不需要，谢谢。", "cuedecline"),
    ],
)
def test_cues_of_languages_the_fixtures_hardly_have(text: str, kind: str) -> None:
    assert kind in cues.cue_tokens(text)

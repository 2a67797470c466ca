"""Big alternations of literal words, matched at C speed: the same matches, found faster.

``re`` tries an alternation alternative by alternative at every position of
the text, so a pattern of a few hundred cue words in a dozen languages costs
about a microsecond a character.  :func:`first_char_dispatch` rebuilds such
a pattern so that every top-level alternative starts with a literal
character, grouped by that character: ``re`` then scans for the possible
first characters in C and tries only the alternatives of the character it
finds.  Case-insensitive patterns are compiled without ``re.IGNORECASE`` and
searched in :func:`ignorecase_fold` of the text.  tests/unit/test_cues.py
checks both against the original patterns, for every code point.
"""

from __future__ import annotations

import re

# Why the matches are the same: at any position only the group of that position's character
# can match, and within it the alternatives keep their original order, so the leftmost match
# and the alternative that wins it (hence its tag and its end) are those of the original.

_SPECIAL = frozenset("\\.^$*+?{}[]|()")
_QUANTIFIERS = ("?", "*", "+", "{")


def _structure(pattern: str) -> list[tuple[int, str]]:
    """Positions and characters of the unescaped ``(``, ``)`` and ``|`` outside character classes."""
    out: list[tuple[int, str]] = []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "[":
            i += 1
            if pattern[i : i + 1] == "^":
                i += 1
            if pattern[i : i + 1] == "]":
                i += 1
            while i < n and pattern[i] != "]":
                i += 2 if pattern[i] == "\\" else 1
        elif ch in "()|":
            out.append((i, ch))
        i += 1
    return out


def alternatives(pattern: str) -> list[str]:
    """``pattern`` split at its top-level ``|``."""
    parts, depth, start = [], 0, 0
    for i, ch in _structure(pattern):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif depth == 0:
            parts.append(pattern[start:i])
            start = i + 1
    parts.append(pattern[start:])
    return parts


def _closing(pattern: str) -> int:
    """Where the group opened by ``pattern[0]`` closes."""
    depth = 0
    for i, ch in _structure(pattern):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return i
    raise ValueError(f"unbalanced group in {pattern!r}")


def _leading(alternative: str) -> list[tuple[str, str]]:
    """``alternative`` as ``(first character, rest)`` pairs that match, in order, what it matches.

    A leading group ``(?:a|b)c`` becomes ``ac``, ``bc``; a leading ``\\b`` before a word
    character ``x`` becomes ``x(?<!\\w.)``: a boundary before a word character is the absence
    of a word character before it, which a look-behind checks once ``x`` is consumed.
    Anything else that cannot be expanded (a quantified first item, a class, an escape)
    raises :class:`ValueError`.
    """
    if alternative.startswith("\\b"):
        pairs = _leading(alternative[2:])
        if not all(re.fullmatch(r"\w", key) for key, _ in pairs):
            raise ValueError(f"\\b before a non-word character in {alternative!r}")
        return [(key, r"(?<!\w.)" + rest) for key, rest in pairs]
    if alternative.startswith("("):
        close = _closing(alternative)
        inner, after = alternative[1:close], alternative[close + 1 :]
        if inner.startswith("?"):
            if not inner.startswith("?:"):
                raise ValueError(f"cannot expand {alternative!r}")
            inner = inner[2:]
        if after.startswith(_QUANTIFIERS):
            raise ValueError(f"cannot expand a quantified group in {alternative!r}")
        return [pair for part in alternatives(inner) for pair in _leading(part + after)]
    if alternative and alternative[0] not in _SPECIAL and not alternative[1:].startswith(_QUANTIFIERS):
        return [(alternative[0], alternative[1:])]
    raise ValueError(f"cannot expand {alternative!r}")


def first_char_dispatch(patterns: list[tuple[str, str]], *, flags: int = 0, tagged: bool = True) -> tuple[re.Pattern[str], list[str]]:
    """One regex matching what ``"|".join(pattern for _, pattern in patterns)`` matches, faster.

    ``patterns`` are ``(tag, pattern)`` pairs.  Returns the regex and the tag of each of its
    groups: every alternative ends with an empty group of its own, so ``tags[m.lastindex]``
    is the tag of the pattern whose alternative made the match ``m``.  The patterns must not
    hold back-references, nor capturing groups unless ``tagged`` is false (then only where
    the regex matches counts: the groups of the patterns do not survive), and every
    top-level alternative must be expandable by :func:`_leading`.  Case-insensitive
    patterns: compile them without ``re.IGNORECASE`` and search :func:`ignorecase_fold` of
    the text.
    """
    buckets: dict[str, list[tuple[str, str]]] = {}
    for tag, pattern in patterns:
        if re.search(r"\\\d|\(\?P=", pattern) or tagged and re.compile(pattern).groups:
            raise ValueError(f"capturing group or back-reference in {pattern!r}")
        for alternative in alternatives(pattern):
            for key, rest in _leading(alternative):
                buckets.setdefault(key, []).append((tag, rest))
    # groups are numbered in the order in which they open, bucket after bucket
    tags = [""] + [tag for alternatives in buckets.values() for tag, _ in alternatives] if tagged else []
    end = "()" if tagged else ""
    pieces = [re.escape(key) + "(?:" + "|".join(rest + end for _, rest in alternatives) + ")" for key, alternatives in buckets.items()]
    return re.compile("|".join(pieces), flags), tags


# ``re.IGNORECASE`` compares the simple lower-case mappings of characters, and treats a few
# more letters as the same letter (``re._casefix``: dotless i and i, long s and s, the old
# Cyrillic letter forms...).  ``str.lower`` is that simple mapping except for "İ" (which it
# turns into two characters) and the Greek final sigma.  So a pattern of lower-case literals
# matches ``ignorecase_fold(text)`` exactly where, with ``re.IGNORECASE``, it matches ``text``
# (tests/unit/test_cues.py checks this for every code point and every letter of the patterns).
# _FOLD writes each of those classes as its lowest letter; U+0345, a combining mark in the
# class of "ι", stays as it is (it is no word character, "ι" is: \w and \b must not change).
_FOLD = {
    0x131: "i", 0x17F: "s", 0x3BC: "\u00b5", 0x1FBE: "\u03b9", 0x1FD3: "\u0390", 0x1FE3: "\u03b0",
    0x3D0: "\u03b2", 0x3F5: "\u03b5", 0x3D1: "\u03b8", 0x3F0: "\u03ba", 0x3D6: "\u03c0", 0x3F1: "\u03c1",
    0x3C3: "\u03c2", 0x3D5: "\u03c6", 0x1C80: "\u0432", 0x1C81: "\u0434", 0x1C82: "\u043e", 0x1C83: "\u0441",
    0x1C84: "\u0442", 0x1C85: "\u0442", 0x1C86: "\u044a", 0x1C87: "\u0463", 0xA64B: "\u1c88", 0x1E9B: "\u1e61",
    0xFB06: "\ufb05",
}  # fmt: skip
_FOLD_NEEDED = re.compile("[" + "".join(map(chr, _FOLD)) + "]")


def ignorecase_fold(text: str, lowered: str | None = None) -> str:
    """``text`` with every character replaced by one representative of its ``re.IGNORECASE`` class.

    Same length as ``text``.  ``lowered`` is ``text.lower()`` when the caller has it.
    """
    if "\u0130" in text:  # "İ": str.lower makes it "i̇", re's simple mapping makes it "i"
        lowered = text.replace("\u0130", "I").lower()
    elif lowered is None:
        lowered = text.lower()
    if _FOLD_NEEDED.search(lowered):
        lowered = lowered.translate(_FOLD)
    return lowered

"""Remove what is provably ours: the outreach text we sent, however the client quoted it.

Some clients quote without ``>`` or attribution line, rewrap the lines, or
paste the thread in the middle of the reply.  When the outreach is known
(configured templates, or the sent message itself), every line of the new
text that is a fragment of it is removed, whatever its wrapping, quote
prefix or punctuation.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from pathlib import Path

from .records import Reply

_NORMAL = re.compile(r"[\W_]+", re.UNICODE)
_MIN_CHARS = 12
# Template placeholders ({first_name}, $company, {{name}}) match any words.
_PLACEHOLDER = re.compile(r"\{\{?\s*\w+\s*\}?\}|\$\{?\w+\}?")


def _normal(text: str) -> str:
    return _NORMAL.sub(" ", text.casefold()).strip()


class Outreach:
    """The outreach texts we sent, ready to be recognised in replies."""

    def __init__(self, texts: Iterable[str]) -> None:
        self.pieces: list[str] = []
        for text in texts:
            # a placeholder splits a template into pieces that each must match literally
            for piece in _PLACEHOLDER.split(text):
                normal = _normal(piece)
                if len(normal) >= _MIN_CHARS:
                    self.pieces.append(normal)

    @classmethod
    def from_path(cls, path: Path) -> Outreach:
        """A template file, or every ``.txt`` file in a folder."""
        files = sorted(path.glob("*.txt")) if path.is_dir() else [path]
        return cls(f.read_text(encoding="utf-8") for f in files)

    def __bool__(self) -> bool:
        return bool(self.pieces)

    def ours(self, line: str) -> bool:
        """Whether ``line`` is a fragment of what we sent.

        >>> Outreach(["Hi {first_name}, who handles sales operations at {company}?"]).ours("> who handles sales operations at")
        True
        """
        normal = _normal(line)
        if len(normal) < _MIN_CHARS:
            return False
        return any(normal in piece or (len(piece) >= 2 * _MIN_CHARS and piece in normal) for piece in self.pieces)

    def strip(self, reply: Reply) -> Reply:
        """``reply`` with our own text moved from the new text to the quoted part."""
        if not self.pieces or not reply.new_text:
            return reply
        kept: list[str] = []
        removed: list[str] = []
        for line in reply.new_text.split("\n"):
            (removed if self.ours(line) else kept).append(line)
        if not removed:
            return reply
        new_text = "\n".join(kept).strip()
        return dataclasses.replace(reply, new_text=new_text, quoted="\n".join(removed + [reply.quoted]).strip())


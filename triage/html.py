"""HTML to plain text, keeping the quoting that mail clients mark in HTML.

Clients mark the start of the quoted thread in HTML in ways that vanish from
a naive text rendering: Outlook's ``divRplyFwdMsg`` and its ``border-top``
separator, Gmail's ``gmail_quote``, Apple's and Thunderbird's
``<blockquote type="cite">``, Yahoo's ``yahoo_quoted``.  The converter writes
such a boundary as the line :data:`QUOTE_MARK`, and every line inside a
``<blockquote>`` with a leading ``"> "``, so that :mod:`triage.quotes` splits
HTML mail and plain mail with the same rules.
"""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser

QUOTE_MARK = "-----Original Message-----"

_BLOCK = frozenset(
    "address article aside div dl dt dd fieldset figure footer form h1 h2 h3 h4 h5 h6 header hr li main nav ol p pre section table tr ul".split()
)
_SKIP = frozenset(("script", "style", "head", "title", "xml", "o:p"))
# Containers that hold the quoted thread: their lines are written with "> " so that a reply
# written below them (bottom-posting) stays apart from the quote.
_CONTAINER_CLASSES = ("gmail_quote", "yahoo_quoted", "protonmail_quote", "zmail_extra")
# Markers after which everything is the quoted thread (Outlook's header block).
_QUOTE_CLASSES = ("moz-cite-prefix", "ms-outlook-mobile-reference-message")
_QUOTE_IDS = ("divrplyfwdmsg", "appendonsend", "mail-editor-reference-message-container")
_VOID = frozenset("area base br col embed hr img input link meta param source track wbr".split())
_BORDER_TOP = re.compile(r"border-top\s*:\s*solid", re.I)
_SPACES = re.compile(r"[ \t\u00a0]+")


class _Converter(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.current: list[str] = []
        self.skip = 0
        self.quote_depth = 0
        self.marked = False
        self.stack: list[tuple[str, bool]] = []

    def _flush(self) -> None:
        text = _SPACES.sub(" ", "".join(self.current)).strip()
        self.current = []
        prefix = "> " * self.quote_depth
        if text:
            self.lines.append(prefix + text)
        elif self.lines and self.lines[-1].strip("> ") != "":
            self.lines.append(prefix.rstrip())

    def _mark_quote(self) -> None:
        if not self.marked:
            self._flush()
            self.lines.append(QUOTE_MARK)
            self.marked = True

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skip += 1
            return
        attr = {k: (v or "") for k, v in attrs}
        if tag == "br":
            self._flush()
            return
        if tag in _BLOCK or tag == "blockquote":
            self._flush()
        cls = attr.get("class", "").lower()
        ident = attr.get("id", "").lower()
        container = tag == "blockquote" or any(c in cls for c in _CONTAINER_CLASSES)
        if tag not in _VOID:
            self.stack.append((tag, container))
        if container and tag != "blockquote":
            self._flush()
            self.quote_depth += 1
        if any(c in cls for c in _QUOTE_CLASSES) or ident in _QUOTE_IDS or tag == "div" and _BORDER_TOP.search(attr.get("style", "")) and self.lines or tag == "hr" and "tabindex" in attr:
            self._mark_quote()
        if tag == "blockquote":
            self.quote_depth += 1
        if tag in ("td", "th"):
            self.current.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skip = max(0, self.skip - 1)
            return
        if tag in _BLOCK or tag == "blockquote":
            self._flush()
        if tag in _VOID or not any(t == tag for t, _ in self.stack):
            return
        while self.stack:
            open_tag, container = self.stack.pop()
            if container:
                self._flush()
                self.quote_depth = max(0, self.quote_depth - 1)
            if open_tag == tag:
                break

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.current.append(data.replace("\r", "").replace("\n", " "))


def html_to_text(html: str) -> str:
    """Render ``html`` as plain text, marking where the quoted thread starts.

    >>> html_to_text("<p>Talk to <b>Jane</b></p><blockquote>old</blockquote>")
    'Talk to Jane\\n\\n> old\\n>'
    """
    conv = _Converter()
    try:
        conv.feed(html)
        conv.close()
    except (AssertionError, ValueError):  # pragma: no cover - html.parser is lenient
        return unescape(re.sub(r"<[^>]+>", " ", html))
    conv._flush()
    return "\n".join(conv.lines).strip()

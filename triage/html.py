"""HTML to plain text, keeping the quoting that mail clients mark in HTML.

Clients mark the start of the quoted thread in HTML in ways that vanish from
a naive text rendering: Outlook's ``divRplyFwdMsg`` and its ``border-top``
separator, Gmail's ``gmail_quote``, Apple's and Thunderbird's
``<blockquote type="cite">``, Yahoo's ``yahoo_quoted``.  The converter writes
such a boundary as the line :data:`QUOTE_MARK`, and every line inside a
``<blockquote>`` with a leading ``"> "``, so that :mod:`triage.quotes` splits
HTML mail and plain mail with the same rules.

The markup is read by a tokeniser of our own (:func:`_tokens`): one regular
expression takes the text and the plainly written tags of a whole document in
one call, and a careful path takes the rest (comments, declarations, script
and style, odd tags).  It reads markup exactly as
:class:`html.parser.HTMLParser` of Python 3.11.7 (``convert_charrefs=True``,
one ``feed`` then ``close``) does, quirks included, because the classifier and
the quote splitter were built on that reading: tests/unit/test_html.py
compares the two event by event.
"""

from __future__ import annotations

import html.parser as _html_parser
import re
from html import unescape
from urllib.parse import unquote

QUOTE_MARK = "-----Original Message-----"

_BLOCK = frozenset(
    "address article aside blockquote div dl dt dd fieldset figure footer form h1 h2 h3 h4 h5 h6 header hr li main nav ol p pre section table tr ul".split()
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

# --- the tokeniser ------------------------------------------------------------------------
#
# _tokens gives a list of 6-tuples.  Most come straight from _SCAN.findall:
#   (text, start tag name, its attributes, its end ("", "/", " /"...), end tag name, "")
# where text is raw (its character references still to decode) and any part may be empty.
# The careful path gives events, marked by their last item:
#   (text, "", "", "", "", "d")     text as HTMLParser reports it (decoded, or raw where it is raw)
#   ("", tag, attrs, "", "", "s")   a start tag, attrs as [(name, value or None)]
#   ("", "", "", "", tag, "e")      an end tag
Token = tuple[str, str, "str | list[tuple[str, str | None]]", str, str, str]

# Attributes plainly written: ASCII white space before each, "=" right after the name, a value
# quoted or bare.  For these, and for plain names, html.parser's reading is the obvious one.
_ATTRIBUTE_SYNTAX = r"""[ \t\n\r\f]++[a-zA-Z_:][-a-zA-Z0-9_:.]*+(?:=(?:"[^"]*+"|'[^']*+'|[^\s>"'=][^\s>]*+))?"""
# the same, to take them out of what _SCAN matched: (name, value or "")
_ATTRIBUTES = re.compile(r"""[ \t\n\r\f]++([a-zA-Z_:][-a-zA-Z0-9_:.]*+)(?:=("[^"]*+"|'[^']*+'|[^\s>"'=][^\s>]*+))?""")
_SCAN = re.compile(
    rf"""(?!\Z)                                     # (no empty match at the end)
    ([^<]*+(?:<(?![a-zA-Z/!?])[^<]*+)*+)         # 1: text, with any "<" that starts nothing
    (?:
        # a start tag (2: name, 3: attributes, 4: white space and "/" before ">"), not script or style
        <(?![sS][cC][rR][iI][pP][tT][ \t\n\r\f/>]|[sS][tT][yY][lL][eE][ \t\n\r\f/>])
          ([a-zA-Z][-a-zA-Z0-9:_.]*+)((?:{_ATTRIBUTE_SYNTAX})*+)([ \t\n\r\f]*+/?)>
      | </([a-zA-Z][-.a-zA-Z0-9:_]*+)>              # 5: an end tag
      | (<)[\s\S]*+                                # 6: anything else, for the careful path
    )?""",
    re.X,
)

# The careful path reads with html.parser's own expressions: how far a start tag reaches (up
# to, not including, the ">", "/>" or whatever stops it), its name, its attributes, an end tag.
_START_EXTENT: re.Pattern[str] = _html_parser.locatestarttagend_tolerant  # type: ignore[attr-defined]
_TAG_NAME: re.Pattern[str] = _html_parser.tagfind_tolerant  # type: ignore[attr-defined]
_ATTRIBUTE: re.Pattern[str] = _html_parser.attrfind_tolerant  # type: ignore[attr-defined]
_END_TAG: re.Pattern[str] = _html_parser.endtagfind  # type: ignore[attr-defined]
_COMMENT_END = re.compile(r"--\s*>")
_DECLARATION_NAME = re.compile(r"[a-zA-Z][-_.a-zA-Z0-9]*\s*")
_SECTION_END = re.compile(r"]\s*]\s*>")
_CONDITIONAL_END = re.compile(r"]\s*>")
# script and style hold raw text up to their end tag (found case-insensitively, as by re.I)
_RAW_TEXT_END = {tag: re.compile(rf"</\s*{tag}\s*>", re.I) for tag in ("script", "style")}
_STOPS_A_START_TAG = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ=/")


class _Unreadable(Exception):
    """Markup that html.parser gives up on (it raises AssertionError)."""


def _data(text: str) -> Token:
    return (text, "", "", "", "", "d")


def _start(tag: str, attrs: list[tuple[str, str | None]]) -> Token:
    return ("", tag, attrs, "", "", "s")


def _end(tag: str) -> Token:
    return ("", "", "", "", tag, "e")


def _length(token: Token) -> int:
    """How much of the markup a token of _SCAN took."""
    text, name, attributes, close, end_name, _ = token
    if name:
        return len(text) + 2 + len(name) + len(attributes) + len(close)
    if end_name:
        return len(text) + 3 + len(end_name)
    return len(text)


def _attribute_value(value: str | None) -> str | None:
    if value is None:
        return None
    if value[:1] == "'" == value[-1:] or value[:1] == '"' == value[-1:]:
        value = value[1:-1]
    return unescape(value) if value else value


def _tokens(html: str) -> list[Token]:
    """The text and tags of ``html``, read as HTMLParser reads them (see the top of this section).

    Raises :class:`_Unreadable` where HTMLParser raises.
    """
    found = _SCAN.findall(html)
    if not found or found[-1][5] != "<":
        return found
    out: list[Token] = []
    pos = 0
    while True:
        # the last match took the rest of html from a "<" that needs the careful path
        text = found.pop()[0]
        out += found
        if text:
            out.append((text, "", "", "", "", ""))
        pos += sum(map(_length, found)) + len(text)
        pos = _markup(html, pos, out)
        if pos >= len(html):
            return out
        found = _SCAN.findall(html, pos)
        if not found or found[-1][5] != "<":
            out += found
            return out


Event = tuple[str, str] | tuple[str, str, list[tuple[str, str | None]]]


def _events(html: str) -> list[Event]:
    """:func:`_tokens` as HTMLParser's calls: ("data", text), ("start", tag, attrs), ("end", tag).

    What html_to_text makes of the tokens, spelled out (for the tests).
    """
    events: list[Event] = []
    for text, name, attributes, close, end_name, special in _tokens(html):
        if special == "d":
            events.append(("data", text))
        elif special == "s":
            events.append(("start", name, attributes))  # type: ignore[arg-type]  # a list, from the careful path
        elif special == "e":
            events.append(("end", end_name))
        else:
            if text:
                events.append(("data", unescape(text)))
            if name:
                attrs = [(a.lower(), _attribute_value(v or None)) for a, v in _ATTRIBUTES.findall(attributes)]  # type: ignore[arg-type]
                events.append(("start", name.lower(), attrs))
                if close[-1:] == "/":
                    events.append(("end", name.lower()))
            elif end_name:
                events.append(("end", end_name.lower()))
    return events


def _raw_text(html: str, pos: int, tag: str, out: list[Token]) -> int:
    """The content of a script or style element up to its end tag; the end of ``html`` when it has none."""
    find_end = _RAW_TEXT_END[tag].search
    while True:
        m = find_end(html, pos)
        if m is None:
            # HTMLParser keeps waiting for the end tag: the rest is never reported
            return len(html)
        if m.start() > pos:
            out.append(_data(html[pos : m.start()]))
        if _END_TAG.match(html, m.start()):  # "</script>", not "</ſcript>" (re.I matches "ſ" to "s")
            out.append(_end(tag))
            return m.end()
        out.append(_data(m.group()))
        pos = m.end()


def _markup(html: str, i: int, out: list[Token]) -> int:
    """Whatever starts with the ``<`` at ``i`` that _SCAN did not take; where reading goes on."""
    nxt = html[i + 1 : i + 2]
    if nxt.isascii() and nxt.isalpha():
        end = _start_tag(html, i, out)
    elif nxt == "/":
        end = _end_tag(html, i, out)
    elif html.startswith("<!--", i):
        m = _COMMENT_END.search(html, i + 4)
        end = m.end() if m else -1
    elif nxt == "?":
        end = html.find(">", i + 2)
        end = end + 1 if end >= 0 else -1
    elif nxt == "!":
        end = _declaration(html, i)
    else:  # a "<" that starts nothing (_SCAN takes those as text)
        out.append(_data("<"))
        return i + 1
    if end >= 0:
        return end
    # unfinished: HTMLParser gives it up as text, to the next ">" (or "<")
    gt = html.find(">", i + 1)
    if gt >= 0:
        end = gt + 1
    else:
        end = html.find("<", i + 1)
        if end < 0:
            end = i + 1
    out.append(_data(unescape(html[i:end])))
    return end


def _start_tag(html: str, i: int, out: list[Token]) -> int:
    """A start tag with its attributes (or the text it turns out to be); -1 when unfinished."""
    j = _START_EXTENT.match(html, i).end()  # type: ignore[union-attr]  # matches "<" + letter
    after = html[j : j + 1]
    if after == ">":
        endpos = j + 1
    elif after == "/":
        if not html.startswith("/>", j):
            return -1
        endpos = j + 2
    elif not after or after in _STOPS_A_START_TAG:
        return -1
    else:
        endpos = j
    m = _TAG_NAME.match(html, i + 1)
    tag = m.group(1).lower()  # type: ignore[union-attr]
    k = m.end()  # type: ignore[union-attr]
    attrs: list[tuple[str, str | None]] = []
    while k < endpos:
        a = _ATTRIBUTE.match(html, k)
        if not a:
            break
        name, rest, value = a.group(1, 2, 3)
        attrs.append((name.lower(), _attribute_value(value if rest else None)))
        k = a.end()
    close = html[k:endpos].strip()
    if close not in (">", "/>"):
        out.append(_data(html[i:endpos]))
        return endpos
    out.append(_start(tag, attrs))
    if close.endswith("/>"):
        out.append(_end(tag))
    elif tag in _RAW_TEXT_END:
        return _raw_text(html, endpos, tag, out)
    return endpos


def _end_tag(html: str, i: int, out: list[Token]) -> int:
    """An end tag, or what HTMLParser makes of ``</`` otherwise; -1 when unfinished."""
    gt = html.find(">", i + 1)
    if gt < 0:
        return -1
    m = _END_TAG.match(html, i)
    if m:
        out.append(_end(m.group(1).lower()))
        return gt + 1
    m = _TAG_NAME.match(html, i + 2)
    if not m:
        if html.startswith("</>", i):
            return i + 3
        return html.find(">", i + 2) + 1  # a bogus comment
    out.append(_end(m.group(1).lower()))
    return html.find(">", m.end()) + 1


def _declaration(html: str, i: int) -> int:
    """Where ``<!...`` (a marked section, a doctype, a bogus comment) ends; -1 when unfinished."""
    if html.startswith("<![", i):
        j = i + 3
        if j == len(html):
            return -1
        m = _DECLARATION_NAME.match(html, j)
        if not m:
            raise _Unreadable("expected a name in a marked section")
        if m.end() == len(html):
            return -1
        name = m.group().strip().lower()
        if name in ("temp", "cdata", "ignore", "include", "rcdata"):
            m = _SECTION_END.search(html, j)
        elif name in ("if", "else", "endif"):
            m = _CONDITIONAL_END.search(html, j)
        else:
            raise _Unreadable(f"unknown marked section {name!r}")
        return m.end() if m else -1
    if html[i : i + 9].lower() == "<!doctype":
        gt = html.find(">", i + 9)
    else:
        gt = html.find(">", i + 2)
    return gt + 1 if gt >= 0 else -1


# --- the renderer ---------------------------------------------------------------------------


def _decode(text: str) -> str:
    """html.unescape(text), the commonest references first (each is always read alone, and
    none of these becomes a "&" that could start another)."""
    text = text.replace("&nbsp;", "\u00a0").replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"')
    return unescape(text) if "&" in text else text


# What the attributes of a start tag say, for the renderer:
# (a class of a quote container, a class or id of a quote header, a border-top style, a tabindex)
Flags = tuple[bool, bool, bool, bool]
_FLAGS_CACHE: dict[str, Flags] = {}  # by the text of the attributes: mail repeats them a lot


def _flags(attrs: list[tuple[str, str | None]]) -> Flags:
    attr = {k: (v or "") for k, v in attrs}
    cls = attr.get("class", "").lower()
    return (
        any(c in cls for c in _CONTAINER_CLASSES),
        any(c in cls for c in _QUOTE_CLASSES) or attr.get("id", "").lower() in _QUOTE_IDS,
        bool(_BORDER_TOP.search(attr.get("style", ""))),
        "tabindex" in attr,
    )


def _flags_of(attributes: str) -> Flags:
    """:func:`_flags` of attributes as _SCAN matched them."""
    flags = _FLAGS_CACHE.get(attributes)
    if flags is None:
        flags = _flags([(a.lower(), _attribute_value(v or None)) for a, v in _ATTRIBUTES.findall(attributes)])
        if len(_FLAGS_CACHE) >= 4096:
            _FLAGS_CACHE.clear()
        _FLAGS_CACHE[attributes] = flags
    return flags


_ADDRESS = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")


def _mailto(attributes: str | list[tuple[str, str | None]]) -> str | None:
    """The address of an ``href="mailto:..."``, lower case, if it is one.

    ``attributes`` as a token holds them: the text _SCAN matched, or html.parser's pairs.
    """
    if isinstance(attributes, str):
        attributes = [(a.lower(), _attribute_value(v or None)) for a, v in _ATTRIBUTES.findall(attributes)]
    href = next((v or "" for k, v in attributes if k == "href"), "").strip()
    target = unquote(href[7:].split("?")[0]).strip() if href[:7].lower() == "mailto:" else ""
    return target.lower() if _ADDRESS.fullmatch(target) else None


def html_to_text(html: str) -> str:
    """Render ``html`` as plain text, marking where the quoted thread starts.

    >>> html_to_text("<p>Talk to <b>Jane</b></p><blockquote>old</blockquote>")
    'Talk to Jane\\n\\n> old\\n>'
    """
    try:
        tokens = _tokens(html)
    except _Unreadable:  # as html.parser raises: the text without its tags
        return unescape(re.sub(r"<[^>]+>", " ", html))

    lines: list[str] = []
    current: list[str] = []  # the text of the line being written, as it came
    stack: list[tuple[str, bool]] = []  # the open elements, and whether each holds a quote
    open_count: dict[str, int] = {}  # how many of each tag the stack holds
    skip = 0  # inside script, style, head...
    quote_depth = 0
    marked = False
    blank = True  # whether the last line is blank ("", ">", "> >"...), or there is none
    links: list[tuple[str, int, int]] = []  # open <a href="mailto:...">: the address, the line, its text so far

    def flush() -> None:  # (a no-op when "not current and blank")
        nonlocal blank
        if current:
            text = "".join(current)
            current.clear()
            if "\r" in text:
                text = text.replace("\r", "")
            if "\n" in text:
                text = text.replace("\n", " ")
            if "  " in text or "\t" in text or "\u00a0" in text:
                text = _SPACES.sub(" ", text)
            text = text.strip()
            if text:
                lines.append("> " * quote_depth + text if quote_depth else text)
                # (text has no white space at its ends: a blank line only if it is all ">")
                blank = text[0] == ">" and not text.strip("> ")
                return
        if not blank:  # one blank line between paragraphs, never two
            lines.append(("> " * quote_depth).rstrip())
            blank = True

    # the loop reads the tokens as _events does, and does what the tags say
    for text, name, attributes, close, end_name, special in tokens:
        if text and not skip:
            if "&" in text and not special:
                text = _decode(text)
            # white space that starts a line is stripped anyway: not kept (it is often the
            # new line between two tags)
            if current or not text.isspace():
                current.append(text)
        if name:  # a start tag
            if special:
                tag = name
                flags = _flags(attributes) if attributes else None  # type: ignore[arg-type]
            else:
                tag = name.lower()
                if tag == "br":  # the commonest tag, and <br/> is no more than <br>
                    if current or not blank:
                        flush()
                    continue
                flags = _flags_of(attributes) if attributes else None  # type: ignore[arg-type]
            if tag in _SKIP:
                skip += 1
            elif tag == "br":
                if current or not blank:
                    flush()
            else:
                if tag in _BLOCK and (current or not blank):  # blockquote included
                    flush()
                container = tag == "blockquote" or flags is not None and flags[0]
                if tag not in _VOID:
                    stack.append((tag, container))
                    open_count[tag] = open_count.get(tag, 0) + 1
                if container and tag != "blockquote":
                    flush()
                    quote_depth += 1
                if flags is not None and not marked and (flags[1] or tag == "div" and flags[2] and lines or tag == "hr" and flags[3]):
                    flush()
                    lines.append(QUOTE_MARK)
                    marked = True
                    blank = False
                if tag == "blockquote":
                    quote_depth += 1
                elif tag == "td" or tag == "th":
                    current.append(" ")
                elif tag == "a" and attributes:
                    address = _mailto(attributes)
                    if address:
                        links.append((address, len(lines), len(current)))
            if not close or close[-1] != "/":
                continue
            # <x/>: a start tag and an end tag
        elif end_name:
            tag = end_name if special else end_name.lower()
        else:
            continue
        # an end tag
        if tag == "a" and links:
            # a name linked to an address ("<a href="mailto:jane@x.com">Jane Doe</a>"): the address
            # is written after it, as a plain-text client would show it
            address, line, at = links.pop()
            said = "".join(current[at:]) if line == len(lines) else "".join(current)
            if address not in said.casefold():
                current.append(f" <{address}>")
        if tag in _SKIP:
            if skip:
                skip -= 1
            continue
        if tag in _BLOCK and (current or not blank):
            flush()
        if tag in _VOID or not open_count.get(tag):
            continue
        while stack:
            open_tag, container = stack.pop()
            open_count[open_tag] -= 1
            if container:
                flush()
                if quote_depth:
                    quote_depth -= 1
            if open_tag == tag:
                break
    flush()
    return "\n".join(lines).strip()

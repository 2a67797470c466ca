"""HTML to text: the tokeniser reads markup as html.parser does, the renderer keeps the quoting.

triage.html reads markup with regular expressions of its own, not html.parser, for speed.
What it reads must be what html.parser reads (the classifier and the quote splitter were
built on that): the events of :func:`triage.html._events` are compared with those of
:class:`html.parser.HTMLParser`, on tricky markup, on generated markup and on every HTML
part of the fixtures.  The expected texts below are those of the html.parser version.
"""

from __future__ import annotations

import email
import email.policy
from html import unescape
from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import FIXTURES, MALFORMED
from triage.html import QUOTE_MARK, _decode, _events, _Unreadable, html_to_text


class _Recorder(HTMLParser):
    """HTMLParser's calls, as _events gives them (text in one piece between tags)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.events: list[tuple] = []

    def handle_starttag(self, tag, attrs):
        self.events.append(("start", tag, attrs))

    def handle_endtag(self, tag):
        self.events.append(("end", tag))

    def handle_data(self, data):
        self.events.append(("data", data))


def _merged(events: list[tuple]) -> list[tuple]:
    out: list[tuple] = []
    for event in events:
        if event[0] == "data" and out and out[-1][0] == "data":
            out[-1] = ("data", out[-1][1] + event[1])
        else:
            out.append(event)
    return out


def _html_parser_events(html: str) -> list[tuple] | None:
    """HTMLParser's events for html, or None where it raises."""
    recorder = _Recorder()
    try:
        recorder.feed(html)
        recorder.close()
    except AssertionError:
        return None
    return _merged(recorder.events)


def _check_events(html: str) -> None:
    expected = _html_parser_events(html)
    if expected is None:
        with pytest.raises(_Unreadable):
            _events(html)
    else:
        assert _merged(_events(html)) == expected


TRICKY = [
        ('<div>Talk to <b>Jane</b><br>She runs it</div><blockquote>old<br>older</blockquote>after', 'Talk to Jane\nShe runs it\n\n> old\n> older\n>\nafter'),
        ('<P>Upper <B>case</B></P><BR><DIV CLASS="GMAIL_QUOTE">quoted</DIV>', 'Upper case\n\n> quoted\n>'),
        ('<div>unclosed <b>bold <i>italic', 'unclosed bold italic'),
        ('a < b and c > d, 1<2', 'a < b and c > d, 1<2'),
        ('x <!-- a comment <div>not a tag</div> --> y', 'x y'),
        ('x <!-- unclosed comment <b>bold</b>', 'x <!-- unclosed comment <b>bold'),
        ('<![CDATA[<b>not bold</b>]]>text', 'text'),
        ('<!--[if mso]><p>outlook only</p><![endif]-->kept', 'kept'),
        ('<![if !supportLists]>1.<![endif]>item', '1.item'),
        ('<a title=\'x > y\' href="z">link</a> <img alt=">"/>after', 'link after'),
        ("<script>var s = '<div>no</div>';</script>shown<style>p { color: red }</style>", 'shown'),
        ('<SCRIPT>if (a < b) {}</SCRIPT >still shown', 'still shown'),
        ('<script>never closed <div>hidden', ''),
        ('Tom &amp; Jerry &lt;tj@x.com&gt; &nbsp;&nbsp; caf&eacute; &#233; &#x41; &notanentity; &amp', 'Tom & Jerry <tj@x.com> café é A ¬anentity; &'),
        ('<div title="&quot;q&quot;" class=\'moz-cite-prefix\'>On Monday, Ann wrote:</div><div>old text</div>', '-----Original Message-----\nOn Monday, Ann wrote:\n\nold text'),
        ('<div id="divRplyFwdMsg">From: X</div>rest', '-----Original Message-----\nFrom: X\nrest'),
        ('<p>first</p><hr tabindex="-1"><p>second</p>', 'first\n\n-----Original Message-----\n\nsecond'),
        ('<p>new</p><div style="border-top:solid #E1E1E1 1.0pt">From: Y</div><p>quoted</p>', 'new\n\n-----Original Message-----\nFrom: Y\n\nquoted'),
        ('<div class="gmail_quote"><div>On Mon wrote:</div><blockquote class="gmail_quote">deep<blockquote>deeper</blockquote></blockquote></div><div>bottom reply</div>', '> On Mon wrote:\n>\n> > deep\n> > > deeper\n> > >\nbottom reply'),
        ('<table><tr><td>a</td><td>b</td></tr><tr><th>c</th></tr></table>', 'a b\n\nc'),
        ('<br/><br />x<br/ >y<div/>z', 'x\ny\n\nz'),
        ("<a b='c'd>x</a>", 'x'),
        ('< div>not a tag</ div>', '< div>not a tag'),
        ('</>empty end</ >x</div class="a">', 'empty endx'),
        ('<!DOCTYPE html><?xml version="1.0"?><!weird>text', 'text'),
        ('text ending with <', 'text ending with <'),
        ('text ending with <div', 'text ending with <div'),
        ('text ending with <div class="a', 'text ending with <div class="a'),
        ('<o:p></o:p>Word<o:p>&nbsp;</o:p>', 'Word'),
        ('line\r\nbreaks\rand\ttabs   and\xa0nbsp', 'line breaksand tabs and nbsp'),
        ('<head><title>t</title></head><body>body</body>', 'body'),
        ('> already quoted<br>&gt; also', '> already quoted\n> also'),
        ('<div>a</div>\n<div>\n</div>\n<div>b</div>', 'a\n\nb'),
        ('<![ bad marked section', '<![ bad marked section'),
    ('<div class="a<b>bold</b> after', '<div class="a<b>bold after'),
    ("<x y='<b>q</b>", "<x y='<b>q"),
    ('<div class=gmail_quote id="<b>x</b>', '<div class=gmail_quote id="<b>x'),
    ('<![else]>else<![endif]>x', 'elsex'),
    ('a<![foo]>b', 'a b'),
    ('<p>a<![cdata[b]]>c</p>', 'ac'),
    ('&gt;<br><br>x', '>\nx'),
    ('<div>&gt; &gt;</div><div>y</div>', '> >\ny'),
    ('<b>a</b>\n<b>b</b> <i> </i>c', 'a b c'),
    ('<blockquote>&gt;</blockquote><br>z', '> >\nz'),
    ('<p>\u2003 a\xa0\xa0b \t</p>', 'a b'),
]


@pytest.mark.parametrize(("html", "text"), TRICKY)
def test_tricky_markup(html: str, text: str) -> None:
    assert html_to_text(html) == text
    _check_events(html)


# pieces of markup, well and badly formed, to put together at random
_PIECES = [
    "<div>", "</div>", "<DIV>", "</DIV >", "<p>", "</p>", "<br>", "<br/>", "<BR />", "<br/ >", "<b>", "</b>", "<i>", "</i>",
    "<blockquote>", "</blockquote>", '<blockquote type="cite">', '<div class="gmail_quote">', "<div class=gmail_quote>",
    '<div class="yahoo_quoted" id=x>', '<div id="divRplyFwdMsg" dir="ltr">', '<div id=appendonsend></div>',
    '<div style="border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0in 0in 0in">', '<hr tabindex="-1" style="display:inline-block">',
    "<hr>", '<div class="moz-cite-prefix">', "<table>", "<tr>", "<td>", "</td>", "<th>", "</tr>", "</table>", "<ul>", "<li>",
    "<head>", "</head>", "<title>", "</title>", "<o:p>", "</o:p>", "<xml>", "</xml>", "<span>", "</span>", "<font face=x>",
    "<script>", "</script>", "</SCRIPT >", "<style type=text/css>", "</style>", "<style/>", "<ſcript>", "</ſcript>", "</ſtyle>",
    "<!-- c -->", "<!--", "-->", "<!-->", "<!--[if mso]>", "<![endif]-->", "<![if !supportLists]>", "<![endif]>",
    "<![CDATA[", "]]>", "<![else]>", "<![foo]>", "<![ ", '<div class="a', "<x y='", "<x y=", "<!DOCTYPE html>", "<!doctype", "<?xml x?>", "<?", "<!x>", "<!", "</>", "</ x>", "</ >", "</1>",
    "<", ">", "< ", "<3", "<é>", "</é>", "<a b='c'd>", '<a title="x > y">', "<a title='x > y'>", '<img alt=">"/>',
    "<a b=c/>", '<a href="x" / >', "<div\n class = \"a\" >", "<x y==z>", "<x y= >", "<x \"y\">", "<x\u00a0y>", "<a\x00b>",
    '<p class="A" CLASS="gmail_quote" Id=DivRplyFwdMsg>', "<a&b>", "<div/x>",
    "&amp;", "&nbsp;", "&lt;", "&gt;", "&quot;", "&#39;", "&#x41;", "&#0;", "&", "&amp", "&notin;", "&notit;", "&unknown;", "&#",
    "text", "more text", " ", "  ", "\n", "\r\n", "\t", "\u00a0", "é", "Ünal", "> quoted", "-----",
]
_markup = st.lists(st.sampled_from(_PIECES), max_size=40).map("".join)


@given(_markup)
@settings(max_examples=1500, deadline=None)
def test_generated_markup_reads_as_with_html_parser(html: str) -> None:
    _check_events(html)


@given(st.text(alphabet="<>/!?-[]abcdiv =\"'&;#x1 \n", max_size=60))
@settings(max_examples=1500, deadline=None)
def test_random_markup_characters_read_as_with_html_parser(html: str) -> None:
    _check_events(html)


def _html_parts() -> list[str]:
    parts = []
    for path in sorted([*FIXTURES.rglob("*.eml"), *MALFORMED.rglob("*.eml")]):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.compat32)
        for part in message.walk():
            if part.get_content_type() == "text/html":
                payload = part.get_payload(decode=True) or b""
                parts.append(payload.decode(part.get_content_charset() or "utf-8", "replace"))
    return parts


def test_every_html_part_of_the_fixtures_reads_as_with_html_parser() -> None:
    parts = _html_parts()
    assert len(parts) > 100
    for html in parts:
        _check_events(html)


def test_quote_containers_and_markers() -> None:
    text = html_to_text('<p>Sure, talk to Ann.</p><div class="gmail_quote"><div>On Mon, Sam wrote:</div><blockquote>Who?</blockquote></div>')
    assert text.splitlines() == ["Sure, talk to Ann.", "", "> On Mon, Sam wrote:", ">", "> > Who?", "> >"]
    text = html_to_text('<div>new</div><div id="divRplyFwdMsg"><b>From:</b> Sam</div><div>old</div>')
    assert text.splitlines() == ["new", "", QUOTE_MARK, "From: Sam", "", "old"]


@given(st.lists(st.sampled_from(["&", "&amp", "&amp;", "&nbsp;", "&nbsp", "&lt;", "&lt", "&gt;", "&quot;", "&not", "&notit;", "&notin", "&#", "&#38", "&#x4", ";", "#", "x", "in", " ", "\u00a0", "<", ">", '"']), max_size=20).map("".join))
@settings(max_examples=1000, deadline=None)
def test_references_decode_as_html_unescape(text: str) -> None:
    assert _decode(text) == unescape(text)


_attribute = st.tuples(
    st.sampled_from([" ", "  ", "\n", "\t", "/", " / ", "", "\u00a0", "\x0b"]),
    st.sampled_from(["class", "CLASS", "id", "style", "tabindex", "data-x", "a:b", "_x", "x.y", "1x", '"q"', "=", "é"]),
    st.sampled_from(["", "=", " = ", "=="]),
    st.sampled_from(['"gmail_quote"', "'divRplyFwdMsg'", "x", "", '"a > b"', "'a\"b'", '"', "'", "a/", "a=b", "&amp;x", '"&quot;"', "`x`"]),
)
_tag = st.tuples(
    st.sampled_from(["div", "DIV", "blockquote", "hr", "br", "p", "o:p", "x-y", "a1", "script", "style", "td"]),
    st.lists(_attribute, max_size=4),
    st.sampled_from([">", "/>", " >", " />", "/ >", "", " ", "\n>"]),
).map(lambda t: "<" + t[0] + "".join(sep + name + eq + value for sep, name, eq, value in t[1]) + t[2])


@given(st.lists(st.one_of(_tag, st.sampled_from(["text", "</div>", "</blockquote>", "</script>", "</style>", " ", "&amp;"])), max_size=12).map("".join))
@settings(max_examples=1500, deadline=None)
def test_tags_with_attributes_read_as_with_html_parser(html: str) -> None:
    _check_events(html)


def test_a_name_linked_to_an_address_keeps_the_address() -> None:
    html = (
        '<p>Bitte an <a href="mailto:Juergen.Massmann@weserland.de?subject=Hallo">Herrn J&uuml;rgen Ma&szlig;mann</a> wenden.</p>'
        '<p>E-Mail: <a href="mailto:jane@x.com">jane@x.com</a> <a href="https://x.com">site</a> <a href="mailto:">?</a></p>'
    )
    assert html_to_text(html) == "Bitte an Herrn Jürgen Maßmann <juergen.massmann@weserland.de> wenden.\n\nE-Mail: jane@x.com site ?"

"""The shortcuts of contact extraction change no result.

Each shortcut skips work only where that work could not find anything; these
tests hold each one against the plain computation it replaces, on the texts
of the shipped fixtures and on random strings.
"""

from __future__ import annotations

import dataclasses
import random
import re

import phonenumbers

from triage import extract, names
from triage.decide import Decider
from triage.ner import Span
from triage.records import Reply


def _texts(replies: list[Reply]) -> list[str]:
    return [t for r in replies for t in (r.new_text or "", r.signature or "", r.body)]


def _random_texts(alphabet: list[str], n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 50))) for _ in range(n)]


def test_the_first_phone_is_the_first_of_all_numbers_that_are_not_ours(fixture_replies: list[Reply]) -> None:
    ours = ("sam.carter@brightline.io",)
    seen = 0
    for reply in fixture_replies:
        text = reply.new_text or ""
        region = extract.region_for(reply)
        own_addrs = {reply.from_addr} | set(ours) | set(reply.to)
        # the computation before the shortcut: every number, then the filter against the quoted digits
        folded = reply.quoted.casefold()
        ours_quoted = re.sub(r"\D", "", reply.quoted) if any(a and a in folded for a in own_addrs - {reply.from_addr}) else ""
        every = [p for p in extract.find_phones(text, region) if not (ours_quoted and p.e164[-8:] in ours_quoted)]
        assert extract._first_phone(reply, text, region, own_addrs) == every[:1], reply.source
        seen += bool(every)
    assert seen > 80


def test_our_sdrs_number_leaked_into_the_new_text_is_skipped(fixture_replies: list[Reply]) -> None:
    base = next(r for r in fixture_replies if r.new_text)
    text = "Not me - I'm on +1 604 555 0100 only on Fridays. Call Jane at +1 604 555 0119."
    quoted = "On Mon, Sam Carter <Sam.Carter@Brightline.io> wrote:\n> Sam Carter | Brightline | +1 (604) 555-0100"
    reply = dataclasses.replace(base, new_text=text, quoted=quoted, from_addr="pat@example.com", to=("sam.carter@brightline.io",))
    own = {reply.from_addr, "sam.carter@brightline.io"}
    assert [p.e164 for p in extract._first_phone(reply, text, "US", own)] == ["+16045550119"]
    elsewhere = dataclasses.replace(reply, quoted=quoted.replace("Brightline.io", "elsewhere.io"))
    assert [p.e164 for p in extract._first_phone(elsewhere, text, "US", own)] == ["+16045550100"]


def test_a_number_written_with_a_full_width_plus_sets_the_region(fixture_replies: list[Reply]) -> None:
    base = next(r for r in fixture_replies if r.new_text)
    reply = dataclasses.replace(base, from_addr="pat@example.com", signature="Pat\nTel \uff0b44 20 7946 0321")
    assert extract.region_for(reply) == "GB"
    assert extract.region_for(dataclasses.replace(reply, signature="Pat\nTel 020 7946 0321"), "FR") == "FR"


def test_our_address_is_found_in_the_quote_as_the_case_folded_search_finds_it(fixture_replies: list[Reply]) -> None:
    addresses = ["sam.carter@brightline.io", "Sam.Carter@Brightline.io", "", "straße@example.de", "strasse@example.de"]
    quotes = [r.quoted for r in fixture_replies] + ["From: SAM.CARTER@BRIGHTLINE.IO", "STRASSE@EXAMPLE.DE", "Straße@example.de"]
    for quoted in quotes:
        for chosen in ([a] for a in addresses):
            assert extract._quotes_us(quoted, chosen) == any(a and a in quoted.casefold() for a in chosen)


def test_without_a_plus_sign_no_number_is_read_without_a_region(fixture_replies: list[Reply]) -> None:
    """The shortcut of region_for: with no default region, phonenumbers reads only numbers written with "+"."""
    alphabet = list("0123456789 -()./+＋x\n") + ["ext. ", "00", "+44 ", "020 7946 0321", "+1 415 555 0123", "٠١٢٣٤٥٦٧٨٩", "tel: "]
    texts = _texts(fixture_replies) + [r.quoted[:3000] for r in fixture_replies] + _random_texts(alphabet, 1500, 2)
    found_with_plus = 0
    for text in texts:
        found = list(phonenumbers.PhoneNumberMatcher(text, None, leniency=phonenumbers.Leniency.POSSIBLE))
        if "+" not in text and "\uff0b" not in text:
            assert found == [], text
        found_with_plus += bool(found)
    assert found_with_plus > 100
    for reply in fixture_replies:  # and region_for is what the full search gives
        if extract.domain_region(reply.from_addr) is not None:
            continue
        matcher = phonenumbers.PhoneNumberMatcher(reply.signature or "", None)
        regions = [phonenumbers.region_code_for_number(m.number) for m in matcher]
        valid = next((r for r in regions if r and r != "ZZ"), None)
        # a valid number's region is always found; without one, a "+" number's country code may give it
        assert extract.region_for(reply) == valid if valid else True


def test_a_text_without_an_at_has_no_obfuscated_address(fixture_replies: list[Reply]) -> None:
    alphabet = list("abcdot .@[](){}\n") + [" at ", "[at]", "(dot)", " dot ", "jane", "acme", "com", "AT", "At"]
    for text in _texts(fixture_replies) + _random_texts(alphabet, 3000, 4):
        if list(extract._OBFUSCATED.finditer(text)):
            assert extract._OBFUSCATED_AT.search(text), text


def test_the_cue_search_finds_what_the_plain_case_insensitive_pattern_finds(fixture_replies: list[Reply]) -> None:
    plain = re.compile(r"(?<![\w])(" + names._CUES + r")(?![\w])", re.I)
    alphabet = list("abcdefghijklmnoprstuvwyz ,.'\nÜüКкСсОоПпЭэſKİı") + [
        "contact ", "talk to ", "con ", "к ", "my colleague ", "mon collègue ", "ma ", "MY Colleague ", "Свяжитесь с ",
    ]
    texts = _texts(fixture_replies) + [r.quoted[:3000] for r in fixture_replies] + _random_texts(alphabet, 3000, 6)
    for text in texts:
        assert list(names._cues_in(text)) == [m.span() for m in plain.finditer(text)], text


def test_a_word_that_cannot_start_a_name_starts_no_run(fixture_replies: list[Reply]) -> None:
    words = ["dr.", "Dr.", "mme", "herr", "van", "de", "di", "m", "m.", "мистер", "г-н", "prof", "mr", "señor", "ǅemal", "ßtraße", "élodie", "Élodie"]
    texts = _texts(fixture_replies) + [f"{w} {rest}" for w in words for rest in ("Jane Doe", "jane doe", "Dr. Jane Doe, CFO", "Иван Петров")]
    skipped = 0
    for text in texts:
        for m in names._WORD.finditer(text):
            if names._cannot_start_name(m.group(0)):
                skipped += 1
                assert names.name_run(text[m.start() :]) == [], text[m.start() : m.start() + 40]
    assert skipped > 1000


def test_near_leading_and_cues_on_the_fixtures() -> None:
    """Spot checks with names the rules must find (the fixtures' own tests cover the rest)."""
    text = "Please reach out to Dr. Jane Doe-Smith in finance. Tony Russo runs sales ops.\nMaria Kowalczyk <maria.k@acme.pl>"
    assert [c.name for c in names.after_cues(text)] == ["Dr. Jane Doe-Smith"]
    assert [c.name for c in names.leading(text)] == ["Tony Russo", "Maria Kowalczyk"]
    assert [c.name for c in names.near(text, text.index("maria.k@"))][0] == "Maria Kowalczyk"


class _Recogniser:
    """Finds every run of two capitalised words; records the batches it is given."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    def spans(self, texts: list[str]) -> list[list[Span]]:
        self.batches.append(list(texts))
        return [[Span(m.group(0), m.start(), "CONTACT") for m in re.finditer(r"\b[A-Z][a-z]+ [A-Z][a-z]+\b", t)] for t in texts]


def test_the_recogniser_runs_once_per_batch_and_decides_as_one_by_one(fixture_replies: list[Reply], model) -> None:
    chosen = [r for r in fixture_replies if "/referral/" in r.source or "/out_of_office/" in r.source]
    batched = _Recogniser()
    one_by_one = _Recogniser()
    many = Decider(model=model, recogniser=batched, ours=("sam.carter@brightline.io",)).decide_many(chosen)
    single = Decider(model=model, recogniser=one_by_one, ours=("sam.carter@brightline.io",))
    assert many == [single.decide(r) for r in chosen]
    assert len(batched.batches) == 1 and sorted(batched.batches[0]) == sorted(t for b in one_by_one.batches for t in b)
    assert len(batched.batches[0]) > 10
    assert any(d.contact is not None and "name" in d.contact.spans for d in many)


def test_accents_are_stripped_from_ascii_as_from_any_text() -> None:
    import unicodedata

    def slow(text: str) -> str:
        return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)).casefold()

    texts = ["".join(map(chr, range(128))), "Jane O'Neil-Smith", "ÉLODIE Façade", "Straße", "ǅemal", "Ｊａｎｅ", "Ａ", "ﬁ", "Ⅳ"]
    for text in texts + [chr(c) for c in range(0x3000)]:
        assert names.strip_accents(text) == slow(text)


def test_no_valid_number_in_the_metadata_is_shorter_than_the_digit_shortcut() -> None:
    # extract skips the matcher on texts with fewer digits than this: a phonenumbers release
    # with a shorter numbering plan must lower the constant
    shortest = min(
        min(length for length in metadata.general_desc.possible_length if length > 0)
        for metadata in [phonenumbers.PhoneMetadata.metadata_for_region(r) for r in phonenumbers.SUPPORTED_REGIONS]
        + [phonenumbers.PhoneMetadata.metadata_for_nongeo_region(c) for c in phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS]
    )
    assert shortest == extract.MIN_PHONE_DIGITS
    # the shortest number there is, in its own region, is still found; written in full-width digits too
    assert [p.e164 for p in extract.find_phones("ring 4002", "NU")] == ["+6834002"]
    assert [p.e164 for p in extract.find_phones("ring \uff14\uff10\uff10\uff12", "NU")] == ["+6834002"]
    assert extract.find_phones("ring 400", "NU") == []


def test_the_digit_shortcut_finds_what_the_matcher_finds(fixture_replies: list[Reply]) -> None:
    rng = random.Random(5)
    texts = _texts(fixture_replies) + _random_texts(list("0123456789 +-()x.\uff10\uff14٣ab\n"), 400, seed=9)
    for text in texts + [t[rng.randrange(len(t) + 1):] for t in texts if t]:
        for region in ("US", "DE", "NU"):
            matcher = [
                phonenumbers.format_number(m.number, phonenumbers.PhoneNumberFormat.E164)
                for m in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.VALID)
                if not extract._DATE_LIKE.fullmatch(m.raw_string)  # dates are dropped on purpose (next test)
            ]
            assert [p.e164 for p in extract.find_phones(text, region)] == matcher, (text, region)


def test_a_country_domain_gives_the_region_and_a_generic_one_does_not(fixture_replies: list[Reply]) -> None:
    base = next(r for r in fixture_replies if r.new_text)
    for addr, region in [("a@zenithlogistics.com.ng", "NG"), ("b@x.co.ke", "KE"), ("c@x.vn", "VN"), ("d@x.co.uk", "GB")]:
        assert extract.region_for(dataclasses.replace(base, from_addr=addr, signature="")) == region
    startup = dataclasses.replace(base, from_addr="e@tesseract.io", signature="Marcus | +65 8612 0457")
    assert extract.region_for(startup) == "SG"  # .io says nothing: the signature's number does
    # a number that is possible but not valid still gives its country code
    lagos = dataclasses.replace(base, from_addr="f@zenith.com", signature="T: +234 1 270 4415")
    assert extract.region_for(lagos) == "NG"


def test_a_date_is_not_a_phone_even_where_it_would_be_a_valid_number() -> None:
    text = "Ich bin vom 23.11. bis einschließlich 04.12.2026 nicht im Hause. Tel. 05231 9870214."
    assert [m.raw_string for m in phonenumbers.PhoneNumberMatcher(text, "DE")][0] == "04.12.2026"  # the matcher takes the date
    assert [p.e164 for p in extract.find_phones(text, "DE")] == ["+4952319870214"]
    assert [p.e164 for p in extract.find_phones("Call 04.12.2026 or 0412 202 600", "AU")] == ["+61412202600"]

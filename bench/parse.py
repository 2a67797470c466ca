"""Per-message cost of triage's parsing (MIME, charsets, HTML, quote and
signature separation), against the naive parse of DESIGN.md section 5, and a
quality side-by-side of the quote splitters.

Variants, all timed interleaved in the same run over the whole corpus
(repeated --repeat times per round):

  triage        triage.parsing.parse(RawMessage): everything up to a Reply
  naive         email.message_from_bytes(policy=default) + get_body(('plain','html')).get_content()
                -- the baseline: what DESIGN.md section 5 calls the naive parse
  compat32      email.message_from_bytes(policy=compat32) + get_payload(decode=True)
                of the first leaf part, bytes only (no charset decoding)
  quotequail    naive + quotequail.unwrap(), falling back to quotequail.quote()
                (the *_html versions for HTML-only mail)

and, on text decoded once beforehand (splitting alone, no MIME):

  split:triage      triage.quotes.split_reply(Reply.body)
  split:quotequail  the quotequail step of the variant above

Quality: in how many messages does each splitter leave our SDR's full name
(the quoted outreach's signature / attribution line) in what it calls the new
text?  A simple, honest proxy for "quote not removed".  Per language.

Example: .venv/bin/python bench/parse.py --rounds 7 --repeat 3
"""

from __future__ import annotations

import email
import email.policy
import html as htmllib
import re
import sys
import warnings
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

SDR_NAMES = [
    ("Sam", "Carter"),
    ("Priya", "Nair"),
    ("Lena", "Vogel"),
    ("Claire", "Martin"),
    ("Diego", "Ramos"),
    ("Dmitri", "Orlov"),
    ("Дмитри", "Орлов"),  # Дмитрий Орлов and its inflected forms (Дмитрия Орлова...)
]
# "First Last" or "Last, First", inflected endings allowed (Russian cases, "Dmitriy")
SDR_RE = re.compile(
    "|".join(rf"\b{f}\w*\s+{l}\w*\b|\b{l}\w*,?\s+{f}\w*\b" for f, l in SDR_NAMES),
    re.I,
)
_TAG = re.compile(r"<(script|style)\b.*?</\1>|<[^>]+>", re.I | re.S)


def strip_tags(text: str) -> str:
    return htmllib.unescape(_TAG.sub(" ", text))


def naive(data: bytes) -> tuple[str, str]:
    """The DESIGN.md section 5 baseline: (content type, text)."""
    msg = email.message_from_bytes(data, policy=email.policy.default)
    part = msg.get_body(("plain", "html"))
    if part is None:
        return "", ""
    try:
        return part.get_content_type(), part.get_content()
    except (LookupError, ValueError, UnicodeError):  # unknown charset and friends
        return part.get_content_type(), ""


def compat32_bare(data: bytes) -> bytes:
    msg = email.message_from_bytes(data, policy=email.policy.compat32)
    for part in msg.walk():
        if not part.is_multipart():
            payload = part.get_payload(decode=True)
            return payload if isinstance(payload, bytes) else b""
    return b""


def quotequail_new_text(ctype: str, text: str) -> str:
    """What quotequail calls the new text (top of the message), as plain text."""
    import quotequail

    if ctype == "text/html":
        found = quotequail.unwrap_html(text)
        if found is not None:
            return strip_tags(found.get("html_top", ""))
        return strip_tags(quotequail.quote_html(text, quote_intro_line=True)[0][1])
    found = quotequail.unwrap(text)
    if found is not None:
        return found.get("text_top", "")
    return quotequail.quote(text, quote_intro_line=True)[0][1]


def main(argv: list[str] | None = None) -> int:
    ap = C.arguments(__doc__, rounds=7, profile="triage's parse and split_reply")
    ap.add_argument("--fixtures", type=Path, default=C.FIXTURES, help="folder of labelled .eml files (default: fixtures/emails)")
    ap.add_argument("--repeat", type=int, default=3, help="passes over the corpus per variant per round (default 3)")
    ap.add_argument("--no-split-only", action="store_true", help="skip the splitting-alone rows")
    ap.add_argument("--leaks", action="store_true", help="list the files where a splitter leaves the SDR's name in the new text")
    args = ap.parse_args(argv)

    warnings.simplefilter("ignore")  # quotequail/lxml and email may warn on odd input; not what we measure
    import quotequail  # noqa: F401  (import cost outside the timings)

    from triage.errors import MessageError
    from triage.parsing import parse
    from triage.quotes import split_reply
    from triage.records import RawMessage

    fixtures = C.load_fixtures(args.fixtures)
    raws = [RawMessage(str(f.path), f.data) for f in fixtures]
    datas = [f.data for f in fixtures]
    n = len(fixtures) * args.repeat
    errors: dict[str, int] = defaultdict(int)

    def v_triage() -> int:
        for _ in range(args.repeat):
            for raw in raws:
                try:
                    parse(raw)
                except MessageError:
                    errors["triage"] += 1
        return n

    def v_naive() -> int:
        for _ in range(args.repeat):
            for d in datas:
                naive(d)
        return n

    def v_compat32() -> int:
        for _ in range(args.repeat):
            for d in datas:
                compat32_bare(d)
        return n

    def v_quotequail() -> int:
        for _ in range(args.repeat):
            for d in datas:
                ctype, text = naive(d)
                try:
                    quotequail_new_text(ctype, text)
                except Exception:
                    errors["quotequail"] += 1
        return n

    # decode once for the quality table and the splitting-alone rows
    replies = []
    for raw in raws:
        try:
            replies.append(parse(raw))
        except MessageError:
            replies.append(None)
    naive_texts = [naive(d) for d in datas]

    variants = {"triage": v_triage, "naive": v_naive, "compat32": v_compat32, "quotequail": v_quotequail}
    if not args.no_split_only:
        bodies = [(r.body, r.from_name) if r else ("", "") for r in replies]

        def s_triage() -> int:
            for _ in range(args.repeat):
                for body, sender in bodies:
                    split_reply(body, sender_name=sender)
            return n

        def s_quotequail() -> int:
            for _ in range(args.repeat):
                for ctype, text in naive_texts:
                    try:
                        quotequail_new_text(ctype, text)
                    except Exception:
                        pass
            return n

        variants |= {"split:triage": s_triage, "split:quotequail": s_quotequail}

    env = C.environment()
    timings = C.interleaved(variants, args.rounds)
    base = timings["naive"]
    tri = timings["triage"]
    speed_rows = []
    for name, t in timings.items():
        speed_rows.append({
            "variant": name,
            "us_per_msg": t.us_per_item,
            "msgs_per_s": t.per_second,
            "time_vs_naive": C.paired_ratio(t, base),
            "time_vs_triage": C.paired_ratio(t, tri),
            "spread": C.spread(t),
        })

    # quality: SDR's name left in the new text
    quality: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    leaks: dict[str, list[str]] = defaultdict(list)
    for fx, reply, (ctype, text) in zip(fixtures, replies, naive_texts):
        body_plain = strip_tags(text) if ctype == "text/html" else text
        try:
            qq = quotequail_new_text(ctype, text)
        except Exception:
            qq = body_plain
        found = {
            "in_body": bool(SDR_RE.search(body_plain) or (reply and SDR_RE.search(reply.body))),
            "triage": bool(reply and SDR_RE.search(reply.new_text)),
            "quotequail": bool(SDR_RE.search(qq)),
        }
        for lang in (fx.language, "ALL"):
            q = quality[lang]
            q["n"] += 1
            for k, v in found.items():
                q[k] += v
        for k in ("triage", "quotequail"):
            if found[k]:
                leaks[k].append(str(fx.path.relative_to(args.fixtures)))
    langs = sorted((k for k in quality if k != "ALL"), key=lambda k: (-quality[k]["n"], k)) + ["ALL"]
    quality_rows = [{"language": k, **{m: quality[k][m] for m in ("n", "in_body", "triage", "quotequail")}} for k in langs]

    if args.json:
        C.dump_json({
            "env": env, "messages": len(fixtures), "repeat": args.repeat, "rounds": args.rounds,
            "speed": speed_rows, "quality": quality_rows, "errors": dict(errors),
            "leaks": dict(leaks) if args.leaks else None,
        })
        return 0

    C.print_env(env)
    print(f"# {len(fixtures)} messages x {args.repeat} per round, {args.rounds} interleaved rounds; "
          "ratios are medians of per-round paired ratios (time per message; < 1 is faster)")
    print()
    C.table(["variant", "µs/msg", "msgs/s", "time × naive", "time × triage", "spread"],
            [[r["variant"], r["us_per_msg"], r["msgs_per_s"], r["time_vs_naive"], r["time_vs_triage"], f"{r['spread']:.0%}"]
             for r in speed_rows])
    if errors:
        print(f"\nerrors (counted over all passes): {dict(errors)}")
    print("\nSDR's name left in the 'new text' (lower is better; in_body = the name is anywhere in the decoded body)\n")
    C.table(["language", "n", "in_body", "triage", "quotequail"],
            [[r["language"], r["n"], r["in_body"], r["triage"], r["quotequail"]] for r in quality_rows])
    if args.leaks:
        for k, files in leaks.items():
            print(f"\n{k} leaves the name in:")
            for f in files:
                print("  " + f)
    if args.profile:
        C.profile(lambda: [parse(r) for r in raws * args.repeat], top=args.profile, title="triage.parsing.parse")
        C.profile(lambda: [split_reply(r.body, sender_name=r.from_name) for r in replies * args.repeat if r],
                  top=args.profile, title="triage.quotes.split_reply")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Extraction cost per reply -- the referred or interim contact and the return
date -- against the baseline of parsing the same messages.

Over the referral and out_of_office fixtures, timed interleaved in the same
process (--repeat passes per round):

  parse           triage.parsing.parse(RawMessage) of the same messages (baseline)
  extract_contact triage.extract.extract_contact(reply) on every referral and
                  out_of_office reply (what Decider does for those labels)
  return_date     triage.dates.return_date(new_text or body, reply.date, language=..., region=...)
                  on the out_of_office replies, called as Decider calls it

Each row's "x parse" is the paired ratio of time per reply to parsing the
same replies.  The first call of each function in a fresh process (lazy
imports, dateparser's language data) is reported apart: it is paid once per
daemon, but it lands on the first reply.

Example: .venv/bin/python bench/extract.py --rounds 5 --repeat 1
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C


def main(argv: list[str] | None = None) -> int:
    ap = C.arguments(__doc__, rounds=5, profile="return_date and extract_contact")
    ap.add_argument("--fixtures", type=Path, default=C.FIXTURES, help="folder of labelled .eml files (default: fixtures/emails)")
    ap.add_argument("--repeat", type=int, default=1, help="passes over the replies per variant per round (default 1)")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")

    from triage.dates import guess_language, return_date
    from triage.extract import extract_contact, region_for
    from triage.parsing import parse
    from triage.records import RawMessage

    env = C.environment()
    fixtures = C.load_fixtures(args.fixtures, labels=("referral", "out_of_office"))
    raws = [RawMessage(str(f.path), f.data) for f in fixtures]
    replies = [parse(r) for r in raws]
    ooo = [i for i, f in enumerate(fixtures) if f.label == "out_of_office"]
    ooo_raws = [raws[i] for i in ooo]
    ooo_replies = [replies[i] for i in ooo]

    def when(reply):
        text = reply.new_text or reply.body
        return return_date(text, reply.date, language=guess_language(text), region=region_for(reply))

    # the first call in this process, before any warm-up
    cold = {}
    t0 = time.perf_counter()
    extract_contact(replies[0])
    cold["extract_contact"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    when(ooo_replies[0])
    cold["return_date"] = time.perf_counter() - t0

    def parse_all(items):
        def run() -> int:
            for _ in range(args.repeat):
                for raw in items:
                    parse(raw)
            return len(items) * args.repeat
        return run

    def contacts() -> int:
        for _ in range(args.repeat):
            for reply in replies:
                extract_contact(reply)
        return len(replies) * args.repeat

    def dates() -> int:
        for _ in range(args.repeat):
            for reply in ooo_replies:
                when(reply)
        return len(ooo_replies) * args.repeat

    timings = C.interleaved({
        "parse (referral+ooo)": parse_all(raws),
        "extract_contact (referral+ooo)": contacts,
        "parse (ooo)": parse_all(ooo_raws),
        "return_date (ooo)": dates,
    }, args.rounds)
    base_for = {
        "parse (referral+ooo)": "parse (referral+ooo)",
        "extract_contact (referral+ooo)": "parse (referral+ooo)",
        "parse (ooo)": "parse (ooo)",
        "return_date (ooo)": "parse (ooo)",
    }
    rows = []
    for name, t in timings.items():
        rows.append({"variant": name, "replies": t.items // args.repeat, "us_per_reply": t.us_per_item, "per_s": t.per_second,
                     "x_parse": C.paired_ratio(t, timings[base_for[name]]), "spread": C.spread(t)})
    if args.json:
        C.dump_json({"env": env, "rounds": args.rounds, "repeat": args.repeat, "rows": rows, "first_call_s": cold})
        return 0
    C.print_env(env)
    print(f"# {len(replies)} replies ({len(ooo_replies)} out_of_office) x {args.repeat} per round, {args.rounds} interleaved rounds; "
          "x parse = paired ratio of time per reply to parsing the same messages\n")
    C.table(["variant", "replies", "µs/reply", "replies/s", "x parse", "spread"],
            [[r["variant"], r["replies"], r["us_per_reply"], r["per_s"], r["x_parse"], f"{r['spread']:.0%}"] for r in rows])
    print("\nfirst call in a fresh process: " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in cold.items()))
    if args.profile:
        C.profile(dates, top=args.profile, title="return_date over the out_of_office replies")
        C.profile(contacts, top=args.profile, title="extract_contact over the referral and out_of_office replies")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Where a reply's time goes: every stage of the pipeline, per message, on generated load.

The load is ``bench/generate.py``'s (the same messages as ``bench/imap.py``,
without a server): replies of 2-20 KB with long quoted threads, plain, HTML
and multipart, several charsets, auto-replies and bounces.  Each stage is
timed over all messages in interleaved rounds; its ratio is against the
**baseline**, the standard library's ``compat32`` MIME parse of the same
messages (the floor of DESIGN.md section 5: every reply pays at least that).

| stage | what runs, over all N messages |
|---|---|
| `compat32 (baseline)` | ``email.message_from_bytes(data, policy=compat32)`` |
| `mime tree` | ``triage.mime.message_from_bytes``: the same tree, split by boundaries |
| `parse` | ``triage.parsing.parse``: MIME, charsets, HTML, auto-reply signals, quote and signature split |
| `document` | ``classifier.document``: the classifier's text with its cue tokens |
| `predict` | the classifier in batches of 32, triage's scorer |
| `predict (scikit-learn)` | the same model through scikit-learn's pipeline, for comparison |
| `decide` | ``Decider.decide_many`` in batches of 32: document, predict, contact, return date |
| `compose` | ``ForwardComposer.compose`` for every decision (a forward for referrals) |
| `all` | parse + decide + compose: one worker's share of ``triage --dry-run`` |

Usage::

    .venv/bin/python bench/pipeline.py                 # 2,000 messages, 5 rounds (~2 min)
    .venv/bin/python bench/pipeline.py --count 500 --rounds 3 --profile 15
"""

from __future__ import annotations

import email
import sys
import warnings
from email.policy import compat32
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

C.limit_threads(1)


def main(argv: list[str] | None = None) -> int:
    ap = C.arguments(__doc__, rounds=5, profile="the whole pipeline")
    ap.add_argument("--count", type=int, default=2000, help="generated messages (default 2000)")
    ap.add_argument("--seed", type=int, default=20261127, help="generator seed (default: bench/imap.py's)")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")

    import generate

    from triage import classifier as clf
    from triage import mime
    from triage.decide import Decider
    from triage.forward import ForwardComposer
    from triage.ner import Recogniser
    from triage.parsing import parse
    from triage.records import RawMessage

    env = C.environment()
    raws = [RawMessage(f"gen:{i}", g.data) for i, g in enumerate(generate.generate(args.count, seed=args.seed))]
    model = clf.load(C.MODELS)
    decider = Decider(model=model, recogniser=Recogniser.load(C.MODELS))
    composer = ForwardComposer()
    replies = [parse(r) for r in raws]
    docs = [clf.document(r) for r in replies]
    decisions = [d for i in range(0, len(replies), 32) for d in decider.decide_many(replies[i : i + 32])]
    n = len(raws)

    def each(fn, items):
        def run() -> int:
            for item in items:
                fn(item)
            return n
        return run

    def batched(fn, items):
        def run() -> int:
            for i in range(0, len(items), 32):
                fn(items[i : i + 32])
            return n
        return run

    def everything() -> int:
        for i in range(0, n, 32):
            chunk = [parse(r) for r in raws[i : i + 32]]
            for reply, decision in zip(chunk, decider.decide_many(chunk)):
                composer.compose(reply, decision)
        return n

    variants = {
        "compat32 (baseline)": each(lambda r: email.message_from_bytes(r.data, policy=compat32), raws),
        "mime tree": each(lambda r: mime.message_from_bytes(r.data), raws),
        "parse": each(parse, raws),
        "document": each(clf.document, replies),
        "predict": batched(model.predict_proba, docs),
        "predict (scikit-learn)": batched(model.model.predict_proba, docs),
        "decide": batched(decider.decide_many, replies),
        "compose": each(lambda rd: composer.compose(*rd), list(zip(replies, decisions))),
        "all": everything,
    }
    timings = C.interleaved(variants, args.rounds)
    base = timings["compat32 (baseline)"]
    rows = [{"stage": name, "us_per_msg": t.us_per_item, "per_s": t.per_second, "x_compat32": C.paired_ratio(t, base), "spread": C.spread(t)}
            for name, t in timings.items()]
    labels = {label: sum(d.label == label for d in decisions) for label in sorted({d.label for d in decisions})}
    if args.json:
        C.dump_json({"env": env, "count": n, "rounds": args.rounds, "labels": labels, "rows": rows})
        return 0
    C.print_env(env)
    print(f"# {n} generated messages (seed {args.seed}), {args.rounds} interleaved rounds, one thread; labels {labels}")
    print("# x compat32 = paired ratio of time per message to the standard library's compat32 parse of the same messages\n")
    C.table(["stage", "µs/msg", "msgs/s", "x compat32", "spread"],
            [[r["stage"], r["us_per_msg"], r["per_s"], r["x_compat32"], f"{r['spread']:.0%}"] for r in rows])
    if args.profile:
        C.profile(everything, top=args.profile, title="parse + decide + compose over all messages")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

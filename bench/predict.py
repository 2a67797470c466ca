"""Prediction throughput per core: the classifier alone in batches, the full
decision (classifier + header rules + contact and return-date extraction),
and the one-time model load.

BLAS/OpenMP are limited to --threads threads (default 1) before numpy is
imported, so the figures are per core.  Variants, timed interleaved in the
same process over a stream of --docs documents (the fixtures' replies,
cycled) per round:

  transform b=N   baseline: the model's own fitted vectorisers (words, chars),
                  bare TfidfVectorizer.transform() of the same docs, batch N
  predict b=N     Classifier.predict_proba(docs) in batches of N
  decide b=N      Decider(model).decide_many(replies) in batches of N: the
                  document, the model, the header rules, extract_contact()
                  for referral/out_of_office and return_date() for absences

"x transform" is the paired ratio of time per document to the bare transform
at the same batch size (and, for decide, at its batch size too).

Model load: triage.classifier.load(models) against the baseline of reading
the same .npz with numpy.load and touching every array.

Example: .venv/bin/python bench/predict.py --rounds 6 --docs 768 --profile 5
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C


def chunks(seq, size):
    for i in range(0, len(seq), size):
        yield seq[i:i + size]


def main(argv: list[str] | None = None) -> int:
    ap = C.arguments(__doc__, rounds=4, profile="predict b=1 and the largest decide batch")
    ap.add_argument("--fixtures", type=Path, default=C.FIXTURES, help="folder of .eml files (default: fixtures/emails)")
    ap.add_argument("--models", type=Path, default=C.MODELS, help="model directory (default: models)")
    ap.add_argument("--docs", type=int, default=512, help="documents per variant per round (default 512)")
    ap.add_argument("--batches", default="1,32,256", help="batch sizes for predict_proba (default 1,32,256)")
    ap.add_argument("--decide-batches", default="32,256", help="batch sizes for decide_many (default 32,256)")
    ap.add_argument("--loads", type=int, default=7, help="model loads to time (default 7)")
    ap.add_argument("--threads", type=int, default=1, help="BLAS/OpenMP threads (default 1: per-core figures)")
    args = ap.parse_args(argv)
    C.limit_threads(args.threads)
    warnings.simplefilter("ignore")

    import io

    import numpy as np

    from triage import classifier as clf
    from triage.decide import Decider
    from triage.errors import MessageError
    from triage.parsing import parse
    from triage.records import RawMessage

    env = C.environment()

    # one-time model load, against reading the arrays
    npz = args.models / clf.MODEL_FILE
    load_t, read_t = C.Timing("load"), C.Timing("np.load")
    for _ in range(args.loads):
        t0 = time.perf_counter()
        model = clf.load(args.models)
        load_t.seconds.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        with np.load(io.BytesIO(npz.read_bytes()), allow_pickle=False) as arrays:
            for key in arrays.files:
                arrays[key].sum()
        read_t.seconds.append(time.perf_counter() - t0)

    replies = []
    for fx in C.load_fixtures(args.fixtures):
        try:
            replies.append(parse(RawMessage(str(fx.path), fx.data)))
        except MessageError:
            pass
    stream_replies = [replies[i % len(replies)] for i in range(args.docs)]
    docs = [clf.document(r) for r in stream_replies]
    vectorizers = [vec for _, vec in model.model.named_steps["features"].transformer_list]
    decider = Decider(model=model)
    n = len(docs)

    def transform(bs):
        def run() -> int:
            for batch in chunks(docs, bs):
                for vec in vectorizers:
                    vec.transform(batch)
            return n
        return run

    def predict(bs):
        def run() -> int:
            for batch in chunks(docs, bs):
                model.predict_proba(batch)
            return n
        return run

    def decide(bs):
        def run() -> int:
            for batch in chunks(stream_replies, bs):
                decider.decide_many(batch)
            return n
        return run

    batches = [int(b) for b in args.batches.split(",") if b]
    dbatches = [int(b) for b in args.decide_batches.split(",") if b]
    variants = {}
    for bs in sorted(set(batches) | set(dbatches)):
        variants[f"transform b={bs}"] = transform(bs)
    for bs in batches:
        variants[f"predict b={bs}"] = predict(bs)
    for bs in dbatches:
        variants[f"decide b={bs}"] = decide(bs)
    timings = C.interleaved(variants, args.rounds)

    rows = []
    for name, t in timings.items():
        bs = int(name.split("=")[1])
        base = timings[f"transform b={bs}"]
        rows.append({"variant": name, "docs_per_s": t.per_second, "us_per_doc": t.us_per_item,
                     "x_transform": C.paired_ratio(t, base), "spread": C.spread(t)})
    load = {"load_s": load_t.median, "np_load_s": read_t.median, "x_np_load": C.paired_ratio(load_t, read_t),
            "npz_bytes": npz.stat().st_size}

    if args.json:
        C.dump_json({"env": env, "threads": args.threads, "docs": n, "rounds": args.rounds, "rows": rows, "load": load})
        return 0
    C.print_env(env)
    print(f"# {n} docs per variant per round ({len(replies)} distinct replies), {args.rounds} interleaved rounds, "
          f"BLAS/OpenMP threads = {args.threads}; x transform = paired ratio of time per doc (same batch size)\n")
    C.table(["variant", "docs/s", "µs/doc", "x transform", "spread"],
            [[r["variant"], r["docs_per_s"], r["us_per_doc"], r["x_transform"], f"{r['spread']:.0%}"] for r in rows])
    print(f"\nmodel load: {load['load_s'] * 1000:.0f} ms median of {args.loads} "
          f"(numpy.load of the same {load['npz_bytes'] / 1e6:.2f} MB .npz: {load['np_load_s'] * 1000:.0f} ms; "
          f"x {load['x_np_load']:.1f})")
    if args.profile:
        if 1 in batches:
            C.profile(predict(1), top=args.profile, title="predict_proba, batch 1")
        if dbatches:
            C.profile(decide(max(dbatches)), top=args.profile, title=f"decide_many, batch {max(dbatches)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Training and evaluation over labelled replies: the reports ``triage train`` and ``triage eval`` print.

Besides plain stratified cross-validation, every report carries grouped
estimates (leave one language out, leave one writer out): the model will be
judged on mail from writers and languages it never saw, and those numbers are
the honest ones.  Extraction is scored per field (name, email, phone, return
date) by exact match against the expected values beside each fixture.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import classifier as clf
from .corpus import Example
from .decide import Decider
from .records import LABELS


@dataclass
class FieldScore:
    hits: int = 0
    total: int = 0
    misses: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.hits / self.total if self.total else 0.0


@dataclass
class Evaluation:
    """Everything ``triage eval`` reports."""

    reports: list[clf.Report]
    fields: dict[str, FieldScore]
    bounce: FieldScore
    n: int
    seconds: float
    #: extraction rates per group: {"language": {"de": {"name": FieldScore, ...}}, "writer": {...}}
    groups: dict[str, dict[str, dict[str, FieldScore]]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "reports": [r.as_dict() for r in self.reports],
            "extraction": {k: {"rate": round(v.rate, 4), "hits": v.hits, "total": v.total} for k, v in self.fields.items()},
            "bounce_detection": {"rate": round(self.bounce.rate, 4), "hits": self.bounce.hits, "total": self.bounce.total},
        }


def model_examples(examples: Sequence[Example]) -> list[Example]:
    """The examples the classifier learns from: bounces come from the parser, not the model."""
    return [e for e in examples if e.label in LABELS]


def fit(examples: Sequence[Example]) -> clf.Classifier:
    usable = model_examples(examples)
    docs = [clf.document(e.reply) for e in usable]
    labels = [e.label for e in usable]
    model = clf.train(docs, labels)
    return clf.Classifier(metadata={"data_hash": clf.data_hash(docs, labels), "n": len(docs)}, pipeline=model, scorer=clf.Scorer.of(model))


def classifier_reports(
    examples: Sequence[Example],
    *,
    grouped: bool = True,
    progress: Callable[[int], None] | None = None,
) -> list[clf.Report]:
    usable = model_examples(examples)
    docs = [clf.document(e.reply) for e in usable]
    labels = [e.label for e in usable]
    reports = [clf.cross_validate(docs, labels, progress=progress)]
    if grouped:
        languages = [e.language for e in usable]
        if len(set(languages)) > 1:
            reports.append(clf.grouped_validate(docs, labels, languages, kind="leave one language out", progress=progress))
        writers = [e.writer for e in usable]
        if len(set(writers)) > 1:
            reports.append(clf.grouped_validate(docs, labels, writers, kind="leave one writer out", progress=progress))
    return reports


def grouped_steps(examples: Sequence[Example], folds: int = 5) -> int:
    usable = model_examples(examples)
    return folds + len({e.language for e in usable}) + len({e.writer for e in usable})


def _norm(value: Any) -> str:
    return " ".join(str(value).split()).casefold() if value else ""


def score_extraction(
    examples: Sequence[Example],
    decider: Decider,
    groups: dict[str, dict[str, dict[str, FieldScore]]] | None = None,
) -> tuple[dict[str, FieldScore], FieldScore]:
    """Exact-match rates of the contact fields and the return date, given the true label.

    Extraction is scored on its own: each reply is decided, and the fields
    are compared where the fixture expects them.
    """
    fields = {"name": FieldScore(), "email": FieldScore(), "phone": FieldScore(), "return_date": FieldScore()}
    bounce = FieldScore()
    decisions = decider.decide_many([e.reply for e in examples])
    for example, decision in zip(examples, decisions):
        exp = example.expected
        where = Path(example.reply.source).name
        if example.label == "bounce":
            bounce.total += 1
            bounce.hits += decision.label == "bounce"
            if decision.label != "bounce":
                bounce.misses.append(where)
            continue
        contact = exp.get("contact") or {}
        got = decision.contact
        if example.label == "referral" and decision.label == "referral" or example.label == "out_of_office" and contact:
            for key in ("name", "email", "phone"):
                want = contact.get(key)
                if not want:
                    continue
                have = getattr(got, key) if got else None
                hit = _norm(want) == _norm(have)
                for score in [fields[key]] + _group_scores(groups, example, key):
                    score.total += 1
                    score.hits += hit
                if not hit:
                    fields[key].misses.append(f"{where}: want {want!r}, got {have!r}")
        if example.label == "out_of_office" and exp.get("return_date"):
            want_date = dt.date.fromisoformat(exp["return_date"])
            hit = decision.return_date == want_date
            for score in [fields["return_date"]] + _group_scores(groups, example, "return_date"):
                score.total += 1
                score.hits += hit
            if not hit:
                fields["return_date"].misses.append(f"{where}: want {want_date}, got {decision.return_date}")
    return fields, bounce


def _group_scores(groups: dict[str, dict[str, dict[str, FieldScore]]] | None, example: Example, key: str) -> list[FieldScore]:
    if groups is None:
        return []
    out = []
    for kind, value in (("language", example.language), ("writer", example.writer)):
        out.append(groups.setdefault(kind, {}).setdefault(value, {}).setdefault(key, FieldScore()))
    return out


def evaluate(
    examples: Sequence[Example],
    decider: Decider | None,
    *,
    grouped: bool = True,
    progress: Callable[[int], None] | None = None,
) -> Evaluation:
    start = time.perf_counter()
    reports = classifier_reports(examples, grouped=grouped, progress=progress)
    if decider is None:
        decider = Decider(model=fit(examples))
    groups: dict[str, dict[str, dict[str, FieldScore]]] = {}
    fields, bounce = score_extraction(examples, decider, groups)
    return Evaluation(reports=reports, fields=fields, bounce=bounce, n=len(examples), seconds=time.perf_counter() - start, groups=groups)


def held_out(examples: Sequence[Example], decider: Decider) -> Evaluation:
    """The given model as it is on ``examples``, nothing retrained: labelled mail it never saw.

    The labels are the whole decision's (header rules and the rule for a
    referral that names nobody included), as a one-shot run would print them.
    """
    start = time.perf_counter()
    usable = model_examples(examples)
    decisions = decider.decide_many([e.reply for e in usable])
    reports = [clf.make_report([e.label for e in usable], [d.label for d in decisions], kind="held out: the given model, not retrained")] if usable else []
    groups: dict[str, dict[str, dict[str, FieldScore]]] = {}
    fields, bounce = score_extraction(examples, decider, groups)
    return Evaluation(reports=reports, fields=fields, bounce=bounce, n=len(examples), seconds=time.perf_counter() - start, groups=groups)


def markdown(evaluation: Evaluation) -> str:
    """The report as Markdown, for ``--report-dir``."""
    lines = [f"# triage evaluation ({evaluation.n} replies)", ""]
    for report in evaluation.reports:
        lines += [f"## {report.kind}", "", f"macro-F1 **{report.macro_f1:.3f}**, accuracy {report.accuracy:.3f}, n={report.n}", ""]
        lines += ["| label | precision | recall | F1 | support |", "|---|---|---|---|---|"]
        for label, s in report.per_class.items():
            lines.append(f"| {label} | {s['precision']:.3f} | {s['recall']:.3f} | {s['f1']:.3f} | {s['support']} |")
        lines += ["", "confusion (rows true, columns predicted): " + ", ".join(report.labels), ""]
        for label, row in zip(report.labels, report.confusion):
            lines.append(f"    {label:>15} {' '.join(f'{v:4d}' for v in row)}")
        lines.append("")
    lines += ["## extraction (exact match)", "", "| field | rate | hits/total |", "|---|---|---|"]
    for key, score in evaluation.fields.items():
        lines.append(f"| {key} | {score.rate:.3f} | {score.hits}/{score.total} |")
    lines.append(f"| bounce detected | {evaluation.bounce.rate:.3f} | {evaluation.bounce.hits}/{evaluation.bounce.total} |")
    keys = list(evaluation.fields)
    for kind, by_group in sorted(evaluation.groups.items()):
        lines += ["", f"### extraction by {kind}", "", f"| {kind} | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
        for group, scores in sorted(by_group.items()):
            cells = [f"{scores[k].rate:.2f} ({scores[k].hits}/{scores[k].total})" if k in scores else "-" for k in keys]
            lines.append(f"| {group} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"

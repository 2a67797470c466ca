"""From a parsed reply to a :class:`~triage.records.Decision`.

Header evidence decides bounces and auto-replies before the model does; the
classifier decides the rest; the contact and the return date are extracted
for the labels that need them.  Every decision carries its reasons.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from . import classifier as clf
from .dates import guess_language, return_date
from .extract import PreparedContact, extract_contact, prepare_contact, region_for
from .names import Candidate
from .records import Contact, Decision, Reply

DEFAULT_THRESHOLD = 0.6
#: below this probability, a "referral" that names nobody (no name, address or phone) is not one.
#: In leave-one-language-out runs over the fixtures every such prediction was wrong (11 of 11:
#: declines and "not me, no idea who" in a language the model had not seen), and no referral
#: was left without a contact.
UNSURE_REFERRAL = 0.7


def _strong_header(reply: Reply) -> bool:
    return any(not r.startswith(("auto-reply subject", "Precedence")) for r in reply.signals.reasons)


@dataclass(frozen=True)
class Decider:
    """Labels replies in batches; keyword arguments only, no global settings."""

    model: clf.Classifier
    threshold: float = DEFAULT_THRESHOLD
    ours: tuple[str, ...] = ()
    default_region: str = "US"
    recogniser: Any = None

    def decide(self, reply: Reply) -> Decision:
        return self.decide_many([reply])[0]

    def decide_many(self, replies: Sequence[Reply]) -> list[Decision]:
        to_model = [r for r in replies if not r.signals.bounce]
        probs = iter(self.model.predict_proba([clf.document(r) for r in to_model])) if to_model else iter(())
        staged = [self._stage(r, None if r.signals.bounce else next(probs)) for r in replies]
        # The entity recogniser, for the replies whose rules found no name, runs once over
        # all of them: spaCy takes about half the time per text in a batch as one by one.
        asking = [s for s in staged if isinstance(s, _Staged) and s.prepared is not None and s.prepared.needs_names]
        for s, found in zip(asking, self._recognised_many([s.reply for s in asking])):
            s.recognised = found
        return [s if isinstance(s, Decision) else self._finish(s) for s in staged]

    def _recognised_many(self, replies: Sequence[Reply]) -> list[list[Candidate]]:
        """The recogniser's names in the new text of each reply (none without a recogniser)."""
        out: list[list[Candidate]] = [[] for _ in replies]
        asked = [i for i, r in enumerate(replies) if r.new_text]
        if self.recogniser is None or not asked:
            return out
        for i, spans in zip(asked, self.recogniser.spans([replies[i].new_text for i in asked])):
            out[i] = [Candidate(s.text, s.start, "nom", 0) for s in spans]
        return out

    def _stage(self, reply: Reply, probabilities: dict[str, float] | None) -> Decision | _Staged:
        """The label and the rule-based half of the contact; a bounce is decided here."""
        signals = reply.signals
        if probabilities is None:
            why = ["bounce: " + "; ".join(signals.reasons)]
            if signals.bounce_recipient:
                why.append(f"failed recipient {signals.bounce_recipient} ({'hard' if signals.bounce_permanent is not False else 'soft'})")
            return Decision("bounce", 1.0, False, tuple(why), {})

        reasons: list[str] = [f"model: {max(probabilities, key=lambda k: probabilities[k])} {max(probabilities.values()):.2f}"]
        label = max(probabilities, key=lambda k: probabilities[k])
        confidence = probabilities[label]
        by_headers = False
        if _strong_header(reply):
            header_label = {"absence": "out_of_office", "left_company": "referral", "automated": "not_interested"}.get(signals.kind)
            if header_label:
                reasons.insert(0, f"headers: {'; '.join(signals.reasons)} ({signals.kind})")
                if header_label != label:
                    reasons.append(f"header rule overrides the model ({label})")
                label = header_label
                confidence = max(confidence, 0.9)
                by_headers = True

        prepared = None
        if label == "referral" or label == "out_of_office":
            prepared = prepare_contact(reply, ours=self.ours, default_region=self.default_region, region=region_for(reply, self.default_region))
        return _Staged(reply, probabilities, label, confidence, reasons, prepared, by_headers)

    def _finish(self, staged: _Staged) -> Decision:
        """The contact (with the recogniser's names, used only if the rules found none) and the return date."""
        reply, probabilities, label, confidence, reasons, prepared, recognised = (
            staged.reply, staged.probabilities, staged.label, staged.confidence, staged.reasons, staged.prepared, staged.recognised,
        )
        contact: Contact | None = None
        back = None
        if prepared is not None:
            contact = extract_contact(reply, ours=self.ours, default_region=self.default_region, recognised=lambda: recognised, prepared=prepared)
            if contact and label == "out_of_office" and not contact.name:
                # "urgent orders: call the sales counter on …", "sekretariat@…": a desk, not a person
                # to follow up with; the interim contact of an absence is someone named
                reasons.append("no interim contact: " + ", ".join(f"{k}: {v!r}" for k, v in contact.spans.items()) + " names nobody")
                contact = None
            if contact:
                reasons.append("contact from " + ", ".join(f"{k}: {v!r}" for k, v in contact.spans.items()))
            elif label == "referral" and not staged.by_headers and probabilities.get("referral", 1.0) < UNSURE_REFERRAL:
                # a referral points to someone: with nobody found and the model unsure, take its next label
                second = max((k for k in probabilities if k != "referral"), key=lambda k: probabilities[k])
                reasons.append(f"nobody to refer to: {second} ({probabilities[second]:.2f}) rather than referral ({probabilities['referral']:.2f})")
                label, confidence = second, probabilities[second]
        if label == "out_of_office":
            text = reply.new_text or reply.body
            region = prepared.region if prepared is not None else region_for(reply, self.default_region)
            back = return_date(text, reply.date, language=guess_language(text), region=region)
            if back:
                reasons.append(f"return date {back.isoformat()}")
        needs_review = confidence < self.threshold
        if label == "referral" and (contact is None or not (contact.email or contact.phone)):
            reasons.append("referral without an address or phone")
        return Decision(
            label=label,
            confidence=float(confidence),
            needs_review=needs_review,
            reasons=tuple(reasons),
            probabilities={k: round(v, 4) for k, v in probabilities.items()},
            contact=contact,
            return_date=back,
        )


@dataclass
class _Staged:
    """A decision between its label and its contact: the recogniser may still have to run."""

    reply: Reply
    probabilities: dict[str, float]
    label: str
    confidence: float
    reasons: list[str]
    prepared: PreparedContact | None
    #: the label is the header rule's, not the model's
    by_headers: bool = False
    recognised: list[Candidate] = field(default_factory=list)

"""From a parsed reply to a :class:`~triage.records.Decision`.

Header evidence decides bounces and auto-replies before the model does; the
classifier decides the rest; the contact and the return date are extracted
for the labels that need them.  Every decision carries its reasons.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from . import classifier as clf
from .dates import guess_language, return_date
from .extract import extract_contact, region_for
from .names import Candidate
from .records import Contact, Decision, Reply

DEFAULT_THRESHOLD = 0.6


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
        return [self._one(r, None if r.signals.bounce else next(probs)) for r in replies]

    def _recognised(self, reply: Reply) -> list[Candidate]:
        if self.recogniser is None or not reply.new_text:
            return []
        (spans,) = self.recogniser.spans([reply.new_text])
        return [Candidate(s.text, s.start, "nom", 0) for s in spans]

    def _one(self, reply: Reply, probabilities: dict[str, float] | None) -> Decision:
        signals = reply.signals
        if probabilities is None:
            why = ["bounce: " + "; ".join(signals.reasons)]
            if signals.bounce_recipient:
                why.append(f"failed recipient {signals.bounce_recipient} ({'hard' if signals.bounce_permanent is not False else 'soft'})")
            return Decision("bounce", 1.0, False, tuple(why), {})

        reasons: list[str] = [f"model: {max(probabilities, key=lambda k: probabilities[k])} {max(probabilities.values()):.2f}"]
        label = max(probabilities, key=lambda k: probabilities[k])
        confidence = probabilities[label]
        if _strong_header(reply):
            header_label = {"absence": "out_of_office", "left_company": "referral", "automated": "not_interested"}.get(signals.kind)
            if header_label:
                reasons.insert(0, f"headers: {'; '.join(signals.reasons)} ({signals.kind})")
                if header_label != label:
                    reasons.append(f"header rule overrides the model ({label})")
                label = header_label
                confidence = max(confidence, 0.9)

        contact: Contact | None = None
        back = None
        if label == "referral" or label == "out_of_office":
            contact = extract_contact(reply, ours=self.ours, default_region=self.default_region, recognised=lambda: self._recognised(reply))
            if contact:
                reasons.append("contact from " + ", ".join(f"{k}: {v!r}" for k, v in contact.spans.items()))
        if label == "out_of_office":
            text = reply.new_text or reply.body
            back = return_date(text, reply.date, language=guess_language(text), region=region_for(reply, self.default_region))
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


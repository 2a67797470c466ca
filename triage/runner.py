"""The pipeline: raw message → reply → decision → forward → store, one message at a time.

The one-shot command and the daemon both call :meth:`Runner.process`; they
differ only in how they wait for mail.  Each message is handled in isolation:
a failure is recorded with its reason and the run goes on.  Replies are
decided in small batches (the classifier is much faster per reply on a
batch) but stored one by one, each in its own transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from .decide import Decider
from .errors import MessageError
from .forward import ForwardComposer
from .outreach import Outreach
from .parsing import parse
from .records import Outcome, RawMessage, Reply
from .store import Store

log = logging.getLogger(__name__)

BATCH = 32


@dataclass
class Summary:
    """What a run did, for the summary table and the exit code."""

    labels: Counter[str] = field(default_factory=Counter)
    failed: int = 0
    already_seen: int = 0
    before_since: int = 0
    forwards: int = 0
    review: int = 0

    @property
    def decided(self) -> int:
        return sum(self.labels.values())


@dataclass
class Runner:
    """Runs messages through the pipeline; keyword arguments only."""

    decider: Decider
    composer: ForwardComposer
    store: Store | None = None
    since: dt.date | None = None
    on_outcome: Callable[[Outcome], None] | None = None
    #: called with a message's source once it is stored, recorded as failed or skipped
    on_done: Callable[[str], None] | None = None
    #: the outreach we sent, removed from replies whatever the client did to the quoting
    outreach: Outreach | None = None
    should_stop: Callable[[], bool] = lambda: False
    summary: Summary = field(default_factory=Summary)
    _seen_in_run: set[str] = field(default_factory=set)

    def process(self, messages: Iterable[RawMessage], *, advance: Callable[[int], None] | None = None) -> Summary:
        """Run every message; stop early (between messages) when ``should_stop`` says so."""
        batch: list[Reply] = []
        for raw in messages:
            if self.should_stop():
                break
            reply = self._parse(raw)
            if advance:
                advance(1)
            if reply is None:
                continue
            batch.append(reply)
            if len(batch) >= BATCH:
                self._decide(batch)
                batch = []
        if batch:
            self._decide(batch)
        return self.summary

    def _parse(self, raw: RawMessage) -> Reply | None:
        try:
            reply = parse(raw)
        except MessageError as exc:
            self._fail(raw.source, exc.reason)
            return None
        if self.outreach:
            reply = self.outreach.strip(reply)
        if self.since and reply.date and _local_date(reply.date) < self.since and raw.received is None:
            self.summary.before_since += 1
            self._done(raw.source)
            return None
        if reply.key in self._seen_in_run or (self.store is not None and self.store.seen(reply.key)):
            self.summary.already_seen += 1
            self._done(raw.source)
            return None
        self._seen_in_run.add(reply.key)
        return reply

    def _done(self, source: str) -> None:
        if self.on_done:
            self.on_done(source)

    def _fail(self, source: str, reason: str) -> None:
        self.summary.failed += 1
        log.warning("message failed", extra={"source": source, "reason": reason})
        if self.store is not None:
            self.store.record_failure(source, reason)
        if self.on_outcome:
            self.on_outcome(Outcome(source, None, None, None, error=reason))
        self._done(source)

    def _decide(self, replies: list[Reply]) -> None:
        try:
            decisions = self.decider.decide_many(replies)
        except Exception:  # noqa: BLE001 - fall back to one by one so one bad reply cannot sink the batch
            decisions = []
            for reply in replies:
                try:
                    decisions.append(self.decider.decide(reply))
                except Exception as exc:  # noqa: BLE001
                    log.exception("decision failed", extra={"source": reply.source})
                    self._fail(reply.source, f"could not decide: {type(exc).__name__}: {exc}")
                    decisions.append(None)  # type: ignore[arg-type]
        for reply, decision in zip(replies, decisions):
            if decision is None:
                continue
            forward = self.composer.compose(reply, decision)
            if self.store is not None and not self.store.record(reply, decision, forward):
                self.summary.already_seen += 1
                self._done(reply.source)
                continue
            self._done(reply.source)
            self.summary.labels[decision.label] += 1
            self.summary.forwards += forward is not None
            self.summary.review += decision.needs_review
            log.info(
                "reply decided",
                extra={"source": reply.source, "label": decision.label, "confidence": round(decision.confidence, 3), "forward": forward is not None},
            )
            if self.on_outcome:
                self.on_outcome(Outcome(reply.source, reply, decision, forward))


def _local_date(when: dt.datetime) -> dt.date:
    return when.astimezone().date()

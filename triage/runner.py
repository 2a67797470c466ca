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
import multiprocessing
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace

from .decide import Decider
from .errors import MessageError
from .forward import ForwardComposer
from .outreach import Outreach
from .parsing import parse
from .records import Decision, Forward, Outcome, RawMessage, Reply
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


@dataclass(frozen=True)
class _Work:
    """What a worker made of one message; the main process stores it."""

    source: str
    reply: Reply | None = None
    decision: Decision | None = None
    forward: Forward | None = None
    error: str | None = None
    before_since: bool = False


@dataclass(frozen=True)
class _Stages:
    """The CPU-bound stages, shared by the serial path and the worker processes."""

    decider: Decider
    composer: ForwardComposer
    outreach: Outreach | None
    since: dt.date | None

    def parse(self, raw: RawMessage) -> _Work:
        try:
            reply = parse(raw)
        except MessageError as exc:
            return _Work(raw.source, error=exc.reason)
        if self.outreach:
            reply = self.outreach.strip(reply)
        if raw.outreach:
            reply = Outreach([raw.outreach]).strip(reply)
        if self.since and reply.date and _local_date(reply.date) < self.since and raw.received is None:
            return _Work(raw.source, reply=reply, before_since=True)
        return _Work(raw.source, reply=reply)

    def decide(self, parsed: list[_Work]) -> list[_Work]:
        replies = [w.reply for w in parsed if w.reply is not None]
        try:
            decisions: list[Decision | Exception] = list(self.decider.decide_many(replies))
        except Exception:  # noqa: BLE001 - fall back to one by one so one bad reply cannot sink the batch
            decisions = []
            for reply in replies:
                try:
                    decisions.append(self.decider.decide(reply))
                except Exception as exc:
                    log.exception("decision failed", extra={"source": reply.source})
                    decisions.append(exc)
        out = []
        for work, decision in zip(parsed, decisions):
            if isinstance(decision, Exception):
                out.append(_Work(work.source, error=f"could not decide: {type(decision).__name__}: {decision}"))
            else:
                assert work.reply is not None
                out.append(_Work(work.source, work.reply, decision, self.composer.compose(work.reply, decision)))
        return out


_STAGES: _Stages | None = None  # set in each worker process (inherited through fork)


def _work_chunk(raws: list[RawMessage]) -> list[_Work]:
    """Parse and decide a chunk of messages in a worker process."""
    assert _STAGES is not None
    parsed = [_STAGES.parse(raw) for raw in raws]
    todo = [w for w in parsed if w.reply is not None and not w.before_since]
    decided = iter(_STAGES.decide(todo))
    return [_slim(next(decided) if (w.reply is not None and not w.before_since) else w) for w in parsed]


def _slim(work: _Work) -> _Work:
    """``work`` without the reply's texts that only parsing and deciding read.

    The body, the quoted thread, the signature, the headers and the vCards are
    most of a reply's size (about 16 KB of pickle a message with them, 1.6 KB
    without, on the benchmark's load); the main process only stores, marks
    and prints, and none of that reads them.
    """
    if work.reply is None:
        return work
    reply = replace(work.reply, headers={}, body="", quoted="", signature="", vcards=())
    return replace(work, reply=reply)


@dataclass
class Runner:
    """Runs messages through the pipeline; keyword arguments only.

    With ``workers`` > 1 the CPU-bound stages (parsing, deciding, composing)
    run in that many forked processes while this process reads the source
    and writes the store, so fetching overlaps with deciding and every core
    is used.  Results come back in source order; the store, the watermarks
    and the output stay in one process.  The replies in the outcomes of a
    parallel run carry only the fields the store and the output read (see
    :func:`_slim`).
    """

    decider: Decider
    composer: ForwardComposer
    store: Store | None = None
    since: dt.date | None = None
    on_outcome: Callable[[Outcome], None] | None = None
    #: called with a message's source once it is stored, recorded as failed or skipped
    on_done: Callable[[str], None] | None = None
    #: the outreach we sent, removed from replies whatever the client did to the quoting
    outreach: Outreach | None = None
    #: called with a stored reply's source and label (the IMAP source flags or moves it)
    on_decided: Callable[[str, str], None] | None = None
    should_stop: Callable[[], bool] = lambda: False
    workers: int = 1
    summary: Summary = field(default_factory=Summary)
    _seen_in_run: set[str] = field(default_factory=set)

    @property
    def _stages(self) -> _Stages:
        return _Stages(self.decider, self.composer, self.outreach, self.since)

    def process(self, messages: Iterable[RawMessage], *, advance: Callable[[int], None] | None = None) -> Summary:
        """Run every message; stop early (between messages) when ``should_stop`` says so."""
        if self.workers > 1:
            return self._process_parallel(messages, advance)
        stages = self._stages
        batch: list[_Work] = []
        for raw in messages:
            if self.should_stop():
                break
            work = stages.parse(raw)
            if advance:
                advance(1)
            if work.reply is None or work.before_since or self._seen(work.reply):
                self._finish(work)
                continue
            batch.append(work)
            if len(batch) >= BATCH:
                self._finish_all(stages.decide(batch))
                batch = []
        if batch:
            self._finish_all(stages.decide(batch))
        return self.summary

    def _process_parallel(self, messages: Iterable[RawMessage], advance: Callable[[int], None] | None) -> Summary:
        global _STAGES
        _STAGES = self._stages
        window = threading.Semaphore(self.workers * 4)  # bounds how far reading runs ahead

        def chunks() -> Iterator[list[RawMessage]]:
            chunk: list[RawMessage] = []
            for raw in messages:
                if self.should_stop():
                    break
                chunk.append(raw)
                if len(chunk) >= BATCH:
                    window.acquire()
                    yield chunk
                    chunk = []
            if chunk:
                window.acquire()
                yield chunk

        context = multiprocessing.get_context("fork")
        with context.Pool(self.workers) as pool:
            for results in pool.imap(_work_chunk, chunks()):
                window.release()
                for work in results:
                    if advance:
                        advance(1)
                    self._finish(work)
        _STAGES = None
        return self.summary

    def _seen(self, reply: Reply) -> bool:
        return reply.key in self._seen_in_run or (self.store is not None and self.store.seen(reply.key))

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

    def _finish_all(self, works: list[_Work]) -> None:
        for work in works:
            self._finish(work)

    def _finish(self, work: _Work) -> None:
        """Record one message's result: its failure, its skip, or its decision and forward."""
        if work.error is not None or work.reply is None:
            self._fail(work.source, work.error or "no reply")
            return
        reply = work.reply
        if work.before_since:
            self.summary.before_since += 1
            self._done(work.source)
            return
        if work.decision is None:  # parsed, not decided: only when already seen
            self.summary.already_seen += 1
            self._done(work.source)
            return
        if self._seen(reply):
            self.summary.already_seen += 1
            self._done(work.source)
            return
        self._seen_in_run.add(reply.key)
        decision, forward = work.decision, work.forward
        if self.store is not None and not self.store.record(reply, decision, forward):
            self.summary.already_seen += 1
            self._done(work.source)
            return
        self._done(work.source)
        if self.on_decided:
            self.on_decided(work.source, decision.label)
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

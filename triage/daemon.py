"""The daemon: the one-shot pipeline in a loop, waiting for mail between runs.

It waits with IMAP IDLE where the server has it (re-issued before the
29-minute limit) and polls otherwise; on any network or server error it
reconnects with exponential backoff and jitter.  SIGTERM and SIGINT set a
flag that is checked between messages: the message in hand is finished and
stored, then the daemon exits 0.  Health and Prometheus-format metrics are
served on an optional port.
"""

from __future__ import annotations

import logging
import random
import signal
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from .errors import ImapError, StoreError
from .records import ALL_LABELS

if TYPE_CHECKING:  # the runner pulls in the classifier: keep `import triage.daemon` light for the signal handlers
    from .runner import Runner

log = logging.getLogger(__name__)


class StopFlag:
    """Set by SIGTERM/SIGINT; checked between messages.

    The first signal asks for a clean stop; the handlers then go back to the
    defaults, so a second SIGINT or SIGTERM ends the process at once.

    >>> stop = StopFlag()
    >>> stop(), stop.set(), stop()
    (False, None, True)
    """

    def __init__(self) -> None:
        self.event = threading.Event()

    def __call__(self) -> bool:
        return self.event.is_set()

    def set(self) -> None:
        self.event.set()

    def install(self) -> None:
        def handler(signum: int, frame: Any) -> None:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            log.info("stop requested", extra={"signal": signal.Signals(signum).name})
            self.event.set()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)


class Metrics:
    """Counters served as Prometheus text on ``/metrics``; ``/healthz`` says ok."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.replies: dict[str, int] = dict.fromkeys(ALL_LABELS, 0)
        self.errors = 0
        self.failed_messages = 0
        self.last_poll = 0.0
        self.queue_depth = 0
        self.healthy = True

    def render(self) -> str:
        with self.lock:
            lines = ["# HELP triage_replies_total Replies decided, by label.", "# TYPE triage_replies_total counter"]
            lines += [f'triage_replies_total{{label="{k}"}} {v}' for k, v in sorted(self.replies.items())]
            lines += [
                "# HELP triage_errors_total Connection, server and store errors (each followed by a reconnect).",
                "# TYPE triage_errors_total counter", f"triage_errors_total {self.errors}",
                "# HELP triage_failed_messages_total Messages recorded as failed.",
                "# TYPE triage_failed_messages_total counter", f"triage_failed_messages_total {self.failed_messages}",
                "# HELP triage_last_poll_timestamp_seconds When the mailbox was last read.",
                "# TYPE triage_last_poll_timestamp_seconds gauge", f"triage_last_poll_timestamp_seconds {self.last_poll:.3f}",
                "# HELP triage_outbox_pending Forwards waiting for review or delivery (pending and approved).",
                "# TYPE triage_outbox_pending gauge", f"triage_outbox_pending {self.queue_depth}",
                "# HELP triage_up 1 while the mailbox connection works.",
                "# TYPE triage_up gauge", f"triage_up {int(self.healthy)}",
            ]
        return "\n".join(lines) + "\n"

    def serve(self, port: int, host: str = "127.0.0.1") -> ThreadingHTTPServer:
        metrics = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # http.server's naming
                if self.path == "/metrics":
                    body, code = metrics.render().encode(), 200
                elif self.path in ("/healthz", "/health"):
                    body, code = (b"ok\n", 200) if metrics.healthy else (b"unhealthy\n", 503)
                else:
                    body, code = b"not found\n", 404
                self.send_response(code)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer((host, port), Handler)
        threading.Thread(target=server.serve_forever, daemon=True, name="metrics").start()
        return server


def interruptible_sleep(seconds: float, should_stop: Callable[[], bool]) -> None:
    """Sleep up to ``seconds``, returning early once ``should_stop()`` is true."""
    end = time.monotonic() + seconds
    while not should_stop():
        left = end - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(0.2, left))


def backoff_delays(base: float = 1.0, cap: float = 300.0) -> Callable[[int], float]:
    """Exponential backoff with jitter: attempt n waits between base/2 and base·2ⁿ (at most ``cap``) seconds.

    The jitter keeps many daemons from reconnecting to a restarted server in step.

    >>> delay = backoff_delays(1.0, 60.0)
    >>> all(0.5 <= delay(n) <= min(60.0, 2.0**n) for n in range(12) for _ in range(50))
    True
    """
    return lambda attempt: random.uniform(base / 2, max(base / 2, min(cap, base * 2**attempt)))


class Daemon:
    """Runs until stopped.  ``open_source`` returns a context manager with ``fetch_new``, ``done`` and ``wait``."""

    def __init__(
        self,
        *,
        runner: Runner,
        open_source: Callable[[], Any],
        stop: StopFlag,
        poll_seconds: float = 60.0,
        metrics: Metrics | None = None,
        after_poll: Callable[[], None] | None = None,
        backoff: Callable[[int], float] | None = None,
    ) -> None:
        self.runner = runner
        self.open_source = open_source
        self.stop = stop
        self.poll_seconds = poll_seconds
        self.metrics = metrics or Metrics()
        self.after_poll = after_poll
        self.backoff = backoff or backoff_delays()
        runner.should_stop = stop

    def run(self) -> None:
        """Read, decide, wait; reconnect after errors; return once stopped."""
        attempt = 0
        while not self.stop():
            try:
                with self.open_source() as source:
                    self.runner.on_done = source.done
                    while not self.stop():
                        self._poll(source)
                        attempt = 0  # reset only after a whole poll worked, so a failing login or folder still backs off
                        if self.stop():
                            break
                        source.wait(self.poll_seconds, should_stop=self.stop)
            except (ImapError, StoreError, OSError) as exc:
                self.metrics.errors += 1
                self.metrics.healthy = False
                delay = self.backoff(attempt)
                attempt += 1
                log.warning("source error, reconnecting", extra={"error": str(exc), "retry_in": round(delay, 2), "attempt": attempt})
                interruptible_sleep(delay, self.stop)
        summary = self.runner.summary
        log.info("daemon stopped", extra={"decided": summary.decided, "failed": summary.failed, "already_seen": summary.already_seen})

    def _poll(self, source: Any) -> None:
        before = dict(self.runner.summary.labels)
        failed = self.runner.summary.failed
        self.runner.on_decided = getattr(source, "decided", None)
        self.runner.process(source.fetch_new())
        if hasattr(source, "apply_actions"):
            source.apply_actions()
        self._count(before, failed)
        self.metrics.healthy = True
        if self.after_poll:
            self.after_poll()

    def _count(self, before: dict[str, int], failed: int) -> None:
        with self.metrics.lock:
            for label, count in self.runner.summary.labels.items():
                self.metrics.replies[label] = self.metrics.replies.get(label, 0) + count - before.get(label, 0)
            self.metrics.failed_messages += self.runner.summary.failed - failed
            self.metrics.last_poll = time.time()


class LocalPoller:
    """A local folder or Maildir as a daemon source: re-read every poll; the store skips what it has seen."""

    def __init__(self, path: Path, *, max_bytes: int) -> None:
        self.path = path
        self.max_bytes = max_bytes

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def fetch_new(self) -> Any:
        from .sources import open_local

        return iter(open_local(self.path, max_bytes=self.max_bytes))

    def done(self, source: str) -> None:
        pass

    def wait(self, timeout: float, *, should_stop: Callable[[], bool]) -> bool:
        interruptible_sleep(timeout, should_stop)
        return False

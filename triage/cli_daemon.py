"""``triage daemon``: run until SIGTERM/SIGINT."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import click

from .errors import ConfigError, TriageError

log = logging.getLogger("triage.daemon")


@click.command()
@click.option("--source", type=click.Path(path_type=Path), help="Poll a local Maildir or folder instead of the IMAP mailbox.")
@click.option("--poll", "poll_seconds", default=60.0, show_default=True, help="Seconds between polls when the server has no IDLE (and the IDLE wait).")
@click.option("--metrics-port", type=int, help="Serve /healthz and Prometheus /metrics on this port (127.0.0.1).")
@click.option("--metrics-host", default="127.0.0.1", show_default=True, help="Address for the metrics port (0.0.0.0 in a container).")
@click.option("--auto-send", is_flag=True, help="Deliver approved forwards after each poll (delivery smtp or drafts).")
@click.pass_context
def daemon(
    ctx: click.Context, source: Path | None, poll_seconds: float, metrics_port: int | None, metrics_host: str, auto_send: bool
) -> None:
    """Watch the mailbox and triage every new reply until stopped.

    Waits with IMAP IDLE where the server has it, polls otherwise, reconnects
    with backoff after errors; SIGTERM or SIGINT finishes the message in hand
    and exits 0.  Logs one JSON object per line on stderr.  With [[mailboxes]]
    in the config and a PostgreSQL TRIAGE_DB, several daemons share the
    mailboxes through leases (lease_seconds).

    Example: TRIAGE_IMAP_HOST=imap.example.com TRIAGE_IMAP_USER=sdr@example.com triage daemon --metrics-port 9108
    """
    from .daemon import StopFlag

    stop = StopFlag()
    stop.install()  # first, so that a SIGTERM while the libraries and the model load is a clean stop too

    from .cli import _build_composer, _build_decider, build_outreach
    from .daemon import Daemon, LocalPoller, Metrics, interruptible_sleep
    from .delivery import recover_interrupted, send_approved, transport_for
    from .imap import ImapSource
    from .runner import Runner
    from .store import Store

    root = ctx.find_root().obj
    settings = root["settings"]
    try:
        if source is None and not settings.imap.host and not settings.mailboxes:
            raise ConfigError("no mailbox configured: set TRIAGE_IMAP_HOST, TRIAGE_IMAP_USER and TRIAGE_IMAP_PASSWORD (or [imap] in the config file), or give --source")
        decider = _build_decider(settings, root.get("model_dir"))
        if decider.recogniser is not None:
            decider.recogniser.preload_in_background()
        composer = _build_composer(settings)
        transport = transport_for(settings) if auto_send else None
        metrics = Metrics()
        if metrics_port:
            try:
                metrics.serve(metrics_port, host=metrics_host)
            except OSError as exc:
                raise ConfigError(f"cannot serve metrics on {metrics_host}:{metrics_port}: {exc.strerror}; choose another --metrics-port") from exc
        with Store(
            settings.db, follow_up_days=settings.follow_up_days, no_date_follow_up_days=settings.no_date_follow_up_days,
            follow_up_cap_days=settings.follow_up_cap_days,
        ) as store:
            # with other daemons alive, an item in "sending" may be theirs, in hand right now
            alone = not settings.mailboxes or not store.live_leases("daemon:")
            recovered = recover_interrupted(store) if alone else 0
            if recovered:
                log.warning("forwards interrupted while sending went back to review", extra={"count": recovered})
            # the same pipeline as the one-shot run, serial: the message in hand is always this process's
            runner = Runner(decider=decider, composer=composer, store=store, outreach=build_outreach(settings))

            def open_source() -> object:
                if source is not None:
                    return LocalPoller(source, max_bytes=settings.max_message_bytes)
                return ImapSource.from_settings(settings.imap, store=store)

            def after_poll() -> None:
                if transport is not None:
                    result = send_approved(store, transport, sleep=lambda seconds: interruptible_sleep(seconds, stop), should_stop=stop)
                    if result.sent or result.failed or result.deferred:
                        log.info("outbox delivered", extra={"sent": result.sent, "failed": result.failed, "deferred": result.deferred})
                metrics.queue_depth = len(store.outbox("pending")) + len(store.outbox("approved"))

            if settings.mailboxes and source is None:
                from .fleet import Fleet

                def after_round() -> None:
                    after_poll()
                    with metrics.lock:
                        metrics.replies = dict(runner.summary.labels)
                        metrics.failed_messages = runner.summary.failed
                        metrics.last_poll = time.time()

                fleet = Fleet(
                    runner=runner, store=store, mailboxes=settings.mailboxes, stop=stop,
                    open_source=lambda mailbox: ImapSource.from_settings(mailbox, store=store),
                    poll_seconds=min(poll_seconds, settings.lease_seconds / 3), lease_seconds=settings.lease_seconds,
                    after_poll=after_round,
                )
                log.info("daemon started", extra={"mailboxes": len(settings.mailboxes), "holder": fleet.holder})
                fleet.run()
                sys.exit(0)

            log.info("daemon started", extra={"source": str(source) if source else f"{settings.imap.user}@{settings.imap.host}"})
            Daemon(runner=runner, open_source=open_source, stop=stop, poll_seconds=poll_seconds, metrics=metrics, after_poll=after_poll).run()
    except TriageError as exc:
        click.echo(f"triage: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    sys.exit(0)

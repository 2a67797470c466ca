"""``triage outbox``: list, show, approve, send and discard queued forwards."""

from __future__ import annotations

import sys

import click

from .errors import ConfigError, TriageError
from .store import Store


def _store(ctx: click.Context) -> Store:
    settings = ctx.find_root().obj["settings"]
    return Store(settings.db)


def _fail(exc: TriageError) -> None:
    click.echo(f"triage: error: {exc}", err=True)
    sys.exit(exc.exit_code)


@click.group()
def outbox() -> None:
    """Review and deliver the queued warm forwards.

    Items move pending → approved → sent | failed (or discarded).

    Example: triage outbox list --state pending
    """


@outbox.command("list")
@click.option("--state", type=click.Choice(["pending", "approved", "sending", "sent", "failed", "discarded"]), help="Only items in this state.")
@click.pass_context
def list_items(ctx: click.Context, state: str | None) -> None:
    """List queued forwards.

    Example: triage outbox list --state pending
    """
    from rich.console import Console
    from rich.table import Table

    try:
        with _store(ctx) as store:
            items = store.outbox(state)
            table = Table(title=f"outbox ({len(items)} items)")
            for column in ("id", "state", "review", "to", "subject", "created"):
                table.add_column(column)
            for item in items:
                table.add_row(str(item.id), item.state, "yes" if item.needs_review else "", item.to, item.subject, item.created)
            Console(soft_wrap=True).print(table)
    except TriageError as exc:
        _fail(exc)


@outbox.command()
@click.argument("item_id", type=int)
@click.pass_context
def show(ctx: click.Context, item_id: int) -> None:
    """Show one forward as it would be sent, with the reasons it needs review.

    Example: triage outbox show 3
    """
    try:
        with _store(ctx) as store:
            item = store.outbox_item(item_id)
            if item is None:
                raise ConfigError(f"no outbox item {item_id}: see `triage outbox list`")
            click.echo(f"# item {item.id}: {item.state}" + (f" ({item.error})" if item.error else ""))
            for reason in store.review_reasons(item_id):
                click.echo(f"# review: {reason}")
            click.echo(item.message.decode("utf-8", errors="replace"))
    except TriageError as exc:
        _fail(exc)


@outbox.command()
@click.argument("item_ids", type=int, nargs=-1, required=True)
@click.pass_context
def approve(ctx: click.Context, item_ids: tuple[int, ...]) -> None:
    """Approve forwards for sending.

    Example: triage outbox approve 3 4
    """
    _move(ctx, item_ids, "approved", ("pending", "failed"))


@outbox.command()
@click.argument("item_ids", type=int, nargs=-1, required=True)
@click.pass_context
def discard(ctx: click.Context, item_ids: tuple[int, ...]) -> None:
    """Discard forwards; they are kept, never sent.

    Example: triage outbox discard 5
    """
    _move(ctx, item_ids, "discarded", ("pending", "approved", "failed"))


def _move(ctx: click.Context, item_ids: tuple[int, ...], state: str, expect: tuple[str, ...]) -> None:
    try:
        with _store(ctx) as store:
            bad = []
            for item_id in item_ids:
                if not store.set_state(item_id, state, expect=expect):
                    bad.append(item_id)
                else:
                    click.echo(f"{item_id}: {state}")
            if bad:
                raise ConfigError(f"items {', '.join(map(str, bad))} are not in a state that can become {state} ({', '.join(expect)}); see `triage outbox list`")
    except TriageError as exc:
        _fail(exc)


@outbox.command()
@click.option("--retries", default=3, show_default=True, help="Retries for transient errors.")
@click.option("--backoff", default=1.0, show_default=True, help="Seconds before the first retry; doubled (with jitter) each time.")
@click.pass_context
def send(ctx: click.Context, retries: int, backoff: float) -> None:
    """Deliver every approved forward by the configured delivery (smtp or drafts).

    Exits 1 when some could not go out: refused ones become failed (with the
    server's answer), the others stay approved for the next send.

    Example: TRIAGE_DELIVERY=smtp TRIAGE_SMTP_HOST=smtp.example.com triage outbox send
    """
    from .delivery import send_approved, transport_for

    settings = ctx.find_root().obj["settings"]
    try:
        transport = transport_for(settings)
        with _store(ctx) as store:
            result = send_approved(store, transport, retries=retries, backoff=backoff)
        for item_id, problem in result.problems:
            click.echo(f"triage: item {item_id}: {problem}", err=True)
        click.echo(f"sent {result.sent}, failed {result.failed}, deferred {result.deferred}")
        if result.failed or result.deferred:
            sys.exit(1)
    except TriageError as exc:
        _fail(exc)

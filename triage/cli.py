"""The command line: a thin layer over the library.

``triage`` with no sub-command runs the pipeline once (``triage --since
yesterday``, ``triage --source fixtures/emails``); the sub-commands train and
evaluate the classifier, run the daemon and manage the outbox.  Library
errors become one clean line on stderr and the exit code of DESIGN.md §4:
0 done, 1 some messages failed, 2 usage or configuration error.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from . import config as cfg
from .errors import ConfigError, TriageError
from .records import Outcome

log = logging.getLogger("triage")


class _JsonLogFormatter(logging.Formatter):
    """One JSON object per log line, with the record's structured fields."""

    _SKIP = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"), "level": record.levelname.lower(), "logger": record.name, "msg": record.getMessage()}
        data.update({k: v for k, v in record.__dict__.items() if k not in self._SKIP})
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str, ensure_ascii=False)


def setup_logging(verbose: int, *, structured: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonLogFormatter() if structured else logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("triage")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose > 1 else logging.INFO if verbose or structured else logging.WARNING)
    root.propagate = False


def _settings(ctx: click.Context) -> cfg.Settings:
    obj = ctx.find_root().obj
    if obj is None or "settings" not in obj:
        raise ConfigError("internal: settings not loaded")
    return obj["settings"]  # type: ignore[no-any-return]


def _fail(exc: TriageError) -> None:
    click.echo(f"triage: error: {exc}", err=True)
    sys.exit(exc.exit_code)


def _build_decider(settings: cfg.Settings, model_dir: str | None) -> Any:
    from . import classifier as clf
    from .decide import Decider
    from .ner import NER_DIR, Recogniser

    path = Path(model_dir or settings.model or cfg.default_model_dir())
    recogniser = None
    if settings.ner_model:
        recogniser = Recogniser.load(settings.ner_model)
    elif (path / NER_DIR).is_dir():
        recogniser = Recogniser.load(path)
    return Decider(
        model=clf.load(path), threshold=settings.threshold, ours=tuple(a.lower() for a in settings.ours),
        default_region=settings.default_region, recogniser=recogniser,
    )


def _build_composer(settings: cfg.Settings) -> Any:
    from .forward import DEFAULT_SUBJECT, ForwardComposer

    kwargs: dict[str, Any] = {"sender": settings.sender, "sender_name": settings.sender_name, "cc_referrer": settings.cc_referrer}
    if settings.forward_template:
        composer = ForwardComposer.from_template_file(Path(settings.forward_template), **kwargs)
    else:
        composer = ForwardComposer(subject=settings.forward_subject or DEFAULT_SUBJECT, **kwargs)
    return composer


def build_outreach(settings: cfg.Settings) -> Any:
    from .outreach import Outreach

    if not settings.outreach_templates:
        return None
    path = Path(settings.outreach_templates)
    if not path.exists():
        raise ConfigError(f"outreach_templates = {path} does not exist (TRIAGE_OUTREACH_TEMPLATES): give a .txt file or a folder of them")
    return Outreach.from_path(path)


def _progress(enabled: bool, total: int | None, description: str) -> Any:
    """A rich progress bar on stderr when it is a terminal, else a no-op."""
    from contextlib import nullcontext

    if not enabled or not sys.stderr.isatty():
        return nullcontext(None)
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=Console(stderr=True), transient=True)

    class _Bar:
        def __enter__(self) -> Callable[[int], None]:
            progress.__enter__()
            task = progress.add_task(description, total=total)
            return lambda n: progress.advance(task, n)

        def __exit__(self, *exc: object) -> None:
            progress.__exit__(None, None, None)

    return _Bar()


def _summary_table(summary: Any, *, dry_run: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    from .records import ALL_LABELS

    table = Table(title="triage: replies by label" + (" (dry run, nothing stored)" if dry_run else ""))
    table.add_column("label")
    table.add_column("replies", justify="right")
    for label in ALL_LABELS:
        table.add_row(label, str(summary.labels.get(label, 0)))
    table.add_section()
    table.add_row("decided", str(summary.decided))
    table.add_row("needs review", str(summary.review))
    table.add_row("forwards queued" if not dry_run else "forwards composed", str(summary.forwards))
    if summary.already_seen:
        table.add_row("already decided earlier", str(summary.already_seen))
    if summary.before_since:
        table.add_row("older than --since", str(summary.before_since))
    table.add_row("failed", str(summary.failed))
    Console(soft_wrap=True).print(table)


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--source", "source", type=click.Path(path_type=Path), help="Maildir, mbox, .eml file or folder of .eml files (no server needed).")
@click.option("--since", help="Only replies since then: yesterday, today, '3 days ago', 2026-11-01.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per reply on stdout, nothing else.")
@click.option("--dry-run", is_flag=True, help="Decide and print; store nothing, queue nothing.")
@click.option("--db", help="SQLite file (default: the user's data directory) [TRIAGE_DB].")
@click.option("--model", "model_dir", help="Model directory (default: models/) [TRIAGE_MODEL].")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="TOML config file [TRIAGE_CONFIG].")
@click.option("--workers", type=int, help="Processes that parse and decide (default: one per CPU) [TRIAGE_WORKERS].")
@click.option("-v", "--verbose", count=True, help="More log output on stderr (-vv for debug).")
@click.version_option(package_name="triage")
@click.pass_context
def main(
    ctx: click.Context,
    source: Path | None,
    since: str | None,
    as_json: bool,
    dry_run: bool,
    db: str | None,
    model_dir: str | None,
    config_path: str | None,
    workers: int | None,
    verbose: int,
) -> None:
    """Triage replies to outbound emails: referral, interested, not interested, out of office, bounce.

    Without a sub-command, reads the configured mailbox (or --source) once,
    decides every new reply, stores the decisions and queues warm forwards.
    Settings come from --config / TRIAGE_CONFIG and TRIAGE_* variables
    (TRIAGE_DB, TRIAGE_MODEL, TRIAGE_THRESHOLD, TRIAGE_IMAP_HOST, TRIAGE_IMAP_PORT,
    TRIAGE_IMAP_USER, TRIAGE_IMAP_PASSWORD, TRIAGE_IMAP_FOLDER, TRIAGE_IMAP_TLS,
    TRIAGE_IMAP_CA_FILE, TRIAGE_DELIVERY, TRIAGE_SMTP_HOST ...).

    Example: triage --source fixtures/emails --json --dry-run
    """
    try:
        settings = cfg.load(config_path)
    except TriageError as exc:
        _fail(exc)
    if db:
        settings.db = db
    if workers is not None:
        settings.workers = workers
    ctx.obj = {"settings": settings, "model_dir": model_dir}
    setup_logging(verbose, structured=ctx.invoked_subcommand == "daemon")
    if ctx.invoked_subcommand is not None:
        return
    try:
        code = run_once(settings, source=source, since=since, as_json=as_json, dry_run=dry_run, model_dir=model_dir)
    except TriageError as exc:
        _fail(exc)
    sys.exit(code)


def run_once(
    settings: cfg.Settings,
    *,
    source: Path | None,
    since: str | None,
    as_json: bool,
    dry_run: bool,
    model_dir: str | None,
) -> int:
    """The one-shot run; returns the exit code."""
    from .dates import parse_since
    from .runner import Runner
    from .sources import EmlFiles, open_local
    from .store import Store

    since_date = parse_since(since) if since else None
    decider = _build_decider(settings, model_dir)
    composer = _build_composer(settings)
    store = None if dry_run else Store(
        settings.db, follow_up_days=settings.follow_up_days, no_date_follow_up_days=settings.no_date_follow_up_days,
        follow_up_cap_days=settings.follow_up_cap_days,
    )

    def show(outcome: Outcome) -> None:
        if outcome.error is not None:
            click.echo(f"triage: {outcome.source}: {outcome.error}", err=True)
        elif as_json:
            click.echo(json.dumps(outcome.as_json(), ensure_ascii=False))

    import os

    runner = Runner(
        decider=decider, composer=composer, store=store, since=since_date, on_outcome=show, outreach=build_outreach(settings),
        workers=settings.workers or min(os.cpu_count() or 1, 8),
    )
    try:
        if source is not None:
            messages = open_local(source, max_bytes=settings.max_message_bytes)
            total = sum(1 for _ in source.rglob("*.eml")) if isinstance(messages, EmlFiles) and source.is_dir() else None
            with _progress(not as_json, total, "triaging") as advance:
                summary = runner.process(messages, advance=advance)
        else:
            from .imap import ImapSource

            if not settings.imap.host:
                raise ConfigError("no mailbox configured: give --source PATH, or set TRIAGE_IMAP_HOST (and USER, PASSWORD) or [imap] in the config file")
            with ImapSource.from_settings(settings.imap, store=store, since=since_date) as imap_source:
                runner.on_done = imap_source.done
                if not dry_run:
                    runner.on_decided = imap_source.decided
                with _progress(not as_json, None, "triaging") as advance:
                    summary = runner.process(imap_source.fetch_new(), advance=advance)
                imap_source.apply_actions()
    finally:
        if store is not None:
            store.close()
    if not as_json:
        _summary_table(summary, dry_run=dry_run)
    return 1 if summary.failed else 0


@main.command()
@click.argument("data", type=click.Path(exists=True, path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Write the trained model and metadata.json here.")
@click.option("--report-dir", type=click.Path(file_okay=False, path_type=Path), help="Also write the report as Markdown and a confusion-matrix PNG.")
@click.option("--with-corrections", is_flag=True, help="Add the corrections made with `triage label` (from --db).")
@click.option("--no-grouped", is_flag=True, help="Skip the leave-one-language/writer-out estimates (faster).")
@click.option("--no-ner", is_flag=True, help="With --out: do not train the spaCy name recogniser (about 30 s on the fixtures).")
@click.pass_context
def train(ctx: click.Context, data: Path, out: Path | None, report_dir: Path | None, with_corrections: bool, no_grouped: bool, no_ner: bool) -> None:
    """Retrain the classifier on labelled replies and print a cross-validated report.

    DATA is a folder of .eml files (label from a .json beside each file or from
    the folder name) or a JSONL file.  Nothing is written unless --out is given.

    Example: triage train fixtures/emails --out models --report-dir reports
    """
    from . import classifier as clf
    from . import corpus
    from .decide import Decider
    from .evaluation import evaluate, fit, grouped_steps, markdown

    settings = _settings(ctx)
    try:
        examples, errors = corpus.load(data)
        if with_corrections:
            from .store import Store

            with Store(settings.db) as store:
                examples += corpus.corrections(store)
        for error in errors:
            click.echo(f"triage: skipped {error}", err=True)
        with _progress(True, grouped_steps(examples) if not no_grouped else 5, "cross-validating") as advance:
            model = fit(examples)
            evaluation = evaluate(examples, Decider(model=model, threshold=settings.threshold), grouped=not no_grouped, progress=advance)
        _print_evaluation(evaluation)
        if out is not None:
            first = evaluation.reports[0]
            clf.save(model.model, out, metadata={
                "data_hash": model.metadata["data_hash"],
                "n_examples": model.metadata["n"],
                "seed": clf.SEED,
                "trained_on": str(data),
                "cv": {r.kind: {"macro_f1": round(r.macro_f1, 4), "per_class": r.per_class} for r in evaluation.reports},
                "cv_macro_f1": round(first.macro_f1, 4),
            })
            click.echo(f"model written to {out}", err=True)
            if not no_ner:
                from . import ner

                items = [
                    (e.reply.new_text, (e.expected.get("contact") or {}).get("name") if e.label in ("referral", "out_of_office") else None)
                    for e in examples
                    if e.label != "bounce"
                ]
                with _progress(True, 12, "training the name recogniser") as advance:
                    ner.save(ner.train(items, progress=advance), out)
                click.echo(f"name recogniser written to {out / ner.NER_DIR}", err=True)
        if report_dir is not None:
            _write_report(report_dir, evaluation, markdown(evaluation))
    except TriageError as exc:
        _fail(exc)


@main.command("eval")
@click.argument("data", type=click.Path(exists=True, path_type=Path))
@click.option("--model", "model_dir", help="Model directory to evaluate (default: models/).")
@click.option("--report-dir", type=click.Path(file_okay=False, path_type=Path), help="Also write the report as Markdown and a PNG.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--held-out", is_flag=True, help="Score the given model as it is on DATA (mail it never saw); nothing is retrained.")
@click.pass_context
def eval_command(ctx: click.Context, data: Path, model_dir: str | None, report_dir: Path | None, as_json: bool, held_out: bool) -> None:
    """Print the evaluation report: cross-validated and grouped scores, extraction rates.

    The cross-validated and grouped scores retrain on folds of DATA; the
    extraction rates use the given model.  With --held-out, DATA is new
    labelled mail: the given model decides it as a run would, and nothing
    is retrained.

    Example: triage eval fixtures/emails --model models
             triage eval labelled-last-week/ --held-out
    """
    from . import corpus
    from .evaluation import evaluate, grouped_steps, markdown
    from .evaluation import held_out as score_held_out

    settings = _settings(ctx)
    try:
        examples, errors = corpus.load(data)
        for error in errors:
            click.echo(f"triage: skipped {error}", err=True)
        decider = _build_decider(settings, model_dir or ctx.find_root().obj.get("model_dir"))
        if held_out:
            evaluation = score_held_out(examples, decider)
        else:
            with _progress(not as_json, grouped_steps(examples), "evaluating") as advance:
                evaluation = evaluate(examples, decider, progress=advance)
        if as_json:
            click.echo(json.dumps(evaluation.as_dict(), indent=2))
        else:
            _print_evaluation(evaluation)
        if report_dir is not None:
            _write_report(report_dir, evaluation, markdown(evaluation))
    except TriageError as exc:
        _fail(exc)


def _print_evaluation(evaluation: Any) -> None:
    from .evaluation import markdown

    click.echo(markdown(evaluation))
    for key, score in evaluation.fields.items():
        for miss in score.misses[:200]:
            click.echo(f"  miss {key}: {miss}", err=True)


def _write_report(directory: Path, evaluation: Any, text: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "report.md").write_text(text, encoding="utf-8")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        click.echo("triage: matplotlib is not installed; wrote report.md without the confusion-matrix PNG", err=True)
        return
    report = evaluation.reports[0]
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.imshow(report.confusion, cmap="Blues")
    ax.set_xticks(range(len(report.labels)), report.labels, rotation=30, ha="right")
    ax.set_yticks(range(len(report.labels)), report.labels)
    for i, row in enumerate(report.confusion):
        for j, value in enumerate(row):
            ax.text(j, i, str(value), ha="center", va="center")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(report.kind)
    fig.tight_layout()
    fig.savefig(directory / "confusion.png", dpi=120)
    plt.close(fig)


@main.command()
@click.argument("key")
@click.argument("label", type=click.Choice(["referral", "interested", "not_interested", "out_of_office", "bounce"]))
@click.pass_context
def label(ctx: click.Context, key: str, label: str) -> None:
    """Correct the label of a stored decision; `triage train --with-corrections` learns from it.

    KEY is the reply's Message-ID (or its source when it has none).

    Example: triage label '<CAF1x@mail.gmail.com>' not_interested
    """
    from .store import Store

    settings = _settings(ctx)
    try:
        with Store(settings.db) as store:
            if not store.correct(key, label):
                raise ConfigError(f"no stored decision for {key!r}: give the Message-ID shown by `triage --json`")
        click.echo(f"{key}: corrected to {label}")
    except TriageError as exc:
        _fail(exc)


from .cli_daemon import daemon  # noqa: E402
from .cli_outbox import outbox  # noqa: E402  (the sub-command lives in its own module)

main.add_command(outbox)
main.add_command(daemon)

"""Labelled replies for training and evaluation.

A data set is either a folder of ``.eml`` files (the label from a ``.json``
beside each file, else from the name of the folder it sits in) or a JSONL
file with one object per line: ``{"label": ..., "eml": "path"}`` or
``{"label": ..., "subject": ..., "text": ...}``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError, MessageError
from .parsing import parse
from .records import ALL_LABELS, AutoSignals, RawMessage, Reply


@dataclass(frozen=True)
class Example:
    """One labelled reply with what is expected of it."""

    reply: Reply
    label: str
    expected: dict[str, Any] = field(default_factory=dict)

    @property
    def language(self) -> str:
        return str(self.expected.get("language") or "unknown")

    @property
    def writer(self) -> str:
        return str(self.expected.get("writer") or "unknown")


def _text_reply(source: str, subject: str, text: str) -> Reply:
    from .quotes import split_reply

    split = split_reply(text)
    return Reply(
        source=source, message_id="", from_name="", from_addr="", to=(), cc=(), subject=subject, date=None,
        in_reply_to="", references=(), headers={}, body=text, new_text=split.new_text, quoted=split.quoted,
        signature=split.signature, signals=AutoSignals(),
    )


def _label_from(path: Path, meta: dict[str, Any]) -> str:
    label = str(meta.get("label") or path.parent.name)
    if label not in ALL_LABELS:
        raise ConfigError(f"{path}: unknown label {label!r}; use one of {', '.join(ALL_LABELS)}")
    return label


def _from_folder(root: Path, errors: list[str]) -> Iterator[Example]:
    for path in sorted(root.rglob("*.eml")):
        meta_path = path.with_suffix(".json")
        meta: dict[str, Any] = {}
        if meta_path.is_file():
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        label = _label_from(path, meta)
        try:
            reply = parse(RawMessage(str(path), path.read_bytes()))
        except MessageError as exc:
            errors.append(str(exc))
            continue
        yield Example(reply, label, meta)


def _from_jsonl(path: Path, errors: list[str]) -> Iterator[Example]:
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise ConfigError(f"{path}:{number}: not JSON ({exc})") from exc
            label = row.get("label")
            if label not in ALL_LABELS:
                raise ConfigError(f"{path}:{number}: unknown label {label!r}; use one of {', '.join(ALL_LABELS)}")
            source = f"{path}:{number}"
            if "eml" in row:
                eml = (path.parent / row["eml"]).resolve()
                try:
                    reply = parse(RawMessage(str(eml), eml.read_bytes()))
                except (OSError, MessageError) as exc:
                    errors.append(f"{source}: {exc}")
                    continue
            else:
                reply = _text_reply(source, str(row.get("subject", "")), str(row.get("text", "")))
            yield Example(reply, label, row)


def load(path: Path) -> tuple[list[Example], list[str]]:
    """Read a labelled data set; returns the examples and the files that failed."""
    errors: list[str] = []
    if path.is_dir():
        examples = list(_from_folder(path, errors))
    elif path.is_file() and path.suffix in (".jsonl", ".ndjson"):
        examples = list(_from_jsonl(path, errors))
    else:
        raise ConfigError(f"{path}: give a folder of labelled .eml files or a .jsonl file")
    if not examples:
        raise ConfigError(f"{path}: no labelled replies found")
    return examples, errors


def corrections(store: Any) -> list[Example]:
    """Labelled examples from the corrections people made with ``triage label``."""
    return [
        Example(_text_reply(f"correction:{row['key']}", row["subject"], row["new_text"]), row["corrected_label"], {"writer": "corrections"})
        for row in store.corrections()
    ]

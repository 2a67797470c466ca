"""Local mail sources: one ``.eml``, a folder of ``.eml``, a Maildir, an mbox.

Every source is an iterable of :class:`~triage.records.RawMessage`; the IMAP
source in :mod:`triage.imap` has the same shape.  A message a source cannot
read whole (too large, unreadable) is still yielded, with ``problem`` set, so
the pipeline records it instead of losing it silently.
"""

from __future__ import annotations

import mailbox
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from .errors import ConfigError
from .records import RawMessage

DEFAULT_MAX_BYTES = 25 * 1024 * 1024
"""Messages larger than this are recorded as failed, not parsed."""


class Source(Protocol):
    """Anything that yields raw messages."""

    def __iter__(self) -> Iterator[RawMessage]: ...


def _read_file(path: Path, max_bytes: int) -> RawMessage:
    try:
        size = path.stat().st_size
        if size > max_bytes:
            return RawMessage(str(path), b"", problem=f"message of {size} bytes exceeds the {max_bytes}-byte cap")
        return RawMessage(str(path), path.read_bytes())
    except OSError as exc:
        return RawMessage(str(path), b"", problem=f"cannot read file: {exc.strerror or exc}")


class EmlFiles:
    """One ``.eml`` file or every ``*.eml`` below a folder, in path order."""

    def __init__(self, path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.path = path
        self.max_bytes = max_bytes

    def __iter__(self) -> Iterator[RawMessage]:
        if self.path.is_file():
            yield _read_file(self.path, self.max_bytes)
            return
        for root, dirs, files in os.walk(self.path):
            dirs.sort()
            for name in sorted(files):
                if name.endswith(".eml"):
                    yield _read_file(Path(root) / name, self.max_bytes)


class MaildirSource:
    """A Maildir (``cur``, ``new``, ``tmp``); messages in ``new`` and ``cur``."""

    def __init__(self, path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.path = path
        self.max_bytes = max_bytes

    def __iter__(self) -> Iterator[RawMessage]:
        for sub in ("new", "cur"):
            folder = self.path / sub
            if folder.is_dir():
                for name in sorted(os.listdir(folder)):
                    if not name.startswith("."):
                        yield _read_file(folder / name, self.max_bytes)


class MboxSource:
    """An mbox file; each message's source is ``PATH:INDEX``."""

    def __init__(self, path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.path = path
        self.max_bytes = max_bytes

    def __iter__(self) -> Iterator[RawMessage]:
        box = mailbox.mbox(self.path, create=False)
        try:
            for index, key in enumerate(box.iterkeys()):
                source = f"{self.path}:{index}"
                try:
                    data = box.get_bytes(key)
                except (OSError, KeyError) as exc:
                    yield RawMessage(source, b"", problem=f"cannot read mbox entry: {exc}")
                    continue
                if len(data) > self.max_bytes:
                    yield RawMessage(source, b"", problem=f"message of {len(data)} bytes exceeds the {self.max_bytes}-byte cap")
                else:
                    yield RawMessage(source, data)
        finally:
            box.close()


def open_local(path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Source:
    """Pick the source that fits ``path``.

    >>> open_local(Path("fixtures/emails"))  # doctest: +ELLIPSIS
    <triage.sources.EmlFiles object at ...>
    """
    if not path.exists():
        raise ConfigError(f"{path} does not exist: give a Maildir, an mbox file, an .eml file or a folder of .eml files")
    if path.is_dir():
        if (path / "cur").is_dir() and (path / "new").is_dir():
            return MaildirSource(path, max_bytes=max_bytes)
        return EmlFiles(path, max_bytes=max_bytes)
    with path.open("rb") as fh:
        head = fh.read(5)
    if head == b"From ":
        return MboxSource(path, max_bytes=max_bytes)
    return EmlFiles(path, max_bytes=max_bytes)

"""The one error tree of triage.

Every error triage raises on purpose derives from :class:`TriageError`; errors
of the libraries underneath (``imaplib``, ``smtplib``, ``sqlite3``, ``email``)
are translated once, at the module that talks to them, with ``raise ... from``.

::

    TriageError
    ├── ConfigError            bad option, missing setting: exit code 2
    ├── SourceError            a mailbox, folder or file cannot be read
    │   └── ImapError          the IMAP server refused or the connection broke
    ├── MessageError           one message cannot be understood (it is recorded
    │                          with its reason and skipped; the run goes on)
    ├── ModelError             a model file is missing, unsafe or from other versions
    ├── StoreError             the database cannot be opened or written
    └── DeliveryError          a forward could not be delivered
        └── PermanentDeliveryError   the server refused it for good
"""

from __future__ import annotations


class TriageError(Exception):
    """Base of every error triage raises on purpose."""

    #: the process exit code the command line uses for this error
    exit_code = 1


class ConfigError(TriageError):
    """An option or setting is missing or wrong: fix the flag, the TOML file or
    the ``TRIAGE_*`` variable named in the message."""

    exit_code = 2


class SourceError(TriageError):
    """A mailbox, folder or file cannot be read: check the path or the server
    settings named in the message."""


class ImapError(SourceError):
    """The IMAP server refused a command or the connection broke; the daemon
    reconnects with backoff, a one-shot run reports it and stops."""


class MessageError(TriageError):
    """One message cannot be understood.

    The reply is recorded as failed with :attr:`reason` and skipped; nothing
    else in the run is affected.
    """

    def __init__(self, reason: str, *, source: str = "") -> None:
        super().__init__(f"{source}: {reason}" if source else reason)
        self.reason = reason
        self.source = source


class ModelError(TriageError):
    """A model directory is missing, unsafe to load, or was built with other
    library versions: retrain it with ``triage train DATA --out DIR``."""

    exit_code = 2


class StoreError(TriageError):
    """The database cannot be opened or written: check ``--db`` / ``TRIAGE_DB``
    and that the file's directory is writable."""


class DeliveryError(TriageError):
    """A forward could not be delivered now; it stays queued and is retried."""


class PermanentDeliveryError(DeliveryError):
    """The mail server refused a forward for good; the item is marked
    ``failed`` with the server's answer."""

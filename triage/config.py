"""Settings from one TOML file and ``TRIAGE_*`` environment variables.

Only the command line reads this module; the library takes keyword
arguments.  Every key of the TOML file is also an environment variable:
``[imap] host`` is ``TRIAGE_IMAP_HOST``, top-level ``db`` is ``TRIAGE_DB``.
The environment wins over the file; command-line flags win over both.
Secrets (``imap.password``, ``smtp.password``) may also be given as
``..._FILE`` (a path whose content is the secret) and are never printed.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import platformdirs

from .errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def default_db() -> str:
    return str(Path(platformdirs.user_data_dir("triage")) / "triage.db")


def default_model_dir() -> Path:
    """``models/`` of the checkout (or image) triage runs from, else of the current directory."""
    shipped = ROOT / "models"
    return shipped if (shipped / "metadata.json").is_file() else Path("models")


@dataclass
class ImapSettings:
    host: str = ""
    port: int = 0
    user: str = ""
    password: str = field(default="", repr=False)
    folder: str = "INBOX"
    tls: str = "ssl"
    ca_file: str = ""
    insecure: bool = False
    oauth_token_command: str = field(default="", repr=False)
    oauth_token_file: str = ""
    batch: int = 200
    drafts_folder: str = "Drafts"
    #: where our sent outreach is, to remove it from replies: "" finds the \\Sent folder, "none" turns it off
    sent_folder: str = ""
    #: after a reply is stored: add the keyword $triage_<label> (off by default)
    flag_handled: bool = False
    #: after a reply is stored: move it to this folder; "{label}" is replaced (e.g. "Triage/{label}")
    move_handled: str = ""


@dataclass
class SmtpSettings:
    host: str = ""
    port: int = 0
    user: str = ""
    password: str = field(default="", repr=False)
    tls: str = "starttls"
    ca_file: str = ""


@dataclass
class Settings:
    db: str = ""
    model: str = ""
    #: a spaCy pipeline for names: a directory, or an installed pipeline such as en_core_web_sm
    ner_model: str = ""
    threshold: float = 0.6
    default_region: str = "US"
    sender: str = ""
    sender_name: str = ""
    cc_referrer: bool = True
    forward_subject: str = ""
    forward_template: str = ""
    #: our outreach templates (a .txt file or a folder of them): their text is removed from replies
    outreach_templates: str = ""
    delivery: str = "none"
    max_message_bytes: int = 25 * 1024 * 1024
    #: processes for one-shot runs (0: one per CPU)
    workers: int = 0
    follow_up_days: int = 2
    no_date_follow_up_days: int = 14
    follow_up_cap_days: int = 90
    ours: list[str] = field(default_factory=list)
    imap: ImapSettings = field(default_factory=ImapSettings)
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    #: several mailboxes shared by several daemons (``[[mailboxes]]`` tables; each key defaults to ``[imap]``)
    mailboxes: list[ImapSettings] = field(default_factory=list)
    lease_seconds: float = 30.0


def _coerce(name: str, value: Any, default: Any) -> Any:
    try:
        if isinstance(default, bool):
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                raise ValueError(value)
            return text in ("1", "true", "yes", "on")
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
        if isinstance(default, list):
            return [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) else list(value)
        return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"setting {name} = {value!r} is not a valid {type(default).__name__}") from exc


def _apply(target: Any, values: Mapping[str, Any], prefix: str, env: Mapping[str, str]) -> None:
    for f in fields(target):
        default = getattr(target, f.name)
        env_name = f"TRIAGE_{prefix}{f.name.upper()}"
        if isinstance(default, (ImapSettings, SmtpSettings)):
            sub = values.get(f.name, {})
            if not isinstance(sub, Mapping):
                raise ConfigError(f"[{f.name}] in the config file must be a table")
            _apply(default, sub, f"{f.name.upper()}_", env)
            continue
        if f.name in values:
            setattr(target, f.name, _coerce(f.name, values[f.name], default))
        if env_name in env:
            setattr(target, f.name, _coerce(env_name, env[env_name], default))
        if f.name == "password" and f"{env_name}_FILE" in env:
            try:
                setattr(target, f.name, Path(env[f"{env_name}_FILE"]).read_text(encoding="utf-8").strip())
            except OSError as exc:
                raise ConfigError(f"cannot read {env_name}_FILE: {exc.strerror}") from exc


def _mailboxes(tables: Any, defaults: ImapSettings) -> list[ImapSettings]:
    if not isinstance(tables, list):
        raise ConfigError("mailboxes in the config file must be an array of tables: [[mailboxes]]")
    out = []
    for number, table in enumerate(tables, 1):
        if not isinstance(table, Mapping):
            raise ConfigError(f"mailboxes entry {number} must be a table")
        mailbox = ImapSettings(**{f.name: getattr(defaults, f.name) for f in fields(defaults)})
        unknown = set(table) - {f.name for f in fields(mailbox)}
        if unknown:
            raise ConfigError(f"mailboxes entry {number}: unknown keys {', '.join(sorted(unknown))}")
        for key, value in table.items():
            setattr(mailbox, key, _coerce(f"mailboxes[{number}].{key}", value, getattr(mailbox, key)))
        if not mailbox.host or not mailbox.user:
            raise ConfigError(f"mailboxes entry {number} needs host and user")
        out.append(mailbox)
    return out


def load(path: str | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Settings from ``path`` (or ``TRIAGE_CONFIG``) and the environment."""
    env = os.environ if env is None else env
    path = path or env.get("TRIAGE_CONFIG")
    values: dict[str, Any] = {}
    if path:
        try:
            values = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read the config file {path}: {exc.strerror}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"the config file {path} is not valid TOML: {exc}") from exc
    settings = Settings()
    _apply(settings, {k: v for k, v in values.items() if k != "mailboxes"}, "", env)
    settings.mailboxes = _mailboxes(values.get("mailboxes", []), settings.imap)
    if not settings.db:
        settings.db = default_db()
    if settings.delivery not in ("none", "drafts", "smtp"):
        raise ConfigError(f"delivery = {settings.delivery!r}: use none, drafts or smtp (TRIAGE_DELIVERY)")
    if settings.imap.tls not in ("ssl", "starttls", "none"):
        raise ConfigError(f"imap.tls = {settings.imap.tls!r}: use ssl, starttls or none (TRIAGE_IMAP_TLS)")
    if not 0.0 <= settings.threshold <= 1.0:
        raise ConfigError(f"threshold = {settings.threshold}: give a confidence between 0 and 1 (TRIAGE_THRESHOLD)")
    return settings

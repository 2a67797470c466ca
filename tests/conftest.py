"""Shared fixtures: the shipped model, the fixture corpus, real servers on loopback.

Tiers: ``tests/unit`` (pure functions), ``tests/acceptance`` (the CLI end to
end over ``fixtures/emails``), ``tests/integration`` (real Dovecot, aiosmtpd
and SQLite files; marked ``integration``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from triage import classifier as clf
from triage.decide import Decider
from triage.parsing import parse
from triage.records import RawMessage, Reply

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "emails"
MALFORMED = ROOT / "fixtures" / "malformed"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests never see the developer's TRIAGE_* settings or data directory."""
    for name in list(os.environ):
        if name.startswith("TRIAGE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))


@pytest.fixture(scope="session")
def model() -> clf.Classifier:
    return clf.load(ROOT / "models")


@pytest.fixture(scope="session")
def decider(model: clf.Classifier) -> Decider:
    return Decider(model=model, ours=("sam.carter@brightline.io",))


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def fixture_replies() -> list[Reply]:
    """Every labelled fixture, parsed (the malformed ones live elsewhere)."""
    return [parse(RawMessage(str(path), path.read_bytes())) for path in sorted(FIXTURES.rglob("*.eml"))]


def fixture_bytes(relative: str) -> bytes:
    return (FIXTURES / relative).read_bytes()


POSTGRES_ADMIN = os.environ.get("TRIAGE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards (the server of ``TRIAGE_TEST_POSTGRES``)."""
    import uuid

    psycopg = pytest.importorskip("psycopg")
    name = f"triage_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_ADMIN.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same store tests on a SQLite file and on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "t.db")
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def corpus_copy(tmp_path: Path) -> Iterator[Path]:
    """A writable copy of a small slice of the corpus."""
    import shutil

    target = tmp_path / "mail"
    for label in ("referral", "interested", "out_of_office", "bounce", "not_interested"):
        (target / label).mkdir(parents=True)
        for eml in sorted((FIXTURES / label).glob("*.eml"))[:4]:
            shutil.copy(eml, target / label / eml.name)
    yield target

"""The name recogniser: loaded at first use, and a broken pipeline never stops a run."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from triage.errors import ModelError
from triage.ner import NER_DIR, Recogniser

ROOT = Path(__file__).resolve().parents[2]


def test_spacy_is_imported_at_the_first_use_not_at_load() -> None:
    script = (
        "import sys\nfrom triage.ner import Recogniser\n"
        "r = Recogniser.load('models')\nprint('spacy' in sys.modules)\n"
        "spans = r.spans(['Please talk to Jane Doe, our VP Sales, jane.doe@acme.com.'])\nprint('spacy' in sys.modules, len(spans))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] == "False"
    assert out[1] == "True 1"


def test_a_missing_pipeline_is_reported_at_load(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no spaCy pipeline"):
        Recogniser.load(tmp_path / "nothing-here")
    with pytest.raises(ModelError, match="install it"):
        Recogniser.load("xx_no_such_pipeline_installed")


def test_a_broken_pipeline_disables_the_recogniser_with_one_error(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    shutil.copytree(ROOT / "models" / NER_DIR, tmp_path / NER_DIR)
    (tmp_path / NER_DIR / "config.cfg").write_text("[this is not a spaCy config", encoding="utf-8")
    recogniser = Recogniser.load(tmp_path)
    with caplog.at_level(logging.ERROR, logger="triage.ner"):
        assert recogniser.spans(["Talk to Jane Doe.", "Ask Bob Stone."]) == [[], []]
        assert recogniser.spans(["Talk to Jane Doe."]) == [[]]
    assert [r.getMessage() for r in caplog.records] == ["name recogniser disabled"]


def test_the_daemon_can_load_it_in_the_background(monkeypatch: pytest.MonkeyPatch) -> None:
    from triage import ner

    loads: list[object] = []
    real = ner._load_pipeline

    def counted(source: object) -> object:
        loads.append(source)
        return real(source)  # type: ignore[arg-type]

    monkeypatch.setattr(ner, "_load_pipeline", counted)
    recogniser = Recogniser.load(ROOT / "models")
    recogniser.preload_in_background()
    found = recogniser.spans(["Please talk to Jane Doe, our VP Sales."])  # waits for the load under way
    assert len(found) == 1
    assert len(loads) == 1


def test_numpys_matrix_product_finds_the_same_entities(fixture_replies: list) -> None:
    from triage import ner

    texts = [r.new_text for r in fixture_replies if r.new_text]
    texts += [r.quoted[:1500] for r in fixture_replies if r.quoted][:100]
    found = {}
    for matmul in (True, False):
        nlp = ner._load_pipeline(ROOT / "models", matmul=matmul)
        assert (type(nlp.get_pipe("ner").model.ops).__name__ == "MatmulOps") is matmul
        found[matmul] = [[(e.text, e.start_char, e.label_) for e in doc.ents] for doc in nlp.pipe(texts)]
    assert found[True] == found[False]
    assert sum(map(len, found[True])) > 50

"""`triage train` and `triage eval` end to end on a small JSONL data set."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from tests.conftest import FIXTURES
from triage import corpus
from triage.cli import main


def _jsonl(tmp_path: Path) -> Path:
    examples, _ = corpus.load(FIXTURES)
    path = tmp_path / "labelled.jsonl"
    with path.open("w") as fh:
        for e in examples[::3]:
            if e.label != "bounce":
                fh.write(json.dumps({"label": e.label, "subject": e.reply.subject, "text": e.reply.new_text, "language": e.language}) + "\n")
    return path


def test_train_writes_model_metadata_and_report(tmp_path: Path) -> None:
    data = _jsonl(tmp_path)
    result = CliRunner().invoke(main, ["train", str(data), "--out", str(tmp_path / "m"), "--report-dir", str(tmp_path / "r"), "--no-ner"])
    assert result.exit_code == 0, result.stderr
    assert "stratified" in result.stdout and "leave one language out" in result.stdout
    meta = json.loads((tmp_path / "m" / "metadata.json").read_text())
    assert set(meta["labels"]) == {"referral", "interested", "not_interested", "out_of_office"}
    assert meta["data_hash"] and meta["versions"]["scikit-learn"] and meta["cv_macro_f1"] > 0.5
    assert (tmp_path / "r" / "report.md").read_text().startswith("# triage evaluation")
    assert (tmp_path / "r" / "confusion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    evaluated = CliRunner().invoke(main, ["eval", str(data), "--model", str(tmp_path / "m"), "--json"])
    assert evaluated.exit_code == 0, evaluated.stderr
    report = json.loads(evaluated.stdout)
    assert report["reports"][0]["kind"].startswith("stratified") and report["n"] > 50


def test_train_without_out_writes_nothing(tmp_path: Path) -> None:
    data = _jsonl(tmp_path)
    result = CliRunner().invoke(main, ["train", str(data), "--no-grouped"])
    assert result.exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labelled.jsonl", "xdg"] or sorted(p.name for p in tmp_path.iterdir()) == ["labelled.jsonl"]


def test_bad_label_in_data_is_a_usage_error(tmp_path: Path) -> None:
    data = tmp_path / "bad.jsonl"
    data.write_text(json.dumps({"label": "maybe", "text": "hi"}) + "\n")
    result = CliRunner().invoke(main, ["train", str(data)])
    assert result.exit_code == 2 and "unknown label" in result.stderr

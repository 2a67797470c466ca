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


def test_eval_held_out_scores_the_given_model_as_a_run_decides(tmp_path: Path) -> None:
    import shutil

    data = tmp_path / "labelled"
    picked = sorted(FIXTURES.rglob("*.eml"))[::9]  # some of every label
    for eml in picked:
        for path in (eml, eml.with_suffix(".json")):
            (data / eml.parent.name).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, data / eml.parent.name / path.name)
    result = CliRunner().invoke(main, ["eval", str(data), "--held-out", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    (held,) = report["reports"]
    assert held["kind"].startswith("held out")
    # the report's labels are the ones a one-shot run prints for the same files
    run = CliRunner().invoke(main, ["--source", str(data), "--json", "--dry-run"])
    decided = {Path(r["source"]).stem: r["label"] for r in map(json.loads, run.stdout.splitlines())}
    expected = {p.stem: json.loads(p.with_suffix(".json").read_text())["label"] for p in picked}
    human = [k for k, v in expected.items() if v != "bounce"]
    assert held["n"] == len(human) > 20
    assert held["accuracy"] == round(sum(decided[k] == expected[k] for k in human) / len(human), 4)
    assert report["bounce_detection"]["total"] == sum(1 for v in expected.values() if v == "bounce")


def test_the_shipped_model_on_replies_it_never_saw() -> None:
    """fixtures/heldout was written apart from the corpus and is never trained on (its README).

    The floors sit a little under what the shipped model scored at first sight
    (labels 0.939, macro-F1 0.933, bounces 3/3): a change that makes triage worse
    on mail nobody here tuned it for fails here.
    """
    result = CliRunner().invoke(main, ["eval", str(FIXTURES.parent / "heldout"), "--held-out", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    (held,) = report["reports"]
    assert held["n"] == 33
    assert held["accuracy"] >= 0.90 and held["macro_f1"] >= 0.90
    assert held["per_class"]["out_of_office"]["recall"] == 1.0
    assert report["bounce_detection"]["hits"] == report["bounce_detection"]["total"] == 3
    extraction = report["extraction"]
    assert extraction["email"]["rate"] >= 0.9 and extraction["phone"]["rate"] >= 0.9

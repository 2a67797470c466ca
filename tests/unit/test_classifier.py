"""The classifier: safe persistence, provenance, determinism, and the hard cases."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from triage import classifier as clf
from triage.errors import ModelError

DOCS = [
    "talk to jane doe she runs sales ops jane@acme.com", "please contact bob, he handles this", "ask maria in finance",
    "yes let's talk tuesday", "send me pricing please", "interested, book a call",
    "not interested thanks", "remove me from your list", "we already have a vendor",
    "out of office until monday", "i am on vacation, back on 3 march", "away at a conference this week",
]
LABELS = ["referral"] * 3 + ["interested"] * 3 + ["not_interested"] * 3 + ["out_of_office"] * 3


@pytest.fixture(scope="module")
def small_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("model")
    clf.save(clf.train(DOCS, LABELS), directory, metadata={"data_hash": clf.data_hash(DOCS, LABELS)})
    return directory


def test_round_trip_gives_the_same_probabilities(small_model: Path) -> None:
    fresh = clf.train(DOCS, LABELS)
    loaded = clf.load(small_model)
    np.testing.assert_allclose(loaded.model.predict_proba(DOCS), fresh.predict_proba(DOCS), rtol=1e-9)


def test_metadata_records_provenance(small_model: Path) -> None:
    meta = json.loads((small_model / clf.METADATA_FILE).read_text())
    assert meta["labels"] == sorted(set(LABELS))
    assert meta["versions"]["scikit-learn"] and meta["data_hash"] == clf.data_hash(list(reversed(DOCS)), list(reversed(LABELS)))


def test_same_data_same_model() -> None:
    a, b = clf.to_arrays(clf.train(DOCS, LABELS)), clf.to_arrays(clf.train(DOCS, LABELS))
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_a_changed_file_is_refused(small_model: Path, tmp_path: Path) -> None:
    target = tmp_path / "m"
    shutil.copytree(small_model, target)
    data = bytearray((target / clf.MODEL_FILE).read_bytes())
    data[-10] ^= 0xFF
    (target / clf.MODEL_FILE).write_bytes(bytes(data))
    with pytest.raises(ModelError, match="checksum"):
        clf.load(target)


def test_a_pickle_is_never_loaded(tmp_path: Path, small_model: Path) -> None:
    import pickle

    target = tmp_path / "m"
    shutil.copytree(small_model, target)
    (target / clf.MODEL_FILE).write_bytes(pickle.dumps({"evil": object()}))
    meta = json.loads((target / clf.METADATA_FILE).read_text())
    meta.pop("sha256")
    (target / clf.METADATA_FILE).write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="not a readable triage model"):
        clf.load(target)


def test_other_scikit_learn_versions_are_refused(small_model: Path, tmp_path: Path) -> None:
    target = tmp_path / "m"
    shutil.copytree(small_model, target)
    meta = json.loads((target / clf.METADATA_FILE).read_text())
    meta["versions"]["scikit-learn"] = "0.24.2"
    (target / clf.METADATA_FILE).write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="retrain"):
        clf.load(target)


def test_missing_model_says_how_to_build_one(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="triage train"):
        clf.load(tmp_path)


def _fixture_documents() -> list[str]:
    from triage.parsing import parse
    from triage.records import RawMessage

    root = Path(__file__).resolve().parents[2] / "fixtures" / "emails"
    return [clf.document(parse(RawMessage(str(p), p.read_bytes()))) for p in sorted(root.rglob("*.eml"))]


def test_the_fast_scorer_gives_scikit_learns_probabilities(model: clf.Classifier) -> None:
    assert model.scorer is not None, "the shipped model should be scored by the fast path"
    docs = _fixture_documents() + [
        "", "   ", "a", "x", "ÄÖÜ ß İstanbul ǅ", "tab\tand\u2028line\x1cseparators  and  spaces",
        "not interested not interested not interested", "jane" * 40, "а б в г д",
    ]
    expected = model.model.predict_proba(docs)
    for size in (1, 7, 32, len(docs)):  # batches of any size, and the word cache warm or cold
        got = np.vstack([model.scorer.predict_proba(docs[i : i + size]) for i in range(0, len(docs), size)])
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    assert model.scorer.predict_proba([]).shape == (0, len(model.labels))


def test_the_fast_scorer_declines_what_it_does_not_reproduce(small_model: Path) -> None:
    loaded = clf.load(small_model)
    assert loaded.scorer is not None
    np.testing.assert_allclose(loaded.scorer.predict_proba(DOCS), loaded.model.predict_proba(DOCS), atol=1e-12)
    for change in ({"sublinear_tf": False}, {"norm": "l1"}, {"analyzer": "char"}, {"ngram_range": (1, 3)}, {"binary": True}):
        model = clf.from_arrays(np.load(small_model / clf.MODEL_FILE, allow_pickle=False))
        words = model.named_steps["features"].transformer_list[0][1]
        words.set_params(**change)
        assert clf.Scorer.of(model) is None, change
    binary = clf.train(DOCS[:6], LABELS[:6])
    assert clf.Scorer.of(binary) is None

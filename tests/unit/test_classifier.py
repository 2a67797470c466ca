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

"""The reply classifier: a scikit-learn pipeline, trained, evaluated, saved and loaded safely.

The pipeline reads one document per reply (:func:`document`): the subject
without its ``Re:``-style prefixes, the new text the replier wrote, and
tokens for the header evidence the parser found.  All text preprocessing
(lower-casing, word and character n-grams, TF-IDF) is inside the pipeline,
so a saved model is self-contained.

Models are saved as data, never as pickles: one ``.npz`` file holding the
vectorisers' parameters and vocabularies (as JSON) and the learned arrays,
read back with ``numpy.load(allow_pickle=False)`` and put into fresh
estimators.  Loading a model file cannot run code.  (skops was the first
choice; it stored this pipeline in 37 MB and took 4.4 s to load, against
about 1 MB and 0.1 s here.)
"""

from __future__ import annotations

import hashlib
import io
import json
import platform
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy
import sklearn
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import FeatureUnion, Pipeline
from threadpoolctl import threadpool_limits

from .cues import cue_tokens
from .errors import ModelError
from .records import LABELS, Reply

MODEL_FILE = "classifier.npz"
FORMAT = 1
METADATA_FILE = "metadata.json"
SEED = 13

_PREFIX = re.compile(r"^\s*((re|aw|wg|fw|fwd|tr|rv|ref|réf|sv|vs|odp|res|antw|ответ|отв|ha|r)\s*(\[\d+\])?\s*:\s*)+", re.I)

def document(reply: Reply) -> str:
    """The text the classifier reads for ``reply``.

    Header evidence becomes tokens (``hdrauto``, ``hdrleft``...) so that the
    model can weigh it against the words.
    """
    subject = _PREFIX.sub("", reply.subject or "")
    text = reply.new_text or reply.body[:3000]
    tokens = []
    signals = reply.signals
    if any(not r.startswith(("auto-reply subject", "Return-Path", "Precedence")) for r in signals.reasons):
        tokens.append("hdrauto")
    if signals.kind:
        tokens.append(f"hdr{signals.kind.replace('_', '')}")
    if reply.cc:
        tokens.append("hdrcc")
    if not reply.quoted:
        tokens.append("hdrnoquote")
    tokens += cue_tokens(f"{subject}\n{text[:4000]}", sender_addr=reply.from_addr)
    return f"{subject}\n{text[:4000]}\n{' '.join(tokens)}"


def build_pipeline(*, c: float = 8.0) -> Pipeline:
    """Word 1–2-grams plus character 2–5-grams, then a logistic regression.

    Chosen by measurement (``bench/compare_models.py``): character n-grams
    carry the other languages and the misspellings, word n-grams carry
    negation ("not interested"); the logistic regression gives calibrated
    enough probabilities for the review threshold.
    """
    features = FeatureUnion(
        [
            ("words", TfidfVectorizer(lowercase=True, ngram_range=(1, 2), min_df=1, sublinear_tf=True, token_pattern=r"(?u)\b\w+\b")),
            ("chars", TfidfVectorizer(lowercase=True, analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True, max_features=120_000)),
        ]
    )
    # newton-cg converges in a handful of iterations on these sparse features (lbfgs takes ~30)
    model = LogisticRegression(C=c, solver="newton-cg", max_iter=2000, class_weight="balanced", random_state=SEED)
    return Pipeline([("features", features), ("model", model)])


@dataclass(frozen=True)
class Report:
    """A cross-validated (or held-out) evaluation of the classifier."""

    labels: tuple[str, ...]
    per_class: dict[str, dict[str, float]]
    macro_f1: float
    accuracy: float
    confusion: list[list[int]]
    n: int
    kind: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "n": self.n,
            "macro_f1": round(self.macro_f1, 4),
            "accuracy": round(self.accuracy, 4),
            "per_class": self.per_class,
            "confusion": self.confusion,
            "labels": list(self.labels),
        }


def make_report(y_true: Sequence[str], y_pred: Sequence[str], *, kind: str) -> Report:
    labels = tuple(label for label in LABELS if label in set(y_true) | set(y_pred))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=list(labels), zero_division=0)
    per_class = {
        label: {"precision": round(float(p[i]), 4), "recall": round(float(r[i]), 4), "f1": round(float(f[i]), 4), "support": int(s[i])}
        for i, label in enumerate(labels)
    }
    return Report(
        labels=labels,
        per_class=per_class,
        macro_f1=float(f1_score(y_true, y_pred, labels=list(labels), average="macro", zero_division=0)),
        accuracy=float(np.mean(np.asarray(y_true) == np.asarray(y_pred))),
        confusion=confusion_matrix(y_true, y_pred, labels=list(labels)).tolist(),
        n=len(y_true),
        kind=kind,
    )


def cross_validate(
    docs: Sequence[str],
    labels: Sequence[str],
    *,
    folds: int = 5,
    progress: Callable[[int], None] | None = None,
) -> Report:
    """Stratified k-fold cross-validation, with a fixed seed."""
    y = np.asarray(labels)
    smallest = min(np.unique(y, return_counts=True)[1])
    folds = max(2, min(folds, int(smallest)))
    predicted = np.empty(len(y), dtype=object)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=SEED)
    x = np.asarray(docs, dtype=object)
    for train, test in splitter.split(x, y):
        model = _fit(list(x[train]), y[train])
        predicted[test] = model.predict(list(x[test]))
        if progress:
            progress(1)
    return make_report(list(y), list(predicted), kind=f"stratified {folds}-fold cross-validation")


def grouped_validate(
    docs: Sequence[str],
    labels: Sequence[str],
    groups: Sequence[str],
    *,
    kind: str,
    progress: Callable[[int], None] | None = None,
) -> Report:
    """Leave one group out: train on the others, predict the held-out group.

    With groups such as the language or the writer of each reply this
    estimates how the model does on mail unlike anything it was trained on.
    """
    x = np.asarray(docs, dtype=object)
    y = np.asarray(labels)
    g = np.asarray(groups)
    predicted = np.empty(len(y), dtype=object)
    for group in sorted(set(groups)):
        test = g == group
        train = ~test
        if len(set(y[train])) < 2:
            predicted[test] = y[train][0] if train.any() else "interested"
        else:
            predicted[test] = _fit(list(x[train]), y[train]).predict(list(x[test]))
        if progress:
            progress(1)
    return make_report(list(y), list(predicted), kind=kind)


def data_hash(docs: Sequence[str], labels: Sequence[str]) -> str:
    """A hash of the training data that does not depend on its order."""
    items = sorted(hashlib.sha256(f"{label}\x00{doc}".encode()).hexdigest() for doc, label in zip(docs, labels))
    return hashlib.sha256("".join(items).encode()).hexdigest()


def versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
    }


def _fit(docs: Sequence[str], labels: Any) -> Pipeline:
    # OpenBLAS threads spin against each other on matrices this small: one thread
    # fits 5-10x faster here than the default pool (measured on 2 cores)
    with threadpool_limits(limits=1, user_api="blas"):
        return build_pipeline().fit(list(docs), np.asarray(labels))


def train(docs: Sequence[str], labels: Sequence[str]) -> Pipeline:
    """Fit the pipeline on every example (the same data gives the same model)."""
    model = _fit(docs, labels)
    for _, vectorizer in model.named_steps["features"].transformer_list:
        # the terms pruned by min_df/max_features are kept only for introspection;
        # scikit-learn documents that they can be dropped before saving
        if hasattr(vectorizer, "stop_words_"):
            delattr(vectorizer, "stop_words_")
    return model


_VECTORIZER_PARAMS = ("lowercase", "analyzer", "ngram_range", "min_df", "max_df", "max_features", "sublinear_tf", "token_pattern", "norm", "use_idf", "smooth_idf")


def _parts(model: Pipeline) -> tuple[list[tuple[str, TfidfVectorizer]], LogisticRegression]:
    return list(model.named_steps["features"].transformer_list), model.named_steps["model"]


def to_arrays(model: Pipeline) -> dict[str, np.ndarray]:
    """The fitted pipeline as plain arrays and JSON: nothing that can run code."""
    vectorizers, lr = _parts(model)
    spec: dict[str, Any] = {"format": FORMAT, "vectorizers": [], "classes": [str(c) for c in lr.classes_], "C": lr.C}
    arrays: dict[str, np.ndarray] = {}
    for name, vec in vectorizers:
        params = {k: getattr(vec, k) for k in _VECTORIZER_PARAMS}
        params["ngram_range"] = list(params["ngram_range"])
        vocabulary = sorted(vec.vocabulary_, key=vec.vocabulary_.__getitem__)
        spec["vectorizers"].append({"name": name, "params": params, "vocabulary": vocabulary})
        arrays[f"idf_{name}"] = np.asarray(vec.idf_, dtype=np.float64)
    arrays["coef"] = np.asarray(lr.coef_, dtype=np.float64)
    arrays["intercept"] = np.asarray(lr.intercept_, dtype=np.float64)
    arrays["spec"] = np.frombuffer(json.dumps(spec, ensure_ascii=False).encode("utf-8"), dtype=np.uint8)
    return arrays


def from_arrays(arrays: Any) -> Pipeline:
    """Rebuild a fitted pipeline from :func:`to_arrays` output."""
    spec = json.loads(bytes(arrays["spec"]).decode("utf-8"))
    if spec.get("format") != FORMAT:
        raise ModelError(f"model format {spec.get('format')} is not {FORMAT}: retrain the model")
    union = []
    for item in spec["vectorizers"]:
        params = dict(item["params"])
        params["ngram_range"] = tuple(params["ngram_range"])
        vec = TfidfVectorizer(**params)
        vec.vocabulary_ = {term: i for i, term in enumerate(item["vocabulary"])}
        vec.idf_ = arrays[f"idf_{item['name']}"]
        union.append((item["name"], vec))
    lr = LogisticRegression(C=spec["C"])
    lr.classes_ = np.asarray(spec["classes"])
    lr.coef_ = arrays["coef"]
    lr.intercept_ = arrays["intercept"]
    lr.n_features_in_ = arrays["coef"].shape[1]
    return Pipeline([("features", FeatureUnion(union)), ("model", lr)])


def save(model: Pipeline, directory: Path, *, metadata: dict[str, Any]) -> None:
    """Write the model and its ``metadata.json`` into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / MODEL_FILE).open("wb") as fh:
        np.savez_compressed(fh, **to_arrays(model))  # type: ignore[arg-type]
    meta = dict(metadata)
    meta["labels"] = [str(c) for c in model.classes_]
    meta["versions"] = versions()
    meta["file"] = MODEL_FILE
    meta["format"] = FORMAT
    meta["sha256"] = hashlib.sha256((directory / MODEL_FILE).read_bytes()).hexdigest()
    (directory / METADATA_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")


@dataclass(frozen=True)
class Classifier:
    """A loaded model and its metadata."""

    model: Pipeline
    metadata: dict[str, Any]

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(str(c) for c in self.model.classes_)

    def predict_proba(self, docs: Sequence[str]) -> list[dict[str, float]]:
        probs = self.model.predict_proba(list(docs))
        return [{label: float(p) for label, p in zip(self.labels, row)} for row in probs]


def _minor(version: str) -> tuple[str, ...]:
    return tuple(version.split(".")[:2])


def load(directory: Path) -> Classifier:
    """Load a model safely (no pickle), refusing a changed file and other library versions.

    A model saved by another minor version of scikit-learn is refused (its
    internals may differ); another patch release loads with a warning.
    """
    path = directory / MODEL_FILE
    meta_path = directory / METADATA_FILE
    if not path.is_file() or not meta_path.is_file():
        raise ModelError(f"no model in {directory}: expected {MODEL_FILE} and {METADATA_FILE}; build one with `triage train fixtures/emails --out {directory}`")
    try:
        metadata = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read {meta_path}: {exc}") from exc
    data = path.read_bytes()
    if metadata.get("sha256") and hashlib.sha256(data).hexdigest() != metadata["sha256"]:
        raise ModelError(f"{path} does not match the checksum in {meta_path}: the file was changed; retrain the model")
    saved = metadata.get("versions", {}).get("scikit-learn", "?")
    if _minor(saved) != _minor(sklearn.__version__):
        raise ModelError(
            f"the model in {directory} was built with scikit-learn {saved}, this is {sklearn.__version__}: "
            f"retrain it with `triage train DATA --out {directory}`"
        )
    if saved != sklearn.__version__:
        warnings.warn(f"model built with scikit-learn {saved}, running {sklearn.__version__}", UserWarning, stacklevel=2)
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
            model = from_arrays(arrays)
    except ModelError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"{path} is not a readable triage model ({exc}); retrain it with `triage train DATA --out {directory}`") from exc
    return Classifier(model=model, metadata=metadata)

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
import importlib.metadata
import io
import itertools
import json
import platform
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse

if TYPE_CHECKING:  # scikit-learn takes about a second to import: only training and evaluation need it
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

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
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, Pipeline

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
    from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

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
    from sklearn.model_selection import StratifiedKFold

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


def _sklearn_version() -> str:
    return importlib.metadata.version("scikit-learn")


def versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "scikit-learn": _sklearn_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
    }


def _fit(docs: Sequence[str], labels: Any) -> Pipeline:
    from threadpoolctl import threadpool_limits

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
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, Pipeline

    spec = _spec(arrays)
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


def _spec(arrays: Any) -> dict[str, Any]:
    spec: dict[str, Any] = json.loads(bytes(arrays["spec"]).decode("utf-8"))
    if spec.get("format") != FORMAT:
        raise ModelError(f"model format {spec.get('format')} is not {FORMAT}: retrain the model")
    return spec


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


class _Block:
    """One TF-IDF vectoriser of the saved pipeline, applied to a batch without scikit-learn's analysers.

    Only the configuration :func:`build_pipeline` uses is supported (lower
    case, l2 norm, sublinear tf, idf; word 1–2-grams by a token pattern, or
    ``char_wb`` n-grams); :meth:`Scorer.from_arrays` checks that first.
    """

    def __init__(self, vocabulary: list[str], idf: np.ndarray, params: dict[str, Any], offset: int) -> None:
        self.vocabulary: dict[str, int] = {term: i for i, term in enumerate(vocabulary)}
        self.size = len(self.vocabulary)
        self.idf = np.asarray(idf, dtype=np.float64)
        self.offset = offset
        self.chars = params["analyzer"] == "char_wb"
        self.low, self.high = params["ngram_range"]
        self.pattern = re.compile(params["token_pattern"])
        #: word → the vocabulary indices of its character n-grams (with repeats); words repeat
        #: across replies, so each word is cut into n-grams once.  Bounded for long-running daemons.
        self._cache: dict[str, np.ndarray] = {}
        if not self.chars:
            self._index_words()

    def _index_words(self) -> None:
        # every token that appears in a term gets a number; a bigram is then the pair of its
        # tokens' numbers, looked up in a sorted array instead of joining strings per document
        tokens: dict[str, int] = {}
        unigram: list[int] = []
        pairs: list[tuple[int, int, int]] = []
        for term, index in self.vocabulary.items():
            parts = term.split(" ")
            ids = [tokens.setdefault(t, len(tokens)) for t in parts]
            if len(parts) == 1:
                unigram.extend([-1] * (ids[0] + 1 - len(unigram)))
                unigram[ids[0]] = index
            else:
                pairs.append((ids[0], ids[1], index))
        unigram.extend([-1] * (len(tokens) - len(unigram)))
        self.tokens = tokens
        self.unigram = np.asarray(unigram, dtype=np.intp)
        width = max(len(tokens), 1)
        keys = np.asarray([a * width + b for a, b, _ in pairs], dtype=np.intp)
        order = np.argsort(keys)
        self.width = width
        self.pair_keys = keys[order]
        self.pair_index = np.asarray([i for _, _, i in pairs], dtype=np.intp)[order]

    def _word_grams(self, word: str) -> np.ndarray:
        # the n-grams of " word " as scikit-learn's char_wb analyser makes them
        padded = f" {word} "
        size = len(padded)
        vocabulary = self.vocabulary
        found = []
        for n in range(self.low, self.high + 1):
            for i in range(max(1, size - n + 1)):
                index = vocabulary.get(padded[i : i + n])
                if index is not None:
                    found.append(index)
            if size <= n:  # a short word counts once, as in scikit-learn
                break
        return np.asarray(found, dtype=np.intp)

    def _char_terms(self, lowered: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(document number, feature index) of every character n-gram occurrence in the batch."""
        cache = self._cache
        if len(cache) > 200_000:
            cache.clear()
        words_per_doc = [doc.split() for doc in lowered]
        words = [w for ws in words_per_doc for w in ws]
        cached = list(map(cache.get, words))
        grams = [found if found is not None else cache.setdefault(word, self._word_grams(word)) for word, found in zip(words, cached)]
        if not grams:
            return np.empty(0, dtype=np.intp), np.empty(0, dtype=np.intp)
        per_word = np.fromiter(map(len, grams), dtype=np.intp, count=len(grams))
        doc_of_word = np.repeat(np.arange(len(lowered), dtype=np.intp), [len(ws) for ws in words_per_doc])
        return np.repeat(doc_of_word, per_word), np.concatenate(grams)

    def _word_terms(self, lowered: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(document number, feature index) of every word uni- and bigram occurrence in the batch."""
        tokens_per_doc = [self.pattern.findall(doc) for doc in lowered]
        flat = [t for ts in tokens_per_doc for t in ts]
        ids = np.fromiter(map(self.tokens.get, flat, itertools.repeat(-1)), dtype=np.intp, count=len(flat))
        doc = np.repeat(np.arange(len(lowered), dtype=np.intp), [len(ts) for ts in tokens_per_doc])
        docs_out, features_out = [], []
        if self.low <= 1:
            known = ids >= 0
            uni = np.full(len(ids), -1, dtype=np.intp)
            uni[known] = self.unigram[ids[known]]
            keep = uni >= 0
            docs_out.append(doc[keep])
            features_out.append(uni[keep])
        if self.high >= 2 and len(ids) > 1 and len(self.pair_keys):
            first, second = ids[:-1], ids[1:]
            valid = (first >= 0) & (second >= 0) & (doc[:-1] == doc[1:])
            keys = first[valid] * self.width + second[valid]
            where = np.minimum(np.searchsorted(self.pair_keys, keys), len(self.pair_keys) - 1)
            hit = self.pair_keys[where] == keys
            docs_out.append(doc[:-1][valid][hit])
            features_out.append(self.pair_index[where[hit]])
        if not docs_out:
            return np.empty(0, dtype=np.intp), np.empty(0, dtype=np.intp)
        return np.concatenate(docs_out), np.concatenate(features_out)

    def add_scores(self, lowered: Sequence[str], coef_t: np.ndarray, scores: np.ndarray) -> None:
        """Add this block's part of the linear decision function of each document to ``scores``."""
        doc, feature = self._char_terms(lowered) if self.chars else self._word_terms(lowered)
        if not len(feature):
            return
        # one key per (document, feature) occurrence: counting the keys gives every term frequency
        keys, counts = np.unique(doc * self.size + feature, return_counts=True)
        doc, feature = np.divmod(keys, self.size)
        weights = (np.log(counts) + 1.0) * self.idf[feature]
        weights /= np.sqrt(np.bincount(doc, weights * weights, minlength=len(lowered)))[doc]
        # the keys are sorted by document: a CSR matrix of the batch, then one sparse-dense product
        rows = np.searchsorted(doc, np.arange(len(lowered) + 1))
        matrix = scipy.sparse.csr_matrix((weights, feature, rows), shape=(len(lowered), self.size))
        scores += matrix @ coef_t[self.offset : self.offset + self.size]


class Scorer:
    """``predict_proba`` of a saved pipeline, computed straight from its arrays.

    scikit-learn's vectorisers cut every document into n-grams in Python and
    build sparse matrices; this reads the same vocabularies and weights but
    cuts each distinct word into character n-grams only once, counts the
    terms of a whole batch with one ``numpy.unique`` and adds up the weights
    per document.  The probabilities are the same (a test compares them on
    every fixture), several times faster.
    """

    def __init__(self, blocks: list[_Block], coef: np.ndarray, intercept: np.ndarray, classes: tuple[str, ...]) -> None:
        self.blocks = blocks
        self.coef_t = np.ascontiguousarray(coef.T)  # one row per feature: gathering rows is cheap
        self.intercept = intercept
        self.classes = classes

    @classmethod
    def from_arrays(cls, arrays: Any) -> Scorer | None:
        """A scorer for a model saved by :func:`to_arrays`, or ``None`` if it is configured in a way this does not reproduce."""
        spec = _spec(arrays)
        blocks, offset = [], 0
        for item in spec["vectorizers"]:
            params = item["params"]
            wanted = {"lowercase": True, "norm": "l2", "use_idf": True, "sublinear_tf": True}
            if any(params.get(k) != v for k, v in wanted.items()) or params["analyzer"] not in ("word", "char_wb"):
                return None
            if params["analyzer"] == "word" and params["ngram_range"][1] > 2:
                return None
            blocks.append(_Block(item["vocabulary"], arrays[f"idf_{item['name']}"], params, offset))
            offset += len(item["vocabulary"])
        coef = np.asarray(arrays["coef"], dtype=np.float64)
        if len(spec["classes"]) < 3 or coef.shape[1] != offset:
            return None  # binary models use a logistic, not a softmax: leave those to scikit-learn
        return cls(blocks, coef, np.asarray(arrays["intercept"], dtype=np.float64), tuple(spec["classes"]))

    @classmethod
    def of(cls, model: Pipeline) -> Scorer | None:
        """A scorer for a fitted pipeline (one that :func:`to_arrays` can save), or ``None``."""
        try:
            vectorizers, _ = _parts(model)
        except (KeyError, AttributeError):
            return None
        unsaved = {"strip_accents": None, "preprocessor": None, "tokenizer": None, "stop_words": None, "binary": False}
        if any(getattr(vec, k, None) != v for _, vec in vectorizers for k, v in unsaved.items()):
            return None
        return cls.from_arrays(to_arrays(model))

    def predict_proba(self, docs: Sequence[str]) -> np.ndarray:
        scores = np.tile(self.intercept, (len(docs), 1))
        if not docs:
            return scores
        lowered = [doc.lower() for doc in docs]
        for block in self.blocks:
            block.add_scores(lowered, self.coef_t, scores)
        scores -= scores.max(axis=1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=1, keepdims=True)
        return scores


@dataclass
class Classifier:
    """A loaded model and its metadata.

    Replies are scored by :class:`Scorer` where it reproduces the model;
    the scikit-learn pipeline is built from the saved arrays only when
    something asks for it (training tools, or a model the scorer declines).
    """

    metadata: dict[str, Any]
    scorer: Scorer | None = None
    pipeline: Pipeline | None = None
    #: the saved form (:func:`to_arrays`), to build the pipeline from on demand
    arrays: dict[str, np.ndarray] | None = None

    @property
    def model(self) -> Pipeline:
        if self.pipeline is None:
            if self.arrays is None:
                raise ModelError("this classifier has neither a pipeline nor saved arrays")
            self.pipeline = from_arrays(self.arrays)
        return self.pipeline

    @property
    def labels(self) -> tuple[str, ...]:
        return self.scorer.classes if self.scorer is not None else tuple(str(c) for c in self.model.classes_)

    def predict_proba(self, docs: Sequence[str]) -> list[dict[str, float]]:
        docs = list(docs)
        probs = self.scorer.predict_proba(docs) if self.scorer is not None else self.model.predict_proba(docs)
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
    running = _sklearn_version()
    if _minor(saved) != _minor(running):
        raise ModelError(
            f"the model in {directory} was built with scikit-learn {saved}, this is {running}: "
            f"retrain it with `triage train DATA --out {directory}`"
        )
    if saved != running:
        warnings.warn(f"model built with scikit-learn {saved}, running {running}", UserWarning, stacklevel=2)
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as saved_arrays:
            arrays = {name: saved_arrays[name] for name in saved_arrays.files}
        scorer = Scorer.from_arrays(arrays)
        pipeline = from_arrays(arrays) if scorer is None else None
    except ModelError:
        raise
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise ModelError(f"{path} is not a readable triage model ({exc}); retrain it with `triage train DATA --out {directory}`") from exc
    return Classifier(metadata=metadata, scorer=scorer, pipeline=pipeline, arrays=arrays)

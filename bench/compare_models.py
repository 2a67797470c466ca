"""Compare classifier designs on the labelled corpus: plain CV and grouped (language, writer) estimates.

Usage: .venv/bin/python bench/compare_models.py [DATA]

Each candidate is scored with the same folds; the grouped estimates (leave one
language out, leave one writer out) are the ones that predict mail from
strangers.  The design shipped in triage.classifier is the row marked *.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import ComplementNB
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from triage import classifier as clf
from triage import corpus
from triage.evaluation import model_examples

_CUE = re.compile(r"\bcue\w+")


def words() -> TfidfVectorizer:
    return TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, token_pattern=r"(?u)\b\w+\b")


def chars() -> TfidfVectorizer:
    return TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True, max_features=120_000)


def lr() -> LogisticRegression:
    return LogisticRegression(C=8.0, max_iter=2000, class_weight="balanced", random_state=clf.SEED)


CANDIDATES = {
    "words + LR": (lambda: Pipeline([("f", words()), ("m", lr())]), False),
    "chars + LR": (lambda: Pipeline([("f", chars()), ("m", lr())]), False),
    "words+chars + LR": (lambda: Pipeline([("f", FeatureUnion([("w", words()), ("c", chars())])), ("m", lr())]), False),
    "words+chars+cues + LR *": (lambda: clf.build_pipeline(), True),
    "words+chars+cues + calibrated LinearSVC": (
        lambda: Pipeline([("f", FeatureUnion([("w", words()), ("c", chars())])), ("m", CalibratedClassifierCV(LinearSVC(C=0.5, class_weight="balanced"), cv=3))]),
        True,
    ),
    "words+chars+cues + ComplementNB": (lambda: Pipeline([("f", FeatureUnion([("w", words()), ("c", chars())])), ("m", ComplementNB(alpha=0.3))]), True),
}


def macro_f1(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(y, p, average="macro"))


def score(make, docs: list[str], y: np.ndarray, splits: list[tuple[np.ndarray, np.ndarray]]) -> float:
    pred = np.empty(len(y), dtype=object)
    for train, test in splits:
        model = make().fit([docs[i] for i in train], y[train])
        pred[test] = model.predict([docs[i] for i in test])
    return macro_f1(y, pred)


def main() -> None:
    from sklearn.model_selection import StratifiedKFold

    data = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("fixtures/emails")
    examples = model_examples(corpus.load(data)[0])
    with_cues = [clf.document(e.reply) for e in examples]
    without = [_CUE.sub("", d) for d in with_cues]
    y = np.asarray([e.label for e in examples])
    kfold = list(StratifiedKFold(5, shuffle=True, random_state=clf.SEED).split(with_cues, y))

    def groups(key: str) -> list[tuple[np.ndarray, np.ndarray]]:
        g = np.asarray([str(e.expected.get(key)) for e in examples])
        return [(np.where(g != v)[0], np.where(g == v)[0]) for v in sorted(set(g))]

    lang, writer = groups("language"), groups("writer")
    print(f"{len(y)} replies, {len(set(e.expected.get('language') for e in examples))} languages, {len(writer)} writers")
    print(f"{'design':42} {'5-fold':>7} {'leave-lang':>10} {'leave-writer':>12} {'fit s':>6}")
    for name, (make, cues) in CANDIDATES.items():
        docs = with_cues if cues else without
        start = time.perf_counter()
        make().fit(docs, y)
        fit = time.perf_counter() - start
        print(f"{name:42} {score(make, docs, y, kfold):7.3f} {score(make, docs, y, lang):10.3f} {score(make, docs, y, writer):12.3f} {fit:6.2f}")


if __name__ == "__main__":
    main()

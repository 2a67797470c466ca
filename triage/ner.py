"""A spaCy entity recogniser for the person a reply points to.

No pretrained pipeline can be downloaded where triage is built, so triage
trains its own: a blank multi-language (``xx``) pipeline whose ``ner``
component learns the label ``CONTACT`` (the referred person, or the interim
contact of an absence) from the annotated fixtures.  It is saved with
spaCy's own ``to_disk`` (a config and binary weights, no pickle) under
``models/ner`` and complements the rules of :mod:`triage.names`, which it
backs up when they find nobody.

A user who has installed a pretrained pipeline (``en_core_web_sm``...) can
name it instead; its ``PERSON``/``PER`` entities then serve as candidates.
"""

from __future__ import annotations

import importlib.util
import logging
import random
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ModelError

log = logging.getLogger(__name__)

LABEL = "CONTACT"
NER_DIR = "ner"
_PERSON_LABELS = frozenset((LABEL, "PERSON", "PER"))
# A smaller network than spaCy's default (width 96, depth 4): one label, a few hundred
# examples; it trains about twice as fast for the same result on the fixtures.
_MODEL = {
    "@architectures": "spacy.TransitionBasedParser.v2",
    "state_type": "ner",
    "extra_state_tokens": False,
    "hidden_width": 64,
    "maxout_pieces": 2,
    "use_upper": True,
    "tok2vec": {
        "@architectures": "spacy.HashEmbedCNN.v2",
        "pretrained_vectors": None,
        "width": 64,
        "depth": 2,
        "embed_size": 2000,
        "window_size": 1,
        "maxout_pieces": 3,
        "subword_features": True,
    },
}
_TRAIN_CHARS = 700  # the person a reply points to is named early; shorter texts train much faster


def _load_pipeline(source: str | Path, *, matmul: bool = True) -> Any:
    """Load a spaCy pipeline; ``matmul``: with numpy's matrix product instead of BLIS's.

    thinc multiplies its matrices with BLIS, which on the machines here is
    about three times slower than numpy's OpenBLAS for the small matrices of
    this recogniser; the entities found are the same (a test compares them).
    """
    import spacy
    from thinc.api import get_current_ops, set_current_ops

    path = Path(source)
    target = path / NER_DIR if (path / NER_DIR).is_dir() else path
    previous = get_current_ops()
    if matmul:
        set_current_ops(_matmul_ops())
    try:
        if target.is_dir():
            nlp = spacy.load(target)
        else:
            nlp = spacy.load(str(source), exclude=["parser", "lemmatizer", "tagger", "attribute_ruler", "tok2vec_unused"])
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot load the spaCy pipeline {source}: {exc}; train one with `triage train DATA --out models` or install it") from exc
    finally:
        set_current_ops(previous)
    if "ner" not in nlp.pipe_names:
        raise ModelError(f"the spaCy pipeline {source} has no entity recogniser")
    return nlp


def _matmul_ops() -> Any:
    import numpy as np
    from thinc.api import NumpyOps

    class MatmulOps(NumpyOps):  # type: ignore[misc]
        """thinc's CPU operations, with numpy's matrix product."""

        def gemm(self, x: Any, y: Any, out: Any = None, trans1: bool = False, trans2: bool = False) -> Any:
            a = x.T if trans1 else x
            b = y.T if trans2 else y
            if out is None:
                return np.matmul(a, b)
            np.matmul(a, b, out=out)
            return out

    return MatmulOps()


@dataclass(frozen=True)
class Span:
    text: str
    start: int
    label: str


def training_examples(items: Sequence[tuple[str, str | None]]) -> list[tuple[str, list[tuple[int, int, str]]]]:
    """Annotate texts with the expected contact name where it is written verbatim.

    ``items`` are ``(new_text, expected name or None)``; replies without a
    contact teach the model what is not one (greetings, sign-offs, our SDR).
    """
    out = []
    for text, name in items:
        text = text[:_TRAIN_CHARS]
        if name:
            at = text.find(name)
            if at < 0:
                continue  # written in another case or across lines: no exact span to learn
            out.append((text, [(at, at + len(name), LABEL)]))
        else:
            out.append((text, []))
    return out


def train(
    items: Sequence[tuple[str, str | None]],
    *,
    epochs: int = 12,
    seed: int = 13,
    progress: Callable[[int], None] | None = None,
) -> Any:
    """Train the ``CONTACT`` recogniser; the same data and seed give the same weights."""
    import spacy
    from spacy.training import Example
    from spacy.util import fix_random_seed, minibatch  # type: ignore[attr-defined]

    fix_random_seed(seed)
    rng = random.Random(seed)
    nlp = spacy.blank("xx")
    ner = nlp.add_pipe("ner", config={"model": _MODEL})
    ner.add_label(LABEL)  # type: ignore[attr-defined]
    data = training_examples(items)
    examples = []
    for text, spans in data:
        doc = nlp.make_doc(text)
        entities = [(s, e, label) for s, e, label in spans if doc.char_span(s, e, label=label, alignment_mode="contract") is not None]
        examples.append(Example.from_dict(doc, {"entities": entities}))
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(epochs):
        rng.shuffle(examples)
        for batch in minibatch(examples, size=16):  # type: ignore[no-untyped-call]
            nlp.update(batch, sgd=optimizer, drop=0.2)
        if progress:
            progress(1)
    return nlp


def save(nlp: Any, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    nlp.to_disk(directory / NER_DIR)


class Recogniser:
    """Finds candidate contact names with a trained or pretrained spaCy pipeline.

    spaCy and the pipeline are loaded at the first use, not at start-up: the
    recogniser only backs up the name rules, many runs never need it, and
    importing spaCy costs about a second.  A pipeline that is missing is
    reported at once; one that cannot be read, at the first use.
    """

    def __init__(self, nlp: Any = None, *, source: str | Path | None = None) -> None:
        self._nlp = nlp
        self.source = source
        self._failed = False
        self._loading = threading.Lock()
        self._threads: Any = None  # threadpoolctl's controller: finding the BLAS libraries costs ~5 ms a time

    @property
    def nlp(self) -> Any:
        if self._nlp is None:
            with self._loading:  # the daemon may be loading it in the background
                if self._nlp is None:
                    assert self.source is not None
                    self._nlp = _load_pipeline(self.source)
        return self._nlp

    def preload_in_background(self) -> None:
        """Start loading the pipeline now, in a thread: a daemon's first reply then does not wait for spaCy."""
        threading.Thread(target=self.spans, args=([],), name="recogniser-load", daemon=True).start()

    @classmethod
    def load(cls, source: str | Path) -> Recogniser:
        """``source`` is a directory written by :func:`save` or the name of an installed pipeline (loaded at first use)."""
        path = Path(source)
        if not (path / NER_DIR).is_dir() and not path.is_dir() and importlib.util.find_spec(str(source)) is None:
            raise ModelError(f"no spaCy pipeline {source}: train one with `triage train DATA --out models`, or install it with pip")
        return cls(source=source)

    def spans(self, texts: Sequence[str]) -> list[list[Span]]:
        """The person entities of each text.

        A pipeline that cannot be loaded at its first use is logged once and
        then finds nobody: the name rules go on without their back-up.
        """
        if self._nlp is None and self._failed:
            return [[] for _ in texts]
        try:
            nlp = self.nlp
        except ModelError as exc:
            self._failed = True
            log.error("name recogniser disabled", extra={"error": str(exc)})
            return [[] for _ in texts]
        if not texts:
            return []
        if self._threads is None:
            from threadpoolctl import ThreadpoolController

            self._threads = ThreadpoolController()
        out = []
        # one BLAS thread: the matrices are small, and the one-shot run already keeps every core
        # busy with a worker process each; more threads only fight over the cores
        with self._threads.limit(limits=1, user_api="blas"):
            for doc in nlp.pipe([t[:2000] for t in texts], batch_size=32):
                out.append([Span(ent.text, ent.start_char, ent.label_) for ent in doc.ents if ent.label_ in _PERSON_LABELS])
        return out

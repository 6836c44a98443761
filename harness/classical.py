"""A cheap classical baseline: TF-IDF + logistic regression (scikit-learn), trained on the train
split, so a report reader sees whether an LLM prompt beats a model that costs nothing to run.

>>> from harness.records import Example
>>> ex = lambda i, t, y: Example(id=str(i), inputs={"text": t}, label=y, split="train", line=i)
>>> train = [ex(1, "ships in two days", "fact"), ex(2, "I love it", "opinion"),
...          ex(3, "weighs 3 kg", "fact"), ex(4, "so pretty, love", "opinion")]
>>> tfidf_logreg(train, [ex(5, "love the color", "opinion")], ["fact", "opinion"]).predictions
('opinion',)
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

from harness.demos import example_text
from harness.errors import UsageError
from harness.records import Example


@dataclass(frozen=True, slots=True)
class ClassicalResult:
    name: str
    predictions: tuple[str, ...]  # one per evaluated example, in order
    distributions: tuple[dict[str, float], ...]  # label -> probability, per example
    n_train: int


def tfidf_logreg(train: Sequence[Example], evaluate_on: Sequence[Example],
                 labels: Sequence[str], *, seed: int = 0) -> ClassicalResult:
    """Fit on `train`, predict `evaluate_on`. Needs at least two distinct labels in train.

    Fitted once per process for the same texts, labels and seed: every run report computes it,
    and the versions of one `harness eval`, the cells of a `harness matrix` and the candidates'
    reports are scored on the same examples (a fit is ~0.1 s of scikit-learn on 20 examples)."""
    return _fitted(tuple((example_text(e), e.label) for e in train),
                   tuple(example_text(e) for e in evaluate_on), tuple(labels), seed)


@functools.lru_cache(maxsize=16)
def _fitted(train: tuple[tuple[str, str], ...], texts: tuple[str, ...], labels: tuple[str, ...],
            seed: int) -> ClassicalResult:
    seen = sorted({label for _, label in train})
    if len(seen) < 2:  # said before paying for scikit-learn's import
        raise UsageError(f"TF-IDF baseline needs at least two labels in the train split; "
                         f"got {len(train)} examples with labels {seen}")
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    model = make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1),
        LogisticRegression(max_iter=2000, class_weight="balanced", random_state=seed))
    model.fit([text for text, _ in train], [label for _, label in train])
    if not texts:
        return ClassicalResult("tfidf+logreg", (), (), len(train))
    proba = model.predict_proba(list(texts))
    classes = [str(c) for c in model.classes_]
    dists = tuple({label: float(row[classes.index(label)]) if label in classes else 0.0
                   for label in labels} for row in proba)
    preds = tuple(str(classes[int(row.argmax())]) for row in proba)
    return ClassicalResult("tfidf+logreg", preds, dists, len(train))

"""From several reviewers' votes to one label per item, and how much the reviewers agree.

Per item: a ground-truth annotation wins; otherwise the majority; a tie has no label and is listed.
Across items: Fleiss' kappa (statsmodels) over items with the most common number of reviewers, and
Cohen's kappa (scikit-learn) for each pair of reviewers who labeled at least two items in common.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations

from harness.labelstudio.annotations import ReviewedTask, Vote

# Why an item got (or did not get) its label.
GROUND_TRUTH, UNANIMOUS, MAJORITY, SINGLE = "ground_truth", "unanimous", "majority", "single"
TIE, UNLABELED = "tie", "unlabeled"


@dataclass(frozen=True, slots=True)
class Consensus:
    label: str | None
    status: str
    votes: Mapping[str, int]
    annotators: int
    # Share of this item's reviewers who chose `label` (None without a label).
    agreement: float | None

    @property
    def disputed(self) -> bool:
        return len(self.votes) > 1


def consensus(votes: Sequence[Vote]) -> Consensus:
    """>>> consensus([Vote(1, "a", "X"), Vote(2, "b", "X"), Vote(3, "c", "Y")]).label
    'X'
    """
    counts = Counter(v.label for v in votes)
    n = len(votes)
    if not votes:
        return Consensus(None, UNLABELED, {}, 0, None)
    truth = Counter(v.label for v in votes if v.ground_truth)
    if truth:
        ranked = truth.most_common()
        if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:  # ground truths that disagree
            return Consensus(None, TIE, dict(counts), n, None)
        label = ranked[0][0]
        return Consensus(label, GROUND_TRUTH, dict(counts), n, counts[label] / n)
    ranked = counts.most_common()
    if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
        return Consensus(None, TIE, dict(counts), n, None)
    label = ranked[0][0]
    status = SINGLE if n == 1 else UNANIMOUS if len(ranked) == 1 else MAJORITY
    return Consensus(label, status, dict(counts), n, counts[label] / n)


@dataclass(frozen=True, slots=True)
class AgreementReport:
    fleiss_kappa: float | None = None
    fleiss_items: int = 0
    fleiss_raters: int = 0
    # (annotator, annotator) -> (Cohen's kappa, items both labeled)
    cohen: Mapping[tuple[str, str], tuple[float, int]] = field(default_factory=dict)

    def lines(self) -> list[str]:
        out = []
        if self.fleiss_kappa is not None:
            out.append(f"Fleiss' kappa {_fmt(self.fleiss_kappa)} over {self.fleiss_items} items "
                       f"with {self.fleiss_raters} reviewers each")
        for (a, b), (kappa, n) in sorted(self.cohen.items()):
            out.append(f"Cohen's kappa {_fmt(kappa)} between reviewers {a} and {b} "
                       f"({n} items in common)")
        return out or ["no item has two or more reviewers: agreement not measured"]


def _fmt(value: float) -> str:
    # kappa is undefined (nan) when every rating is the same label: say so instead of 'nan'.
    return "n/a (all ratings the same label)" if math.isnan(value) else f"{value:.3f}"


def agreement(tasks: Sequence[ReviewedTask], labels: Sequence[str]) -> AgreementReport:
    multi = [t for t in tasks if len(t.votes) >= 2]
    if not multi:
        return AgreementReport()
    fleiss, n_items, raters = _fleiss(multi, labels)
    return AgreementReport(fleiss, n_items, raters, _cohen(multi, labels))


def _fleiss(tasks: Sequence[ReviewedTask], labels: Sequence[str]) -> tuple[float | None, int, int]:
    from statsmodels.stats.inter_rater import fleiss_kappa

    # Fleiss' kappa assumes the same number of ratings per item: use the most common number.
    raters = Counter(len(t.votes) for t in tasks).most_common(1)[0][0]
    table = [[sum(v.label == label for v in t.votes) for label in labels]
             for t in tasks if len(t.votes) == raters]
    if len(table) < 2:
        return None, len(table), raters
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # 0/0 when all ratings agree: nan
        return float(fleiss_kappa(table, method="fleiss")), len(table), raters


def _cohen(tasks: Sequence[ReviewedTask], labels: Sequence[str]) -> dict:
    from sklearn.metrics import cohen_kappa_score

    by_annotator: dict[str, dict[int, str]] = defaultdict(dict)
    for task in tasks:
        for vote in task.votes:
            by_annotator[vote.annotator][task.task_id] = vote.label
    pairs = {}
    for a, b in combinations(sorted(by_annotator), 2):
        shared = sorted(set(by_annotator[a]) & set(by_annotator[b]))
        if len(shared) < 2:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            kappa = cohen_kappa_score([by_annotator[a][i] for i in shared],
                                      [by_annotator[b][i] for i in shared], labels=list(labels))
        pairs[(a, b)] = (float(kappa), len(shared))
    return pairs

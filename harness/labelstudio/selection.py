"""Active-learning selection: which predictions a reviewer should see first.

Each strategy gives an uncertainty (higher = less certain) from a prediction's label distribution:
- least-confidence: 1 - p(top label)
- margin: 1 - (p(top) - p(second)); a small gap between the two best labels is uncertain
- entropy: Shannon entropy of the distribution, in nats (scipy.stats.entropy)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from harness.errors import UsageError

STRATEGIES = ("least-confidence", "margin", "entropy")


def uncertainty(distribution: Mapping[str, float], strategy: str = "least-confidence") -> float:
    """>>> round(uncertainty({"A": 0.6, "B": 0.4}, "margin"), 3)
    0.8
    """
    probabilities = sorted(distribution.values(), reverse=True)
    if not probabilities:
        raise ValueError("empty distribution")
    if strategy == "least-confidence":
        return 1.0 - probabilities[0]
    if strategy == "margin":
        second = probabilities[1] if len(probabilities) > 1 else 0.0
        return 1.0 - (probabilities[0] - second)
    if strategy == "entropy":
        from scipy.stats import entropy  # lazy: scipy.stats is slow to import for every command

        return float(entropy(probabilities))
    raise UsageError(f"unknown selection strategy {strategy!r}; choose one of "
                     f"{', '.join(STRATEGIES)}")


def most_uncertain(items: Sequence, n: int | None, strategy: str = "least-confidence",
                   *, distribution=lambda item: item.distribution) -> list:
    """The `n` most uncertain items (all when n is None), most uncertain first; ties keep the
    input order, so the selection is deterministic."""
    if strategy not in STRATEGIES:
        raise UsageError(f"unknown selection strategy {strategy!r}; choose one of "
                         f"{', '.join(STRATEGIES)}")
    if n is not None and n < 1:
        raise UsageError(f"--only-uncertain must be a positive number of items, got {n}")
    scored = [(uncertainty(distribution(item), strategy), index, item)
              for index, item in enumerate(items) if distribution(item)]
    if not scored:
        raise UsageError("no prediction carries a label distribution, so none can be ranked by "
                         "uncertainty; push from a run in score mode (--mode score)")
    scored.sort(key=lambda t: (-t[0], t[1]))
    chosen = scored if n is None else scored[:n]
    return [item for _, _, item in chosen]

"""Benchmark: does the paired baseline gate tell a regression from noise? (issue 11)

    python bench/bench_gate.py [--sims 200] [--seed 0] [--flip-rate 0.0143] [--n 500]
                               [--versions subjectivity/v2,tickets/v2] [--json FILE]

A simulation on real predictions: the committed baselines (evals/baselines/<task>/<version>.json)
hold SmolLM2-135M's answer to every test example of the shipped tasks, with its label
distribution. Each simulated run pairs a "before" and an "after" list of outcomes for the same
examples and asks the library's own gate (`harness.gate.check_paired`, the task's alpha,
tolerance and gated metrics from task.yaml) for a verdict, once with the paired rule and once
with `strict=True` (today's point-tolerance rule, `baseline_rule: strict`). The strict call
reuses the same bootstrap resamples (harness.stats caches them per pair of runs).

Scenarios, at the shipped test-split size and at `--n` examples drawn with replacement:
- rounding: nothing changed, but each example flips to its runner-up label with probability
  `--flip-rate` (default 1/70: one `tickets` example of 70 flipped between two CPUs, the issue's
  measurement), as another CPU's or another llama.cpp configuration's rounding does.
- sampling T: nothing changed, but both runs sample their label from the model's distribution
  at temperature T (p ** (1/T), renormalized), independently.
- drop5: a real regression. Examples the model got right are broken (the probability of the
  true label swapped with the most likely wrong one) until macro-F1 of the argmax labels is
  5 points lower on the drawn examples; then judged as is (deterministic decoding, as
  `harness ci` runs base and head on one machine), or with rounding flips on top (a baseline
  from another CPU). drop5+sampling T=1: examples lose all but 1% of the true label's
  probability until the expected macro-F1 of a sampled run is 5 points lower, then both runs
  are sampled at T = 1.
A false alarm is a failed gate when nothing changed; power is the share of failed gates under
the drop. Rates come with 95% Wilson intervals. Seeded: the same arguments give the same table.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.gate import check_paired  # noqa: E402
from harness.stats import scores_from_confusion  # noqa: E402
from harness.stored import Outcome, read_baseline  # noqa: E402
from harness.tasks import load_task  # noqa: E402


@dataclasses.dataclass(frozen=True, slots=True)
class Population:
    name: str
    task: object  # TaskSpec
    labels: tuple[str, ...]
    truth: np.ndarray  # (m,) label index
    probs: np.ndarray  # (m, k) the model's label distribution


def load_population(name: str) -> Population:
    task_name, version = name.split("/")
    task = load_task(ROOT, task_name)
    baseline = read_baseline(ROOT / "evals" / "baselines" / task_name / f"{version}.json")
    if baseline is None:
        raise SystemExit(f"no baseline for {name}: record it with pytest evals/ --update-baseline")
    labels = task.label_names
    outcomes = [o for o in baseline.run.outcomes if o.distribution and o.error is None]
    truth = np.array([labels.index(o.expected) for o in outcomes])
    probs = np.array([[o.distribution.get(label, 0.0) for label in labels] for o in outcomes])
    probs = probs / probs.sum(axis=1, keepdims=True)
    return Population(name, task, labels, truth, probs)


def macro_f1(truth: np.ndarray, pred: np.ndarray, k: int) -> float:
    counts = np.bincount(truth * (k + 1) + pred, minlength=k * (k + 1)).reshape(k, k + 1)
    return float(scores_from_confusion(counts)["macro_f1"])


def outcomes(pop: Population, truth: np.ndarray, pred: np.ndarray,
             probs: np.ndarray) -> list[Outcome]:
    return [Outcome(id=f"x{i}", expected=pop.labels[t], predicted=pop.labels[p],
                    confidence=float(row[p]))
            for i, (t, p, row) in enumerate(zip(truth, pred, probs))]


def runner_up(probs: np.ndarray) -> np.ndarray:
    return np.argsort(-probs, axis=1)[:, 1]


def sample(rng: np.random.Generator, probs: np.ndarray, temperature: float) -> np.ndarray:
    tempered = np.power(np.clip(probs, 1e-12, None), 1.0 / temperature)
    tempered /= tempered.sum(axis=1, keepdims=True)
    u = rng.random(len(probs))[:, None]
    return np.minimum((tempered.cumsum(axis=1) < u).sum(axis=1), probs.shape[1] - 1)


def flip(rng: np.random.Generator, pred: np.ndarray, probs: np.ndarray,
         rate: float) -> np.ndarray:
    """Rounding noise: each example moves to its runner-up label with probability `rate`."""
    flipped = pred.copy()
    chosen = rng.random(len(pred)) < rate
    second = runner_up(probs)
    top = probs.argmax(axis=1)
    flipped[chosen] = np.where(pred[chosen] == top[chosen], second[chosen], top[chosen])
    return flipped


def soft_macro_f1(truth: np.ndarray, probs: np.ndarray, k: int) -> float:
    """Macro-F1 of the expected confusion matrix when each label is sampled from `probs`
    (temperature 1): what a sampled run scores on average, near enough."""
    counts = np.zeros((k, k + 1))
    np.add.at(counts[:, :k], truth, probs)
    return float(scores_from_confusion(counts)["macro_f1"])


def degrade(rng: np.random.Generator, truth: np.ndarray, probs: np.ndarray, k: int,
            drop: float, *, sampled: bool = False) -> np.ndarray:
    """The distributions of a prompt `drop` macro-F1 points worse on these examples.

    Deterministic decoding (argmax): random examples the model got right get the true label's
    probability swapped with the most likely wrong label's, until the argmax macro-F1 has
    fallen by at least `drop`. Sampled decoding (`sampled`): a swap barely moves what a sampled
    run scores when the two probabilities are close, so the prompt misleads harder: random
    examples lose all but 1% of the true label's probability to the most likely wrong label,
    until the expected macro-F1 of a sampled run (soft_macro_f1) has fallen by `drop`."""
    score = (lambda p: soft_macro_f1(truth, p, k)) if sampled else \
        (lambda p: macro_f1(truth, p.argmax(axis=1), k))
    worse = probs.copy()
    before = score(probs)
    right = probs.argmax(axis=1) == truth
    order = rng.permutation(np.flatnonzero(right))
    if sampled:
        order = np.concatenate([order, rng.permutation(np.flatnonzero(~right))])
    for i in order:
        row = worse[i]
        wrong = np.where(np.arange(k) == truth[i], -1.0, row).argmax()
        if sampled:
            moved = max(0.0, row[truth[i]] - 0.01)
            row[truth[i]] -= moved
            row[wrong] += moved
        elif right[i]:
            row[truth[i]], row[wrong] = row[wrong], row[truth[i]]
        else:
            break  # every right answer is broken already
        if before - score(worse) >= drop - 1e-12:
            return worse
    raise RuntimeError("cannot drop macro-F1 that far by breaking right answers")


def draw(rng: np.random.Generator, pop: Population, n: int | None):
    if n is None:  # the shipped test split, as it is
        return pop.truth, pop.probs
    index = rng.integers(0, len(pop.truth), size=n)
    return pop.truth[index], pop.probs[index]


def simulate(pop: Population, scenario: str, n: int | None, sims: int, seed: int,
             flip_rate: float) -> dict:
    k = len(pop.labels)
    failed = {"paired": 0, "strict": 0}
    drops = []
    for s in range(sims):
        rng = np.random.default_rng([seed, s, zlib_hash(pop.name), zlib_hash(scenario),
                                     n or 0])
        truth, probs = draw(rng, pop, n)
        top = probs.argmax(axis=1)
        after_probs = probs
        if scenario == "rounding":
            before, after = top, flip(rng, top, probs, flip_rate)
        elif scenario.startswith("sampling"):
            temperature = float(scenario.split("T=")[1])
            before, after = sample(rng, probs, temperature), sample(rng, probs, temperature)
        elif scenario.startswith("drop5"):
            after_probs = degrade(rng, truth, probs, k, 0.05, sampled="sampling" in scenario)
            if scenario == "drop5":
                before, after = top, after_probs.argmax(axis=1)
            elif scenario == "drop5+rounding":
                before, after = top, flip(rng, after_probs.argmax(axis=1), after_probs,
                                          flip_rate)
            else:  # drop5+sampling T=1
                before, after = sample(rng, probs, 1.0), sample(rng, after_probs, 1.0)
        else:
            raise ValueError(scenario)
        drops.append(macro_f1(truth, before, k) - macro_f1(truth, after, k))
        b, a = outcomes(pop, truth, before, probs), outcomes(pop, truth, after, after_probs)
        failed["paired"] += not check_paired(b, a, task=pop.task).passed
        failed["strict"] += not check_paired(b, a, task=pop.task, strict=True).passed
    return {"version": pop.name, "scenario": scenario, "n": n or len(pop.truth), "sims": sims,
            "paired": failed["paired"] / sims, "strict": failed["strict"] / sims,
            "paired_ci": wilson(failed["paired"], sims), "strict_ci": wilson(failed["strict"], sims),
            "mean_macro_f1_drop": float(np.mean(drops))}


def zlib_hash(text: str) -> int:
    import zlib
    return zlib.crc32(text.encode())


def wilson(hits: int, n: int, z: float = 1.96) -> tuple[float, float]:
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=200, help="simulated runs per cell")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--flip-rate", type=float, default=1 / 70,
                        help="rounding flips per example (default 1/70, measured between CPUs)")
    parser.add_argument("--n", type=int, default=500, help="examples drawn for the large runs")
    parser.add_argument("--versions", default="subjectivity/v2,tickets/v2")
    parser.add_argument("--scenarios", default="rounding,sampling T=0.5,sampling T=1,drop5,"
                                                "drop5+rounding,drop5+sampling T=1")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows as JSON")
    args = parser.parse_args()
    rows = []
    started = time.perf_counter()
    for name in args.versions.split(","):
        pop = load_population(name)
        t = pop.task
        print(f"{name}: {len(pop.truth)} test examples, alpha {t.alpha:g}, tolerance "
              f"{t.baseline_tolerance:g}, argmax macro-F1 {macro_f1(pop.truth, pop.probs.argmax(1), len(pop.labels)):.3f}",
              flush=True)
        for scenario in args.scenarios.split(","):
            for n in (None, args.n):
                row = simulate(pop, scenario, n, args.sims, args.seed, args.flip_rate)
                rows.append(row)
                print(f"  {scenario:<20} n={row['n']:>4}  mean drop {row['mean_macro_f1_drop']:+.3f}"
                      f"  fails: paired {row['paired']:6.1%} [{row['paired_ci'][0]:.1%}, "
                      f"{row['paired_ci'][1]:.1%}]  strict {row['strict']:6.1%} "
                      f"[{row['strict_ci'][0]:.1%}, {row['strict_ci'][1]:.1%}]", flush=True)
    print(f"{time.perf_counter() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()

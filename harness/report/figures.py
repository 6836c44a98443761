"""matplotlib figures as inline `data:image/png;base64,...` URIs, so a report is one file that
works from file:// with no network. Inputs are already-computed numbers; nothing is recomputed."""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from datetime import datetime

import matplotlib

matplotlib.use("Agg")  # no display, no GUI toolkit

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from harness.stats import Calibration, CoveragePoint  # noqa: E402

_STYLE = {"font.size": 9, "axes.titlesize": 10, "axes.spines.top": False,
          "axes.spines.right": False}


def _data_uri(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def confusion_figure(rows: Sequence[str], columns: Sequence[str],
                     counts: Sequence[Sequence[int]]) -> str:
    """Two heatmaps side by side: counts, and each row normalized to the true label's support."""
    matrix = np.asarray(counts, dtype=float)
    totals = matrix.sum(axis=1, keepdims=True)
    normalized = np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)
    size = max(2.6, 0.6 * len(columns) + 1.4)
    with plt.rc_context(_STYLE):
        fig, axes = plt.subplots(1, 2, figsize=(2 * size + 0.6, 0.5 * len(rows) + 1.6))
        for ax, data, title, fmt in ((axes[0], matrix, "counts", "{:.0f}"),
                                     (axes[1], normalized, "share of each true label (row)",
                                      "{:.0%}")):
            scale = data.max() if data.max() > 0 else 1
            ax.imshow(data, cmap="Blues", vmin=0, vmax=scale, aspect="auto")
            ax.set_xticks(range(len(columns)), labels=columns, rotation=30, ha="right")
            ax.set_yticks(range(len(rows)), labels=rows)
            ax.set_xlabel("predicted")
            ax.set_ylabel("expected")
            ax.set_title(title)
            for (i, j), value in np.ndenumerate(data):
                ax.text(j, i, fmt.format(value), ha="center", va="center", fontsize=8,
                        color="white" if value > 0.6 * scale else "#1d2327")
            for spine in ax.spines.values():
                spine.set_visible(False)
        fig.tight_layout()
        return _data_uri(fig)


def reliability_figure(cal: Calibration) -> str:
    """Accuracy per confidence bin against the diagonal of perfect calibration; bar width shows
    the bin, the count is printed on each bar."""
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(4.2, 3.4))
        ax.plot([0, 1], [0, 1], ls="--", color="#8c959f", lw=1, label="perfectly calibrated")
        for b in cal.bins:
            ax.bar(b.low, b.accuracy, width=b.high - b.low, align="edge", color="#54aeff",
                   edgecolor="#0969da", alpha=0.8)
            ax.text((b.low + b.high) / 2, b.accuracy + 0.02, str(b.count), ha="center",
                    fontsize=7, color="#57606a")
        ax.plot([b.mean_confidence for b in cal.bins], [b.accuracy for b in cal.bins], "o",
                color="#0969da", ms=3, label="accuracy at mean confidence")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.08)
        ax.set_xlabel("confidence (top label probability)")
        ax.set_ylabel("accuracy")
        ax.set_title(f"reliability (ECE {cal.ece:.3f}; numbers: examples per bin)")
        ax.legend(loc="upper left", fontsize=7, frameon=False)
        return _data_uri(fig)


def coverage_figure(curve: Sequence[CoveragePoint], overall_accuracy: float) -> str:
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(4.2, 3.4))
        ax.step([p.coverage for p in curve], [p.accuracy for p in curve], where="post",
                color="#0969da", lw=1.5, label="accepted predictions")
        ax.axhline(overall_accuracy, ls="--", color="#8c959f", lw=1,
                   label=f"accept all ({overall_accuracy:.3f})")
        ax.set_xlim(0, 1.02)
        ax.set_ylim(0, 1.05)
        ax.set_xlabel("coverage (share auto-accepted, most confident first)")
        ax.set_ylabel("accuracy of accepted")
        ax.set_title("accuracy vs coverage")
        ax.legend(loc="lower left", fontsize=7, frameon=False)
        return _data_uri(fig)


def trend_figure(task: str, metric: str,
                 series: Mapping[str, Sequence[tuple[datetime, float]]]) -> str:
    """The main metric of each run over time, one line per prompt version."""
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(6.4, 2.8))
        for version, points in sorted(series.items()):
            points = sorted(points)
            ax.plot([t for t, _ in points], [v for _, v in points], "o-", ms=4, lw=1.2,
                    label=version)
        ax.set_ylim(0, 1.02)
        ax.set_ylabel(metric)
        ax.set_title(f"{task}: {metric} per run")
        ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False,
                  title="version")
        fig.autofmt_xdate()
        return _data_uri(fig)


def pareto_figure(points: Sequence[tuple[str, float, float, float, float, bool]], *,
                  x_label: str, y_label: str, reference: float | None,
                  reference_label: str) -> str:
    """Quality vs cost: one point per (label, cost, metric, low, high, on the front), the
    interval as an error bar, the Pareto front joined by a line, a horizontal reference line."""
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        for name, x, y, low, high, front in points:
            ax.errorbar([x], [y], yerr=[[max(0.0, y - low)], [max(0.0, high - y)]], fmt="o",
                        color="#cf222e" if front else "#57606a", ecolor="#d0d7de",
                        capsize=3, markersize=6 if front else 4)
            ax.annotate(name, (x, y), textcoords="offset points", xytext=(5, 4), fontsize=7)
        front = sorted((x, y) for _, x, y, _, _, on in points if on)
        if len(front) > 1:
            ax.plot(*zip(*front), color="#cf222e", linewidth=1, label="Pareto front")
        elif front:
            ax.plot(*zip(*front), "o", color="#cf222e", label="Pareto front")
        if reference is not None:
            ax.axhline(reference, color="#0969da", linestyle="--", linewidth=1,
                       label=reference_label)
        ax.set_xlabel(x_label)
        ax.set_ylabel(y_label)
        ax.set_ylim(0, 1.02)
        ax.legend(loc="lower right", fontsize=7)
        return _data_uri(fig)

"""Plain-text summaries for terminals (the CLI and pytest's terminal summary)."""

from __future__ import annotations

from collections.abc import Sequence

from harness.metrics import Metrics


def metrics_table(rows: Sequence[tuple[str, Metrics, str]]) -> str:
    """rows: (name like 'subjectivity/v2', metrics, status). One line per run, then per label."""
    lines = [f"{'run':<28} {'n':>5} {'acc':>6} {'macroF1':>8} {'invalid':>8} {'errors':>7}  gate",
             "-" * 78]
    for name, m, status in rows:
        lines.append(f"{name:<28} {m.n:>5} {m.accuracy:>6.3f} {m.macro_f1:>8.3f} "
                     f"{m.n_invalid:>8} {m.n_errors:>7}  {status}")
        per_label = "  ".join(f"{label} P={s.precision:.2f} R={s.recall:.2f} F1={s.f1:.2f}"
                              for label, s in m.per_label.items())
        lines.append(f"{'':<4}{per_label}")
    return "\n".join(lines)

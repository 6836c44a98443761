"""HTML reports. Presentation only: reads RunResult / Metrics / GateResult, never runs a model."""

from harness.report.run import write_run_report
from harness.report.text import metrics_table

__all__ = ["metrics_table", "write_run_report"]

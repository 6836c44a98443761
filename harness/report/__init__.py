"""HTML reports. Presentation only: reads RunResult / Metrics / GateResult, never runs a model."""

from harness.report.optimize import write_optimize_report
from harness.report.run import write_run_report
from harness.report.text import metrics_table

__all__ = ["metrics_table", "write_optimize_report", "write_run_report"]

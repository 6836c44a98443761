"""HTML reports. Presentation only: reads RunResult / Metrics / GateResult / RunAnalysis and run
records on disk, never runs a model."""

from harness.report.compare import write_comparison
from harness.report.index import write_index
from harness.report.optimize import write_optimize_report
from harness.report.run import write_run_report
from harness.report.text import metrics_table

__all__ = ["metrics_table", "write_comparison", "write_index", "write_optimize_report",
           "write_run_report"]

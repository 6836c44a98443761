"""promptgate (package `harness`): evaluate and optimize LLM classification prompts as a pytest
suite. The CLI and the pytest plugin are thin shells over this API."""

from harness.api import Evaluation, Session
from harness.config import Settings, load_settings
from harness.errors import (BackendError, CacheMiss, DatasetError, GateFailed, HarnessError,
                            TemplateError, UsageError)
from harness.gate import describe_failure
from harness.metrics import Metrics, classification_metrics, collapse_note
from harness.optimizer import OptimizeConfig, OptimizeResult
from harness.records import INVALID
from harness.report import metrics_table, write_comparison, write_index

__all__ = [
    "INVALID", "BackendError", "CacheMiss", "DatasetError", "Evaluation", "GateFailed",
    "HarnessError", "Metrics", "OptimizeConfig", "OptimizeResult", "Session", "Settings",
    "TemplateError", "UsageError",
    "classification_metrics", "collapse_note", "describe_failure", "load_settings", "metrics_table",
    "write_comparison", "write_index",
]

"""promptgate (package `harness`): evaluate and optimize LLM classification prompts as a pytest
suite. The CLI and the pytest plugin are thin shells over this API.

    import harness
    session = harness.Session(harness.load_settings())
    evaluation = session.evaluate("subjectivity", "v2")
    evaluation.metrics.macro_f1, evaluation.thresholds.passed

Importing `harness` is cheap: settings, errors and records load at once; everything that pulls
in numpy, scikit-learn, llama.cpp or an SDK loads on first use of a name below
(PEP 562), so `harness --help` and pytest runs that collect no eval never pay for them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from harness.config import Settings, load_settings
from harness.errors import (BackendError, CacheMiss, DatasetError, HarnessError, TemplateError,
                            UsageError)
from harness.records import INVALID, MODES

# name -> module that defines it, imported on first access.
_LAZY = {
    "Session": "harness.api",
    "Evaluation": "harness.api",
    "Labeling": "harness.api",
    "label_dataframe": "harness.api",
    "Routing": "harness.labeljob",
    "LabelSummary": "harness.labeljob",
    "load_run": "harness.stored",
    "Metrics": "harness.metrics",
    "classification_metrics": "harness.metrics",
    "collapse_note": "harness.metrics",
    "GateResult": "harness.gate",
    "describe_failure": "harness.gate",
    "flip_lines": "harness.gate",
    "OptimizeConfig": "harness.optimizer",
    "OptimizeResult": "harness.optimizer",
    "CallsFailed": "harness.optimizer.events",
    "StoredRun": "harness.stored",
    "Baseline": "harness.stored",
    "Outcome": "harness.stored",
    "read_run": "harness.stored",
    "read_baseline": "harness.stored",
    "metrics_table": "harness.report",
    "write_comparison": "harness.report",
    "write_index": "harness.report",
    "Cache": "harness.cache",
    "wording": "harness.wording",
    "labelstudio": "harness.labelstudio",
    "check_changes": "harness.cigate",
    "affected_versions": "harness.ci.affected",
    "markdown_summary": "harness.ci.summary",
    "junit_xml": "harness.ci.junit",
}

__all__ = [
    "INVALID", "MODES", "BackendError", "CacheMiss", "DatasetError", "HarnessError", "Settings",
    "TemplateError", "UsageError", "load_settings", *_LAZY,
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'harness' has no attribute {name!r}")
    loaded = importlib.import_module(module)
    value = loaded if module.endswith("." + name) else getattr(loaded, name)
    globals()[name] = value  # later accesses skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # for type checkers and IDEs; never executed
    from harness import labelstudio, wording
    from harness.api import Evaluation, Labeling, Session, label_dataframe
    from harness.labeljob import LabelSummary, Routing
    from harness.cache import Cache
    from harness.ci.affected import affected_versions
    from harness.gate import GateResult, describe_failure, flip_lines
    from harness.metrics import Metrics, classification_metrics
    from harness.optimizer import OptimizeConfig, OptimizeResult
    from harness.optimizer.events import CallsFailed
    from harness.report import metrics_table, write_comparison, write_index
    from harness.stored import Baseline, Outcome, StoredRun, load_run, read_baseline, read_run

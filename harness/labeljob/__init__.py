"""`harness label`: apply a prompt version to a whole data file (or DataFrame), streamed,
resumable through the response cache, with confidence routing to people (library side; the
CLI and notebooks reach it through harness.api)."""

from harness.labeljob.expected import Expected, expected_accuracy
from harness.labeljob.job import (LabelSummary, ReviewItem, Routing, RowProblem, label_file,
                                  label_records)
from harness.labeljob.rows import MAX_INPUT_CHARS, STATUSES, Job, added_columns

__all__ = ["MAX_INPUT_CHARS", "STATUSES", "Expected", "Job", "LabelSummary", "ReviewItem",
           "RowProblem", "Routing", "added_columns", "expected_accuracy", "label_file",
           "label_records"]

"""Label Studio round trip: push predictions for review in uncertainty order, pull annotations
back as fixture rows with provenance, or import a JSON export offline.

label-studio-sdk is imported only when a server is contacted, with an install hint when missing.
"""

from harness.labelstudio.agreement import AgreementReport, Consensus, agreement, consensus
from harness.labelstudio.annotations import ReviewedTask, Vote, parse_task, read_export
from harness.labelstudio.client import Connection, LabelStudioError, connect
from harness.labelstudio.fixtures import (FileState, FixtureDiff, file_state, merge, read_existing,
                                          read_with_state, write_fixture)
from harness.labelstudio.labeling import check_config, labeling_config, parse_config
from harness.labelstudio.pull import Pull, fetch_tasks, fixture_rows, resolve
from harness.labelstudio.push import (PushItem, PushResult, items_from_rows, items_from_run,
                                      model_version, push, read_unlabeled, resolve_project)
from harness.labelstudio.selection import STRATEGIES, most_uncertain, uncertainty
from harness.labelstudio.workflow import (PushSource, WriteOutcome, import_export,
                                          predicted_items, pull_project, stored_items,
                                          write_pulled)

__all__ = [
    "STRATEGIES", "AgreementReport", "Connection", "Consensus", "FixtureDiff", "LabelStudioError",
    "Pull", "PushItem", "PushResult", "ReviewedTask", "Vote", "agreement", "check_config",
    "connect", "consensus", "fetch_tasks", "fixture_rows", "items_from_rows", "items_from_run",
    "labeling_config", "merge", "model_version", "parse_config", "parse_task", "push",
    "read_existing", "read_export", "read_unlabeled", "resolve", "resolve_project",
    "uncertainty", "write_fixture", "most_uncertain", "FileState", "file_state",
    "read_with_state", "PushSource", "WriteOutcome",
    "import_export", "predicted_items", "pull_project", "stored_items", "write_pulled",
]

"""What is checked before an optimization makes its first model call: the settings, the
start template's editable blocks, and the upper bound of the calls the search may charge."""

from __future__ import annotations

from collections.abc import Collection

from harness.errors import TemplateError, UsageError
from harness.optimizer.records import PROPOSERS, OptimizeConfig
from harness.prompts import Renderer
from harness.records import PromptVersion, TaskSpec
from harness.strategies import check_demonstration_place

# The block each proposer edits; the start version must have it.
EDITS = {"teacher": "instructions", "exemplars": "demonstrations", "knn": "demonstrations"}


def estimate_calls(config: OptimizeConfig, n_train: int, n_validation: int) -> int:
    """Upper bound of the calls the search charges (before the budget caps it)."""
    batch = min(config.minibatch, n_validation)
    screening = batch < n_validation
    proposals = len(config.proposers)
    per_iteration = (min(config.train_sample, n_train) + ("teacher" in config.proposers)
                     + proposals * batch + (batch if screening else 0)
                     + (min(config.confirm, proposals) * n_validation if screening else 0))
    return n_validation + config.iterations * per_iteration


def check_config(config: OptimizeConfig, n_validation: int) -> None:
    unknown = sorted(set(config.proposers) - set(PROPOSERS))
    if unknown or not config.proposers:
        raise UsageError(f"unknown proposer {unknown[0] if unknown else '(none)'!r}; "
                         f"choose from {', '.join(PROPOSERS)}")
    if config.budget_calls < n_validation:
        raise UsageError(f"--budget-calls {config.budget_calls} is smaller than one "
                         f"evaluation: scoring the start version on the validation split "
                         f"takes {n_validation} calls; give at least {n_validation}")
    for name in ("iterations", "minibatch", "confirm", "train_sample", "patience"):
        if getattr(config, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1, got "
                             f"{getattr(config, name)}")
    if config.min_effect < 0 or not 0 < config.alpha <= 1:
        raise UsageError(f"--min-effect must be >= 0 and --alpha in (0, 1], got "
                         f"{config.min_effect} and {config.alpha}")


def check_blocks(task: TaskSpec, start: PromptVersion, proposers: Collection[str]) -> None:
    have = Renderer(task, start).blocks()
    missing = sorted({EDITS[p] for p in proposers} - have)
    if missing:
        users = {block: [p for p in proposers if EDITS[p] == block] for block in missing}
        needs = "; ".join(f"{{% block {b} %}} (edited by {', '.join(users[b])})" for b in missing)
        raise TemplateError(
            f"{start.path}: the optimizer edits blocks that {start.name} and the versions it "
            f"extends do not have: {needs}. Wrap the instruction text in "
            f"{{% block instructions %}}...{{% endblock %}} and put an empty "
            f"{{% block demonstrations %}}{{% endblock %}} where examples should go (README: "
            f"Optimizing a prompt), or choose other --proposer")
    # The place the few-shot strategies fill, checked by the one shared check.
    for proposer in sorted(set(proposers) - {"teacher"}):
        check_demonstration_place(task, start, f"the optimizer's {proposer} proposer")

"""Prompting strategies applied to a prompt version: which demonstrations it shows (few-shot),
whether requests ask for a reasoning first (cot, self-consistency). The names and the record are
harness.strategy; the runner stays strategy-agnostic and is handed the requests built here."""

from harness.strategies.apply import Applied, apply_strategy
from harness.strategies.fewshot import (check_demonstration_place, demonstrations_block,
                                        errors_demonstrations, knn_demonstrations,
                                        random_demonstrations, stratified_sample,
                                        with_demonstrations)

__all__ = ["Applied", "apply_strategy", "check_demonstration_place", "demonstrations_block",
           "errors_demonstrations", "knn_demonstrations", "random_demonstrations",
           "stratified_sample", "with_demonstrations"]

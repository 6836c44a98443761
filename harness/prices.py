"""Token prices per model, for cost per call and per run.

Prices are USD per million tokens (input, output). The built-in table covers common OpenAI chat
models as published on openai.com/api/pricing (standard tier, checked 2026-11); prices change, so
a project can override or extend it in pyproject.toml:

    [tool.harness.prices]
    "gpt-4o-mini" = { input = 0.15, output = 0.60 }
    "my-vllm-model" = { input = 0, output = 0 }     # self-hosted: no per-token charge

A model in neither table has an *unknown* cost (None), never a cost of zero.
"""

from __future__ import annotations

from collections.abc import Mapping

from harness.errors import UsageError
from harness.records import Price

BUILTIN: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-3.5-turbo": (0.50, 1.50),
    "o3-mini": (1.10, 4.40),
    "o4-mini": (1.10, 4.40),
    "gpt-5": (1.25, 10.00),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5-nano": (0.05, 0.40),
}


def validate_prices(table: object, where: str) -> dict[str, tuple[float, float]]:
    """[tool.harness.prices] -> {model: (input, output)}, with errors naming the entry."""
    if not isinstance(table, Mapping):
        raise UsageError(f"{where}: [tool.harness.prices] must be a table of "
                         f'"model" = {{ input = <USD/1M>, output = <USD/1M> }}')
    result = {}
    for model, entry in table.items():
        if not isinstance(entry, Mapping) or set(entry) != {"input", "output"} or not all(
                isinstance(entry[k], (int, float)) and entry[k] >= 0 for k in ("input", "output")):
            raise UsageError(f"{where}: [tool.harness.prices] {model!r} must be "
                             f"{{ input = <USD per 1M tokens>, output = <USD per 1M tokens> }} "
                             f"with non-negative numbers, got {entry!r}")
        result[str(model)] = (float(entry["input"]), float(entry["output"]))
    return result


def price_for(model: str, extra: Mapping[str, tuple[float, float]] | None = None) -> Price | None:
    """The price of `openai:<name>` / `<name>`; the in-process local model costs nothing per token.
    Project entries win over built-in ones; exact names first, then a dated snapshot
    (`gpt-4o-mini-2024-07-18`) falls back to its family name."""
    backend, _, name = model.partition(":")
    if backend == "local":
        return Price(model, 0.0, 0.0, "in-process")
    name = name or backend
    for candidate in (name, *_families(name)):
        if extra and candidate in extra:
            return Price(candidate, *extra[candidate], "pyproject")
        if candidate in BUILTIN:
            return Price(candidate, *BUILTIN[candidate], "built-in")
    return None


def _families(name: str) -> list[str]:
    parts = name.split("-")
    return ["-".join(parts[:i]) for i in range(len(parts) - 1, 0, -1)
            if parts[i].isdigit() and len(parts[i]) == 4]  # drop a trailing date "-2024-07-18"

"""The backend protocol and the table of backends by model-name prefix."""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from harness.errors import UsageError
from harness.records import LabelRequest, ModelOutput


@runtime_checkable
class Backend(Protocol):
    """What the runner needs from a model.

    `identity()` goes into every cache key: it must change whenever the same request could get a
    different answer (other weights, other server model), and must never hold secrets.
    `complete()` may answer out of order (concurrent backends); it yields (index, output) pairs,
    one per request, as soon as each is done, so the runner can cache and show progress.
    """

    name: str

    def identity(self) -> Mapping[str, str]: ...

    def modes(self) -> tuple[str, ...]: ...

    def complete(self, requests: Sequence[LabelRequest]) -> Iterator[tuple[int, ModelOutput]]: ...

    def close(self) -> None: ...

    # Optional: `environment() -> Mapping[str, str]`, what besides identity() can change an
    # answer's last digits (library versions, CPU features, threads). Recorded with every stored
    # run so a flipped example can be told from rounding noise; not part of cache keys.
    # Optional: `supports_reasoning = True` when complete() answers LabelRequest.reasoning
    # (chain of thought, self-consistency; harness.reasoning). Without it the cot and
    # self-consistency strategies are refused with a usage error before any call.


@dataclass(frozen=True, slots=True)
class BackendOptions:
    """How to reach a remote model; none of it changes an answer, so none of it is in cache keys
    (the base URL is, through `identity()`). Backends ignore what does not apply to them."""

    concurrency: int = 8
    base_url: str | None = None  # None: the backend's own default / environment
    api_key_env: str = "OPENAI_API_KEY"  # the name of the variable, never the secret
    max_retries: int = 5
    timeout_s: float = 60.0
    # The project's cache folder: where a backend may keep what it worked out about its model
    # for the next process (local: the GGUF's SHA-256, models/filehash.py). None: nothing kept.
    cache_dir: Path | None = None


# Backends by model-name prefix: the module that builds one (`make(rest, options)`) and what it
# is for. A static table, so this module imports no backend (and no backend imports back into a
# registry): a backend's SDK loads only when a model of its prefix is asked for.
BACKENDS: dict[str, tuple[str, str]] = {
    "local": ("harness.models.local",
              "the embedded SmolLM2-135M-Instruct (`local`), or `local:/path/to/model.gguf`"),
    "openai": ("harness.models.openai",
               "`openai:<model>` on OpenAI or any OpenAI-compatible server "
               "(--base-url / OPENAI_BASE_URL; key from OPENAI_API_KEY)"),
}


def get_backend(model: str, options: BackendOptions | None = None) -> Backend:
    """`local`, `local:<path.gguf>`, `openai:<model>`: the part before ':' picks the backend."""
    prefix, _, rest = model.partition(":")
    if prefix not in BACKENDS:
        known = "; ".join(f"{p}: {h}" for p, (_, h) in BACKENDS.items())
        raise UsageError(f"unknown model {model!r}; known backends: {known}")
    module = importlib.import_module(BACKENDS[prefix][0])
    return module.make(rest, options or BackendOptions())

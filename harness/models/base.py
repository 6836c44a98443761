"""The backend protocol and the registry of backends by name prefix."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class BackendOptions:
    """How to reach a remote model; none of it changes an answer, so none of it is in cache keys
    (the base URL is, through `identity()`). Backends ignore what does not apply to them."""

    concurrency: int = 8
    base_url: str | None = None  # None: the backend's own default / environment
    api_key_env: str = "OPENAI_API_KEY"  # the name of the variable, never the secret
    max_retries: int = 5
    timeout_s: float = 60.0


Factory = Callable[[str, BackendOptions], Backend]
_REGISTRY: dict[str, tuple[Factory, str]] = {}


def register_backend(prefix: str, factory: Factory, help_text: str) -> None:
    _REGISTRY[prefix] = (factory, help_text)


def available_backends() -> dict[str, str]:
    _load_builtin()
    return {prefix: help_text for prefix, (_, help_text) in _REGISTRY.items()}


def get_backend(model: str, options: BackendOptions | None = None) -> Backend:
    """`local`, `local:<path.gguf>`, `openai:<model>`: the part before ':' picks the backend."""
    _load_builtin()
    prefix, _, rest = model.partition(":")
    if prefix not in _REGISTRY:
        known = "; ".join(f"{p}: {h}" for p, (_, h) in _REGISTRY.items())
        raise UsageError(f"unknown model {model!r}; known backends: {known}")
    return _REGISTRY[prefix][0](rest, options or BackendOptions())


def _load_builtin() -> None:
    if "local" not in _REGISTRY:
        from harness.models import local  # noqa: F401  (registers itself)
    if "openai" not in _REGISTRY:
        from harness.models import openai  # noqa: F401  (registers itself; imports no SDK yet)

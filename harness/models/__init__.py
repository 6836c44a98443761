"""Model backends. `get_backend("local")` / `get_backend("openai:gpt-4o-mini")`.

A backend turns LabelRequests into ModelOutputs. Vendor SDKs are imported lazily inside each
backend, so a missing optional install fails with a hint only when that backend is asked for.
"""

from harness.models.base import BACKENDS, Backend, BackendOptions, get_backend

__all__ = ["BACKENDS", "Backend", "BackendOptions", "get_backend"]

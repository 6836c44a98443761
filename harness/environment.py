"""Where a run ran: the facts besides model identity that can move the last digits of a score
(llama.cpp's kernels round differently per CPU and build). Stored with every run and baseline,
so a flipped example can be told from a real change. Never part of a cache key."""

from __future__ import annotations

import importlib.metadata
import platform
from collections.abc import Mapping
from functools import lru_cache

# CPU feature flags that pick llama.cpp / BLAS kernels (x86 and ARM names).
_SIMD_PREFIXES = ("sse", "ssse", "avx", "fma", "f16c", "amx", "bmi", "vnni", "neon", "asimd",
                  "sve", "i8mm", "dotprod", "fp16", "bf16")


@lru_cache(maxsize=1)
def _cpu() -> tuple[str, str]:
    model, flags = platform.processor() or platform.machine(), ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                if key in ("model name", "hardware", "cpu model") and value.strip():
                    model = value.strip()
                elif key in ("flags", "features") and not flags:
                    flags = " ".join(sorted(f for f in value.split()
                                            if f.startswith(_SIMD_PREFIXES)))
                if key == "" and flags:  # end of the first processor's block
                    break
    except OSError:
        pass
    return model, flags


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine_environment() -> dict[str, str]:
    return dict(_machine())


@lru_cache(maxsize=1)
def _machine() -> tuple[tuple[str, str], ...]:
    # Fixed for the life of the process; importlib.metadata scans every installed package
    # (~4 ms), once per run otherwise.
    model, flags = _cpu()
    return (("harness", _version("harness")), ("python", platform.python_version()),
            ("platform", platform.platform()), ("cpu", model), ("cpu_flags", flags))


def run_environment(backend: object) -> dict[str, str]:
    """The machine's facts plus what the backend reports (`environment()`, when it has one)."""
    env = machine_environment()
    extra = getattr(backend, "environment", None)
    if callable(extra):
        reported: Mapping[str, str] = extra()
        env.update({str(k): str(v) for k, v in reported.items()})
    return env

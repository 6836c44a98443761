"""Content-addressed on-disk response cache.

Key: backend identity (model file hash / server model), rendered messages, labels, mode and the
decoding params that change the output. Timeouts, retries and concurrency are not in the key.
Modes: `record` (read + write, the default), `replay` (read only: a miss is an error, for CI
without a model or key), `refresh` (write only: re-ask the model), `off`.

One JSON file per entry, written to a temp file and renamed, so concurrent writers (xdist workers,
parallel CI jobs) never see half an entry. A corrupt entry is a miss, never a crash.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path

from harness.errors import CacheMiss
from harness.records import SCHEMA_VERSION, LabelRequest, ModelOutput, Usage

_TAG = ("Signature: 8a477f597d28d172789f06886806bc55\n"
        "# This directory is a cache of model responses created by promptgate (harness).\n")


class Cache:
    def __init__(self, directory: Path, mode: str = "record") -> None:
        self.directory = directory
        self.mode = mode
        self.corrupt = 0  # entries found unreadable and ignored

    @property
    def reads(self) -> bool:
        return self.mode in ("record", "replay")

    @property
    def writes(self) -> bool:
        return self.mode in ("record", "refresh")

    @staticmethod
    def key(identity: Mapping[str, str], request: LabelRequest) -> str:
        payload = {
            "schema": SCHEMA_VERSION,
            "model": dict(sorted(identity.items())),
            "messages": [[m.role, m.content] for m in request.prompt.messages],
            "labels": list(request.labels),
            "mode": request.mode,
            "params": asdict(request.params),
        }
        blob = json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()
        return hashlib.sha256(blob).hexdigest()

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str, *, describe: str = "") -> ModelOutput | None:
        if not self.reads:
            return None
        path = self._path(key)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            output = ModelOutput(raw=data["raw"], distribution=data["distribution"],
                                 usage=Usage(**data["usage"]))
        except FileNotFoundError:
            output = None
        except (OSError, ValueError, KeyError, TypeError):
            self.corrupt += 1
            output = None
        if output is None and self.mode == "replay":
            raise CacheMiss(f"cache miss in replay mode for {describe or key}: no recorded "
                            f"response under {self.directory}; run once without --cache-only "
                            f"(or with HARNESS_CACHE=record) to record it")
        return output

    def put(self, key: str, output: ModelOutput) -> None:
        if not self.writes or output.error is not None:  # errors are retried next run, not kept
            return
        path = self._path(key)
        self._prepare()
        path.parent.mkdir(parents=True, exist_ok=True)
        entry = {"raw": output.raw, "distribution": output.distribution,
                 "usage": asdict(output.usage)}
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(entry, handle, ensure_ascii=False)
        os.replace(tmp, path)

    def _prepare(self) -> None:
        if (self.directory / "CACHEDIR.TAG").exists():
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "CACHEDIR.TAG").write_text(_TAG, encoding="utf-8")
        (self.directory / ".gitignore").write_text("# created by harness\n*\n", encoding="utf-8")

    def stats(self) -> dict[str, int]:
        files = list(self.directory.glob("??/*.json")) if self.directory.is_dir() else []
        return {"entries": len(files), "bytes": sum(f.stat().st_size for f in files)}

    def clear(self) -> int:
        files = list(self.directory.glob("??/*.json")) if self.directory.is_dir() else []
        for file in files:
            file.unlink(missing_ok=True)
        return len(files)

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
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path

from harness.errors import CacheMiss
from harness.reasoning import FRAMING, samples_from_json, samples_to_json
from harness.records import SCHEMA_VERSION, LabelRequest, ModelOutput, Usage
from harness.fsutil import atomic_write_text, is_temp_name

_TAG = ("Signature: 8a477f597d28d172789f06886806bc55\n"
        "# This directory is a cache of model responses created by promptgate (harness).\n")


class Cache:
    def __init__(self, directory: Path, mode: str = "record") -> None:
        self.directory = directory
        self.mode = mode
        self.corrupt = 0  # entries found unreadable and ignored
        self._prepared = False  # CACHEDIR.TAG and .gitignore are in place (checked once)

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
            "sample": request.sample,
        }
        if request.reasoning is not None:  # absent otherwise, so older keys stay valid
            # with the texts that frame it: rewording them must not replay old answers
            payload["reasoning"] = {**asdict(request.reasoning), "texts": list(FRAMING)}
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
                                 usage=Usage(**data["usage"]),
                                 samples=samples_from_json(data.get("samples")),
                                 tied=tuple(data.get("tied") or ()))
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

    def put(self, key: str, output: ModelOutput, meta: Mapping[str, str] | None = None) -> None:
        """`meta` (model name, task, example id) is for `harness cache stats` and humans; it is not
        part of the key. It must never hold secrets (it does not: model names and ids only)."""
        if not self.writes or output.error is not None:  # errors are retried next run, not kept
            return
        path = self._path(key)
        self._prepare()
        entry = {"raw": output.raw, "distribution": output.distribution,
                 "usage": asdict(output.usage), "meta": dict(meta or {})}
        if output.samples:  # reasoning requests only: other entries keep their old shape
            entry["samples"] = samples_to_json(output.samples)
            entry["tied"] = list(output.tied)
        atomic_write_text(path, json.dumps(entry, ensure_ascii=False))

    def _prepare(self) -> None:
        if self._prepared:
            return
        if not (self.directory / "CACHEDIR.TAG").exists():
            self.directory.mkdir(parents=True, exist_ok=True)
            (self.directory / "CACHEDIR.TAG").write_text(_TAG, encoding="utf-8")
            (self.directory / ".gitignore").write_text("# created by harness\n*\n",
                                                       encoding="utf-8")
        self._prepared = True

    def _entries(self) -> list[Path]:
        return sorted(self.directory.glob("??/*.json")) if self.directory.is_dir() else []

    def stats(self) -> dict:
        """Entries, bytes, corrupt entries, and entries per model (from each entry's meta)."""
        by_model: dict[str, int] = {}
        total_bytes = corrupt = 0
        for file in self._entries():
            try:
                total_bytes += file.stat().st_size
                data = json.loads(file.read_text(encoding="utf-8"))
                model = str((data.get("meta") or {}).get("model", "(unrecorded)"))
            except (OSError, ValueError, AttributeError):
                corrupt += 1
                continue
            by_model[model] = by_model.get(model, 0) + 1
        return {"entries": sum(by_model.values()) + corrupt, "bytes": total_bytes,
                "corrupt": corrupt, "by_model": dict(sorted(by_model.items()))}

    def clear(self, model: str | None = None) -> int:
        """Delete entries (only `model`'s when given) and temp files left by killed writers."""
        removed = 0
        for file in self._entries():
            if model is not None:
                try:
                    meta = json.loads(file.read_text(encoding="utf-8")).get("meta") or {}
                except (OSError, ValueError, AttributeError):
                    continue
                if meta.get("model") != model:
                    continue
            file.unlink(missing_ok=True)
            removed += 1
        if model is None and self.directory.is_dir():
            for tmp in (*self.directory.glob("??/.*"), *self.directory.glob(".*")):
                if is_temp_name(tmp.name):
                    tmp.unlink(missing_ok=True)
        return removed

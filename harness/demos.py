"""Few-shot demonstrations as data: the sidecar file `vN.demos.json` beside a prompt version,
and the choice of demonstrations for one input (fixed, or k nearest neighbours by TF-IDF).

A template gets them as the `demonstrations` variable: a list of `{"id", "inputs", "label"}`.
Dataset text never becomes template source, so a demonstration holding `{{ x }}` or
`{% endraw %}` renders literally.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.errors import TemplateError, warn
from harness.inputs import strictjson
from harness.inputs.text import BadInput, decode_utf8, did_you_mean, read_limited, shorten
from harness.records import Demonstrations, Example

KINDS = ("fixed", "knn")
SIDECAR_SUFFIX = ".demos.json"
# Long tickets would crowd a 2k-token context: each shown input field is cut to this many chars.
MAX_FIELD_CHARS = 240
MAX_SIDECAR_BYTES = 16 << 20  # 16 MiB
MAX_K = 1000  # neighbours per input; more would not fit any prompt


def sidecar_path(template: Path) -> Path:
    return template.with_name(template.name.removesuffix(".jinja") + SIDECAR_SUFFIX)


def to_json(demos: Demonstrations) -> dict[str, Any]:
    return {"kind": demos.kind, "k": demos.k,
            "examples": [{"id": e.id, "inputs": dict(e.inputs), "label": e.label}
                         for e in demos.examples]}


def write_sidecar(path: Path, demos: Demonstrations) -> None:
    path.write_text(json.dumps(to_json(demos), indent=1, ensure_ascii=False) + "\n",
                    encoding="utf-8")


def read_sidecar(path: Path, *, input_fields: Sequence[str],
                 labels: Sequence[str]) -> Demonstrations:
    """Validated and bounded: errors name the file, the line or entry and what is wrong."""
    try:
        text = decode_utf8(read_limited(path, MAX_SIDECAR_BYTES, "the demonstrations file"))
    except BadInput as exc:
        where = f"{path}:{exc.line}" if exc.line else str(path)
        raise TemplateError(f"{where}: cannot read demonstrations: {exc.message}") from None
    return parse_sidecar(text, path, input_fields=input_fields, labels=labels)


def parse_sidecar(text: str, path: Path | str, *, input_fields: Sequence[str],
                  labels: Sequence[str]) -> Demonstrations:
    """A sidecar's content (e.g. read from git); `path` names it in errors."""
    try:
        if len(text) > MAX_SIDECAR_BYTES:
            raise BadInput(f"over the limit of {MAX_SIDECAR_BYTES:,} bytes")
        data = strictjson.loads(text)
    except BadInput as exc:
        where = f"{path}:{exc.line}" if exc.line else str(path)
        raise TemplateError(f"{where}: cannot read demonstrations: {exc.message}") from None
    if not isinstance(data, dict) or data.get("kind") not in KINDS:
        raise TemplateError(f"{path}: expected an object with kind one of {', '.join(KINDS)}")
    _warn_unknown(path, "", data, ("kind", "k", "examples"))
    k = data.get("k", 0)
    if not isinstance(k, int) or isinstance(k, bool) or not 0 <= k <= MAX_K:
        raise TemplateError(f"{path}: k must be an integer in 0..{MAX_K}, got {shorten(k)}")
    rows = data.get("examples")
    if not isinstance(rows, list):
        raise TemplateError(f"{path}: 'examples' must be a list")
    examples, seen = [], set()
    for i, row in enumerate(rows):
        where = f"{path}: examples[{i}]"
        if not isinstance(row, dict) or not isinstance(row.get("inputs"), dict):
            raise TemplateError(f"{where}: expected {{id, inputs, label}}")
        _warn_unknown(path, f"examples[{i}].", row, ("id", "inputs", "label"))
        missing = [f for f in input_fields if not isinstance(row["inputs"].get(f), str)]
        if missing:
            raise TemplateError(f"{where}: input field {missing[0]!r} missing or not text")
        label = row.get("label")
        if not isinstance(label, str) or label not in labels:
            raise TemplateError(f"{where}: label {shorten(label)} is not one of "
                                f"{', '.join(labels)}")
        case_id = row.get("id", i)
        if not isinstance(case_id, (str, int)) or isinstance(case_id, bool):
            raise TemplateError(f"{where}: id must be text or an integer, got {shorten(case_id)}")
        if str(case_id) in seen:
            raise TemplateError(f"{where}: duplicate id {str(case_id)!r}")
        seen.add(str(case_id))
        examples.append(Example(id=str(case_id), inputs={f: row["inputs"][f] for f in
                                                         input_fields},
                                label=label, split="train", line=0))
    return Demonstrations(kind=data["kind"], examples=tuple(examples), k=k)


def _warn_unknown(path: Path, prefix: str, row: dict, known: tuple[str, ...]) -> None:
    for key in row:
        if key not in known:
            warn(f"{path}: {prefix[:-1] or 'top level'}: unknown key {shorten(key)}"
                 f"{did_you_mean(key, known)} (ignored)")


def example_text(example: Example) -> str:
    """All input fields joined, in their declared order (a ticket's subject and body): what
    TF-IDF sees, here and in the classical baseline."""
    return "\n".join(str(v) for v in example.inputs.values())


def _shown(example: Example) -> dict[str, Any]:
    inputs = {name: value if len(value) <= MAX_FIELD_CHARS else
              value[:MAX_FIELD_CHARS].rstrip() + " ..." for name, value in example.inputs.items()}
    return {"id": example.id, "inputs": inputs, "label": example.label}


_WORD = re.compile(r"(?u)\b\w\w+\b")  # scikit-learn's default token pattern


class _KnnIndex:
    """TF-IDF fitted on one pool's texts; the nearest pool entries of each queried text,
    remembered for the last `remembered` queries of this index."""

    def __init__(self, pool: tuple[str, ...], remembered: int = 8192) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        # Word 1-2-grams (scikit-learn's tokens: two or more word characters); a pool without
        # one word (emoji, single characters) would leave an empty vocabulary: characters then.
        unit = "word" if any(_WORD.search(text) for text in pool) else "char"
        self._vectorizer = TfidfVectorizer(analyzer=unit, ngram_range=(1, 2), sublinear_tf=True)
        self._matrix = self._vectorizer.fit_transform(pool)
        # Per index, not on the class: a class-wide cache would keep evicted indexes alive.
        self.nearest = functools.lru_cache(maxsize=remembered)(self._nearest)

    def _nearest(self, text: str, k: int, skip: tuple[int, ...]) -> tuple[int, ...]:
        """Positions of the `k` most similar pool entries to `text`, most similar first, leaving
        out the positions in `skip`; ties go to the earlier entry (a stable sort), so the choice
        is deterministic."""
        import numpy as np

        scores = (self._matrix @ self._vectorizer.transform([text]).T).toarray().ravel()
        chosen: list[int] = []
        for i in np.argsort(-scores, kind="stable"):
            if len(chosen) == k:
                break
            if int(i) not in skip:
                chosen.append(int(i))
        return tuple(chosen)


@functools.lru_cache(maxsize=16)
def _knn_index(pool: tuple[str, ...]) -> _KnnIndex:
    """One index per pool for the process: every renderer of every optimizer candidate shares
    the version's pool, and the same inputs are scored again for each candidate (a fit plus
    ~2 ms of scikit-learn per input each time)."""
    return _KnnIndex(pool)


class DemoSelector:
    """Picks the demonstrations for each input. kNN fits TF-IDF on the pool once per process
    (`_knn_index`); an input that is itself in the pool (same id) never gets itself as a
    demonstration."""

    def __init__(self, demos: Demonstrations | None) -> None:
        self.demos = demos
        self._index: _KnnIndex | None = None
        self._positions: dict[str, tuple[int, ...]] = {}  # pool id -> its places in the pool
        if demos is not None and demos.kind == "knn" and demos.examples:
            self._index = _knn_index(tuple(example_text(e) for e in demos.examples))
            for i, e in enumerate(demos.examples):
                self._positions[e.id] = (*self._positions.get(e.id, ()), i)

    def select(self, example: Example) -> list[dict[str, Any]]:
        demos = self.demos
        if demos is None:
            return []
        if demos.kind == "fixed":
            return [_shown(e) for e in demos.examples if e.id != example.id]
        if self._index is None:
            return []
        chosen = self._index.nearest(example_text(example), demos.k,
                                     self._positions.get(example.id, ()))
        # The most similar example goes last, nearest to the input.
        return [_shown(demos.examples[i]) for i in reversed(chosen)]

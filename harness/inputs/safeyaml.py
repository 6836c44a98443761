"""YAML with bounds: safe tags only, at most MAX_BYTES of UTF-8, nesting at most MAX_DEPTH deep,
at most MAX_NODES values once aliases are expanded (a "billion laughs" or mapping bomb is refused
before anything walks it), no recursive alias, no duplicate key, no non-text key and no integer
longer than MAX_INT_DIGITS digits. Every problem names its line."""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness.inputs.text import BadInput, decode_utf8, read_limited, shorten

MAX_BYTES = 256 * 1024
MAX_DEPTH = 32
MAX_NODES = 10_000
MAX_INT_DIGITS = 100
INT_TAG = "tag:yaml.org,2002:int"
STR_TAG = "tag:yaml.org,2002:str"
MERGE_TAG = "tag:yaml.org,2002:merge"


@dataclass(frozen=True, slots=True)
class Document:
    data: Any
    node: yaml.Node


class _Loader(yaml.SafeLoader):
    """Refuses nesting while composing, before a deep document can exhaust the stack."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.depth = 0
        self.count = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self.depth += 1
        self.count += 1
        try:
            if self.depth > MAX_DEPTH:
                raise BadInput(f"nested deeper than {MAX_DEPTH} levels",
                               line=self.peek_event().start_mark.line + 1)
            if self.count > MAX_NODES:
                raise BadInput(f"more than {MAX_NODES:,} values",
                               line=self.peek_event().start_mark.line + 1)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def load(path: Path, what: str = "the file") -> Document:
    raw = read_limited(path, MAX_BYTES, what)
    text = decode_utf8(raw, strip_bom=False)  # the YAML reader handles a BOM itself
    document = _parsed(text)
    # The cached document is shared: callers get their own copy of the data (nodes are read only).
    return Document(copy.deepcopy(document.data), document.node)


@functools.lru_cache(maxsize=32)
def _parsed(text: str) -> Document:
    """PyYAML's pure-Python parser takes ~5 ms for a task.yaml, and a process (a test suite, a
    matrix of versions) reads the same text many times: parsed once per text. A refused text
    raises each time (exceptions are not cached)."""
    try:
        loader = _Loader(text)
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        raise BadInput(f"invalid YAML: character #x{exc.character:04x} is not allowed",
                       line=line) from None
    try:
        node = loader.get_single_node()
        if node is None:
            return Document(None, yaml.ScalarNode("tag:yaml.org,2002:null", ""))
        _check(node)
        return Document(loader.construct_document(node), node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise BadInput(f"invalid YAML: {problem}", line=mark.line + 1 if mark else None) from None
    except RecursionError:
        raise BadInput(f"nested deeper than {MAX_DEPTH} levels") from None
    finally:
        loader.dispose()


def line_of(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _check(root: yaml.Node) -> None:
    """Count values as they would be after alias expansion, without expanding: each node's total
    is computed once, so a bomb costs as little to refuse as it took to write."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise BadInput("recursive alias (a value that contains itself)", line=line_of(node))
        active.add(key)
        total = 1
        if isinstance(node, yaml.ScalarNode):
            digits = node.value.lstrip("+-").replace("_", "")
            if node.tag == INT_TAG and len(digits) > MAX_INT_DIGITS:
                raise BadInput(f"integer with {len(digits):,} digits; the limit is "
                               f"{MAX_INT_DIGITS}", line=line_of(node))
        elif isinstance(node, yaml.SequenceNode):
            total += sum(size(item) for item in node.value)
        elif isinstance(node, yaml.MappingNode):
            _keys(node)
            total += sum(size(k) + size(v) for k, v in node.value)
        if total > MAX_NODES:
            raise BadInput(f"expands to more than {MAX_NODES:,} values (aliases repeat what they "
                           f"point to; a \"billion laughs\" document?)", line=line_of(node))
        active.discard(key)
        sizes[key] = total
        return total

    size(root)


def _keys(node: yaml.MappingNode) -> None:
    seen: dict[tuple[str, str], int] = {}
    for key, _ in node.value:
        if key.tag == MERGE_TAG:
            continue
        if not isinstance(key, yaml.ScalarNode):
            raise BadInput("a key must be plain text, not a list or mapping", line=line_of(key))
        ident = (key.tag, key.value)
        if ident in seen:
            raise BadInput(f"duplicate key {shorten(key.value)} (first on line {seen[ident]}); "
                           f"YAML would keep only the last one", line=line_of(key))
        seen[ident] = line_of(key)

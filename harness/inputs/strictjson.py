"""JSON as strict as a data file should be: no duplicate keys, no NaN/Infinity, no integer longer
than MAX_INT_DIGITS digits, no float that overflows, nesting at most MAX_DEPTH deep and no lone
surrogate (`"\\ud800"`) in any string.

The C decoder reads valid input; on any problem a position-aware pure-Python pass re-reads the
text to name the line, so errors cost time only when there is one."""

from __future__ import annotations

import json
import math
import re
from json.decoder import JSONArray, JSONObject, scanstring
from json.scanner import NUMBER_RE
from typing import Any

from harness.inputs.text import BadInput, shorten

MAX_DEPTH = 64
MAX_INT_DIGITS = 100
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_WHITESPACE = re.compile(r"[ \t\n\r]*")


class _Fail(Exception):
    pass


def loads(text: str, *, locate: bool = True) -> Any:
    """The value of one JSON document; BadInput (with line and column) on any problem.
    `locate=False` skips the slow pass and says less (for the many bad lines past the first)."""
    try:
        value = json.loads(text, object_pairs_hook=_pairs, parse_int=_int,
                           parse_float=_float, parse_constant=_constant)
        if _too_deep(value) or (_SURROGATE_ESCAPE.search(text) and _has_surrogate(value)):
            raise _Fail
        return value
    except json.JSONDecodeError as exc:
        if not locate:
            raise BadInput(f"invalid JSON: {exc.msg} (column {exc.colno})", line=exc.lineno,
                           column=exc.colno) from None
    except (_Fail, ValueError, RecursionError):
        if not locate:
            raise BadInput(f"not strict JSON (a duplicate key, NaN/Infinity, a number out of "
                           f"range, nesting over {MAX_DEPTH} levels or a lone surrogate)") \
                from None
    _Locating(text).decode()  # raises with the place
    raise BadInput("invalid JSON")  # not reached: both readers accept the same documents


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) != len(pairs):
        raise _Fail
    return value


def _int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INT_DIGITS:
        raise _Fail
    return int(digits)


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Fail
    return value


def _constant(name: str) -> Any:
    raise _Fail


def _too_deep(value: Any) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > MAX_DEPTH:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children
                         if isinstance(child, (dict, list)))
    return False


def _has_surrogate(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


class _Locating:
    """The slow reader: the same grammar, but it knows where it is, so a problem names its line."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.depth = 0

    def fail(self, message: str, offset: int) -> BadInput:
        line = self.text.count("\n", 0, offset) + 1
        column = offset - (self.text.rfind("\n", 0, offset) + 1) + 1
        return BadInput(f"{message} (column {column})", line=line, column=column)

    def decode(self) -> Any:
        text = self.text
        try:
            end = _WHITESPACE.match(text, 0).end()
            value, end = self.scan(text, end)
            end = _WHITESPACE.match(text, end).end()
        except StopIteration as stop:
            raise self.fail("invalid JSON: Expecting value", stop.value) from None
        except json.JSONDecodeError as exc:
            raise self.fail(f"invalid JSON: {exc.msg}", exc.pos) from None
        except RecursionError:
            raise BadInput(f"nested deeper than {MAX_DEPTH} levels") from None
        if end != len(text):
            raise self.fail("invalid JSON: Extra data", end)
        return value

    def scan(self, s: str, idx: int) -> tuple[Any, int]:
        try:
            char = s[idx]
        except IndexError:
            raise StopIteration(idx) from None
        if char == '"':
            value, end = scanstring(s, idx + 1, True)
            if _SURROGATE.search(value):
                raise self.fail(f"lone surrogate {_SURROGATE.search(value).group()!a} in the "
                                f"string {shorten(value)} (not valid Unicode)", idx)
            return value, end
        if char in "{[":
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise self.fail(f"nested deeper than {MAX_DEPTH} levels", idx)
            try:
                if char == "{":
                    return JSONObject((s, idx + 1), True, self.scan, None,
                                      lambda pairs: self.pairs(pairs, idx), {})
                return JSONArray((s, idx + 1), self.scan)
            finally:
                self.depth -= 1
        for word, value in (("null", None), ("true", True), ("false", False)):
            if s.startswith(word, idx):
                return value, idx + len(word)
        match = NUMBER_RE.match(s, idx)
        if match:
            integer, frac, exp = match.groups()
            if frac or exp:
                number = float(match.group())
                if not math.isfinite(number):
                    raise self.fail(f"number {shorten(match.group())} is out of range", idx)
                return number, match.end()
            if len(integer.lstrip("-")) > MAX_INT_DIGITS:
                raise self.fail(f"integer with {len(integer.lstrip('-')):,} digits; the limit "
                                f"is {MAX_INT_DIGITS}", idx)
            return int(integer), match.end()
        for word in ("NaN", "Infinity", "-Infinity"):
            if s.startswith(word, idx):
                raise self.fail(f"{word} is not valid JSON", idx)
        raise StopIteration(idx)

    def pairs(self, pairs: list[tuple[str, Any]], start: int) -> dict[str, Any]:
        value: dict[str, Any] = {}
        for key, item in pairs:
            if key in value:
                raise self.fail(f"duplicate key {shorten(key)} in the object starting here "
                                f"(JSON keeps only the last one)", start)
            if _SURROGATE.search(key):
                raise self.fail(f"lone surrogate in the key {shorten(key)}", start)
            value[key] = item
        return value

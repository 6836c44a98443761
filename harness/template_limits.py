"""A Jinja sandbox that also bounds time and memory, so a template (a user's, or an optimizer
candidate's) cannot hang or exhaust the machine while rendering.

Per render: at most MAX_LOOP_ITERATIONS loop iterations over all loops, at most MAX_TEXT_CHARS of
text produced (output, `{% set %}` blocks and macro bodies together), no string or list longer
than MAX_TEXT_CHARS, no integer over MAX_INT_BITS bits, `range()` of at most MAX_RANGE items,
widths (`center`, `indent`, `%10000d`, `{:>10000}`) of at most MAX_WIDTH. The checks run before
the big value is built, so `'x' * 10**10` or `10**10**10` fails at once instead of allocating.
A limit raises LimitExceeded; the renderer turns it into a TemplateError naming the template line.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from jinja2 import nodes, pass_context
from jinja2.sandbox import SandboxedEnvironment
from jinja2.utils import _PassArg
from jinja2.visitor import NodeTransformer

MAX_LOOP_ITERATIONS = 200_000
MAX_TEXT_CHARS = 2_000_000
MAX_RANGE = 100_000
MAX_INT_BITS = 4096
MAX_WIDTH = 10_000
MAX_TEMPLATE_BYTES = 256 * 1024

_LOOP, _OUT, _SIZED = "harness_bounded_loop", "harness_counted_output", "harness_sized"
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")
_NESTED_FIELD = re.compile(r"\{[^{}]*:[^{}]*\{")
_FIELD_SPEC = re.compile(r"\{[^{}]*:([^{}]*)\}")


class LimitExceeded(Exception):
    """A template went past one of the render limits."""


@dataclass(slots=True)
class _Budget:
    iterations: int = 0
    chars: int = 0


_budget: ContextVar[_Budget | None] = ContextVar("harness_template_budget", default=None)


@contextmanager
def rendering() -> Iterator[None]:
    """One render's budget: loops and produced text inside this block count against it."""
    token = _budget.set(_Budget())
    try:
        yield
    finally:
        _budget.reset(token)


def _current() -> _Budget:
    budget = _budget.get()
    if budget is None:  # rendered outside rendering(): still bounded, on a budget of its own
        budget = _Budget()
        _budget.set(budget)
    return budget


def _size_check(value: Any, what: str = "a value") -> Any:
    if isinstance(value, (str, list, tuple, dict)) and len(value) > MAX_TEXT_CHARS:
        raise LimitExceeded(f"{what} of {len(value):,} items is over the limit of "
                            f"{MAX_TEXT_CHARS:,}")
    if isinstance(value, int) and not isinstance(value, bool) and \
            value.bit_length() > MAX_INT_BITS:
        raise LimitExceeded(f"an integer of {value.bit_length():,} bits is over the limit of "
                            f"{MAX_INT_BITS:,} bits")
    return value


def _at_most(value: Any, limit: int, what: str) -> None:
    if isinstance(value, int) and not isinstance(value, bool) and value > limit:
        raise LimitExceeded(f"{what} {value:,} is over the limit of {limit:,}")


def _sized(value: Any) -> int:
    try:
        return len(value)
    except TypeError:
        return 0


def _check_percent(fmt: str, args: Any) -> None:
    for match in _PERCENT_SPEC.finditer(fmt):
        for part in match.groups():
            if part == "*":
                raise LimitExceeded("'*' widths in % formatting are not allowed in templates")
            if part:
                _at_most(int(part), MAX_WIDTH, "a % format width")


def _check_format(fmt: str, args: tuple, kwargs: dict) -> None:
    if _NESTED_FIELD.search(fmt):
        raise LimitExceeded("nested {} fields in a format spec are not allowed in templates")
    for spec in _FIELD_SPEC.findall(fmt):
        for digits in re.findall(r"\d+", spec):
            _at_most(int(digits), MAX_WIDTH, "a format width")


def _check_call(name: str, target: Any, args: tuple, kwargs: dict) -> None:
    """Estimate, before the call, what a string method or filter would build."""
    arg = lambda i, key, default=None: args[i] if len(args) > i else kwargs.get(key, default)  # noqa: E731
    if name in ("center", "ljust", "rjust", "zfill"):
        _at_most(arg(0, "width"), MAX_TEXT_CHARS, f"{name}() width")
    elif name == "indent":
        width = arg(0, "width", 4)
        width = len(width) if isinstance(width, str) else width
        _at_most(width, MAX_WIDTH, "indent width")
        if isinstance(target, str) and isinstance(width, int):
            _at_most(len(target) + (target.count("\n") + 1) * width, MAX_TEXT_CHARS,
                     "indented text of")
    elif name == "expandtabs" and isinstance(target, str):
        tabs = arg(0, "tabsize", 8)
        _at_most(tabs, MAX_WIDTH, "expandtabs() size")
        if isinstance(tabs, int):
            _at_most(len(target) + target.count("\t") * tabs, MAX_TEXT_CHARS, "expanded text of")
    elif name == "replace" and isinstance(target, str):
        old, new = arg(0, "old", ""), arg(1, "new", "")
        if isinstance(old, str) and isinstance(new, str):
            hits = target.count(old) if old else len(target) + 1
            _at_most(len(target) + hits * len(new), MAX_TEXT_CHARS, "replace() result of")
    elif name in ("join", "str.join"):  # the filter joins its value; the method, its argument
        sep, items = (target, arg(0, "iterable")) if name == "str.join" else \
            (arg(0, "d", ""), target)
        _at_most(len(str(sep)) * _sized(items), MAX_TEXT_CHARS, "join() result of")
    elif name in ("batch", "slice"):
        _at_most(arg(0, "linecount" if name == "batch" else "slices"), MAX_RANGE,
                 f"{name} count")
    elif name == "tojson":
        _at_most(arg(0, "indent"), MAX_WIDTH, "tojson indent")
    elif name == "wordwrap" and isinstance(target, str):
        width, wrap = arg(0, "width", 79), arg(2, "wrapstring", "\n")
        if isinstance(width, int) and isinstance(wrap, str):
            _at_most(len(target) + (len(target) // max(width, 1) + 1) * len(wrap),
                     MAX_TEXT_CHARS, "wrapped text of")
    elif name == "format" and isinstance(target, str):
        _check_percent(target, args)


@functools.lru_cache(maxsize=512)  # one wrapper per filter for the process, not per environment
def _bounded_filter(name: str, func: Any) -> Any:
    offset = 1 if _PassArg.from_obj(func) is not None else 0

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        target = args[offset] if len(args) > offset else None
        _check_call(name, target, args[offset + 1:], kwargs)
        return _size_check(func(*args, **kwargs), f"the result of |{name}")

    return wrapper


def _range(*args: Any) -> range:
    for value in args:
        _size_check(value)
    items = range(*args)
    if len(items) > MAX_RANGE:
        raise LimitExceeded(f"range() of {len(items):,} items is over the limit of "
                            f"{MAX_RANGE:,}")
    return items


@pass_context
def _loop(context: Any, iterable: Any) -> Iterator[Any]:
    budget = _current()
    for item in iterable:
        budget.iterations += 1
        if budget.iterations > MAX_LOOP_ITERATIONS:
            raise LimitExceeded(f"more than {MAX_LOOP_ITERATIONS:,} loop iterations in one "
                                f"render")
        yield item


@pass_context
def _counted(context: Any, value: Any) -> Any:
    budget = _current()
    budget.chars += len(value) if isinstance(value, str) else len(str(value))
    if budget.chars > MAX_TEXT_CHARS:
        raise LimitExceeded(f"the template produced more than {MAX_TEXT_CHARS:,} characters")
    return value


@pass_context
def _sized_concat(context: Any, value: Any) -> Any:
    return _size_check(value, "a ~ concatenation")


class _Instrument(NodeTransformer):
    """Wraps every loop's iterable, every output and every `~` in a counting filter."""

    @staticmethod
    def _wrap(node: nodes.Expr, name: str) -> nodes.Filter:
        return nodes.Filter(node, name, [], [], None, None, lineno=node.lineno)

    def visit_For(self, node: nodes.For) -> nodes.For:
        node = self.generic_visit(node)
        node.iter = self._wrap(node.iter, _LOOP)
        return node

    def visit_Output(self, node: nodes.Output) -> nodes.Output:
        node = self.generic_visit(node)
        node.nodes = [self._wrap(child, _OUT) for child in node.nodes]
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Filter:
        return self._wrap(self.generic_visit(node), _SIZED)


class BoundedEnvironment(SandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.globals["range"] = _range
        self.globals.pop("lipsum", None)  # n paragraphs of filler: nothing a prompt needs
        self.filters = {name: _bounded_filter(name, func) for name, func in self.filters.items()}
        self.filters.update({_LOOP: _loop, _OUT: _counted, _SIZED: _sized_concat})

    def _generate(self, source: nodes.Template, name: str | None, filename: str | None,
                  defer_init: bool = False) -> str:
        return super()._generate(_Instrument().visit(source), name, filename, defer_init)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(left, int) and isinstance(right, int) and right > 0 \
                and abs(left) > 1 and right * math.log2(abs(left)) > MAX_INT_BITS:
            raise LimitExceeded(f"{left} ** {right} is over the limit of {MAX_INT_BITS:,} bits")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(times, int):
                    _at_most(len(seq) * times, MAX_TEXT_CHARS, "a repeated value of")
            if isinstance(left, int) and isinstance(right, int) and \
                    left.bit_length() + right.bit_length() > MAX_INT_BITS + 1:
                raise LimitExceeded(f"a product over the limit of {MAX_INT_BITS:,} bits")
        if operator == "+" and isinstance(left, (str, list, tuple)) and \
                isinstance(right, (str, list, tuple)):
            _at_most(len(left) + len(right), MAX_TEXT_CHARS, "a sum of length")
        if operator == "%" and isinstance(left, str):
            _check_percent(left, right)
        return _size_check(super().call_binop(context, operator, left, right))

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        target = getattr(__obj, "__self__", None)
        if isinstance(target, str):
            name = getattr(__obj, "__name__", "")
            _check_call("str.join" if name == "join" else name, target, args, kwargs)
        return _size_check(super().call(__context, __obj, *args, **kwargs), "a call's result")

    def wrap_str_format(self, value: Any) -> Any:
        wrapper = super().wrap_str_format(value)
        if wrapper is None:
            return None
        fmt = value.__self__

        @functools.wraps(wrapper)
        def bounded(*args: Any, **kwargs: Any) -> str:
            _check_format(fmt, args, kwargs)
            return _size_check(wrapper(*args, **kwargs), "a formatted string")

        return bounded

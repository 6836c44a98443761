"""Versioned Jinja prompt templates: `prompts/<task>/v1.jinja`, `v2.jinja`, ...

A template renders chat messages from its blocks: `{% block system %}` (optional) and
`{% block user %}` (required). A version may `{% extends "v1.jinja" %}` and override only the
blocks it changes (e.g. `instructions`); `{{ super() }}` works as usual.

Templates run in a sandbox with StrictUndefined. Dataset values are passed as variables, never
pasted into template source, so a review containing `{{ price }}` stays literal text.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from types import CodeType, TracebackType

import jinja2
from jinja2 import meta, nodes
from jinja2.debug import rewrite_traceback_stack
from jinja2.loaders import split_template_path

from harness.demos import (SIDECAR_SUFFIX, DemoSelector, parse_sidecar, read_sidecar, sidecar_path,
                           to_json)
from harness.errors import HarnessError, TemplateError, UsageError
from harness.inputs.text import BadInput, decode_utf8, read_limited
from harness.strategy import declared_in
from harness.records import (Demonstrations, Example, Message, PromptVersion, RenderedPrompt,
                             TaskSpec)
from harness.template_limits import (MAX_TEMPLATE_BYTES, BoundedEnvironment, LimitExceeded,
                                     rendering)

ROLES = ("system", "user")
TEMPLATE_VARIABLES = ("labels", "task", "example_id", "demonstrations")
_VERSION = re.compile(r"^v(\d+)\.jinja$")
_SURROGATE = re.compile("[\ud800-\udfff]")


class _Loader(jinja2.FileSystemLoader):
    """Templates from the prompt folder, plus in-memory sources (a candidate version that is
    not yet a file) which take precedence under their name. With `disk=False` only the
    in-memory sources exist (a version read from another git commit must not pick up a
    template from the working tree)."""

    def __init__(self, prompt_dir: Path, overrides: Mapping[str, str] | None = None, *,
                 disk: bool = True) -> None:
        super().__init__(prompt_dir)
        self.overrides = {template_key(k): v for k, v in (overrides or {}).items()}
        self.disk = disk

    def get_source(self, environment, template):  # type: ignore[no-untyped-def]
        key = template_key(template)
        if key in self.overrides:
            return self.overrides[key], str(Path(self.searchpath[0]) / key), lambda: True
        if not self.disk:
            raise jinja2.TemplateNotFound(template)
        path = Path(self.searchpath[0]).joinpath(*split_template_path(template))
        if not path.is_file():
            raise jinja2.TemplateNotFound(template)
        # Bounded and strict UTF-8, so a huge or mis-encoded file is an error naming it; then
        # universal newlines and the BOM kept, as a text-mode read (and _text) give.
        try:
            source = decode_utf8(read_limited(path, MAX_TEMPLATE_BYTES, "the template"),
                                 strip_bom=False).replace("\r\n", "\n").replace("\r", "\n")
        except BadInput as exc:
            where = f"{path}:{exc.line}" if exc.line else str(path)
            raise TemplateError(f"{where}: {exc.message}") from None
        mtime = path.stat().st_mtime
        return source, str(path), lambda: path.is_file() and path.stat().st_mtime == mtime


def template_key(name: str) -> str:
    """A template name as the loader resolves it: `./a//b.jinja` -> `a/b.jinja`; `..` is
    refused (TemplateNotFound), as Jinja's file loader does."""
    return "/".join(split_template_path(name))


class _CompiledTemplates(jinja2.BytecodeCache):
    """Compiled template code shared by every environment `_environment` makes (they differ only
    in their loader, so a source compiles to the same code in each): a renderer gets a fresh
    environment, and the optimizer and the strategies build hundreds of renderers of the same
    few templates, each compile a few ms. Keyed by Jinja's (name, file name) key and the
    source's checksum; the oldest entries go past `size`."""

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self._code: dict[tuple[str, str], CodeType] = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        bucket.code = self._code.get((bucket.key, bucket.checksum))

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self._code[(bucket.key, bucket.checksum)] = bucket.code
        while len(self._code) > self.size:
            self._code.pop(next(iter(self._code)))


_COMPILED = _CompiledTemplates()


def _environment(prompt_dir: Path, overrides: Mapping[str, str] | None = None, *,
                 disk: bool = True) -> BoundedEnvironment:
    return BoundedEnvironment(
        loader=_Loader(prompt_dir, overrides, disk=disk),
        bytecode_cache=_COMPILED,
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # prompts are not HTML
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def list_versions(task: TaskSpec) -> list[str]:
    """Version names on disk, in numeric order (v2 before v10)."""
    found = [(int(m.group(1)), p.stem) for p in task.prompt_dir.glob("v*.jinja")
             if (m := _VERSION.match(p.name))]
    return [name for _, name in sorted(found)]


def next_version(task: TaskSpec) -> str:
    versions = list_versions(task)
    return f"v{int(versions[-1][1:]) + 1}" if versions else "v1"


def load_version(task: TaskSpec, name: str, *,
                 files: Mapping[str, bytes] | None = None) -> PromptVersion:
    """Version `name` from the prompt folder on disk, or, with `files`, from exactly those
    files (name relative to the prompt folder -> content, e.g. the folder at another git commit:
    templates `*.jinja` and sidecars `*.demos.json`); then nothing is read from disk, and the
    version renders with those templates only."""
    if files is not None:
        return _version_from_files(task, name, files)
    path = task.prompt_dir / f"{name}.jinja"
    if not path.is_file():
        known = list_versions(task)
        raise UsageError(f"unknown prompt version {name!r} for task {task.name!r}; "
                         f"versions on disk: {', '.join(known) or 'none'} (in {task.prompt_dir})")
    env = _environment(task.prompt_dir)
    chain = _chain(env, path.name)
    # The nearest version in the chain with a sidecar supplies the demonstrations.
    demos_path = next((p for n, _ in chain if (p := sidecar_path(task.prompt_dir / n)).is_file()),
                      None)
    demos = read_sidecar(demos_path, input_fields=task.input_fields,
                         labels=task.label_names) if demos_path else None
    return _version(task, name, chain, demos, demos_path.read_bytes() if demos_path else None)


def _version_from_files(task: TaskSpec, name: str, files: Mapping[str, bytes]) -> PromptVersion:
    files = {template_key(k): v for k, v in files.items()}
    sources = {n: _text(task, n, blob) for n, blob in files.items() if n.endswith(".jinja")}
    if f"{name}.jinja" not in sources:
        known = sorted(n.removesuffix(".jinja") for n in sources if _VERSION.match(n))
        raise UsageError(f"unknown prompt version {name!r} for task {task.name!r}; versions "
                         f"given: {', '.join(known) or 'none'}")
    env = _environment(task.prompt_dir, sources, disk=False)
    chain = _chain(env, f"{name}.jinja")
    sidecar = next((s for n, _ in chain
                    if (s := n.removesuffix(".jinja") + SIDECAR_SUFFIX) in files), None)
    demos = None
    if sidecar is not None:
        demos = parse_sidecar(_text(task, sidecar, files[sidecar]), task.prompt_dir / sidecar,
                              input_fields=task.input_fields, labels=task.label_names)
    version = _version(task, name, chain, demos, files[sidecar] if sidecar else None)
    return replace(version, sources=tuple(sorted(sources.items())))


def _text(task: TaskSpec, name: str, blob: bytes) -> str:
    # Decoded exactly as reading the file from disk would (UTF-8, universal newlines), so the
    # content hash matches the same file on disk.
    try:
        return io.TextIOWrapper(io.BytesIO(blob), encoding="utf-8").read()
    except UnicodeDecodeError as exc:
        raise TemplateError(f"{task.prompt_dir / name}: not UTF-8 text ({exc.reason} at byte "
                            f"{exc.start})") from None


def parse_template(prompt_dir: Path, name: str, source: str) -> nodes.Template:
    """The Jinja AST of one template as the renderer parses it; a syntax error names the file
    and line."""
    return _parse(_environment(prompt_dir, disk=False), source, name)


def version_from_source(task: TaskSpec, name: str, source: str,
                        demonstrations: Demonstrations | None = None) -> PromptVersion:
    """A version that exists only in memory (an optimizer candidate): it may extend versions
    on disk; it renders exactly as it will once written to `prompts/<task>/<name>.jinja`."""
    env = _environment(task.prompt_dir, {f"{name}.jinja": source})
    chain = _chain(env, f"{name}.jinja")
    blob = json.dumps(to_json(demonstrations), ensure_ascii=False).encode() if demonstrations else None
    return _version(task, name, chain, demonstrations, blob)


def child_version(task: TaskSpec, parent: PromptVersion, name: str, source: str,
                  demonstrations: Demonstrations | None = None) -> PromptVersion:
    """An in-memory version `name` whose `source` extends `parent` (e.g. a strategy filling
    the parent's demonstrations block). A parent read from git keeps rendering from its own
    sources; one from the prompt folder from disk."""
    overrides = {**dict(parent.sources or ()), parent.path.name: parent.source,
                 f"{name}.jinja": source}
    env = _environment(task.prompt_dir, overrides, disk=parent.sources is None)
    chain = _chain(env, f"{name}.jinja")
    blob = json.dumps(to_json(demonstrations), ensure_ascii=False).encode() if demonstrations else None
    version = _version(task, name, chain, demonstrations, blob)
    if parent.sources is not None:
        version = replace(version, sources=tuple(sorted({**dict(parent.sources),
                                                         parent.path.name: parent.source}.items())))
    return version


def _version(task: TaskSpec, name: str, chain: list[tuple[str, str]],
             demos: Demonstrations | None, demos_blob: bytes | None) -> PromptVersion:
    digest = hashlib.sha256()
    for template_name, source in chain:
        digest.update(template_name.encode() + b"\0" + source.encode() + b"\0")
    if demos_blob is not None:  # only versions with demonstrations: other hashes stay as they were
        digest.update(b"demonstrations\0" + demos_blob)
    parent = chain[1][0].removesuffix(".jinja") if len(chain) > 1 else None
    strategy, declared_by = _declared_strategy(task, chain)
    return PromptVersion(task=task.name, name=name, path=task.prompt_dir / f"{name}.jinja",
                         source=chain[0][1], parent=parent, content_hash=digest.hexdigest(),
                         demonstrations=demos, strategy=strategy, strategy_from=declared_by)


def _declared_strategy(task: TaskSpec, chain: list[tuple[str, str]]) -> tuple[str, str | None]:
    """The nearest template in the chain with a `{# strategy: NAME #}` line declares it (as
    the nearest sidecar supplies demonstrations); the source is hashed, so the hash covers it."""
    for template_name, source in chain:
        found = declared_in(source, str(task.prompt_dir / template_name))
        if found is not None:
            return str(found[0]), template_name
    return "zero-shot", None


def _chain(env: BoundedEnvironment, name: str) -> list[tuple[str, str]]:
    """[(template name, source)] from `name` up through every template it extends."""
    chain: list[tuple[str, str]] = []
    line: int | None = None  # of the {% extends %} that named `name`
    while name is not None:
        if any(name == seen for seen, _ in chain):
            raise TemplateError(f"{_where(env, chain[-1][0], line)}: templates extend each "
                                f"other in a cycle: {' -> '.join(n for n, _ in chain)} -> {name}")
        try:
            source, _, _ = env.loader.get_source(env, name)
        except jinja2.TemplateNotFound:
            referrer = chain[-1][0] if chain else name
            raise TemplateError(f"{_where(env, referrer, line)}: extends {name!r}, which does "
                                f"not exist") from None
        ast = _parse(env, source, name)
        chain.append((name, source))
        parents = [node for node in ast.find_all(nodes.Extends)
                   if isinstance(node.template, nodes.Const)]
        name = parents[0].template.value if parents else None
        line = parents[0].lineno if parents else None
    return chain


@functools.lru_cache(maxsize=1024)
def _parsed(source: str, name: str) -> nodes.Template:
    """Parsing depends only on the source and the lexer settings, which every environment here
    shares: one renderer parses its chain three times (extends, variables, blocks) and the
    optimizer builds hundreds of renderers of the same templates. The trees are read, never
    changed (compiling parses its own copy)."""
    return _environment(Path("."), disk=False).parse(source, name=name)


@functools.lru_cache(maxsize=1024)
def _undeclared(source: str, name: str) -> frozenset[str]:
    """The variables a template reads (Jinja finds them by running its code generator over the
    tree: the costliest step of building a renderer, so once per source)."""
    return frozenset(meta.find_undeclared_variables(_parsed(source, name)))


def _parse(env: BoundedEnvironment, source: str, name: str) -> nodes.Template:
    try:
        return _parsed(source, name)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"{_where(env, exc.name or name, exc.lineno)}: syntax error: "
                            f"{exc.message}") from None
    except RecursionError:
        raise TemplateError(f"{_where(env, name, None)}: expressions nested too deeply to "
                            f"parse") from None


def _compile(env: BoundedEnvironment, name: str) -> jinja2.Template:
    try:
        return env.get_template(name)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"{_where(env, exc.name or name, exc.lineno)}: syntax error: "
                            f"{exc.message}") from None
    except RecursionError:
        raise TemplateError(f"{_where(env, name, None)}: expressions nested too deeply to "
                            f"compile") from None


def _where(env: BoundedEnvironment, name: str, line: int | None) -> str:
    root = Path(env.loader.searchpath[0])  # type: ignore[union-attr]
    return f"{root / name}:{line}" if line else str(root / name)


class Renderer:
    """Renders one prompt version for many examples; template errors name the template and line."""

    def __init__(self, task: TaskSpec, version: PromptVersion) -> None:
        self.task = task
        self.version = version
        # A version read from another commit carries every template it may load (`sources`).
        self._env = _environment(task.prompt_dir,
                                 {**dict(version.sources or ()), version.path.name: version.source},
                                 disk=version.sources is None)
        self._demos = DemoSelector(version.demonstrations)
        self._template = _compile(self._env, version.path.name)
        # [(template name, source)] up the {% extends %} chain: read once, used three times.
        self._chain = _chain(self._env, version.path.name)
        self._check_variables()
        self._blocks = self._block_stacks()
        if "user" not in self._blocks:
            raise TemplateError(f"{version.path}: no {{% block user %}} found (a template renders "
                                f"chat messages from blocks: system (optional) and user)")

    def _check_variables(self) -> None:
        """Fail before any model call on a variable no example will ever provide."""
        allowed = set(self.task.input_fields) | set(TEMPLATE_VARIABLES)
        for name, source in self._chain:
            for variable in sorted(_undeclared(source, name) - allowed):
                line = next((n.lineno for n in _parsed(source, name).find_all(nodes.Name)
                             if n.name == variable), None)
                raise TemplateError(
                    f"{_where(self._env, name, line)}: undefined variable {variable!r}; templates "
                    f"get the input fields ({', '.join(self.task.input_fields)}) plus labels, "
                    f"task, example_id and demonstrations")

    def _block_stacks(self) -> dict[str, list]:
        # Mirror what Jinja does while rendering a child: the child's blocks first, then each
        # parent's, so `super()` resolves; rendering a block alone then behaves as in a full render.
        stacks: dict[str, list] = {}
        for name, _ in self._chain:
            template = _compile(self._env, name)
            for block, func in template.blocks.items():
                stacks.setdefault(block, []).append(func)
        return stacks

    def variables(self) -> frozenset[str]:
        """The variables the version's templates read (e.g. whether it shows `demonstrations`)."""
        found: set[str] = set()
        for name, source in self._chain:  # each parsed by _chain: no syntax error left
            found |= _undeclared(source, name)
        return frozenset(found)

    def blocks(self) -> frozenset[str]:
        """The blocks this version renders: its own and the ones it inherits."""
        return frozenset(self._blocks)

    def render(self, example: Example) -> RenderedPrompt:
        messages = []
        for role in ROLES:
            if role not in self._blocks:
                continue
            text = self.render_block(role, example)
            if text:
                messages.append(Message(role, text))
        return RenderedPrompt(example_id=example.id, messages=tuple(messages),
                              hash=hash_messages(messages))

    def render_block(self, block: str, example: Example) -> str:
        """One block's text for one example (stripped), e.g. `instructions` for the optimizer."""
        if block not in self._blocks:
            raise TemplateError(f"{self.version.path}: no {{% block {block} %}} in this version "
                                f"or the versions it extends")
        variables = {
            **example.inputs,
            "example_id": example.id,
            "labels": self.task.labels,
            "task": {"name": self.task.name, "description": self.task.description},
            "demonstrations": self._demos.select(example),
        }
        context = self._template.new_context(variables)
        context.blocks.clear()
        context.blocks.update({name: list(funcs) for name, funcs in self._blocks.items()})
        # A template is code: whatever it raises (a render limit, 1/0, a recursive macro) is
        # a TemplateError at the template's own line, never a traceback.
        try:
            with rendering():
                text = "".join(self._blocks[block][0](context)).strip()
            if _SURROGATE.search(text):
                raise LimitExceeded("the text holds a lone surrogate (not valid Unicode)")
            return text
        except Exception as exc:  # noqa: BLE001
            tb = rewrite_traceback_stack().__traceback__
            if isinstance(exc, jinja2.TemplateSyntaxError):
                where = _where(self._env, exc.name or self.version.path.name, exc.lineno)
                message = f"syntax error: {exc.message}"
            else:
                where = self._location(tb)
                message = _describe(exc)
            raise TemplateError(f"{where}: {message} (rendering example {example.id!r})") \
                from None

    def _location(self, tb: TracebackType | None) -> str:
        # rewrite_traceback_stack gave template frames the template's file and line.
        where = str(self.version.path)
        while tb is not None:
            filename = tb.tb_frame.f_code.co_filename
            if filename.endswith(".jinja"):
                where = f"{filename}:{tb.tb_lineno}"
            tb = tb.tb_next
        return where


def _describe(exc: Exception) -> str:
    if isinstance(exc, jinja2.UndefinedError):
        return str(exc.message)
    if isinstance(exc, (HarnessError, jinja2.TemplateError, LimitExceeded)):
        return str(exc)
    if isinstance(exc, RecursionError):
        return ("recursion too deep: a macro that calls itself without end, or a template that "
                "includes itself?")
    if isinstance(exc, MemoryError):
        return "out of memory while rendering"
    return f"{type(exc).__name__}: {exc}"


def hash_messages(messages: list[Message] | tuple[Message, ...]) -> str:
    payload = json.dumps([[m.role, m.content] for m in messages], ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()

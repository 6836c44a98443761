"""Versioned Jinja prompt templates: `prompts/<task>/v1.jinja`, `v2.jinja`, ...

A template renders chat messages from its blocks: `{% block system %}` (optional) and
`{% block user %}` (required). A version may `{% extends "v1.jinja" %}` and override only the
blocks it changes (e.g. `instructions`); `{{ super() }}` works as usual.

Templates run in a sandbox with StrictUndefined. Dataset values are passed as variables, never
pasted into template source, so a review containing `{{ price }}` stays literal text.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from types import TracebackType

import jinja2
from jinja2 import meta, nodes
from jinja2.sandbox import SandboxedEnvironment

from harness.errors import TemplateError, UsageError
from harness.records import Example, Message, PromptVersion, RenderedPrompt, TaskSpec

ROLES = ("system", "user")
_VERSION = re.compile(r"^v(\d+)\.jinja$")


def _environment(prompt_dir: Path) -> SandboxedEnvironment:
    return SandboxedEnvironment(
        loader=jinja2.FileSystemLoader(prompt_dir),
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


def load_version(task: TaskSpec, name: str) -> PromptVersion:
    path = task.prompt_dir / f"{name}.jinja"
    if not path.is_file():
        known = list_versions(task)
        raise UsageError(f"unknown prompt version {name!r} for task {task.name!r}; "
                         f"versions on disk: {', '.join(known) or 'none'} (in {task.prompt_dir})")
    env = _environment(task.prompt_dir)
    chain = _chain(env, path.name)
    digest = hashlib.sha256()
    for template_name, source in chain:
        digest.update(template_name.encode() + b"\0" + source.encode() + b"\0")
    parent = chain[1][0].removesuffix(".jinja") if len(chain) > 1 else None
    return PromptVersion(task=task.name, name=name, path=path, source=chain[0][1],
                         parent=parent, content_hash=digest.hexdigest())


def _chain(env: SandboxedEnvironment, name: str) -> list[tuple[str, str]]:
    """[(template name, source)] from `name` up through every template it extends."""
    chain: list[tuple[str, str]] = []
    while name is not None:
        if any(name == seen for seen, _ in chain):
            raise TemplateError(f"{chain[0][0]}: templates extend each other in a cycle: "
                                f"{' -> '.join(n for n, _ in chain)} -> {name}")
        try:
            source, _, _ = env.loader.get_source(env, name)
        except jinja2.TemplateNotFound:
            referrer = chain[-1][0] if chain else name
            raise TemplateError(f"{referrer}: extends {name!r}, which does not exist") from None
        try:
            ast = env.parse(source, name=name)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"{_where(env, exc.name or name, exc.lineno)}: syntax error: "
                                f"{exc.message}") from None
        chain.append((name, source))
        parents = [node.template.value for node in ast.find_all(nodes.Extends)
                   if isinstance(node.template, nodes.Const)]
        name = parents[0] if parents else None
    return chain


def _where(env: SandboxedEnvironment, name: str, line: int | None) -> str:
    root = Path(env.loader.searchpath[0])  # type: ignore[attr-defined]
    return f"{root / name}:{line}" if line else str(root / name)


class Renderer:
    """Renders one prompt version for many examples; template errors name the template and line."""

    def __init__(self, task: TaskSpec, version: PromptVersion) -> None:
        self.task = task
        self.version = version
        self._env = _environment(task.prompt_dir)
        try:
            self._template = self._env.get_template(version.path.name)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"{_where(self._env, exc.name or version.path.name, exc.lineno)}: "
                                f"syntax error: {exc.message}") from None
        self._check_variables()
        self._blocks = self._block_stacks()
        if "user" not in self._blocks:
            raise TemplateError(f"{version.path}: no {{% block user %}} found (a template renders "
                                f"chat messages from blocks: system (optional) and user)")

    def _check_variables(self) -> None:
        """Fail before any model call on a variable no example will ever provide."""
        allowed = set(self.task.input_fields) | {"labels", "task", "example_id"}
        for name, source in _chain(self._env, self.version.path.name):
            ast = self._env.parse(source, name=name)
            for variable in sorted(meta.find_undeclared_variables(ast) - allowed):
                line = next((n.lineno for n in ast.find_all(nodes.Name) if n.name == variable),
                            None)
                raise TemplateError(
                    f"{_where(self._env, name, line)}: undefined variable {variable!r}; templates "
                    f"get the input fields ({', '.join(self.task.input_fields)}) plus labels, "
                    f"task and example_id")

    def _block_stacks(self) -> dict[str, list]:
        # Mirror what Jinja does while rendering a child: the child's blocks first, then each
        # parent's, so `super()` resolves; rendering a block alone then behaves as in a full render.
        stacks: dict[str, list] = {}
        for name, _ in _chain(self._env, self.version.path.name):
            template = self._env.get_template(name)
            for block, func in template.blocks.items():
                stacks.setdefault(block, []).append(func)
        return stacks

    def render(self, example: Example) -> RenderedPrompt:
        variables = {
            **example.inputs,
            "example_id": example.id,
            "labels": self.task.labels,
            "task": {"name": self.task.name, "description": self.task.description},
        }
        context = self._template.new_context(variables)
        context.blocks.clear()
        context.blocks.update({name: list(funcs) for name, funcs in self._blocks.items()})
        messages = []
        for role in ROLES:
            if role not in self._blocks:
                continue
            try:
                text = "".join(self._blocks[role][0](context)).strip()
            except jinja2.UndefinedError as exc:
                raise TemplateError(f"{self._location(exc.__traceback__)}: {exc.message} "
                                    f"(rendering example {example.id!r})") from None
            except jinja2.TemplateError as exc:
                raise TemplateError(f"{self._location(exc.__traceback__)}: {exc} "
                                    f"(rendering example {example.id!r})") from None
            if text:
                messages.append(Message(role, text))
        return RenderedPrompt(example_id=example.id, messages=tuple(messages),
                              hash=hash_messages(messages))

    def _location(self, tb: TracebackType | None) -> str:
        # Jinja rewrites tracebacks so template frames carry the template's file and line.
        where = str(self.version.path)
        while tb is not None:
            filename = tb.tb_frame.f_code.co_filename
            if filename.endswith(".jinja"):
                where = f"{filename}:{tb.tb_lineno}"
            tb = tb.tb_next
        return where


def hash_messages(messages: list[Message] | tuple[Message, ...]) -> str:
    payload = json.dumps([[m.role, m.content] for m in messages], ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()

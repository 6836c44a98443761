"""Which prompt versions a change affects, per task, from the Jinja AST (never globs).

A version uses: its template, every template it `extends`, `include`s or `import`s (directly or
transitively), the sidecar `vN.demos.json` of the nearest version in its extends chain that has
one, its task.yaml and its dataset. Head versions are judged on the head graph (the working
tree); deleted ones are described from the base graph (read from git).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from jinja2 import nodes
from jinja2.exceptions import TemplateNotFound

from harness.ci.git import changed_paths, list_at, read_at, resolve_ref
from harness.ci.records import (AFFECTED, DELETED, NEW, UNAFFECTED, ChangeSet,
                                VersionChange)
from harness.demos import SIDECAR_SUFFIX
from harness.errors import HarnessError
from harness.prompts import list_versions, parse_template, template_key
from harness.tasks import list_tasks, load_task

_VERSION = re.compile(r"^v(\d+)\.jinja$")
_TASK_YAML = re.compile(r"^prompts/([^/]+)/task\.yaml$")
_VERBS = {"A": "added", "M": "changed", "D": "deleted", "R": "renamed"}
_KINDS = {nodes.Extends: "extends", nodes.Include: "includes", nodes.Import: "imports",
          nodes.FromImport: "imports"}


@dataclass(frozen=True, slots=True)
class Reference:
    kind: str  # "extends" | "includes" | "imports"
    names: tuple[str, ...]  # the template names, loader-relative; () when dynamic
    line: int
    dynamic: bool  # the name is computed at render time


def references(ast: nodes.Template) -> tuple[Reference, ...]:
    """Every template reference in one template's AST, with its line."""
    found = []
    for node in ast.find_all(tuple(_KINDS)):
        target = node.template
        items = target.items if isinstance(target, (nodes.Tuple, nodes.List)) else [target]
        names = [item.value for item in items
                 if isinstance(item, nodes.Const) and isinstance(item.value, str)]
        dynamic = len(names) != len(items)
        keys = []
        for name in names:
            try:
                keys.append(template_key(name))
            except TemplateNotFound:  # `..`: the loader refuses it, so it can use nothing
                pass
        found.append(Reference(_KINDS[type(node)], tuple(keys), node.lineno, dynamic))
    return tuple(found)


class Graph:
    """The templates of one prompt folder and what each references; `read(name)` gives a
    template's source, or None when there is no such file."""

    def __init__(self, prompt_dir: Path, read: Callable[[str], str | None], *,
                 strict: bool = True) -> None:
        self.prompt_dir = prompt_dir
        self._read = read
        self._strict = strict  # False: a syntax error counts as "no references" (base graph)
        self._refs: dict[str, tuple[Reference, ...]] = {}

    def refs(self, name: str) -> tuple[Reference, ...]:
        if name not in self._refs:
            source = self._read(name)
            refs: tuple[Reference, ...] = ()
            if source is not None:
                try:
                    refs = references(parse_template(self.prompt_dir, name, source))
                except HarnessError:
                    if self._strict:
                        raise
            self._refs[name] = refs
        return self._refs[name]

    def parent(self, name: str) -> str | None:
        """The template `name` extends, as the loader follows it (first static extends)."""
        return next((r.names[0] for r in self.refs(name) if r.kind == "extends" and r.names),
                    None)

    def paths(self, start: str) -> dict[str, list[tuple[str, str, str]]]:
        """Every template reachable from `start`, with the shortest path to it as
        [(from, kind, to), ...] (breadth first, so the nearest explanation wins)."""
        found: dict[str, list[tuple[str, str, str]]] = {start: []}
        queue = [start]
        while queue:
            name = queue.pop(0)
            for ref in self.refs(name):
                for target in ref.names:
                    if target not in found:
                        found[target] = [*found[name], (name, ref.kind, target)]
                        queue.append(target)
        return found

    def dynamic(self, start: str) -> str | None:
        """'file:line: {% include %}' of the first reference reachable from `start` whose name
        is computed at render time, or None."""
        for name in self.paths(start):
            for ref in self.refs(name):
                if ref.dynamic:
                    tag = "extends" if ref.kind == "extends" else ref.kind.rstrip("s")
                    return f"{name}:{ref.line}: {{% {tag} %}}"
        return None


def _short(name: str) -> str:
    return name.removesuffix(".jinja") if _VERSION.match(name) else name


def _explain(changed: str, verb: str, path: list[tuple[str, str, str]]) -> str:
    steps = ", ".join(f"{_short(a)} {kind} {_short(b)}" for a, kind, b in path)
    return f"{changed} {verb}" + (f"; {steps}" if steps else "")


def why_affected(graph: Graph, version: str, changed: dict[str, str]) -> str | None:
    """Why `version` is affected by `changed` (name relative to the prompt folder -> git
    letter), or None when nothing it uses changed."""
    start = f"{version}.jinja"
    reachable = graph.paths(start)
    hits = [name for name in reachable if name in changed]
    if hits:
        first = min(hits, key=lambda n: len(reachable[n]))
        reason = _explain(first, _VERBS.get(changed[first], "changed"), reachable[first])
        others = sorted(set(hits) - {first})
        return reason + (f" (and {', '.join(others)}, which it also uses)" if others else "")
    name: str | None = start
    seen = set()
    while name is not None and name not in seen:  # the nearest sidecar in the extends chain
        seen.add(name)
        sidecar = name.removesuffix(".jinja") + SIDECAR_SUFFIX
        if sidecar in changed:
            reason = f"{sidecar} {_VERBS.get(changed[sidecar], 'changed')}"
            if name != start:
                reason += f"; {version} uses the demonstrations of {_short(name)}, which it extends"
            return reason
        if (graph.prompt_dir / sidecar).is_file():
            break  # this sidecar shadows every one further up
        name = graph.parent(name)
    where = graph.dynamic(start)
    if where is not None and changed:
        return (f"{where} names its template at render time (cannot be resolved statically), "
                f"and files under {graph.prompt_dir.name}/ changed: {', '.join(sorted(changed))}")
    return None


def _rel(root: Path, path: Path) -> str:
    return Path(os.path.normpath(os.path.relpath(path, root))).as_posix()


def _version_names(files: list[str] | tuple[str, ...]) -> list[str]:
    found = [(int(m.group(1)), m.group(0)) for f in files if (m := _VERSION.match(f))]
    return [name.removesuffix(".jinja") for _, name in sorted(found)]


def affected_versions(root: Path, base: str) -> ChangeSet:
    """Every version of every task at `base` or in the working tree, each with its status
    (affected / new / deleted / not affected) and the reason."""
    commit = resolve_ref(root, base)
    heads = {name: load_task(root, name) for name in list_tasks(root)}
    datasets = {name: _rel(root, spec.dataset) for name, spec in heads.items()}
    folders = {"prompts", *(str(Path(d).parent.as_posix()) for d in datasets.values()
                            if not d.startswith("../"))}
    changes = changed_paths(root, commit, untracked_under=tuple(sorted(folders - {"."})))
    touched: dict[str, str] = {}
    for change in changes:
        if change.old_path is not None:
            touched[change.old_path] = "D"
        touched[change.path] = "A" if change.status == "R" else change.status
    base_files = list_at(root, commit, "prompts")
    base_tasks = sorted({m.group(1) for f in base_files if (m := _TASK_YAML.match(f))})

    versions: list[VersionChange] = []
    for name in sorted(set(heads) | set(base_tasks)):
        prefix = f"prompts/{name}/"
        in_task = {p[len(prefix):]: s for p, s in touched.items() if p.startswith(prefix)}
        at_base = _version_names([f[len(prefix):] for f in base_files if f.startswith(prefix)])
        if name not in heads:
            versions += [VersionChange(name, v, DELETED, f"task {name} removed "
                                       f"({prefix}task.yaml deleted)") for v in at_base]
            continue
        spec = heads[name]
        at_head = list_versions(spec)
        task_reason = None
        if "task.yaml" in in_task:
            task_reason = "task.yaml changed: every version of the task is affected"
        elif datasets[name] in touched:
            task_reason = (f"{datasets[name]} {_VERBS.get(touched[datasets[name]], 'changed')}: "
                           f"every version of the task is affected")
        graph = Graph(spec.prompt_dir, lambda n, d=spec.prompt_dir: _read_disk(d, n))
        for version in at_head:
            if name not in base_tasks:
                versions.append(VersionChange(name, version, NEW,
                                              f"new task ({prefix}task.yaml added): thresholds only"))
            elif version not in at_base:
                versions.append(VersionChange(name, version, NEW,
                                              f"{version}.jinja added: thresholds only"))
            elif task_reason:
                versions.append(VersionChange(name, version, AFFECTED, task_reason))
            elif (reason := why_affected(graph, version, in_task)) is not None:
                versions.append(VersionChange(name, version, AFFECTED, reason))
            else:
                versions.append(VersionChange(name, version, UNAFFECTED,
                                              "nothing it uses changed"))
        base_graph = Graph(spec.prompt_dir, lambda n, p=prefix: _read_git(root, commit, p + n),
                           strict=False)
        for version in at_base:
            if version not in at_head:
                parent = base_graph.parent(f"{version}.jinja")
                extra = f" (it extended {_short(parent)})" if parent else ""
                versions.append(VersionChange(name, version, DELETED,
                                              f"{version}.jinja deleted{extra}"))
    order = {v: i for i, v in enumerate(sorted({c.task for c in versions}))}
    versions.sort(key=lambda c: (order[c.task], int(c.version[1:])))
    return ChangeSet(base=commit, changes=changes, versions=tuple(versions))


def _read_disk(prompt_dir: Path, name: str) -> str | None:
    path = prompt_dir / name
    return path.read_text(encoding="utf-8") if path.is_file() else None


def _read_git(root: Path, commit: str, path: str) -> str | None:
    blob = read_at(root, commit, path)
    return None if blob is None else blob.decode("utf-8", "replace")

"""The Markdown summary of a `harness ci` run, written to be posted as a PR comment as is
(and appended to $GITHUB_STEP_SUMMARY). Every piece of dataset text, label, id or name is
escaped: it can hold `|`, backticks, `<script>`, `@mentions` or `$math$`, and must stay text."""

from __future__ import annotations

import re

from harness.ci.records import (ERROR, FAIL, NEW, PASS, REPORTED, CheckLine, CiReport,
                                CriticalLine, FlipLine, VersionVerdict)

MAX_FLIPS = 10
MAX_CRITICAL = 10
MAX_TEXT = 160
ICONS = {PASS: "✅", FAIL: "❌", ERROR: "⚠️", REPORTED: "ℹ️"}
WORDS = {PASS: "pass", FAIL: "fail", ERROR: "error", REPORTED: "reported, not gated (retired)"}

# Characters Markdown (GitHub flavoured) or HTML would act on; written as numeric character
# references, which CommonMark shows literally and never parses as markup (a `&#124;` does not
# split a table cell). `@` and `#` keep dataset text from pinging people or linking issues,
# `$` from being rendered as math, `:` from becoming an emoji.
_SPECIAL = set("&<>|`*_[]\\~@#!:$")
_BLANKS = re.compile(r"[\s\x00-\x1f\x7f-\x9f]+")


def md(text: object, limit: int | None = None) -> str:
    """`text` as one line of literal Markdown inline text, cut to `limit` characters."""
    line = _BLANKS.sub(" ", str(text)).strip()
    if limit is not None and len(line) > limit:
        line = line[: limit - 1].rstrip() + "…"
    return "".join(f"&#{ord(c)};" if c in _SPECIAL else c for c in line)


def _num(value: float | None, signed: bool = False) -> str:
    if value is None:
        return ""
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def _pvalue(check: CheckLine) -> str:
    if check.pvalue is None:
        return ""
    p = "<0.001" if check.pvalue < 0.001 else f"{check.pvalue:.3f}"
    return f"{p} ({md(check.test)})" if check.test else p


def _rule(check: CheckLine) -> str:
    if check.kind == "threshold" and check.threshold is not None:
        return f"≥ {check.threshold:.3f}"
    if check.tolerance is not None:
        return f"drop ≤ {check.tolerance:.3f}"
    return ""


def _result(check: CheckLine) -> str:
    if not check.gated:
        return "not gated"
    return "✅ pass" if check.passed else "❌ fail"


def _checks(checks: tuple[CheckLine, ...]) -> list[str]:
    lines = ["| check | base | head | change [95% CI] | p-value | rule | result |",
             "|---|---:|---:|---|---:|---|---|"]
    for c in checks:
        change = _num(c.delta, signed=True)
        if change and c.low is not None and c.high is not None:
            change += f" [{_num(c.low, True)}, {_num(c.high, True)}]"
        lines.append(f"| {md(c.name)} | {_num(c.before)} | {_num(c.value)} | {change} | "
                     f"{_pvalue(c)} | {_rule(c)} | {_result(c)} |")
    return lines


def _label(value: str | None) -> str:
    return "*(error)*" if value is None else md(value)


def _confidence(before: float | None, after: float | None) -> str:
    if before is None and after is None:
        return ""
    return f"{_num(before) or '–'} → {_num(after) or '–'}"


def _flips(flips: tuple[FlipLine, ...], cap: int) -> list[str]:
    broken = sum(not f.fixed for f in flips)
    lines = [f"**Flipped examples**: {broken} broken, {len(flips) - broken} fixed", "",
             "| | id | text | expected | base → head | confidence |",
             "|---|---|---|---|---|---|"]
    # Broken first: they are what a reviewer has to look at.
    for f in sorted(flips, key=lambda f: f.fixed)[:cap]:
        lines.append(f"| {'fixed' if f.fixed else '**broken**'} | {md(f.example_id, 60)} | "
                     f"{md(f.text, MAX_TEXT)} | {md(f.expected)} | "
                     f"{_label(f.before)} → {_label(f.after)} | "
                     f"{_confidence(f.confidence_before, f.confidence_after)} |")
    if len(flips) > cap:
        lines += ["", f"… and {len(flips) - cap} more"]
    return lines


def _critical(cases: tuple[CriticalLine, ...], cap: int) -> list[str]:
    failing = [c for c in cases if not c.passed]
    known = sum(c.known_failure for c in failing)
    head = f"**Critical cases**: {len(cases) - len(failing)} of {len(cases)} pass"
    if known:
        head += f" ({known} known failure{'s' if known != 1 else ''}, failing at base too)"
    if not failing:
        return [head]
    lines = [head, "", "| id | text | expected | base | head | confidence | result |",
             "|---|---|---|---|---|---:|---|"]
    failing.sort(key=lambda c: c.known_failure)  # new failures first
    for c in failing[:cap]:
        result = "known failure" if c.known_failure else "❌ fail"
        base = "" if c.before is None else md(c.before)
        lines.append(f"| {md(c.example_id, 60)} | {md(c.text, MAX_TEXT)} | {md(c.expected)} | "
                     f"{base} | {_label(c.predicted)} | {_num(c.confidence)} | {result} |")
    if len(failing) > cap:
        lines += ["", f"… and {len(failing) - cap} more failing"]
    return lines


def _version(v: VersionVerdict, max_flips: int, max_critical: int) -> list[str]:
    what = "new version, thresholds only" if v.change == NEW else "base vs head"
    lines = [f"### {ICONS.get(v.status, '')} {md(v.id)}: {WORDS.get(v.status, md(v.status))}", ""]
    facts = [md(what)]
    if v.why:
        facts.append(f"evaluated because {md(v.why)}")
    if v.examples:
        facts.append(f"{v.examples} examples, {v.model_calls} model calls")
    lines += [" · ".join(facts), ""]
    if v.reasons:
        lines += [f"- {md(r)}" for r in v.reasons] + [""]
    if v.checks:
        lines += _checks(v.checks) + [""]
    if v.notes:
        for note in v.notes:
            lines += [f"> **Note**: {md(note)}", ""]
    if v.flips:
        lines += _flips(v.flips, max_flips) + [""]
    if v.critical:
        lines += _critical(v.critical, max_critical) + [""]
    return lines


def _headline(report: CiReport) -> str:
    counts: dict[str, int] = {}
    for v in report.verdicts:
        counts[v.status] = counts.get(v.status, 0) + 1
    done = {FAIL: "failed", ERROR: "errored", PASS: "passed", REPORTED: "reported"}
    parts = [f"{counts[s]} {done[s]}" for s in done if counts.get(s)]
    if report.unaffected:
        parts.append(f"{len(report.unaffected)} not affected")
    if report.deleted:
        parts.append(f"{len(report.deleted)} deleted")
    return (f"## {ICONS[report.status]} Prompt gate: {' · '.join(parts) or 'no prompt versions'}")


def markdown_summary(report: CiReport, *, max_flips: int = MAX_FLIPS,
                     max_critical: int = MAX_CRITICAL) -> str:
    """The whole summary; flips and failing critical cases capped per version."""
    head = f"`{report.head[:12]}`" if report.head else "the working tree"
    if report.head and report.dirty:
        head += " with uncommitted changes"
    run = [f"model {md(report.model)}" if report.model else "",
           f"mode {md(report.mode)}" if report.mode else "",
           f"split {md(report.split)}" if report.split else "",
           f"limit {report.limit}" if report.limit is not None else ""]
    spec = ", ".join(p for p in run if p)
    lines = [_headline(report), "",
             f"Base `{report.base[:12]}` ({md(report.base_label)}) → head {head}."
             + (f" {spec[0].upper()}{spec[1:]}." if spec else ""), ""]
    for error in report.errors:
        lines += [f"- ⚠️ {md(error)}"]
    if report.errors:
        lines.append("")
    if not report.verdicts:
        lines += ["No prompt version is affected by this change: nothing was evaluated.", ""]
    for verdict in report.verdicts:
        lines += _version(verdict, max_flips, max_critical)
    if report.unaffected:
        names = ", ".join(md(v.id) for v in report.unaffected)
        lines += [f"**Not affected** (0 model calls): {names}", ""]
    if report.deleted:
        lines += ["**Deleted versions**:", ""]
        lines += [f"- {md(v.id)}: {md(v.reason)}" for v in report.deleted] + [""]
    return "\n".join(lines).rstrip() + "\n"

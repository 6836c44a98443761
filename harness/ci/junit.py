"""JUnit XML for CI test views: one testsuite per evaluated version, a testcase per gate check
and per critical case; unaffected and deleted versions as skipped testcases. The layout follows
the common (Jenkins) junit-10 schema; every text is XML-escaped, and characters XML 1.0 cannot
hold at all (control characters) are written as `\\xNN`."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from harness.ci.records import (ERROR, FAIL, CheckLine, CiReport, CriticalLine, FlipLine,
                                VersionChange, VersionVerdict)

MAX_FLIPS = 200  # in system-out; a CI log view is not the place for thousands of rows
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(text: object) -> str:
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))


def _el(parent: ET.Element, tag: str, text: str | None = None, **attrs: object) -> ET.Element:
    node = ET.SubElement(parent, tag, {k: xml_text(v) for k, v in attrs.items()})
    if text:
        node.text = xml_text(text)
    return node


def _f(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def _check_text(c: CheckLine) -> str:
    if c.kind == "threshold":
        text = f"{c.name} = {_f(c.value)}, threshold {_f(c.threshold)}"
    else:
        text = f"{c.name}: base {_f(c.before)} -> head {_f(c.value)}"
        if c.delta is not None:
            text += f", change {c.delta:+.3f}"
            if c.low is not None and c.high is not None:
                text += f" (95% CI {c.low:+.3f} .. {c.high:+.3f})"
        if c.pvalue is not None:
            text += f", p = {c.pvalue:.4g}" + (f" ({c.test})" if c.test else "")
        if c.tolerance is not None:
            text += f", tolerance {c.tolerance:.3f}"
    return f"{text}: {c.detail}" if c.detail else text


def _flip_text(f: FlipLine) -> str:
    kind = "fixed" if f.fixed else "broken"
    return (f"{kind} {f.example_id}: expected {f.expected}, {f.before or '(error)'} -> "
            f"{f.after or '(error)'} (confidence {_f(f.confidence_before)} -> "
            f"{_f(f.confidence_after)}): {f.text}")


def _case(suite: ET.Element, classname: str, name: str) -> ET.Element:
    return _el(suite, "testcase", name=name, classname=classname, time="0")


def _critical(suite: ET.Element, classname: str, c: CriticalLine) -> tuple[int, int]:
    case = _case(suite, f"{classname}.critical", c.example_id)
    if c.passed:
        return 0, 0
    message = (f"critical case {c.example_id}: expected {c.expected}, got "
               f"{c.predicted or '(error)'}"
               + (f" (confidence {c.confidence:.3f})" if c.confidence is not None else ""))
    body = "\n".join(p for p in (message, f"base: {c.before}" if c.before else "", c.detail,
                                 f"text: {c.text}" if c.text else "") if p)
    if c.known_failure:
        _el(case, "skipped", message=f"known failure (failed at base too): {message}")
        return 0, 1
    _el(case, "failure", body, message=message, type="critical")
    return 1, 0


def _suite(root: ET.Element, v: VersionVerdict) -> tuple[int, int, int, int]:
    suite = _el(root, "testsuite", name=v.id, tests="0", failures="0", errors="0", skipped="0",
                time=f"{v.duration_s:.3f}")
    props = _el(suite, "properties")
    _el(props, "property", name="change", value=v.change)
    if v.why:
        _el(props, "property", name="why", value=v.why)
    classname = f"{v.task}.{v.version}"
    tests = failures = errors = skipped = 0
    if v.status == ERROR:  # the evaluation itself failed: one error testcase says why
        case = _case(suite, classname, "evaluation")
        message = "; ".join(v.reasons) or "evaluation failed"
        _el(case, "error", "\n".join(v.reasons) or message, message=message, type="error")
        tests, errors = 1, 1
    for c in v.checks:
        tests += 1
        name = (f"{c.name} >= {_f(c.threshold)}" if c.kind == "threshold"
                else f"{c.name} vs base")
        case = _case(suite, classname, name)
        if not c.gated:
            _el(case, "skipped", message=f"not gated: {_check_text(c)}")
            skipped += 1
        elif not c.passed:
            text = _check_text(c)
            body = "\n".join([text, *(_flip_text(f) for f in v.flips[:MAX_FLIPS])]
                             if c.kind == "paired" else [text])
            _el(case, "failure", body, message=text, type=c.kind)
            failures += 1
    if v.status == FAIL and not any(not c.passed and c.gated for c in v.checks) and \
            not any(not c.passed and not c.known_failure for c in v.critical):
        # A failing verdict must show as a failure even if no single check carries it.
        tests += 1
        failures += 1
        message = "; ".join(v.reasons) or "gate failed"
        _el(_case(suite, classname, "gate"), "failure", message, message=message, type="gate")
    for c in v.critical:
        tests += 1
        failed, known = _critical(suite, classname, c)
        failures += failed
        skipped += known
    out = [*v.reasons, *v.notes]
    if v.flips:
        out.append(f"{len(v.flips)} flipped examples"
                   + (f" (first {MAX_FLIPS})" if len(v.flips) > MAX_FLIPS else "") + ":")
        out += [_flip_text(f) for f in v.flips[:MAX_FLIPS]]
    if out:
        _el(suite, "system-out", "\n".join(out))
    suite.set("tests", str(tests))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    suite.set("skipped", str(skipped))
    return tests, failures, errors, skipped


def _listed(root: ET.Element, name: str, versions: tuple[VersionChange, ...], why: str) -> tuple[int, int, int, int]:
    suite = _el(root, "testsuite", name=name, tests=str(len(versions)), failures="0",
                errors="0", skipped=str(len(versions)), time="0")
    for v in versions:
        _el(_case(suite, f"{v.task}.{v.version}", why), "skipped", message=v.reason)
    return len(versions), 0, 0, len(versions)


def junit_xml(report: CiReport) -> str:
    """The whole JUnit document, as text (UTF-8 with its XML declaration)."""
    root = ET.Element("testsuites", name="harness ci")
    totals = [0, 0, 0, 0]  # tests, failures, errors, skipped (the last only per testsuite)
    parts = [_suite(root, v) for v in report.verdicts]
    if report.errors:
        suite = _el(root, "testsuite", name="harness ci", tests=str(len(report.errors)),
                    failures="0", errors=str(len(report.errors)), skipped="0", time="0")
        for i, error in enumerate(report.errors, 1):
            _el(_case(suite, "harness.ci", f"infrastructure {i}"), "error", error,
                message=error, type="infrastructure")
        parts.append((len(report.errors), 0, len(report.errors), 0))
    if report.unaffected:
        parts.append(_listed(root, "not affected", report.unaffected, "not affected"))
    if report.deleted:
        parts.append(_listed(root, "deleted", report.deleted, "deleted"))
    for part in parts:
        totals = [a + b for a, b in zip(totals, part)]
    root.set("tests", str(totals[0]))
    root.set("failures", str(totals[1]))
    root.set("errors", str(totals[2]))
    root.set("time", f"{sum(v.duration_s for v in report.verdicts):.3f}")
    ET.indent(root)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")
            + "\n")


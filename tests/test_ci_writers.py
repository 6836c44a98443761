"""The Markdown summary and the JUnit XML on constructed records: structure, escaping, caps."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from harness.ci.junit import junit_xml, xml_text
from harness.ci.records import (AFFECTED, DELETED, ERROR, FAIL, NEW, PASS, REPORTED, UNAFFECTED,
                                CheckLine, CiReport, CriticalLine, FlipLine, VersionChange,
                                VersionVerdict)
from harness.ci.summary import markdown_summary, md

NASTY = "a|b `code` <script>alert(1)</script> @octocat #12 $x$ *bold* [l](http://e) :+1:\nnext"


def flips(n: int, broken: int) -> tuple[FlipLine, ...]:
    return tuple(FlipLine(f"ex-{i}", f"text {i} {NASTY}", "Objective",
                          "Objective" if i < broken else "Subjective",
                          "Subjective" if i < broken else "Objective", fixed=i >= broken,
                          confidence_before=0.7, confidence_after=0.6) for i in range(n))


def failing() -> VersionVerdict:
    return VersionVerdict(
        task="subjectivity", version="v2", status=FAIL, change=AFFECTED,
        why="v1.jinja changed; v2 extends v1",
        reasons=("macro_f1 dropped 0.080 (tolerance 0.050), p = 0.012",),
        checks=(
            CheckLine("macro_f1", "paired", False, value=0.46, before=0.54, tolerance=0.05,
                      delta=-0.08, low=-0.13, high=-0.02, pvalue=0.012, test="McNemar exact",
                      detail="drop beyond tolerance and unlikely to be noise"),
            CheckLine("recall[Objective]", "threshold", True, value=0.31, threshold=0.25),
            CheckLine("accuracy", "paired", True, value=0.55, before=0.56, delta=-0.01,
                      gated=False)),
        flips=flips(14, broken=12),
        notes=("power: at n = 86 a drop of 0.05 is detected with probability 0.31",),
        critical=(CriticalLine("c1", True, "Objective", "Objective"),
                  CriticalLine("c2", False, "Objective", "Subjective", text=NASTY,
                               confidence=0.81, before="Objective"),
                  CriticalLine("c3", False, "Subjective", "Objective", known_failure=True,
                               before="Objective")),
        examples=86, model_calls=12, duration_s=3.5)


def report(**changes) -> CiReport:
    fields = dict(
        base="0123456789abcdef0123", base_label="merge-base of HEAD and origin/main",
        head="fedcba9876543210fedc",
        verdicts=(failing(),
                  VersionVerdict("tickets", "v3", PASS, change=NEW, why="v3.jinja added",
                                 checks=(CheckLine("macro_f1", "threshold", True, value=0.4,
                                                   threshold=0.3),)),
                  VersionVerdict("tickets", "v1", REPORTED,
                                 checks=(CheckLine("macro_f1", "paired", False, value=0.2,
                                                   before=0.3, delta=-0.1, gated=False),))),
        unaffected=(VersionChange("subjectivity", "v1", UNAFFECTED, "nothing it uses changed"),
                    VersionChange("tickets", "v2", UNAFFECTED, "nothing it uses changed")),
        deleted=(VersionChange("tickets", "v4", DELETED, "v4.jinja deleted (it extended v2)"),),
        model="local", mode="score", split="test", limit=50)
    fields.update(changes)
    return CiReport(**fields)


def table_rows(text: str, header: str) -> list[list[str]]:
    """The cells of the Markdown table whose header row starts with `header`, split the way
    GitHub splits them (on unescaped pipes)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]])
    return rows


def test_md_escapes_everything_markdown_or_html_would_act_on() -> None:
    out = md(NASTY)
    bare = re.sub(r"&#\d+;", "", out)  # what is left once the references are taken out
    for raw in ("|", "`", "<", ">", "@", "#", "$", "*", "[", "]", ":", "&", "\n"):
        assert raw not in bare
    assert bare == "ab code scriptalert(1)/script octocat 12 x bold l(http//e) +1 next"
    assert "&#124;" in out and "&#96;" in out and "&#60;script&#62;" in out and "&#64;" in out
    assert md("x" * 300, limit=20) == "x" * 19 + "…"
    assert md("tab\there\r\nand\x00nul") == "tab here and nul"


def test_summary_structure() -> None:
    text = markdown_summary(report())
    assert text.startswith("## ❌ Prompt gate: 1 failed · 1 passed · 1 reported · 2 not affected · "
                           "1 deleted\n")
    assert "Base `0123456789ab` (merge-base of HEAD and origin/main) → head `fedcba987654`. " \
           "Model local, mode score, split test, limit 50." in text
    assert "### ❌ subjectivity/v2: fail" in text
    assert "evaluated because v1.jinja changed; v2 extends v1 · 86 examples, 12 model calls" in text
    checks = table_rows(text, "| check |")
    assert checks[0] == ["macro&#95;f1", "0.540", "0.460", "-0.080 [-0.130, -0.020]",
                         "0.012 (McNemar exact)", "drop ≤ 0.050", "❌ fail"]
    assert checks[1][0] == "recall&#91;Objective&#93;" and checks[1][5:] == ["≥ 0.250", "✅ pass"]
    assert checks[2][-1] == "not gated"
    assert "> **Note**: power&#58; at n = 86" in text
    assert "### ✅ tickets/v3: pass" in text and "new version, thresholds only" in text
    assert "### ℹ️ tickets/v1: reported, not gated (retired)" in text
    assert "**Not affected** (0 model calls): subjectivity/v1, tickets/v2" in text
    assert "- tickets/v4: v4.jinja deleted (it extended v2)" in text


def test_summary_flips_are_capped_escaped_and_broken_first() -> None:
    text = markdown_summary(report(), max_flips=10)
    assert "**Flipped examples**: 12 broken, 2 fixed" in text
    rows = table_rows(text, "| | id | text |")
    assert len(rows) == 10 and all(len(r) == 6 for r in rows)  # no pipe in the text split a cell
    assert [r[0] for r in rows] == ["**broken**"] * 10
    assert "… and 4 more" in text
    assert rows[0][2].startswith("text 0 a&#124;b &#96;code&#96; &#60;script&#62;")
    assert rows[0][4] == "Objective → Subjective" and rows[0][5] == "0.700 → 0.600"
    assert "<script>" not in text and "@octocat" not in text and "`code`" not in text
    assert len(table_rows(markdown_summary(report(), max_flips=3), "| | id | text |")) == 3


def test_summary_critical_cases_show_failures_new_first() -> None:
    text = markdown_summary(report())
    assert "**Critical cases**: 1 of 3 pass (1 known failure, failing at base too)" in text
    rows = table_rows(text, "| id | text | expected | base |")
    assert [r[0] for r in rows] == ["c2", "c3"]
    assert rows[0][3:] == ["Objective", "Subjective", "0.810", "❌ fail"]
    assert rows[1][-1] == "known failure"
    many = tuple(CriticalLine(f"k{i}", False, "A", "B") for i in range(13))
    verdict = VersionVerdict("t", "v1", FAIL, critical=many)
    capped = markdown_summary(report(verdicts=(verdict,)), max_critical=10)
    assert len(table_rows(capped, "| id | text |")) == 10 and "… and 3 more failing" in capped


def test_summary_of_a_change_that_affects_nothing() -> None:
    text = markdown_summary(report(verdicts=(), deleted=(), limit=None, head=None))
    assert text.startswith("## ✅ Prompt gate: 2 not affected\n")
    assert "→ head the working tree." in text and "limit" not in text
    assert "nothing was evaluated" in text


def test_summary_errors_are_listed_and_set_the_status() -> None:
    errored = VersionVerdict("t", "v1", ERROR, reasons=("3 model calls failed",))
    text = markdown_summary(report(verdicts=(errored,), errors=("cache <dir> unwritable",)))
    assert text.startswith("## ⚠️ Prompt gate: 1 errored")
    assert "- ⚠️ cache &#60;dir&#62; unwritable" in text and "- 3 model calls failed" in text
    assert report(verdicts=(errored,)).status == ERROR
    assert report().status == FAIL
    assert report(verdicts=()).status == PASS


def parse(xml: str) -> ET.Element:
    assert xml.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    return ET.fromstring(xml.encode("utf-8"))


def cases(suite: ET.Element) -> dict[str, ET.Element]:
    return {c.get("name"): c for c in suite.findall("testcase")}


def test_junit_structure_and_counts() -> None:
    root = parse(junit_xml(report()))
    assert root.tag == "testsuites"
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert list(suites) == ["subjectivity/v2", "tickets/v3", "tickets/v1", "not affected",
                            "deleted"]
    v2 = suites["subjectivity/v2"]
    found = cases(v2)
    assert list(found) == ["macro_f1 vs base", "recall[Objective] >= 0.250", "accuracy vs base",
                           "c1", "c2", "c3"]
    failure = found["macro_f1 vs base"].find("failure")
    assert failure is not None and failure.get("type") == "paired"
    assert "p = 0.012 (McNemar exact)" in failure.get("message")
    assert "broken ex-0" in failure.text  # the flips come with the failure
    assert found["recall[Objective] >= 0.250"].find("*") is None  # passed: empty testcase
    assert found["accuracy vs base"].find("skipped") is not None
    assert found["c2"].find("failure").get("type") == "critical"
    assert "known failure" in found["c3"].find("skipped").get("message")
    assert {c.get("classname") for c in v2.findall("testcase")} == {
        "subjectivity.v2", "subjectivity.v2.critical"}
    assert (v2.get("tests"), v2.get("failures"), v2.get("errors"), v2.get("skipped")) == \
        ("6", "2", "0", "2")
    assert v2.get("time") == "3.500"
    assert v2.find("properties/property[@name='why']").get("value") == \
        "v1.jinja changed; v2 extends v1"
    assert "14 flipped examples" in v2.find("system-out").text
    assert suites["tickets/v1"].get("failures") == "0"  # retired: reported, never a failure
    assert [c.find("skipped").get("message") for c in suites["deleted"].findall("testcase")] == \
        ["v4.jinja deleted (it extended v2)"]
    total = sum(int(s.get("tests")) for s in suites.values())
    assert root.get("tests") == str(total)
    assert root.get("failures") == str(sum(int(s.get("failures")) for s in suites.values()))


def test_junit_escapes_dataset_text_and_control_characters() -> None:
    evil = NASTY + " ]]> & \x00\x1b \ud800"
    verdict = VersionVerdict("t", "v1", FAIL, critical=(
        CriticalLine("c<1>", False, "A&B", "\"B\"", text=evil),))
    xml = junit_xml(report(verdicts=(verdict,)))
    root = parse(xml)  # parses at all: escaped, no control character left raw
    case = root.find("testsuite/testcase")
    assert case.get("name") == "c<1>"
    failure = case.find("failure")
    assert "expected A&B, got \"B\"" in failure.get("message")
    assert "<script>alert(1)</script>" in failure.text and "]]> &" in failure.text
    assert "\\x00\\x1b \\xd800" in failure.text
    assert xml_text("ok\tline\n") == "ok\tline\n"


def test_junit_errors_and_a_failing_verdict_without_a_failing_check() -> None:
    errored = VersionVerdict("t", "v1", ERROR, reasons=("3 model calls failed",))
    odd = VersionVerdict("t", "v2", FAIL, reasons=("baseline unreadable",))
    root = parse(junit_xml(report(verdicts=(errored, odd), errors=("disk full",),
                                  unaffected=(), deleted=())))
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    error = suites["t/v1"].find("testcase/error")
    assert error.get("message") == "3 model calls failed" and suites["t/v1"].get("errors") == "1"
    gate = cases(suites["t/v2"])["gate"].find("failure")
    assert gate.get("message") == "baseline unreadable"
    assert suites["harness ci"].find("testcase/error").get("type") == "infrastructure"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("3", "1", "2")


@pytest.mark.parametrize("status", [PASS, FAIL, ERROR, REPORTED])
def test_every_status_renders(status: str) -> None:
    verdict = VersionVerdict("t", "v1", status)
    assert "t/v1" in markdown_summary(report(verdicts=(verdict,)))
    parse(junit_xml(report(verdicts=(verdict,))))

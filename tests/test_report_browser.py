"""Open generated reports in real headless Chromium: the sections are there after the page's own
JavaScript ran, nothing is logged to the console, and a screenshot is saved.

Skips (with the reason) when chromium is not installed; `.ci/run` installs it.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

from harness.report import write_comparison, write_index
from tests.browser import CHROMIUM, SKIP_REASON, Browser
from tests.report_helpers import synthetic_result, train_examples, write_synthetic_report
from tests.test_matrix import matrix_project, run_matrix  # noqa: F401 - the fixture

# Every test that needs Chromium is in this module (the matrix page's too). Under `pytest -n N`
# one worker runs them all: one Chromium start and one `reports` fixture (two 300-example runs).
# The harness plugin makes `-n N` schedule by `xdist_group` (tests/test_xdist_groups.py); until
# session 10 it did not, and xdist split this module between the workers.
pytestmark = [pytest.mark.skipif(CHROMIUM is None, reason=SKIP_REASON),
              pytest.mark.xdist_group("chromium")]

TEXTS = ["<script>alert(1)</script> and </td> here", "The box weighs 2 kg.", "I love it."]


def open_page(browser: Browser, path: Path) -> tuple[str, list[str]]:
    """(the DOM after scripts ran, what the page reported: console, exceptions, browser log)."""
    page = browser.open(path.as_uri())
    return page.dom, page.messages


def screenshot(browser: Browser, url: str, path: Path, *, width: int, height: int) -> Path:
    shot = browser.open(url, width=width, height=height, screenshot=True).screenshot
    assert shot is not None and shot[:8] == b"\x89PNG\r\n\x1a\n"
    path.write_bytes(shot)
    return path


def chart_boxes(browser: Browser, page: Path, tmp_path: Path) -> dict[str, tuple[float, float]]:
    """{svg id: (width, height)} as Chromium lays the page out: a copy of the page with a
    script at the end that writes every <svg>'s box into the DOM."""
    probe = ("<script>document.body.dataset.boxes = JSON.stringify([...document.querySelectorAll("
             "'svg')].map(s => { const r = s.getBoundingClientRect(); "
             "return [s.id, r.width, r.height]; }));</script></body>")
    copy = tmp_path / f"boxes-{page.parent.name}-{page.name}"
    copy.write_text(page.read_text(encoding="utf-8").replace("</body>", probe), encoding="utf-8")
    dom, messages = open_page(browser, copy)
    assert messages == []
    found = re.search(r'data-boxes="([^"]*)"', dom)
    assert found, "the probe did not run"
    boxes = json.loads(html.unescape(found.group(1)))
    return {name: (width, height) for name, width, height in boxes}


def test_console_scan_catches_a_page_error(browser, tmp_path):
    """The check below can fail: a page with a script error, a console call or a failed load
    is caught."""
    page = tmp_path / "broken.html"
    page.write_text('<html><body><img src="missing.png"><script>console.warn("careful");'
                    "notDefined();</script></body></html>")
    _, messages = open_page(browser, page)
    assert any("notDefined" in m for m in messages), messages
    assert "console.warning: careful" in messages
    assert any("missing.png" in m for m in messages), messages


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("browser")
    root = tmp / "reports"
    v1 = write_synthetic_report(root, synthetic_result(tmp, 300, texts=TEXTS),
                                train_examples(TEXTS))
    v2 = write_synthetic_report(root, synthetic_result(
        tmp, 300, texts=TEXTS, version="v2", accuracy=0.85,
        started_at="2026-01-02T00:00:00+00:00"))
    return {"run": v1 / "index.html", "compare": write_comparison(root, [v1, v2]),
            "index": write_index(root)}


def test_run_report_renders_without_console_errors(browser, reports, tmp_path):
    dom, messages = open_page(browser, reports["run"])
    assert messages == []
    assert re.search(r'<table id="metrics">.*?<td>Objective</td>', dom, re.S)
    # The confusion table is the heatmap: each cell shaded by its share of the row.
    assert re.search(r'<td class="cell diag hit" style="background: rgba\(26, 127, 55, 0\.[1-5]',
                     dom)
    assert re.search(r'<td class="cell off hit" style="background: rgba\(207, 34, 46, 0\.', dom)
    assert "<img" not in dom
    assert re.search(r'<table id="examples">.*?<tr class="wrong"', dom, re.S)
    # The page's script ran: it filled in the filter count (wrong answers only, by default).
    assert re.search(r'<span id="f-count" class="muted">\d+ of \d+ inlined rows shown</span>', dom)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom
    shot = screenshot(browser, reports["run"].as_uri(), tmp_path / "report.png", width=1280,
                      height=2400)
    assert shot.stat().st_size > 20_000
    print(f"screenshot: {shot}")


def test_the_svg_charts_are_laid_out_at_a_readable_size(browser, reports, tmp_path):
    """The inline charts get real boxes in the page (not collapsed to 0 by the flex row), side
    by side on a wide page, in their viewBox's proportions."""
    run = chart_boxes(browser, reports["run"], tmp_path)
    assert set(run) == {"reliability-image", "coverage-image"}
    for width, height in run.values():
        assert 300 < width <= 442 and abs(height / width - 340 / 440) < 0.02
    (trend, (width, height)), = chart_boxes(browser, reports["index"], tmp_path).items()
    assert trend == "trend-demo" and 300 < width <= 722 and abs(height / width - 300 / 720) < 0.02


@pytest.mark.parametrize("page", ["compare", "index"])
def test_compare_and_index_render_without_console_errors(browser, reports, page):
    dom, messages = open_page(browser, reports[page])
    assert messages == []
    assert 'id="runs"' in dom


def test_a_confusion_cell_link_shows_exactly_that_cells_examples(browser, reports):
    html = reports["run"].read_text()
    href = re.search(r'href="(#cell=Objective&amp;Subjective)"', html).group(1).replace("&amp;", "&")
    in_cell = html.count('data-expected="Objective" data-predicted="Subjective" data-correct')
    assert in_cell > 0
    shown_page = browser.open(reports["run"].as_uri() + href)
    dom, messages = shown_page.dom, shown_page.messages
    assert messages == []
    assert re.search(rf'<span id="f-count" class="muted">{in_cell} of \d+ inlined rows shown', dom)
    visible = re.findall(r'<tr class="\w+" data-expected="(\w+)" data-predicted="(\w+)"'
                         r'[^>]*?(hidden="")?>', dom)
    shown = {(e, p) for e, p, hidden in visible if not hidden}
    assert shown == {("Objective", "Subjective")}


def test_matrix_page_in_headless_chromium(browser, matrix_project, capsys, tmp_path):
    root, (cheap, _), (dear, _) = matrix_project
    assert run_matrix(root, cheap, dear) == 0
    page = root / re.search(r"page: (\S+)", capsys.readouterr().out).group(1)
    dom, messages = open_page(browser, page)
    assert messages == []
    for section in ('id="cells"', 'id="classical"', 'id="pareto-image"'):
        assert section in dom, section
    assert dom.count("<tr class=\"front\"") >= 1 and dom.count("data-strategy=") == 6
    (width, height), = chart_boxes(browser, page, tmp_path).values()
    assert 400 < width <= 722 and height > 200
    shot = screenshot(browser, page.as_uri(), tmp_path / "matrix.png", width=1200, height=1400)
    assert shot.stat().st_size > 10_000
    # Every cell's run report link resolves.
    for link in re.findall(r'href="([^"]+/index.html)"', dom):
        assert (page.parent / link).resolve().is_file(), link

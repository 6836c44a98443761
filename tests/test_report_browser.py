"""Open generated reports in real headless Chromium: the sections are there after the page's own
JavaScript ran, nothing is logged to the console, and a screenshot is saved.

Skips (with the reason) when chromium is not installed; `.ci/run` installs it.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from harness.report import write_comparison, write_index
from tests.report_helpers import synthetic_result, train_examples, write_synthetic_report

CHROMIUM = next((p for p in (shutil.which("chromium"), shutil.which("chromium-browser"),
                             "/usr/bin/chromium") if p and os.path.exists(p)), None)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium not installed (Debian: apt-get install chromium); "
                             ".ci/run installs it")

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0"]
TEXTS = ["<script>alert(1)</script> and </td> here", "The box weighs 2 kg.", "I love it."]


def chromium(*args: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=120)


def console_messages(stderr: str) -> list[str]:
    """What the page wrote to the console, uncaught exceptions and failed loads included."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


def open_page(path: Path) -> tuple[str, list[str]]:
    """(the DOM after scripts ran, console messages)."""
    return open_page_at(path.as_uri())


def open_page_at(url: str) -> tuple[str, list[str]]:
    done = chromium("--dump-dom", url)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, console_messages(done.stderr)


def chart_boxes(page: Path, tmp_path: Path) -> dict[str, tuple[float, float]]:
    """{svg id: (width, height)} as Chromium lays the page out: a copy of the page with a
    script at the end that writes every <svg>'s box into the DOM."""
    probe = ("<script>document.body.dataset.boxes = JSON.stringify([...document.querySelectorAll("
             "'svg')].map(s => { const r = s.getBoundingClientRect(); "
             "return [s.id, r.width, r.height]; }));</script></body>")
    copy = tmp_path / f"boxes-{page.parent.name}-{page.name}"
    copy.write_text(page.read_text(encoding="utf-8").replace("</body>", probe), encoding="utf-8")
    dom, messages = open_page(copy)
    assert messages == []
    found = re.search(r'data-boxes="([^"]*)"', dom)
    assert found, "the probe did not run"
    boxes = json.loads(html.unescape(found.group(1)))
    return {name: (width, height) for name, width, height in boxes}


def test_console_scan_catches_a_page_error(tmp_path):
    """The check below can fail: a page with a script error is caught."""
    page = tmp_path / "broken.html"
    page.write_text("<html><body><script>notDefined();</script></body></html>")
    _, messages = open_page(page)
    assert any("notDefined" in m for m in messages)


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


def test_run_report_renders_without_console_errors(reports, tmp_path):
    dom, messages = open_page(reports["run"])
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
    shot = tmp_path / "report.png"
    done = chromium("--hide-scrollbars", "--window-size=1280,2400", f"--screenshot={shot}",
                    reports["run"].as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    print(f"screenshot: {shot}")


def test_the_svg_charts_are_laid_out_at_a_readable_size(reports, tmp_path):
    """The inline charts get real boxes in the page (not collapsed to 0 by the flex row), side
    by side on a wide page, in their viewBox's proportions."""
    run = chart_boxes(reports["run"], tmp_path)
    assert set(run) == {"reliability-image", "coverage-image"}
    for width, height in run.values():
        assert 300 < width <= 442 and abs(height / width - 340 / 440) < 0.02
    (trend, (width, height)), = chart_boxes(reports["index"], tmp_path).items()
    assert trend == "trend-demo" and 300 < width <= 722 and abs(height / width - 300 / 720) < 0.02


@pytest.mark.parametrize("page", ["compare", "index"])
def test_compare_and_index_render_without_console_errors(reports, page):
    dom, messages = open_page(reports[page])
    assert messages == []
    assert 'id="runs"' in dom


def test_a_confusion_cell_link_shows_exactly_that_cells_examples(reports):
    html = reports["run"].read_text()
    href = re.search(r'href="(#cell=Objective&amp;Subjective)"', html).group(1).replace("&amp;", "&")
    in_cell = html.count('data-expected="Objective" data-predicted="Subjective" data-correct')
    assert in_cell > 0
    dom, messages = open_page_at(reports["run"].as_uri() + href)
    assert messages == []
    assert re.search(rf'<span id="f-count" class="muted">{in_cell} of \d+ inlined rows shown', dom)
    visible = re.findall(r'<tr class="\w+" data-expected="(\w+)" data-predicted="(\w+)"'
                         r'[^>]*?(hidden="")?>', dom)
    shown = {(e, p) for e, p, hidden in visible if not hidden}
    assert shown == {("Objective", "Subjective")}

"""The report charts (harness/report/charts.py): well-formed SVG, every data text escaped, finite
coordinates in the edge cases (no bins, one point, equal times, zero cost). No browser, no model:
milliseconds."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from harness.report import charts
from harness.stats import Calibration, CalibrationBin, CoveragePoint

HOSTILE = "</script><svg onload=alert(1)>"
TEMPLATE_LIKE = "{{ x }}{% if 1 %}"
COORDINATES = {"x", "y", "x1", "x2", "y1", "y2", "cx", "cy", "r", "width", "height", "points",
               "d"}
T0 = datetime(2026, 1, 1, 9, 0, tzinfo=timezone.utc)


def parse(svg: str) -> ET.Element:
    """The markup parses as XML (so as SVG in HTML too), with the id, role and name a chart
    must have, and every coordinate a finite number."""
    root = ET.fromstring(svg)
    assert root.tag == "svg" and root.get("role") == "img" and root.get("aria-label")
    assert root.get("id") and root.get("width") == "100%" and "max-width" in root.get("style")
    assert re.fullmatch(r"0 0 \d+ \d+", root.get("viewBox"))
    assert root[0].tag == "title" and root[0].text == root.get("aria-label")
    for element in root.iter():
        for name, value in element.attrib.items():
            if name in COORDINATES:
                numbers = re.findall(r"-?\d+(?:\.\d+)?|[A-Za-z]+", value)
                assert all(n in "MVHhLZ" or math.isfinite(float(n)) for n in numbers), \
                    (element.tag, name, value)
                assert "nan" not in value.lower() and "inf" not in value.lower()
    return root


def by_class(root: ET.Element, css: str) -> list[ET.Element]:
    return [e for e in root.iter() if css in (e.get("class") or "").split()]


def texts(root: ET.Element) -> list[str]:
    return [e.text for e in root.iter("text") if e.text]


def points_of(polyline: ET.Element) -> list[tuple[float, float]]:
    return [tuple(map(float, p.split(","))) for p in polyline.get("points").split()]


def calibration(*bins: tuple[float, float, int, float, float]) -> Calibration:
    return Calibration(tuple(CalibrationBin(*b) for b in bins), ece=0.0421,
                       n=sum(b[2] for b in bins))


# --- shared pieces ------------------------------------------------------------------------------


def test_nice_ticks_are_round_and_cover_the_interval():
    assert charts.nice_ticks(0, 1) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert charts.nice_ticks(0, 118_000) == [0, 25_000, 50_000, 75_000, 100_000]
    assert charts.nice_ticks(0.5, 0.5) == [0.5]
    assert charts.nice_domain(0, 0) == (0.0, 1.0, [0.0, 0.2, 0.4, 0.6, 0.8, 1.0])
    low, high, ticks = charts.nice_domain(0.0, 0.0123)
    assert low == 0 and high >= 0.0123 and ticks[-1] == high and len(ticks) >= 3
    assert [t for _, t in charts.tick_labels([0, 0.25, 0.5])] == ["0.00", "0.25", "0.50"]
    assert [t for _, t in charts.tick_labels([0, 50_000.0])] == ["0", "50,000"]


def test_time_ticks_read_as_dates_or_times():
    start, week = charts.seconds(T0), charts.seconds(T0 + timedelta(days=6))
    day = [t for _, t in charts.time_ticks(start, week)]
    assert day and all(re.fullmatch(r"2026-01-0\d", t) for t in day) and len(day) <= 5
    hour = [t for _, t in charts.time_ticks(charts.seconds(T0), charts.seconds(T0) + 3600)]
    assert hour and all(re.fullmatch(r"01-01 \d\d:\d\d", t) for t in hour)
    naive = charts.seconds(T0.replace(tzinfo=None))  # run records are UTC
    assert naive == charts.seconds(T0)


def test_heat_shades_by_share_green_on_the_diagonal_red_off_it():
    assert charts.heat(0.0, False) == "transparent"
    assert charts.heat(1.0, True) == "rgba(26, 127, 55, 0.500)"
    assert charts.heat(0.5, False) == "rgba(207, 34, 46, 0.280)"
    assert charts.heat(0.0, True).startswith("rgba(26, 127, 55, 0.06")  # the diagonal stays visible
    assert charts.heat(float("nan"), False) == "transparent"
    assert charts.heat(7, True).endswith("0.500)")


# --- reliability --------------------------------------------------------------------------------


def test_reliability_has_one_bar_per_bin_with_its_count_and_the_diagonal():
    cal = calibration((0.5, 0.6, 12, 0.55, 0.5), (0.6, 0.7, 30, 0.66, 0.7),
                      (0.9, 1.0, 1234, 0.97, 0.99))
    root = parse(charts.reliability_chart(cal))
    assert root.get("id") == "reliability-image"
    bars = by_class(root, "bar")
    assert len(bars) == 3 and len(by_class(root, "dot")) == 3
    assert [e.text for e in by_class(root, "count")] == ["12", "30", "1234"]
    # Bars span their bins: widths in proportion (0.1 each) and heights ordered by accuracy.
    assert len({round(float(b.get("width")), 1) for b in bars}) == 1
    assert [float(b.get("height")) for b in bars] == sorted(float(b.get("height")) for b in bars)
    (diagonal,) = by_class(root, "diagonal")
    (x0, y0), (x1, y1) = points_of(diagonal)
    assert x0 < x1 and y0 > y1 and diagonal.get("stroke-dasharray")
    words = texts(root)
    assert "reliability (ECE 0.042; numbers: examples per bin)" in words
    assert {"confidence (top label probability)", "accuracy", "perfectly calibrated"} <= set(words)


def test_reliability_without_bins_still_draws_axes():
    root = parse(charts.reliability_chart(Calibration((), ece=0.0, n=0)))
    assert by_class(root, "bar") == [] and by_class(root, "diagonal")


# --- coverage -----------------------------------------------------------------------------------


def test_coverage_is_a_step_line_and_an_accept_all_level():
    curve = (CoveragePoint(0.9, 0.2, 1.0, 20), CoveragePoint(0.7, 0.6, 0.8, 60),
             CoveragePoint(0.5, 1.0, 0.7, 100))
    root = parse(charts.coverage_chart(curve, 0.7))
    assert root.get("id") == "coverage-image"
    (step,) = by_class(root, "step")
    pts = points_of(step)
    assert len(pts) == 2 * len(curve) - 1  # a hold then a jump between points
    assert all(a[0] <= b[0] for a, b in zip(pts, pts[1:]))
    (level,) = by_class(root, "accept-all")
    assert len({y for _, y in points_of(level)}) == 1
    assert "accept all (0.700)" in texts(root)


@pytest.mark.parametrize("curve", [(), (CoveragePoint(0.5, 1.0, 0.5, 4),),
                                   (CoveragePoint(0.5, float("nan"), 0.5, 4),)])
def test_coverage_of_no_point_or_one_point(curve):
    root = parse(charts.coverage_chart(curve, float("nan") if not curve else 0.5))
    assert len(by_class(root, "step")) == (1 if curve and curve[0].coverage == 1.0 else 0)


# --- trend --------------------------------------------------------------------------------------


def test_trend_has_a_line_per_version_and_a_legend():
    series = {"v1": [(T0 + timedelta(days=2), 0.6), (T0, 0.5)],
              "v2": [(T0 + timedelta(days=3), 0.8)]}
    root = parse(charts.trend_chart("subjectivity", "macro_f1", series))
    assert root.get("id") == "trend-subjectivity" and "trend" in root.get("class")
    groups = by_class(root, "series")
    assert [g[0].text for g in groups] == ["v1", "v2"]
    (line,) = groups[0].iter("polyline")
    assert len(points_of(line)) == 2 and points_of(line)[0][0] < points_of(line)[1][0]
    assert len(list(groups[1].iter("circle"))) == 1 and not list(groups[1].iter("polyline"))
    assert {"subjectivity: macro_f1 per run", "version", "v1", "v2"} <= set(texts(root))
    assert any(re.fullmatch(r"2026-01-0\d", t) for t in texts(root))


@pytest.mark.parametrize("series", [
    {"v1": [(T0, 0.5)]},  # a single run
    {"v1": [(T0, 0.5)], "v2": [(T0, 0.7)], "v3": [(T0, 0.9)]},  # every run at one time
    {"v1": [(T0.replace(tzinfo=None), 0.5), (T0.replace(tzinfo=None), float("nan"))]},
    {"v1": [(T0, float("nan"))]},  # nothing to draw
    {},
])
def test_trend_edge_cases_divide_by_nothing(series):
    root = parse(charts.trend_chart("t", "accuracy", series))
    assert len(by_class(root, "series")) == sum(
        any(math.isfinite(v) for _, v in points) for points in series.values())


def test_trend_with_many_versions_grows_to_hold_its_legend():
    series = {f"v{i} (generate, test) [few-shot:knn:4]": [(T0, i / 30)] for i in range(24)}
    root = parse(charts.trend_chart("t", "macro_f1", series))
    versions = [g[0].text for g in by_class(root, "series")]
    assert versions[:3] == ["v0 (generate, test) [few-shot:knn:4]",
                            "v1 (generate, test) [few-shot:knn:4]",
                            "v2 (generate, test) [few-shot:knn:4]"]  # v2 before v10
    (box,) = [e for e in root.iter("rect") if e.get("height") and e.get("rx")]  # the legend's
    height = int(root.get("viewBox").split()[3])
    assert float(box.get("y")) + float(box.get("height")) <= height
    assert float(box.get("x")) + float(box.get("width")) <= 720
    name = "v10 (generate, test) [few-shot:knn:4]"
    shown = charts.clip(name)
    assert shown.endswith("…") and shown in texts(root)  # shortened in the legend
    assert name in [e.text for e in root.iter("title")]  # whole in its tooltip


def test_trend_escapes_task_and_version_names():
    svg = charts.trend_chart(HOSTILE, TEMPLATE_LIKE,
                             {HOSTILE: [(T0, 0.5)], TEMPLATE_LIKE: [(T0, 0.6)]})
    assert "<svg onload" not in svg and "</script>" not in svg
    assert "&lt;/script&gt;&lt;svg onload=alert(1)&gt;" in svg
    root = parse(svg)
    assert re.fullmatch(r"trend-[A-Za-z0-9_-]+", root.get("id"))
    assert HOSTILE in root.get("aria-label")
    assert f"{HOSTILE}: {TEMPLATE_LIKE} per run" in texts(root)
    assert {g[0].text for g in by_class(root, "series")} == {HOSTILE, TEMPLATE_LIKE}


# --- pareto -------------------------------------------------------------------------------------


def pareto(points, reference=0.6):
    return charts.pareto_chart(points, x_label="tokens (prompt + completion)", y_label="macro_f1",
                               reference=reference, reference_label="classical TF-IDF baseline")


def test_pareto_front_line_joins_the_front_points_in_cost_order():
    points = [("dear · zero-shot", 900.0, 0.8, 0.7, 0.9, True),
              ("cheap · zero-shot", 100.0, 0.6, 0.5, 0.7, True),
              ("cheap · knn", 500.0, 0.55, 0.45, 0.65, False),
              ("mid · knn", 400.0, 0.7, 0.6, 0.8, True)]
    root = parse(pareto(points))
    assert root.get("id") == "pareto-image"
    cells = by_class(root, "cell")
    assert len(cells) == 4 and len(by_class(root, "front")) == 3 + 1  # 3 front cells + the line
    centres = {e[0].text.split(":")[0]: (float(c.get("cx")), float(c.get("cy")))
               for e in cells for c in e.iter("circle")}
    (line,) = [e for e in by_class(root, "front") if e.tag == "polyline"]
    assert points_of(line) == [centres["cheap · zero-shot"], centres["mid · knn"],
                               centres["dear · zero-shot"]]
    assert len(by_class(root, "interval")) == 4
    (reference,) = by_class(root, "reference")
    assert len({y for _, y in points_of(reference)}) == 1
    words = texts(root)
    assert {"dear · zero-shot", "cheap · knn", "Pareto front", "classical TF-IDF baseline",
            "tokens (prompt + completion)", "macro_f1"} <= set(words)


@pytest.mark.parametrize("points", [
    [("local · zero-shot", 0.0, 0.5, 0.4, 0.6, False), ("local · knn", 0.0, 0.6, 0.5, 0.7, True)],
    [("only", 0.0, 0.5, 0.5, 0.5, True)],
    [("only", 0.002, 0.5, float("nan"), float("nan"), True)],
    [("bad", float("nan"), 0.5, 0.4, 0.6, True)],
    [],
])
def test_pareto_with_zero_cost_one_point_or_none(points):
    root = parse(pareto(points, reference=None))
    assert len(by_class(root, "cell")) == sum(math.isfinite(p[1]) for p in points)
    assert by_class(root, "reference") == []
    assert not [e for e in by_class(root, "front") if e.tag == "polyline"]  # one front point


def test_pareto_escapes_model_and_strategy_names():
    name = f"{HOSTILE} · {TEMPLATE_LIKE}"
    svg = pareto([(name, 10.0, 0.5, 0.4, 0.6, True)])
    assert "<svg onload" not in svg and "</script>" not in svg
    root = parse(svg)
    assert by_class(root, "cell")[0][0].text.startswith(name)  # the point's tooltip: whole
    assert charts.clip(name, 40) in texts(root)  # its label: shortened, still text


def test_a_matrix_page_shows_hostile_names_as_text(tmp_path: Path):
    """End to end: the chart goes into the page as built (escaped once, never re-rendered as a
    template: `{{ x }}` stays literal)."""
    from harness.matrix import Cell, Matrix
    from harness.report.matrix import write_matrix_report
    cell = Cell(HOSTILE, TEMPLATE_LIKE, "", 0.5, 0.4, 0.6, 0.5, 10, 10, 100, 10, 1.0, 0.0, 0,
                pareto=True)
    html = write_matrix_report(tmp_path / "m.html", Matrix(
        "t", "v1", "test", 10, "macro_f1", (HOSTILE,), (TEMPLATE_LIKE,), (cell,), "tokens",
        None, "none")).read_text(encoding="utf-8")
    assert "<svg onload" not in html and "</script><" not in html
    chart = html[html.index('<svg id="pareto-image"'):]
    chart = chart[:chart.index("</svg>") + len("</svg>")]
    assert by_class(parse(chart), "cell")[0][0].text.startswith(f"{HOSTILE} · {TEMPLATE_LIKE}")


# --- trajectory (optimize report) ---------------------------------------------------------------


def test_trajectory_marks_every_evaluation_and_the_best_so_far():
    evaluations = [(0, 0.5, "start", True), (1, 0.6, "teacher", False), (1, 0.62, "knn", True),
                   (2, 0.55, HOSTILE, False)]
    root = parse(charts.trajectory_chart(evaluations, [(0, 0.5), (1, 0.62), (2, 0.62)],
                                         metric="macro_f1"))
    assert root.get("id") == "trajectory-image"
    assert len(by_class(root, "evaluation")) == 4
    (best,) = by_class(root, "best")
    assert len(points_of(best)) == 5
    assert {"0", "1", "2", "knn (validation)", "teacher (screen minibatch)",
            "best so far (validation)"} <= set(texts(root))
    assert f"{HOSTILE} (screen minibatch)" in "".join(e.text or "" for e in root.iter("title"))


def test_no_module_of_the_library_draws_with_matplotlib():
    package = Path(charts.__file__).resolve().parents[1]
    users = [p for p in package.rglob("*.py")
             if re.search(r"^\s*(import|from) matplotlib", p.read_text(encoding="utf-8"), re.M)]
    assert users == []

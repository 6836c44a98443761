"""Report charts as inline SVG markup, built with plain string formatting: a report stays one
file that works from file:// with no network, and a chart costs a millisecond or two (the
matplotlib PNGs these replaced cost ~0.2 s each). Inputs are already-computed numbers; nothing is
recomputed.

Every text that comes from data (labels, versions, task, model and strategy names) is escaped:
the functions return `Markup` that a template inserts as is. Every `<svg>` has a fixed viewBox,
`width="100%"` and a max-width, so it scales down with the page and never above its design size.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from html import escape
from typing import TYPE_CHECKING

from markupsafe import Markup

if TYPE_CHECKING:  # annotations only: drawing needs no numpy
    from harness.stats import Calibration, CoveragePoint

BLUE = "#0969da"
BAR = "#54aeff"
RED = "#cf222e"
GREEN = "#1a7f37"
GREY = "#8c959f"
DARK = "#57606a"
TEXT = "#1d2327"
GRID = "#eaeef2"
WHISKER = "#afb8c1"
SERIES = ("#0969da", "#bc4c00", "#1a7f37", "#8250df", "#cf222e", "#1b7c83", "#bf3989",
          "#6e7781", "#9a6700", "#0550ae")
FONT = "system-ui, -apple-system, 'Segoe UI', sans-serif"
FONT_SIZE = 11
SMALL = 9.5
DASH = "5 3"
# A white outline under text, so a label stays readable where it crosses a line.
HALO = 'stroke="#fff" stroke-width="3" stroke-linejoin="round" paint-order="stroke"'


# --- the shared pieces: scales, ticks, axes, legend, the <svg> element -------------------------


@dataclass(frozen=True, slots=True)
class Scale:
    """A linear map of the data interval [low, high] onto pixels [start, end] (for y, start is
    the bottom: pixels grow downwards). An empty interval maps everything to the middle."""
    low: float
    high: float
    start: float
    end: float

    def __call__(self, value: float) -> float:
        span = self.high - self.low
        if not span > 0:
            return (self.start + self.end) / 2
        return self.start + (value - self.low) / span * (self.end - self.start)


@dataclass(frozen=True, slots=True)
class Frame:
    """The canvas and the plot area inside it (pixels), with the scales onto that area."""
    width: int
    height: int
    left: float
    top: float
    right: float
    bottom: float
    x: Scale
    y: Scale


def frame(width: int, height: int, *, margins: tuple[float, float, float, float],
          x: tuple[float, float], y: tuple[float, float]) -> Frame:
    """margins: (left, top, right, bottom) in pixels; x, y: the data domains."""
    left, top, right, bottom = margins
    r, b = width - right, height - bottom
    return Frame(width, height, left, top, r, b, Scale(x[0], x[1], left, r),
                 Scale(y[0], y[1], b, top))


def _n(value: float) -> str:
    """A coordinate: one decimal, never nan/inf (callers drop non-finite data first)."""
    if not math.isfinite(value):
        raise ValueError(f"non-finite coordinate {value!r}")
    text = f"{value:.1f}"
    return "0" if text in ("0.0", "-0.0") else text.removesuffix(".0")


def text_width(text: str, size: float = FONT_SIZE) -> float:
    """An estimate of rendered width, enough to place labels and size legends (no font
    metrics here; system-ui averages a little over half an em per character)."""
    return len(text) * size * 0.55


def clip(text: str, limit: int = 30) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About `count` round values (1, 2, 2.5 or 5 times a power of ten) inside [low, high]."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return []
    low, high = min(low, high), max(low, high)
    if high == low:
        return [low]
    raw = (high - low) / max(count, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw * (1 - 1e-9))
    first, last = math.ceil(low / step - 1e-9), math.floor(high / step + 1e-9)
    return [round(k * step, 12) + 0.0 for k in range(first, last + 1)]


def nice_domain(low: float, high: float, count: int = 5) -> tuple[float, float, list[float]]:
    """(low, high, ticks) widened to the round ticks just outside [low, high]; an empty or
    non-finite interval becomes [low, low + 1]."""
    if not (math.isfinite(low) and math.isfinite(high)):
        low, high = 0.0, 1.0
    low, high = min(low, high), max(low, high)
    if high == low:
        high = low + (abs(low) or 1.0)
    ticks = nice_ticks(low, high, count)
    step = ticks[1] - ticks[0]
    if ticks[0] > low + step * 1e-9:
        ticks.insert(0, round(ticks[0] - step, 12) + 0.0)
    if ticks[-1] < high - step * 1e-9:
        ticks.append(round(ticks[-1] + step, 12) + 0.0)
    return ticks[0], ticks[-1], ticks


def tick_labels(ticks: Sequence[float]) -> list[tuple[float, str]]:
    """Ticks with the fewest decimals that tell them apart; thousands separated."""
    for decimals in range(0, 9):
        if all(abs(round(t, decimals) - t) < 1e-9 for t in ticks):
            break
    return [(t, f"{t:,.{decimals}f}") for t in ticks]


_TIME_STEPS = (60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 2 * 86400,
               7 * 86400, 14 * 86400, 30 * 86400, 91 * 86400, 182 * 86400, 365 * 86400)


def seconds(when: datetime) -> float:
    """POSIX seconds; a naive time is taken as UTC (run records are written in UTC)."""
    return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).timestamp()


def time_ticks(low: float, high: float, count: int = 5) -> list[tuple[float, str]]:
    """At most `count` round UTC times in [low, high] (POSIX seconds), labelled by date, or by
    date and time when they are less than a day apart."""
    span = max(high - low, 1.0)
    step = next((s for s in _TIME_STEPS if span / s <= count),
                365 * 86400 * math.ceil(span / (count * 365 * 86400)))
    ticks = [k * step for k in range(math.ceil(low / step), math.floor(high / step) + 1)]
    if not ticks:
        ticks = [(low + high) / 2]
    form = "%Y-%m-%d" if step >= 86400 else "%m-%d %H:%M"
    return [(t, datetime.fromtimestamp(t, timezone.utc).strftime(form)) for t in ticks]


def axes(f: Frame, *, x_ticks: Sequence[tuple[float, str]],
         y_ticks: Sequence[tuple[float, str]], x_label: str, y_label: str) -> list[str]:
    """Grid lines at the y ticks, the left and bottom axis lines, tick labels, axis labels."""
    parts = ['<g class="axes">']
    for value, text in y_ticks:
        y = _n(f.y(value))
        parts.append(f'<line x1="{_n(f.left)}" x2="{_n(f.right)}" y1="{y}" y2="{y}" '
                     f'stroke="{GRID}"/><text x="{_n(f.left - 6)}" y="{y}" dy="0.35em" '
                     f'text-anchor="end" fill="{DARK}">{escape(text)}</text>')
    for value, text in x_ticks:
        x = _n(f.x(value))
        parts.append(f'<line x1="{x}" x2="{x}" y1="{_n(f.bottom)}" y2="{_n(f.bottom + 4)}" '
                     f'stroke="{DARK}"/><text x="{x}" y="{_n(f.bottom + 16)}" '
                     f'text-anchor="middle" fill="{DARK}">{escape(text)}</text>')
    parts.append(f'<path d="M{_n(f.left)} {_n(f.top)}V{_n(f.bottom)}H{_n(f.right)}" '
                 f'fill="none" stroke="{DARK}"/>')
    parts.append(f'<text class="x-label" x="{_n((f.left + f.right) / 2)}" '
                 f'y="{_n(f.bottom + 34)}" text-anchor="middle">{escape(x_label)}</text>')
    middle = _n((f.top + f.bottom) / 2)
    parts.append(f'<text class="y-label" x="14" y="{middle}" text-anchor="middle" '
                 f'transform="rotate(-90 14 {middle})">{escape(y_label)}</text>')
    parts.append("</g>")
    return parts


def title(f: Frame, text: str) -> str:
    return (f'<text class="title" x="{_n((f.left + f.right) / 2)}" y="{_n(f.top - 10)}" '
            f'text-anchor="middle" font-size="12" font-weight="600">{escape(text)}</text>')


@dataclass(frozen=True, slots=True)
class Entry:
    """A legend row: `mark` is line | dash | dot | bar, or a marker shape (see `marker`)."""
    label: str
    color: str
    mark: str = "line"
    filled: bool = True


_ROW = 16


def legend_size(entries: Sequence[Entry], heading: str = "") -> tuple[float, float]:
    widest = max([text_width(clip(e.label)) for e in entries] + [text_width(heading)])
    return 34 + widest, _ROW * (len(entries) + bool(heading)) + 8


def legend(entries: Sequence[Entry], x: float, y: float, heading: str = "") -> str:
    """A legend box with its top-left corner at (x, y); long labels are shortened (the whole
    label is the row's tooltip)."""
    if not entries:
        return ""
    width, height = legend_size(entries, heading)
    parts = [f'<g class="legend"><rect x="{_n(x)}" y="{_n(y)}" width="{_n(width)}" '
             f'height="{_n(height)}" rx="3" fill="#fff" fill-opacity="0.85" stroke="{GRID}"/>']
    row = y + 4 + _ROW / 2
    if heading:
        parts.append(f'<text x="{_n(x + 8)}" y="{_n(row)}" dy="0.35em" '
                     f'font-weight="600">{escape(heading)}</text>')
        row += _ROW
    for e in entries:
        mx, swatch = x + 8, ""
        if e.mark in ("line", "dash"):
            dash = f' stroke-dasharray="{DASH}"' if e.mark == "dash" else ""
            swatch = (f'<line x1="{_n(mx)}" x2="{_n(mx + 18)}" y1="{_n(row)}" y2="{_n(row)}" '
                      f'stroke="{e.color}" stroke-width="1.5"{dash}/>')
        elif e.mark == "bar":
            swatch = (f'<rect x="{_n(mx + 3)}" y="{_n(row - 5)}" width="12" height="10" '
                      f'fill="{BAR}" fill-opacity="0.8" stroke="{e.color}"/>')
        else:
            swatch = marker("circle" if e.mark == "dot" else e.mark, mx + 9, row, e.color,
                            filled=e.filled)
        parts.append(f'<g><title>{escape(e.label)}</title>{swatch}<text x="{_n(mx + 26)}" '
                     f'y="{_n(row)}" dy="0.35em">{escape(clip(e.label))}</text></g>')
        row += _ROW
    parts.append("</g>")
    return "".join(parts)


def place_legend(f: Frame, size: tuple[float, float], avoid: Iterable[tuple[float, float]],
                 order: Sequence[str]) -> tuple[float, float]:
    """The top-left corner for a legend inside the plot area: the first corner of `order`
    (upper/lower left/right) that covers fewest of the `avoid` pixels."""
    avoid = list(avoid)
    width, height = size
    best: tuple[int, tuple[float, float]] | None = None
    for corner in order:
        x = f.left + 8 if corner.endswith("left") else f.right - 8 - width
        y = f.top + 4 if corner.startswith("upper") else f.bottom - 8 - height
        covered = sum(x - 4 <= px <= x + width + 4 and y - 4 <= py <= y + height + 4
                      for px, py in avoid)
        if best is None or covered < best[0]:
            best = (covered, (x, y))
    assert best is not None
    return best[1]


def along(points: Sequence[tuple[float, float]], every: float = 8) -> list[tuple[float, float]]:
    """Pixels every `every` px along a polyline (what a legend should not cover)."""
    out = list(points[:1])
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        steps = max(1, int(math.hypot(x1 - x0, y1 - y0) / every))
        out.extend((x0 + (x1 - x0) * k / steps, y0 + (y1 - y0) * k / steps)
                   for k in range(1, steps + 1))
    return out


def marker(shape: str, x: float, y: float, color: str, *, filled: bool = True,
           size: float = 4.0) -> str:
    """circle | square | triangle | star, centred on (x, y); hollow when not `filled`."""
    paint = f'fill="{color if filled else "#fff"}" stroke="{color}" stroke-width="1.3"'
    if shape == "square":
        return (f'<rect x="{_n(x - size)}" y="{_n(y - size)}" width="{_n(2 * size)}" '
                f'height="{_n(2 * size)}" {paint}/>')
    if shape in ("triangle", "star"):
        if shape == "triangle":
            corners = [(0, -1.2), (1.1, 0.8), (-1.1, 0.8)]
        else:
            corners = [((1.4 if k % 2 == 0 else 0.6) * math.sin(k * math.pi / 5),
                        -(1.4 if k % 2 == 0 else 0.6) * math.cos(k * math.pi / 5))
                       for k in range(10)]
        points = " ".join(f"{_n(x + dx * size)},{_n(y + dy * size)}" for dx, dy in corners)
        return f'<polygon points="{points}" {paint}/>'
    return f'<circle cx="{_n(x)}" cy="{_n(y)}" r="{_n(size)}" {paint}/>'


def polyline(points: Sequence[tuple[float, float]], color: str, *, css: str = "",
             width: float = 1.5, dashed: bool = False) -> str:
    dash = f' stroke-dasharray="{DASH}"' if dashed else ""
    cls = f' class="{css}"' if css else ""
    coords = " ".join(f"{_n(x)},{_n(y)}" for x, y in points)
    return (f'<polyline{cls} points="{coords}" fill="none" stroke="{color}" '
            f'stroke-width="{width}"{dash}/>')


def svg(element_id: str, label: str, f: Frame, parts: Iterable[str], *,
        css: str = "chart") -> Markup:
    """The `<svg>` element: role="img" named by `label` (aria-label and <title>)."""
    label = escape(label)
    return Markup(
        f'<svg id="{escape(element_id)}" class="{css}" '
        f'viewBox="0 0 {f.width} {f.height}" width="100%" style="max-width: {f.width}px" '
        f'role="img" aria-label="{label}" font-family="{FONT}" font-size="{FONT_SIZE}" '
        f'fill="{TEXT}"><title>{label}</title>' + "".join(parts) + "</svg>")


def _finite(*values: float | None) -> bool:
    return all(v is not None and math.isfinite(v) for v in values)


_UNIT = tick_labels([0.0, 0.2, 0.4, 0.6, 0.8, 1.0])


# --- the charts --------------------------------------------------------------------------------


def reliability_chart(cal: Calibration) -> Markup:
    """Accuracy per confidence bin against the diagonal of perfect calibration; a bar spans its
    bin, the number on it is the bin's examples, the dot sits at the bin's mean confidence."""
    f = frame(440, 340, margins=(52, 30, 14, 46), x=(0.0, 1.0), y=(0.0, 1.08))
    parts = axes(f, x_ticks=_UNIT, y_ticks=_UNIT, x_label="confidence (top label probability)",
                 y_label="accuracy")
    parts.append(title(f, f"reliability (ECE {cal.ece:.3f}; numbers: examples per bin)"))
    bins = [b for b in cal.bins if _finite(b.low, b.high, b.accuracy, b.mean_confidence)]
    avoid: list[tuple[float, float]] = []
    parts.append('<g class="bins">')
    for b in bins:
        x0, x1, top = f.x(b.low), f.x(b.high), f.y(b.accuracy)
        parts.append(
            f'<g><title>confidence {b.low:.2f}–{b.high:.2f}: {b.count} examples, accuracy '
            f'{b.accuracy:.3f}, mean confidence {b.mean_confidence:.3f}</title>'
            f'<rect class="bar" x="{_n(x0)}" y="{_n(top)}" width="{_n(max(x1 - x0, 0.0))}" '
            f'height="{_n(f.y(0) - top)}" fill="{BAR}" fill-opacity="0.8" stroke="{BLUE}"/>'
            f'<text class="count" x="{_n((x0 + x1) / 2)}" y="{_n(top - 4)}" font-size="{SMALL}"'
            f' text-anchor="middle" fill="{DARK}" {HALO}>{b.count}</text></g>')
        avoid += [((x0 + x1) / 2, top - 8), (x0, top), (x1, top)]
    parts.append("</g>")
    diagonal = [(f.x(0), f.y(0)), (f.x(1), f.y(1))]
    parts.append(polyline(diagonal, GREY, css="diagonal", width=1, dashed=True))
    parts.extend(f'<circle class="dot" cx="{_n(f.x(b.mean_confidence))}" '
                 f'cy="{_n(f.y(b.accuracy))}" r="3" fill="{BLUE}"/>' for b in bins)
    entries = [Entry("perfectly calibrated", GREY, "dash"),
               Entry("accuracy at mean confidence", BLUE, "dot")]
    size = legend_size(entries)
    parts.append(legend(entries, *place_legend(f, size, avoid + along(diagonal),
                                               ("upper left", "lower right"))))
    return svg("reliability-image", f"reliability diagram, ECE {cal.ece:.3f}", f, parts)


def coverage_chart(curve: Sequence[CoveragePoint], overall_accuracy: float) -> Markup:
    """Accuracy of the accepted predictions as the confidence threshold is lowered (a step
    line from the most confident few to accepting everything) against accepting all."""
    f = frame(440, 340, margins=(52, 30, 14, 46), x=(0.0, 1.02), y=(0.0, 1.05))
    parts = axes(f, x_ticks=_UNIT, y_ticks=_UNIT,
                 x_label="coverage (share auto-accepted, most confident first)",
                 y_label="accuracy of accepted")
    parts.append(title(f, "accuracy vs coverage"))
    steps: list[tuple[float, float]] = []
    for p in curve:
        if not _finite(p.coverage, p.accuracy):
            continue
        x, y = f.x(p.coverage), f.y(p.accuracy)
        if steps:
            steps.append((x, steps[-1][1]))  # hold the previous accuracy up to this coverage
        steps.append((x, y))
    entries = [Entry("accepted predictions", BLUE)]
    avoid = along(steps)
    if steps:
        parts.append(polyline(steps, BLUE, css="step"))
    if _finite(overall_accuracy):
        level = [(f.x(0), f.y(overall_accuracy)), (f.x(1.02), f.y(overall_accuracy))]
        parts.append(polyline(level, GREY, css="accept-all", width=1, dashed=True))
        entries.append(Entry(f"accept all ({overall_accuracy:.3f})", GREY, "dash"))
        avoid += along(level)
    parts.append(legend(entries, *place_legend(f, legend_size(entries), avoid,
                                               ("lower left", "lower right", "upper left"))))
    return svg("coverage-image", "accuracy versus coverage curve", f, parts)


def _natural(text: str) -> list:
    """Sort key: v2 before v10."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "task"


def trend_chart(task: str, metric: str,
                series: Mapping[str, Sequence[tuple[datetime, float]]]) -> Markup:
    """The main metric of each run over time, one line (and dots) per prompt version; the
    legend sits right of the plot."""
    lines = {version: sorted((seconds(t), v) for t, v in series[version] if _finite(v))
             for version in sorted(series, key=_natural)}
    lines = {version: points for version, points in lines.items() if points}
    entries = [Entry(version, SERIES[i % len(SERIES)], "dot") for i, version in enumerate(lines)]
    legend_w, legend_h = legend_size(entries, "version") if entries else (0, 0)
    height = max(300, int(30 + legend_h + 8))  # many versions: taller, the legend never clipped
    times = [t for points in lines.values() for t, _ in points] or [0.0]
    low, high = min(times), max(times)
    if high - low < 3600:  # one run, or runs minutes apart: an hour around them
        low, high = (low + high) / 2 - 1800, (low + high) / 2 + 1800
    pad = (high - low) * 0.04
    top_value = max([1.0] + [v for points in lines.values() for _, v in points])
    f = frame(720, height, margins=(52, 30, 28 + legend_w, 46), x=(low - pad, high + pad),
              y=(0.0, top_value * 1.02))
    ticks = time_ticks(low - pad, high + pad, max(3, int((f.right - f.left) // 100)))
    parts = axes(f, x_ticks=ticks,
                 y_ticks=tick_labels(nice_ticks(0.0, top_value)),
                 x_label="run started (UTC)", y_label=metric)
    parts.append(title(f, f"{task}: {metric} per run"))
    for entry, (version, points) in zip(entries, lines.items()):
        pixels = [(f.x(t), f.y(v)) for t, v in points]
        parts.append(f'<g class="series"><title>{escape(version)}</title>')
        if len(pixels) > 1:
            parts.append(polyline(pixels, entry.color, width=1.3))
        for (t, v), (x, y) in zip(points, pixels):
            when = datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M")
            parts.append(f'<circle cx="{_n(x)}" cy="{_n(y)}" r="3.5" fill="{entry.color}">'
                         f'<title>{escape(version)} · {when} · {v:.3f}</title></circle>')
        parts.append("</g>")
    parts.append(legend(entries, f.right + 14, f.top, "version"))
    return svg(f"trend-{_slug(task)}", f"{task}: {metric} per version over time", f, parts,
               css="chart trend")


def _label_spot(x: float, y: float, width: float, taken: list[tuple[float, ...]],
                points: Sequence[tuple[float, float]], f: Frame) -> tuple[float, float, str]:
    """Where a point's name goes: the first spot around it that overlaps no placed name, no
    other point and stays inside the plot; failing that the least bad. Returns (x, y,
    text-anchor) and adds the name's box to `taken`."""
    best = None
    for dx, dy, anchor in ((6, -5, "start"), (6, 12, "start"), (-6, -5, "end"),
                           (-6, 12, "end"), (0, -9, "middle"), (0, 18, "middle"),
                           (6, -16, "start"), (6, 23, "start"), (-6, -16, "end"),
                           (-6, 23, "end"), (0, -20, "middle"), (0, 29, "middle")):
        tx, ty = x + dx, y + dy
        x0 = tx if anchor == "start" else tx - width if anchor == "end" else tx - width / 2
        box = (x0, ty - 9, x0 + width, ty + 2)
        score = 10 * sum(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3]
                         for b in taken)
        score += sum(box[0] - 3 <= px <= box[2] + 3 and box[1] - 3 <= py <= box[3] + 3
                     for px, py in points if (px, py) != (x, y))
        score += 20 * (box[0] < f.left or box[2] > f.width - 2 or box[1] < 2
                       or box[3] > f.bottom)
        if best is None or score < best[0]:
            best = (score, tx, ty, anchor, box)
        if score == 0:
            break
    assert best is not None
    _, tx, ty, anchor, box = best
    taken.append(box)
    return tx, ty, anchor


def pareto_chart(points: Sequence[tuple[str, float, float, float, float, bool]], *,
                 x_label: str, y_label: str, reference: float | None,
                 reference_label: str) -> Markup:
    """Quality vs cost: one point per (name, cost, metric, low, high, on the front), the
    interval as an error bar, the name beside it, the Pareto front joined in red, and a dashed
    horizontal reference line."""
    kept = [p for p in points if _finite(p[1], p[2])]
    xs = [x for _, x, *_ in kept] or [0.0]
    x_low, x_high, x_ticks = nice_domain(min(0.0, min(xs)), max(xs) * 1.04 if max(xs) > 0
                                         else max(xs))
    f = frame(720, 440, margins=(56, 16, 32, 46), x=(x_low, x_high), y=(0.0, 1.02))
    parts = axes(f, x_ticks=tick_labels(x_ticks), y_ticks=_UNIT, x_label=x_label,
                 y_label=y_label)
    pixels = [(f.x(x), f.y(y)) for _, x, y, _, _, _ in kept]
    avoid = list(pixels)
    parts.append('<g class="points">')
    for (name, x, y, low, high, front), (px, py) in zip(kept, pixels):
        color = RED if front else DARK
        whisker = ""
        if _finite(low, high):
            y0, y1 = f.y(max(0.0, min(low, y))), f.y(min(1.02, max(high, y)))
            whisker = (f'<path class="interval" d="M{_n(px)} {_n(y0)}V{_n(y1)}M{_n(px - 3)} '
                       f'{_n(y0)}h6M{_n(px - 3)} {_n(y1)}h6" stroke="{WHISKER}" fill="none"/>')
        interval = f" [{low:.3f}, {high:.3f}]" if _finite(low, high) else ""
        parts.append(f'<g class="{"cell front" if front else "cell"}"><title>{escape(name)}: '
                     f'{y:.3f}{interval} at {x:,.6g}</title>{whisker}'
                     f'<circle cx="{_n(px)}" cy="{_n(py)}" r="{4.5 if front else 3.5}" '
                     f'fill="{color}"/></g>')
    parts.append("</g>")
    entries = []
    front_pixels = sorted((x, y) for (*_, on), (x, y) in zip(kept, pixels) if on)
    if len(front_pixels) > 1:
        parts.append(polyline(front_pixels, RED, css="front", width=1.2))
        avoid += along(front_pixels)
        entries.append(Entry("Pareto front", RED))
    elif front_pixels:
        entries.append(Entry("Pareto front", RED, "dot"))
    if reference is not None and _finite(reference):
        level = [(f.left, f.y(reference)), (f.right, f.y(reference))]
        parts.append(polyline(level, BLUE, css="reference", width=1, dashed=True))
        avoid += along(level)
        entries.append(Entry(reference_label, BLUE, "dash"))
    taken: list[tuple[float, ...]] = []
    parts.append(f'<g class="names" font-size="{SMALL}" {HALO}>')
    for (name, *_), (px, py) in sorted(zip(kept, pixels), key=lambda kp: (kp[1][1], kp[1][0])):
        shown = clip(name, 40)
        tx, ty, anchor = _label_spot(px, py, text_width(shown, SMALL), taken, pixels, f)
        parts.append(f'<text x="{_n(tx)}" y="{_n(ty)}" text-anchor="{anchor}">'
                     f'{escape(shown)}</text>')
    parts.append("</g>")
    avoid += [((b[0] + b[2]) / 2, (b[1] + b[3]) / 2) for b in taken]
    avoid += [(b[0], b[1]) for b in taken] + [(b[2], b[3]) for b in taken]
    if entries:
        parts.append(legend(entries, *place_legend(
            f, legend_size(entries), avoid,
            ("lower right", "upper left", "lower left", "upper right"))))
    return svg("pareto-image", f"{y_label} against {x_label}; Pareto front in red", f, parts)


_PROPOSER_MARKS = {"start": ("star", "#444c56"), "teacher": ("circle", BLUE),
                   "exemplars": ("square", GREEN), "knn": ("triangle", RED)}


def trajectory_chart(evaluations: Sequence[tuple[int, float, str, bool]],
                     best: Sequence[tuple[int, float]], *, metric: str) -> Markup:
    """The optimizer's candidates per iteration: (iteration, score, proposer, on the full
    validation split: filled marker; on a screening minibatch: hollow), and the best validation
    score so far as a step line."""
    kept = [e for e in evaluations if _finite(e[1])]
    best = [b for b in best if _finite(b[1])]
    entries: list[Entry] = []
    for _, _, proposer, filled in kept:
        shape, color = _PROPOSER_MARKS.get(proposer, ("circle", DARK))
        label = f"{proposer} ({'validation' if filled else 'screen minibatch'})"
        if label not in [e.label for e in entries]:
            entries.append(Entry(label, color, shape, filled))
    entries.append(Entry("best so far (validation)", TEXT))
    iterations = sorted({i for i, *_ in kept} | {i for i, _ in best}) or [0]
    values = [v for _, v, *_ in kept] + [v for _, v in best] or [0.0]
    pad = (max(values) - min(values)) * 0.04  # markers clear of the frame
    y_low, y_high, y_ticks = nice_domain(min(values) - pad, max(values) + pad)
    if pad:  # no round tick far above the best score (1.2 for a score that tops at 1)
        y_high = min(y_high, max(values) + 2 * pad)
        y_ticks = [t for t in y_ticks if t <= y_high]
    legend_w = legend_size(entries)[0]
    f = frame(860, 330, margins=(56, 14, 28 + legend_w, 46),
              x=(iterations[0] - 0.5, iterations[-1] + 0.5), y=(y_low, y_high))
    parts = axes(f, x_ticks=[(i, str(i)) for i in iterations], y_ticks=tick_labels(y_ticks),
                 x_label="iteration (0 = start version)", y_label=metric)
    steps: list[tuple[float, float]] = []
    for i, v in best:
        if steps:
            steps.append((f.x(i), steps[-1][1]))
        steps.append((f.x(i), f.y(v)))
    if steps:
        parts.append(polyline(steps, TEXT, css="best", width=1.8))
    # Markers over the line, screening (hollow) ones under validation (filled) ones.
    for i, v, proposer, filled in sorted(kept, key=lambda e: e[3]):
        shape, color = _PROPOSER_MARKS.get(proposer, ("circle", DARK))
        parts.append(f'<g class="evaluation"><title>iteration {i}: {escape(proposer)} '
                     f'{"validation" if filled else "screen"} {v:.3f}</title>'
                     f'{marker(shape, f.x(i), f.y(v), color, filled=filled)}</g>')
    parts.append(legend(entries, f.right + 14, f.top))
    return svg("trajectory-image", f"{metric} per iteration: every candidate and the best so far",
               f, parts)


def heat(share: float, diagonal: bool = False) -> str:
    """A confusion cell's background: its share of the row, green on the diagonal (right
    answers), red off it (errors); an empty off-diagonal cell stays unshaded. Light enough at
    full share for dark text to stay readable."""
    share = min(max(share, 0.0), 1.0) if math.isfinite(share) else 0.0
    if share == 0 and not diagonal:
        return "transparent"
    r, g, b = (26, 127, 55) if diagonal else (207, 34, 46)
    return f"rgba({r}, {g}, {b}, {0.06 + 0.44 * share:.3f})"

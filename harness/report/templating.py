"""The one Jinja environment for HTML reports: autoescaped (dataset text, instructions and
demonstrations are data), strict."""

from __future__ import annotations

import json
from functools import cache

import jinja2
from markupsafe import Markup

from harness.report.charts import heat


def _num(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _signed(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:+.{digits}f}"


def _json_script(value: object) -> Markup:
    """JSON for a <script type="application/json"> block: `<`, `>` and `&` escaped so no text
    can close the script element or open a comment."""
    text = json.dumps(value, ensure_ascii=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("harness.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True,
    )
    env.filters.update(num=_num, signed=_signed, json_script=_json_script, heat=heat)
    return env

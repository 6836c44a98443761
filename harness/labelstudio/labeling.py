"""The Label Studio labeling config for a task, generated from task.yaml, and the check that an
existing project's config still fits the task (same labels, single choice, same input fields)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from harness.errors import UsageError
from harness.records import TaskSpec

# The names the harness uses in the config and in annotation results.
CHOICES_NAME = "label"
# Task data keys the harness adds beside the input fields (prefixed so they never clash).
ID_KEY = "harness_id"


@dataclass(frozen=True, slots=True)
class ConfigShape:
    """What pull needs from a project's labeling config."""

    choices_name: str
    labels: tuple[str, ...]
    input_fields: tuple[str, ...]


def labeling_config(task: TaskSpec) -> str:
    """A Text per input field and one single-choice Choices with the task's labels; each label's
    description becomes its hint (a tooltip in the labeling UI). Built with ElementTree, so any
    text from task.yaml is escaped as XML."""
    view = ET.Element("View")
    if task.description:
        ET.SubElement(view, "Header", value=task.description)
    for name in task.input_fields:
        if len(task.input_fields) > 1:
            ET.SubElement(view, "Header", value=name, size="6")
        ET.SubElement(view, "Text", name=name, value=f"${name}")
    choices = ET.SubElement(view, "Choices", name=CHOICES_NAME, toName=task.input_fields[0],
                            choice="single-radio", showInLine="false", required="true")
    for label in task.labels:
        attributes = {"value": label.name}
        if label.description:
            attributes["hint"] = label.description
        ET.SubElement(choices, "Choice", attributes)
    ET.indent(view)
    return ET.tostring(view, encoding="unicode")


def instructions_html(task: TaskSpec) -> str:
    """The project's instructions: the task description and each label's description (escaped)."""
    from html import escape

    items = "".join(f"<li><b>{escape(label.name)}</b>: {escape(label.description)}</li>"
                    for label in task.labels)
    return f"<p>{escape(task.description)}</p><ul>{items}</ul>"


def parse_config(xml: str, *, where: str) -> ConfigShape:
    """The single-choice Choices tag and the Text inputs of a labeling config."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise UsageError(f"{where}: the labeling config is not valid XML ({exc})") from exc
    choices = [e for e in root.iter("Choices")]
    if len(choices) != 1:
        raise UsageError(f"{where}: expected exactly one <Choices> tag in the labeling config, "
                         f"found {len(choices)}")
    tag = choices[0]
    if tag.get("choice", "single") not in ("single", "single-radio"):
        raise UsageError(f"{where}: <Choices name={tag.get('name')!r}> allows several choices "
                         f"(choice={tag.get('choice')!r}); the harness needs one label per item")
    labels = tuple(c.get("value", "") for c in tag.iter("Choice"))
    inputs = tuple(t.get("value", "").lstrip("$") for t in root.iter("Text"))
    return ConfigShape(choices_name=tag.get("name", ""), labels=labels, input_fields=inputs)


def check_config(task: TaskSpec, xml: str, *, where: str) -> ConfigShape:
    """Refuse a project whose config does not fit the task: a push would send predictions the
    project cannot show, a pull would read labels the fixture cannot hold."""
    shape = parse_config(xml, where=where)
    problems = []
    if set(shape.labels) != set(task.label_names):
        missing = [n for n in task.label_names if n not in shape.labels]
        extra = [n for n in shape.labels if n not in task.label_names]
        parts = [f"missing {', '.join(missing)}" if missing else "",
                 f"not in task.yaml: {', '.join(extra)}" if extra else ""]
        problems.append(f"its choices are {', '.join(shape.labels) or '(none)'} "
                        f"({'; '.join(p for p in parts if p)}), task.yaml has "
                        f"{', '.join(task.label_names)}")
    absent = [n for n in task.input_fields if n not in shape.input_fields]
    if absent:
        problems.append(f"it shows no <Text> for input field(s) {', '.join(absent)}")
    if problems:
        raise UsageError(f"{where} has a different labeling config than task {task.name!r} "
                         f"({task.path}): " + "; ".join(problems) +
                         ". Use another --project, or a new title to create a fitting project.")
    return shape

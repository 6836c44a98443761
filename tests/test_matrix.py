"""`harness matrix`: models x strategies on the same examples, one page; through the fake model."""

from __future__ import annotations

import re

import pytest

from harness.cli import main
from harness.matrix import pareto_front
from tests.conftest import copy_task
from tests.fake_backend import FakeBackend, keyword_rule


def test_pareto_front():
    points = [(1.0, 0.5), (2.0, 0.7), (2.0, 0.6), (3.0, 0.7), (0.5, 0.4), (1.0, 0.5)]
    assert pareto_front(points) == [True, True, False, False, True, True]


@pytest.fixture
def matrix_project(tmp_path, monkeypatch, fake_model):
    root = copy_task(tmp_path / "project", rows=40)
    with (root / "pyproject.toml").open("a") as handle:
        handle.write('\n[tool.harness.prices]\ncheap = { input = 1.0, output = 2.0 }\n'
                     'dear = { input = 10.0, output = 20.0 }\n')
    monkeypatch.chdir(root)
    cheap = FakeBackend(keyword_rule({"love": "Subjective"}, default="Objective"))
    dear = FakeBackend(keyword_rule({"love": "Subjective", "great": "Subjective",
                                     "best": "Subjective"}, default="Objective"),
                       revision="dear")  # another model: another cache identity
    return root, (fake_model(cheap, "cheap"), cheap), (fake_model(dear, "dear"), dear)


def run_matrix(root, cheap, dear, *extra):
    return main(["matrix", "subjectivity", "--model", cheap, "--model", dear,
                 "--strategy", "zero-shot", "--strategy", "few-shot:random:2",
                 "--strategy", "few-shot:knn:2", "--no-progress", "--split", "all",
                 "--limit", "12", *extra])


def test_matrix_writes_one_page_of_every_cell_and_reuses_the_cache(matrix_project, capsys):
    root, (cheap, cheap_backend), (dear, dear_backend) = matrix_project
    assert run_matrix(root, cheap, dear) == 0
    out = capsys.readouterr().out
    page = root / re.search(r"page: (\S+)", out).group(1)
    html = page.read_text(encoding="utf-8")
    for model in (cheap, dear):
        for strategy in ("zero-shot", "few-shot:random:2", "few-shot:knn:2"):
            assert f'data-model="{model}" data-strategy="{strategy}"' in html
    assert html.count('class="front"') >= 1 and 'id="classical"' in html
    assert '<svg id="pareto-image"' in html and "<img" not in html
    assert "cost $" in html and "unknown" not in html.split('id="cells"')[1].split("</table>")[0]
    # The same examples in every cell: each backend saw 12 inputs per strategy.
    assert cheap_backend.calls_made == dear_backend.calls_made == 36
    texts = [{c.example_id for c in cheap_backend.calls[i * 12:(i + 1) * 12]} for i in range(3)]
    assert texts[0] == texts[1] == texts[2]
    # A rerun is answered from the cache.
    assert run_matrix(root, cheap, dear) == 0
    assert cheap_backend.calls_made == dear_backend.calls_made == 36
    assert "0 model calls, 12 cached" in capsys.readouterr().err


def test_matrix_refuses_an_unknown_strategy_before_any_call(matrix_project, capsys):
    root, (cheap, backend), _ = matrix_project
    assert main(["matrix", "subjectivity", "--model", cheap, "--strategy", "zero-shot",
                 "--strategy", "few-shot:knn:x"]) == 2
    assert "unknown strategy 'few-shot:knn:x'" in capsys.readouterr().err
    assert backend.calls_made == 0


def test_matrix_page_escapes_a_hostile_strategy_note(matrix_project, capsys):
    """Notes can carry dataset-derived text one day; the page is autoescaped regardless."""
    from harness.matrix import Cell, Matrix
    from harness.report.matrix import write_matrix_report
    root = matrix_project[0]
    cell = Cell("m</td><script>x()</script>", "zero-shot", "<script>alert(1)</script>", 0.5,
                0.4, 0.6, 0.5, 10, 10, 100, 10, 1.0, 0.001, 0, pareto=True)
    page = write_matrix_report(root / "m.html", Matrix("t", "v1", "test", 10, "macro_f1",
                                                       ("m",), ("zero-shot",), (cell,),
                                                       "cost_usd", 0.55, "tfidf"))
    html = page.read_text()
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html

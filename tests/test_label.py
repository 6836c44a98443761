"""`harness label` and the data files under it, through the fake model (fast): formats in and
out with pass-through columns and --map, bad rows named by row, routing, the resume path, the
notebook API. The real-model kill -9 test and the Label Studio push are in test_label_model.py."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import harness
from harness import datafiles
from harness.cli import main
from harness.errors import DatasetError
from tests.fake_backend import FakeBackend, keyword_rule
from tests.helpers import make_project

TEXTS = ["I love this blender.", "The box weighs 2 kg.", "Best purchase of the year.",
         "It ships with two batteries.", "=HYPERLINK(\"http://x\")", "The lid arrived cracked."]


def rule():
    # Distinct confidences, so routing by confidence has a definite order.
    def answer(call):
        text = call.text.lower()
        label = "Subjective" if ("love" in text or "best" in text) else "Objective"
        confidence = 0.55 + (sum(map(ord, call.text)) % 40) / 100
        other = [x for x in call.labels if x != label][0]
        return {label: confidence, other: 1 - confidence}
    return answer


@pytest.fixture
def project(tmp_path, monkeypatch):
    root = make_project(tmp_path / "p")
    monkeypatch.chdir(root)
    return root


def frame(n=len(TEXTS)):
    return pd.DataFrame({"id": [f"r{i}" for i in range(n)],
                         # Distinct texts: equal prompts share one cache entry.
                         "body": [TEXTS[i] if i < len(TEXTS) else f"{TEXTS[i % len(TEXTS)]} {i}"
                                  for i in range(n)],
                         "source": [f"shop-{i % 3}" for i in range(n)],
                         "stars": [str(i % 5) for i in range(n)]})


def write(df, path):
    fmt = datafiles.format_of(path)
    if fmt == "parquet":
        df.to_parquet(path, index=False)
    elif fmt == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in df.to_dict("records")))
    else:
        df.to_csv(path, index=False, sep="\t" if fmt == "tsv" else ",")


def read(path):
    return [row for _, row, _ in datafiles.read_rows(path)]


@pytest.mark.parametrize("src,dst", [("csv", "parquet"), ("parquet", "jsonl"),
                                     ("jsonl", "csv"), ("tsv", "tsv")])
def test_formats_in_and_out_keep_every_row_and_pass_through_columns(project, fake_model, src,
                                                                    dst, capsys):
    backend = FakeBackend(rule())
    model = fake_model(backend)
    write(frame(), project / f"in.{src}")
    code = main(["label", "demo", "--input", f"in.{src}", "--out", f"out.{dst}", "--map",
                 "text=body", "--model", model, "--no-progress"])
    assert code == 0, capsys.readouterr().err
    rows = read(project / f"out.{dst}")
    assert [r["id"] for r in rows] == [f"r{i}" for i in range(len(TEXTS))]
    assert [r["source"] for r in rows] == [f"shop-{i % 3}" for i in range(len(TEXTS))]
    assert rows[0]["label"] == "Subjective" and rows[1]["label"] == "Objective"
    assert {r["status"] for r in rows} == {"accepted"}
    assert all(r["prompt_version"] == "v1" and r["model"] == model for r in rows)
    p = [float(r["p_Subjective"]) + float(r["p_Objective"]) for r in rows]
    assert p == pytest.approx([1.0] * len(rows))
    formula = rows[4]["body"]
    # CSV/TSV are for spreadsheets: a formula is neutralized; JSONL/Parquet keep it verbatim.
    assert formula == (("'" if dst in ("csv", "tsv") else "") + TEXTS[4])
    assert backend.calls_made == len(TEXTS)
    out = capsys.readouterr().out
    assert f"accepted {len(TEXTS)}, to review 0, errors 0" in out
    assert "no stored evaluation of demo/v1" in out


def test_bad_rows_are_kept_marked_and_listed_by_row(project, fake_model, capsys):
    backend = FakeBackend(rule())
    (project / "in.csv").write_text("text,n\nI love it.,1\n,2\nfine text,3\n" +
                                    "x" * 20_001 + ",4\n")
    (project / "in.jsonl").write_text('{"text": "ok"}\n{"text": 5}\nnot json\n'
                                      '{"text": "a", "text": "b"}\n')
    model = fake_model(backend)
    assert main(["label", "demo", "--input", "in.csv", "--out", "o.csv", "--model", model,
                 "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "in.csv:row 2: empty input (text blank)" in err
    assert "in.csv:row 4: input field 'text' is 20,001 characters" in err
    rows = read(project / "o.csv")
    assert [r["n"] for r in rows] == ["1", "2", "3", "4"]
    assert [r["status"] for r in rows] == ["accepted", "error", "accepted", "error"]
    assert rows[1]["label"] == "" and rows[1]["error"].startswith("empty input")

    assert main(["label", "demo", "--input", "in.jsonl", "--out", "o.jsonl", "--model", model,
                 "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "in.jsonl:2: input field 'text' is not text (int" in err
    assert "in.jsonl:3: invalid JSON" in err and "in.jsonl:4: duplicate key 'text'" in err
    rows = read(project / "o.jsonl")
    assert [r["status"] for r in rows] == ["accepted", "error", "error", "error"]
    assert rows[1]["text"] == 5  # the bad value passes through as it was
    assert backend.calls_made == 3  # rows 1 and 3 of the CSV, line 1 of the JSONL


def test_missing_column_and_clashing_column_fail_before_any_call(project, fake_model, capsys):
    backend = FakeBackend(rule())
    model = fake_model(backend)
    write(frame(), project / "in.csv")
    assert main(["label", "demo", "--input", "in.csv", "--out", "o.csv", "--model", model]) == 2
    assert "no column for the input field(s) 'text'" in capsys.readouterr().err
    pd.DataFrame({"text": ["a"], "label": ["x"]}).to_csv(project / "l.csv", index=False)
    assert main(["label", "demo", "--input", "l.csv", "--out", "o.csv", "--model", model]) == 2
    assert "input column(s) 'label' would be overwritten" in capsys.readouterr().err
    assert main(["label", "demo", "--input", "in.csv", "--out", "o.xlsx", "--map", "text=body",
                 "--model", model]) == 2
    assert "unknown data file type '.xlsx'" in capsys.readouterr().err
    assert main(["label", "demo", "--input", "in.csv", "--out", "o.csv", "--map", "txt=body",
                 "--model", model]) == 2
    assert "'txt' is not an input field of demo" in capsys.readouterr().err
    assert backend.calls_made == 0 and not (project / "o.csv").exists()


def test_accept_above_and_review_top_route_by_confidence(project, fake_model, capsys):
    backend = FakeBackend(rule())
    model = fake_model(backend)
    df = frame(30)
    write(df, project / "in.parquet")
    base = ["label", "demo", "--input", "in.parquet", "--map", "text=body", "--model", model,
            "--no-progress"]
    assert main([*base, "--out", "a.parquet", "--accept-above", "0.8"]) == 0
    rows = read(project / "a.parquet")
    assert all((r["status"] == "accepted") == (r["confidence"] >= 0.8) for r in rows)
    assert {r["status"] for r in rows} == {"accepted", "review"}
    assert main([*base, "--out", "b.parquet", "--review-top", "7"]) == 0
    rows = read(project / "b.parquet")
    review = [r for r in rows if r["status"] == "review"]
    accepted = [r for r in rows if r["status"] == "accepted"]
    assert len(review) == 7 and len(accepted) == 23
    assert max(r["confidence"] for r in review) <= min(r["confidence"] for r in accepted)
    assert backend.calls_made == 30  # the second run came from the cache
    out = capsys.readouterr().out
    assert "accepted 23, to review 7, errors 0; 0 model call(s), 30 from the cache" in out
    assert main([*base, "--out", "c.csv", "--review-top", "3", "--mode", "generate"]) == 2


def test_expected_accuracy_is_read_from_the_last_evaluation(project, fake_model, capsys):
    backend = FakeBackend(rule())
    model = fake_model(backend)
    session = harness.Session(harness.load_settings(project, overrides={
        "model": model, "split": "all", "progress": False}))
    evaluation = session.evaluate("demo", "v1")
    session.close()
    table = evaluation.to_pandas()
    write(frame(), project / "in.csv")
    assert main(["label", "demo", "--input", "in.csv", "--out", "o.csv", "--map", "text=body",
                 "--model", model, "--accept-above", "0.75", "--no-progress"]) == 0
    out = capsys.readouterr().out
    # The accuracy of the evaluated examples the same threshold would accept.
    above = table[table["confidence"] >= 0.75]
    assert 0 < len(above) < len(table)
    assert (f"expected accuracy of the accepted rows: {above['correct'].mean():.1%}") in out
    assert f"{len(above)} all-split examples with confidence >= 0.750" in out
    assert evaluation.result.run_id in out


def test_a_crash_mid_file_leaves_no_output_and_the_rerun_makes_only_the_missing_calls(
        project, fake_model):
    df = frame(40)
    write(df, project / "in.jsonl")
    crashing = FakeBackend(rule(), raise_after=25)
    model = fake_model(crashing)
    args = ["label", "demo", "--input", "in.jsonl", "--out", "o.jsonl", "--map", "text=body",
            "--model", model, "--no-progress"]
    assert main(args) == 2  # "harness: error: fake model crashed"
    assert not (project / "o.jsonl").exists()
    assert [p.name for p in project.glob(".o.jsonl*")] == []  # temp files removed
    cached = crashing.calls_made
    assert cached >= 25
    fresh = FakeBackend(rule())
    fake_model(fresh)
    assert main(args) == 0
    assert fresh.calls_made == 40 - 25  # only what the crash lost; 25 answers were cached
    rows = read(project / "o.jsonl")
    assert [r["id"] for r in rows] == list(df["id"])  # each row exactly once, in order


def test_label_dataframe_and_to_pandas(project, fake_model):
    backend = FakeBackend(rule())
    model = fake_model(backend)
    settings = harness.load_settings(project, overrides={"model": model, "progress": False})
    df = frame(12).set_index("id")
    out = harness.label_dataframe(df, task="demo", settings=settings, mapping={"text": "body"},
                                  review_top=4)
    assert list(out.index) == list(df.index)
    assert list(out.columns) == ["body", "source", "stars", "label", "confidence",
                                 "p_Objective", "p_Subjective", "status", "error",
                                 "prompt_version", "prompt_hash", "model"]
    assert (out["status"] == "review").sum() == 4
    assert out.attrs["harness"].summary.accepted == 8

    session = harness.Session(harness.load_settings(project, overrides={
        "model": model, "split": "all", "progress": False}))
    evaluation = session.evaluate("demo", "v1")
    session.close()
    table = harness.load_run(evaluation.report_dir).to_pandas()
    assert list(table.columns) == ["id", "line", "text", "expected", "predicted", "confidence",
                                   "p_Objective", "p_Subjective", "correct", "error",
                                   "critical", "cached"]
    assert len(table) == len(evaluation.result.examples)
    assert table["correct"].tolist() == [p.correct for p in evaluation.result.predictions]
    assert evaluation.to_pandas().equals(table)


def test_datafiles_errors_name_the_file_row_and_column(tmp_path):
    bad = tmp_path / "dup.csv"
    bad.write_text("text,text\na,b\n")
    with pytest.raises(DatasetError, match=r"dup.csv:header, column 'text': column 'text' "
                                           r"appears twice"):
        list(datafiles.read_rows(bad))
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("a,b\n1,2\n3,4,5\n")
    with pytest.raises(DatasetError, match="ragged.csv: not a well-formed CSV file"):
        list(datafiles.read_rows(ragged))
    verbatim = tmp_path / "v.csv"
    verbatim.write_text("a,b\nNA,007\n,null\n")
    assert read(verbatim) == [{"a": "NA", "b": "007"}, {"a": "", "b": "null"}]
    sep = tmp_path / "sep.jsonl"
    sep.write_bytes('{"a": "x\u2028y\u0085z"}\n'.encode())
    assert read(sep) == [{"a": "x\u2028y\u0085z"}]


@pytest.mark.parametrize("ext", ["csv", "tsv", "parquet"])
def test_a_dataset_in_a_table_format_evaluates_like_its_jsonl(tmp_path, fake_model, ext):
    from tests.helpers import DEFAULT_TASK_YAML, default_rows

    backend = FakeBackend(rule())
    model = fake_model(backend)
    rows = default_rows()
    rows[0] = {**rows[0], "critical": True}
    jsonl_root = make_project(tmp_path / "a", rows=rows)
    table_root = make_project(tmp_path / "b", rows=rows, task_yaml=DEFAULT_TASK_YAML.replace(
        "datasets/demo.jsonl", f"datasets/demo.{ext}"))
    df = pd.DataFrame(rows)
    if ext != "parquet":
        df["critical"] = df["critical"].map({True: "true", False: ""}).fillna("")
    write(df, table_root / "datasets" / f"demo.{ext}")

    def evaluate(root):
        session = harness.Session(harness.load_settings(root, overrides={
            "model": model, "split": "all", "progress": False}))
        try:
            return session.evaluate("demo", "v1", write=False), session.critical_cases("demo")
        finally:
            session.close()
    (a, critical_a), (b, critical_b) = evaluate(jsonl_root), evaluate(table_root)
    assert [e.id for e in b.result.examples] == [e.id for e in a.result.examples]
    assert [e.split for e in b.result.examples] == [e.split for e in a.result.examples]
    assert b.metrics.as_dict() == a.metrics.as_dict()
    assert critical_b == critical_a == [rows[0]["id"]]


def test_table_dataset_errors_name_the_row_and_column(tmp_path):
    from harness.datasets import load_fixture
    from harness.tasks import load_task
    from tests.helpers import DEFAULT_TASK_YAML

    root = make_project(tmp_path, task_yaml=DEFAULT_TASK_YAML.replace("demo.jsonl", "demo.csv"))
    (root / "datasets" / "demo.csv").write_text(
        "id,text,label\na,fine,Objective\nb,nice,Maybe\nc,,Objective\n", encoding="utf-8")
    with pytest.raises(DatasetError) as info:
        load_fixture(load_task(root, "demo"))
    message = str(info.value)
    assert "demo.csv:row 2: label 'Maybe' is not one of Objective, Subjective" in message
    assert "demo.csv:row 3: missing input field 'text'" in message
    (root / "datasets" / "demo.csv").write_text("id,text,label\na,fine,Objective\nb,nice,Maybe\n")
    with pytest.raises(DatasetError, match=r"demo.csv:row 2: label 'Maybe'"):
        load_fixture(load_task(root, "demo"))

"""Chat format of local GGUF models (issue 16, item 6): the GGUF's own template, or for a model
without one the documented plain completion format with the model's BOS token; never ChatML
written as text; the format in provenance and the report; the fallback announced once.

"Another model" is a copy of the embedded SmolLM2 GGUF that the tests write with
`tokenizer.chat_template` removed (tests/gguf_file.py), with and without a tokenizer that adds
BOS: no download, and the weights are real.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import jinja2
import markupsafe
import pytest

from harness.cache import Cache
from harness.errors import HarnessWarning
from harness.models.chat_format import PLAIN_TEMPLATE, chat_format
from harness.models.local import LocalBackend, default_model_path
from harness.records import DecodingParams, LabelRequest, Message, RenderedPrompt, RunSpec
from harness.runner import run
from harness.store import spec_block
from tests.conftest import copy_task
from tests.gguf_file import rewrite_gguf
from tests.report_helpers import write_synthetic_report

LABELS = ("Objective", "Subjective")
MESSAGES = (Message("system", "Classify the sentence as Objective or Subjective."),
            Message("user", "The kettle holds 1.7 litres."))
PLAIN_TEXT = ("Classify the sentence as Objective or Subjective.\n\nThe kettle holds 1.7 litres."
              "\n\nAnswer:")


# --- the format decision (no model) --------------------------------------------------------

def test_a_gguf_template_is_used_as_it_is():
    fmt = chat_format({"tokenizer.chat_template": "{{ messages }}<|im_end|>"}, bos_token="<s>",
                      eos_token="</s>", adds_bos=False)
    assert (fmt.kind, fmt.stop, fmt.answer_prefix, fmt.key) == ("gguf", ("<|im_end|>",), "", "")


@pytest.mark.parametrize("template, adds_bos", [("{{ bos_token }}{{ messages }}", False),
                                                ("{{ messages }}", True)])
def test_a_template_that_now_gets_bos_has_its_own_cache_key(template, adds_bos):
    fmt = chat_format({"tokenizer.chat_template": template}, bos_token="<bos>", eos_token="",
                      adds_bos=adds_bos)
    assert fmt.key == "gguf-bos"


@pytest.mark.parametrize("metadata", [{}, {"tokenizer.chat_template": "  "}])
def test_no_template_means_the_plain_format(metadata):
    fmt = chat_format(metadata, bos_token="<bos>", eos_token="<eos>", adds_bos=True)
    assert (fmt.kind, fmt.key, fmt.answer_prefix, fmt.stop) == ("plain", "plain-v1", " ", ("\n\n",))
    rendered = jinja2.Template(PLAIN_TEMPLATE).render(
        messages=[{"role": m.role, "content": m.content} for m in MESSAGES],
        add_generation_prompt=True)
    assert rendered == PLAIN_TEXT
    assert "<|" not in PLAIN_TEMPLATE
    assert "no chat template" in fmt.describe() and "BOS first" in fmt.describe()


def test_the_format_is_read_once_per_model_file_unless_it_just_changed(monkeypatch):
    """Reading it loads the GGUF's vocabulary (no weights: no model mark); a second backend on
    the same file in this process reuses it, except inside the racy window (filehash.py)."""
    import llama_cpp

    from harness.models import local

    loads = []

    class Counting(llama_cpp.Llama):
        def __init__(self, *args, **kwargs):
            loads.append(kwargs["model_path"])
            super().__init__(*args, **kwargs)
    monkeypatch.setattr(llama_cpp, "Llama", Counting)
    monkeypatch.setattr(local, "_FORMATS", {})
    first = LocalBackend(default_model_path()).chat_format
    assert LocalBackend(default_model_path()).chat_format == first
    assert len(loads) == 1
    monkeypatch.setattr(local, "settled_stamp", lambda path: None)  # as if it changed just now
    assert LocalBackend(default_model_path()).chat_format == first
    assert len(loads) == 2


# --- real GGUF files ---------------------------------------------------------------------------

def _without_template(directory: Path, *, adds_bos: bool) -> Path:
    return rewrite_gguf(default_model_path(), directory / f"no-template-bos-{adds_bos}.gguf",
                        remove=("tokenizer.chat_template",),
                        set_bool={"tokenizer.ggml.add_bos_token": adds_bos})


@pytest.fixture
def without_template(tmp_path):
    """Writes the copies (96 MB each) and removes them after the test: pytest keeps the folders
    of its last three runs, in RAM where the scratch folder is /dev/shm (tests/scratch.py)."""
    made: list[Path] = []

    def make(*, adds_bos: bool) -> Path:
        made.append(_without_template(tmp_path, adds_bos=adds_bos))
        return made[-1]
    yield make
    for path in made:
        path.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def plain_backend(tmp_path_factory):
    path = _without_template(tmp_path_factory.mktemp("gguf"), adds_bos=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", HarnessWarning)  # announced in its own test
        backend = LocalBackend(path)
        backend.identity()
    yield backend
    backend.close()
    path.unlink()  # as in without_template


@pytest.mark.model
def test_the_shipped_model_keeps_its_template_tokens_and_cache_key(local_backend):
    assert set(local_backend.identity()) == {"backend", "model", "sha256", "llama_cpp"}
    assert "chat template" in local_backend.environment()["chat_format"]
    llm = local_backend.llm
    legacy = jinja2.Template(llm.metadata["tokenizer.chat_template"]).render(
        messages=[{"role": m.role, "content": m.content} for m in MESSAGES],
        add_generation_prompt=True, bos_token="", eos_token="")
    assert local_backend.prompt_tokens(MESSAGES) == llm.tokenize(legacy.encode(), add_bos=False,
                                                                 special=True)


@pytest.mark.model
def test_a_model_without_template_gets_bos_and_plain_text(plain_backend):
    llm = plain_backend.llm
    tokens = plain_backend.prompt_tokens(MESSAGES)
    assert tokens[0] == llm.token_bos() and llm.token_bos() not in tokens[1:]
    text = plain_backend._detok(tokens[1:])
    assert text == PLAIN_TEXT and "<|im_" not in text
    assert plain_backend.label_tokens(LABELS)["Objective"] == llm.tokenize(
        b" Objective", add_bos=False, special=False)


@pytest.mark.model
def test_the_plain_format_is_part_of_the_cache_key_and_described(plain_backend):
    assert plain_backend.identity()["chat_format"] == "plain-v1"
    assert plain_backend.environment()["chat_format"].startswith("plain completion")


@pytest.mark.model
@pytest.mark.parametrize("mode", ["score", "generate", "constrained"])
def test_every_mode_runs_on_the_plain_format(plain_backend, mode):
    output = plain_backend.complete_one(LabelRequest(
        RenderedPrompt("x", MESSAGES, "h"), LABELS, mode, DecodingParams(max_tokens=12)))
    assert output.error is None
    if mode == "score":
        assert set(output.distribution) == set(LABELS)
    elif mode == "constrained":
        assert output.raw in LABELS
    else:
        assert "<|im_end|>" not in output.raw and "\n\n" not in output.raw


@pytest.mark.model
def test_no_bos_when_the_tokenizer_adds_none(without_template):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", HarnessWarning)
        backend = LocalBackend(without_template(adds_bos=False))
        tokens = backend.prompt_tokens(MESSAGES)
    assert backend.llm.token_bos() not in tokens
    assert backend._detok(tokens) == PLAIN_TEXT
    assert "no BOS" in backend.environment()["chat_format"]
    backend.close()


@pytest.mark.model
def test_the_fallback_is_announced_once_per_model_file(without_template):
    path = without_template(adds_bos=True)
    with pytest.warns(HarnessWarning, match="has no chat template.*plain completion format"):
        LocalBackend(path).identity()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        second = LocalBackend(path)
        second.identity()
        second.prompt_tokens(MESSAGES)
    assert not [w for w in caught if issubclass(w.category, HarnessWarning)]
    second.close()


@pytest.mark.model
def test_the_run_record_and_report_name_the_format(plain_backend, tmp_path):
    root = copy_task(tmp_path / "project", rows=4)
    result = run(RunSpec(task="subjectivity", version="v1", split="all"), root=root,
                 backend=plain_backend, cache=Cache(tmp_path / "cache", "off"), progress=False)
    described = plain_backend.environment()["chat_format"]
    assert result.environment["chat_format"] == described
    assert spec_block(result)["environment"]["chat_format"] == described
    html = (write_synthetic_report(tmp_path / "reports", result) / "index.html").read_text()
    assert f'id="chat-format">{markupsafe.escape(described)}</dd>' in html

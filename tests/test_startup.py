"""Cheap startup: importing the CLI or the pytest plugin loads none of the heavy libraries (every
pytest run of a venv with harness installed imports the plugin)."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("sklearn", "matplotlib", "statsmodels", "scipy", "pandas", "numpy", "llama_cpp",
         "guidance", "openai", "label_studio_sdk", "jinja2")


def test_cli_and_plugin_import_no_heavy_library():
    """And an OpenAI backend imports its SDK only for its first call: a run answered from the
    cache (a CI gate on an unchanged prompt) never pays its ~1.2 s. Constructing the backend,
    its identity (the cache key) and an empty batch import nothing of it. One process, both
    checks (each fresh interpreter costs ~0.5 s here)."""
    code = ("import os, sys, harness.cli, harness.pytest_plugin; "
            f"print(','.join(m for m in {HEAVY!r} if m in sys.modules)); "
            "os.environ['OPENAI_API_KEY'] = 'sk-test'; "
            "from harness.models import get_backend; "
            "backend = get_backend('openai:gpt-4o-mini'); backend.identity(); "
            "list(backend.complete([])); print('openai' in sys.modules, end=' '); "
            "backend._openai; print('openai' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.split("\n")[:2] == ["", "False True"], done.stderr


def test_public_api_names_load_on_first_use():
    # A stand-in for harness.api shows that `harness.Session` is looked up there on first
    # access, without paying for the real module's scikit-learn import in a fresh process.
    code = ("import sys, types, harness; assert 'harness.api' not in sys.modules; "
            "stand_in = types.ModuleType('harness.api'); stand_in.Session = 'from harness.api'; "
            "sys.modules['harness.api'] = stand_in; print(harness.Session)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "from harness.api", done.stderr


def test_every_public_name_resolves():
    import harness

    for name in harness.__all__:
        assert getattr(harness, name) is not None, name


def test_cli_copies_of_label_studio_constants_match_the_library():
    from harness.cli import ls as cli_ls
    from harness.labelstudio import STRATEGIES
    from harness.labelstudio.client import KEY_ENV, URL_ENV

    assert cli_ls.STRATEGIES == STRATEGIES
    assert (cli_ls.URL_ENV, cli_ls.KEY_ENV) == (URL_ENV, KEY_ENV)


"""harness.config: defaults, precedence, root discovery, bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config import Settings, load_settings
from harness.errors import UsageError
from tests.helpers import make_project


def _pyproject(root: Path, body: str) -> None:
    (root / "pyproject.toml").write_text("[tool.harness]\n" + body, encoding="utf-8")


def test_settings_defaults(tmp_path):
    root = make_project(tmp_path)
    settings = load_settings(root, environ={})
    assert settings == Settings(root=root.resolve())
    assert settings.model == "local" and settings.mode == "score" and settings.cache == "record"


def test_settings_precedence(tmp_path):
    root = make_project(tmp_path)
    _pyproject(root, 'model = "from-pyproject"\nmode = "generate"\nsplit = "validation"\n'
                     'limit = 5\ncache_dir = "pp-cache"\n')
    environ = {"HARNESS_MODEL": "from-env", "HARNESS_MODE": "constrained",
               "HARNESS_CACHE_DIR": "env-cache"}

    pyproject_only = load_settings(root, environ={})
    assert (pyproject_only.model, pyproject_only.mode, pyproject_only.split) == \
        ("from-pyproject", "generate", "validation")
    assert pyproject_only.limit == 5
    assert pyproject_only.cache_dir == Path("pp-cache")
    assert pyproject_only.report_dir == Path("reports")  # default where nothing sets it

    with_env = load_settings(root, environ=environ)
    assert (with_env.model, with_env.mode, with_env.split) == \
        ("from-env", "constrained", "validation")
    assert with_env.cache_dir == Path("env-cache")

    explicit = load_settings(root, overrides={"model": "from-cli", "mode": None, "limit": 2,
                                              "cache": "off"}, environ=environ)
    assert explicit.model == "from-cli"
    assert explicit.mode == "constrained"  # a None override does not hide the environment
    assert explicit.limit == 2
    assert explicit.cache == "off"
    assert explicit.split == "validation"
    assert explicit.resolve(explicit.cache_dir) == root.resolve() / "env-cache"


def test_settings_empty_environment_value_is_ignored(tmp_path):
    root = make_project(tmp_path)
    _pyproject(root, 'model = "from-pyproject"\n')
    assert load_settings(root, environ={"HARNESS_MODEL": ""}).model == "from-pyproject"


def test_settings_find_root_from_subdirectory(tmp_path):
    root = make_project(tmp_path)
    assert load_settings(root / "prompts" / "demo", environ={}).root == root.resolve()


@pytest.mark.parametrize("environ, fragment", [
    ({"HARNESS_MODE": "sample"}, "unknown mode 'sample'"),
    ({"HARNESS_SPLIT": "dev"}, "unknown split 'dev'"),
    ({"HARNESS_CACHE": "always"}, "unknown cache mode 'always'"),
])
def test_settings_bad_values(tmp_path, environ, fragment):
    root = make_project(tmp_path)
    with pytest.raises(UsageError, match=fragment):
        load_settings(root, environ=environ)

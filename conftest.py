"""Root conftest: the plugins this repository's own test runs use, and only those.

pyproject's `addopts` turns off pytest's plugin autoload (`--disable-plugin-autoload`): the venv
also holds plugins nothing here uses (label-studio-sdk pulls in Faker, requests-mock, typeguard,
...), and pytest marks every entry-point plugin's package for assertion rewriting, which, with
PYTHONDONTWRITEBYTECODE set, re-parsed and recompiled Hypothesis and harness itself in every
pytest process. Loaded here instead: the harness plugin (what its `pytest11` entry point loads
in a user's project), pytester (tests/ drives pytest runs from outside, the way pytest's own
plugins are tested) and pytest-xdist when it is installed (`pytest -n N`)."""

from importlib.util import find_spec

pytest_plugins = ["pytester", "harness.pytest_plugin",
                  *(["xdist.plugin"] if find_spec("xdist") else [])]


def pytest_unconfigure(config) -> None:
    """Last thing before the process exits: Python's final garbage collection walks every object
    the run left (scikit-learn, SciPy, pandas, ...: ~0.5-1 s per process), only to free memory
    the exit frees anyway. Frozen objects are skipped; under `-n 2` the controller waited ~1.2 s
    less for its workers to exit (bench/RESULTS.md)."""
    import gc

    gc.freeze()

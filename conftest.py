"""Root conftest: the harness plugin itself is registered by its `pytest11` entry point.
`pytester` lets tests/ drive pytest runs from outside, the way pytest's own plugins are tested."""

pytest_plugins = ["pytester"]

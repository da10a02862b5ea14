"""A pytest plugin (loaded by ``-p tests.built_programs`` in pyproject.toml): the
``--built DIR`` option and the ``built`` fixture, the folder of programs that
``pyinstaller build.spec`` made. Write it ``--built=DIR``: with a space, a DIR outside the
repository is taken for a test path. It is a plugin rather than part of conftest.py because
pytest reads command-line options only from plugins and the top-level conftest."""

from __future__ import annotations

from pathlib import Path

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--built",
        metavar="DIR",
        help="also test the programs that `pyinstaller build.spec` put in DIR (dist)",
    )


@pytest.fixture
def built(request: pytest.FixtureRequest) -> Path:
    """The folder of packaged programs given with ``--built``; without it, a skip."""
    folder = request.config.getoption("--built")
    if not folder:
        pytest.skip("the packaged programs are tested with --built DIR (tests/run.sh does)")
    return Path(folder).resolve()

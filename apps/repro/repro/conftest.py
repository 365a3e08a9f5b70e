"""The repro tests' shared fixture: `repro_cli`, the command line run in this process."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable

import pytest


@pytest.fixture(scope="session")
def repro_cli() -> Callable[..., tuple[int, str]]:
    """repro_cli(*argv) -> (exit code, what it printed on stdout)."""
    from repro.main import main

    def run(*argv: str) -> tuple[int, str]:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = main(list(argv))
        return code, out.getvalue()

    return run

"""The console script: `ptenv install` first asks the fast path (ptenv.fastpath) whether there
is nothing to do; every other command, and any install it leaves, goes to the CLI. Nothing is
imported here before that choice, so `ptenv --help` and `ptenv doctor` pay nothing for it."""

from __future__ import annotations

import os
import sys


def main() -> None:
    if sys.argv[1:2] == ["install"]:
        from ptenv import fastpath  # noqa: PLC0415 - only an install asks it

        code = fastpath.answer(sys.argv[1:], os.environ, sys.stdout)
        if code is not None:
            raise SystemExit(code)
    from ptenv.cli import main as cli_main  # noqa: PLC0415 - not loaded for an answered no-op

    cli_main()

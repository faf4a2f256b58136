"""Standalone scripts run with a target venv's own interpreter.

They never import ptenv (it is not installed there) and print exactly one JSON document.
"""

from __future__ import annotations

import sys
from pathlib import Path

SMOKE_DIR = Path(__file__).parent


def script(name: str) -> Path:
    """Path of a script in this folder, e.g. script('static_probe.py')."""
    return SMOKE_DIR / name


def static_probe_argv(python: Path) -> list[str]:
    """The static probe run by `python` (the venv's own interpreter)."""
    return [str(python), "-X", "utf8", str(script("static_probe.py"))]


def interpreter_of(venv: Path) -> Path:
    """<venv>/bin/python on POSIX, <venv>\\Scripts\\python.exe on Windows."""
    if sys.platform == "win32":
        return venv / "Scripts" / "python.exe"
    return venv / "bin" / "python"

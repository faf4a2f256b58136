"""Standalone scripts run with a target venv's own interpreter.

They never import ptenv (it is not installed there) and print exactly one JSON document.
"""

from __future__ import annotations

from pathlib import Path

SMOKE_DIR = Path(__file__).parent


def script(name: str) -> Path:
    """Path of a script in this folder, e.g. script('static_probe.py')."""
    return SMOKE_DIR / name

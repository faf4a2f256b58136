"""The project ptenv runs in: the nearest pyproject.toml, whose [tool.ptenv] sets defaults."""

from __future__ import annotations

from pathlib import Path


def nearest_pyproject(folder: Path) -> Path | None:
    """folder's pyproject.toml, else the first one above it; None when there is none."""
    for candidate in (folder, *folder.parents):
        path = candidate / "pyproject.toml"
        if path.is_file():
            return path
    return None


def may_set_defaults(folder: Path) -> bool:
    """Whether the nearest pyproject.toml may hold a [tool.ptenv] table (the CLI's cheap test:
    its text names ptenv); unreadable counts as no, as the CLI treats it."""
    path = nearest_pyproject(folder)
    if path is None:
        return False
    try:
        return "ptenv" in path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False

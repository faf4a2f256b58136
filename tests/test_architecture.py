"""The rooms of src/ptenv import one way (docs/architecture.md): entry -> cli -> workflows ->
install / check -> the core; report renders for cli; the in-venv scripts import no ptenv.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).parent.parent / "src" / "ptenv"

# Room -> the rooms it may import from (besides itself). Lazy imports count too.
CORE = {"models", "errors", "schema", "resolve", "diagnose", "releases", "probe", "context"}
SEAMS = {"_proc", "_http", "redact"}
ALLOWED = {
    # the console script: answers a no-op install (the install room's own tests), else the cli
    "entry": {"cli", "fastpath"},
    "fastpath": {"install", "probe", "errors", "scripts", "_proc", "project"},
    "cli": {"workflows", "report", "install", "check", "project", *CORE, *SEAMS},
    "project": set(),  # the nearest pyproject.toml: read by the cli and the entry alike
    "workflows": {"install", "check", *CORE, *SEAMS},
    "report": {"install", "releases", "models", "schema", "redact"},
    "install": {*CORE, *SEAMS, "scripts"},
    "check": {*CORE, *SEAMS, "scripts"},
    **{room: CORE | SEAMS | {"scripts"} for room in CORE},
    "_proc": set(),
    "_http": {"redact"},  # errors name URLs: never with their credentials
    "redact": set(),
    "scripts": set(),
}


def _room(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return parts[0]


def _ptenv_imports(path: Path) -> set[str]:
    """The rooms a module imports: `ptenv.install.lock` and `from ptenv import report` alike."""
    rooms = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            parts = node.module.split(".")
            if parts[0] != "ptenv":
                continue
            if len(parts) > 1:
                rooms.add(parts[1])
            else:
                rooms.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "ptenv":
                    rooms.add(parts[1] if len(parts) > 1 else "ptenv")
    return rooms


TOP = {SRC / "__init__.py", SRC / "__main__.py"}  # the package itself: version and entry
MODULES = sorted(p for p in SRC.rglob("*.py") if p not in TOP)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_a_module_imports_only_the_rooms_below_it(path: Path) -> None:
    room = _room(path)
    package_constants = {"__version__", "DEFAULT_INDEX_BASE"}  # ptenv/__init__.py
    imported = _ptenv_imports(path) - {room} - package_constants
    assert imported <= ALLOWED[room], f"{room} may not import {sorted(imported - ALLOWED[room])}"


def test_the_in_venv_scripts_never_import_ptenv() -> None:
    for path in (SRC / "scripts").glob("*.py"):
        if path.name != "__init__.py":
            assert _ptenv_imports(path) == set(), path

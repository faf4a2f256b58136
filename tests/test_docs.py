"""Generated docs must match the code that generates them."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

DOCS = Path(__file__).parent.parent / "docs"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_reference", DOCS / "gen_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "page",
    ["reference/matrix.md", "reference/findings.md", "reference/exit-codes.md", "reference/cli.md"],
)
def test_generated_page_is_current(page: str) -> None:
    build = _generator().PAGES[page]
    assert (DOCS / page).read_text(encoding="utf-8") == build(), (
        f"docs/{page} is stale: run python docs/gen_reference.py"
    )

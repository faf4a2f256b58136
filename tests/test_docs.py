"""Generated docs must match the code that generates them."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DOCS = Path(__file__).parent.parent / "docs"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_reference", DOCS / "gen_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "page",
    [
        "reference/matrix.md",
        "reference/findings.md",
        "reference/exit-codes.md",
        "reference/cli.md",
        "reference/json.md",
    ],
)
def test_generated_page_is_current(page: str) -> None:
    build = _generator().PAGES[page]
    assert (DOCS / page).read_text(encoding="utf-8") == build(), (
        f"docs/{page} is stale: run python docs/gen_reference.py"
    )


def _documented_keys() -> dict[str, set[str]]:
    """Schema heading -> the keys in its table's first column, from docs/reference/json.md."""
    sections: dict[str, set[str]] = {}
    current = ""
    for line in (DOCS / "reference" / "json.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            current = line[3:].strip()
            sections[current] = set()
        elif line.startswith("| `") and current:
            sections[current].add(line.split("`")[1])
    return sections


def _keys_of_real_documents() -> dict[str, set[str]]:
    import json
    import tempfile

    from typer.testing import CliRunner

    from ptenv import releases, report
    from ptenv.cli import app
    from ptenv.install.sources import Source, SourceKind
    from ptenv.install.workflow import Environment, InstallAction
    from ptenv.models import CheckReport, Request, StageResult
    from ptenv.resolve import resolve
    from tests.conftest import make_machine
    from tests.index_server import make_wheel

    scratch = tempfile.mkdtemp(prefix="ptenv-docs-")

    runner = CliRunner()
    golden = Path(__file__).parent / "data" / "golden"  # a lock from a real install

    def cli(*args: str) -> set[str]:
        return set(json.loads(runner.invoke(app, [*args, "--json"]).stdout))

    machine = make_machine()
    plan = resolve(machine, Request(), releases.load())
    check = CheckReport(
        ok=True,
        device="cpu",
        venv="/v",
        stages=(StageResult(name="import", ok=True, seconds=1.0, detail={}),),
        figures={},
        cache_dir=None,
        cache_warm=None,
        seconds=1,
    )
    installed = Environment(
        action=InstallAction.DRY_RUN,
        plan=plan,
        machine=machine,
        venv=Path("/v"),
        python="/v/bin/python",
        installer="uv",
        source=Source(kind=SourceKind.INDEX, label="official index", index_url=plan.index_url),
    )
    return {
        "Errors (every command)": cli("plan", "--torch", "1.0"),
        "ptenv.doctor/1": cli("doctor"),
        "ptenv.plan/1": cli("plan", "--gpu", "none"),
        "ptenv.matrix/1": cli("matrix"),
        "ptenv.check/1": set(report.check_document(check, [])),
        "ptenv.install/1": set(report.install_document(installed, None)),
        "ptenv.pylock/1": set(tomllib.loads((golden / "pylock.venv.toml").read_text("utf-8"))),
        "ptenv.wheel/1": cli("data", "inspect", str(make_wheel(Path(scratch), _TINY_TORCH))),
    }


_TINY_TORCH = "torch-2.15.0+cpu-cp312-cp312-manylinux_2_28_x86_64.whl"


def test_json_reference_lists_every_key_the_documents_have() -> None:
    assert _documented_keys() == _keys_of_real_documents()


def test_readme_demo_is_the_captured_output() -> None:
    spec = importlib.util.spec_from_file_location("capture", DOCS / "capture.py")
    assert spec is not None and spec.loader is not None
    capture = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(capture)
    readme = (DOCS.parent / "README.md").read_text(encoding="utf-8")
    shown = readme.split("<!-- demo:start -->\n")[1].split("<!-- demo:end -->")[0]
    assert shown == capture.readme_demo(), "README demo is stale: run python docs/capture.py"

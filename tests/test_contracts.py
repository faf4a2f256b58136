"""The JSON documents keep their contracts: each conforms to its TypedDict in ptenv.schema,
and so does the golden document recorded for it in tests/data/golden/ (real output).

Renaming or dropping a key in a renderer fails the first; doing it in the type as well fails
the second, against the golden document.
"""

from __future__ import annotations

import json
import sys
import types
import typing
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ptenv.cli import app
from ptenv.schema import DOCUMENTS, ErrorDocument

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

GOLDEN = Path(__file__).parent / "data" / "golden"
FILES = {
    "ptenv.doctor/1": "doctor.json",
    "ptenv.plan/1": "plan.json",
    "ptenv.matrix/1": "matrix.json",
    "ptenv.check/1": "check.json",
    "ptenv.install/1": "install.json",
    "ptenv.pylock/1": "pylock.venv.toml",
    "ptenv.wheel/1": "wheel.json",  # PyPI's torch 2.15.0 cp312 wheel, read by range requests
}


def problems(value: Any, annotation: Any, where: str = "$") -> list[str]:
    """Where `value` departs from `annotation` (a TypedDict, list, union or plain type)."""
    annotation = typing.get_args(annotation)[0] if _annotated(annotation) else annotation
    if typing.is_typeddict(annotation):
        return _typeddict_problems(value, annotation, where)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if isinstance(annotation, types.UnionType):
        found = [problems(value, a, where) for a in args]
        return [] if any(not p for p in found) else min(found, key=len)
    if annotation is type(None):
        return [] if value is None else [f"{where}: expected null"]
    if origin is list:
        if not isinstance(value, list):
            return [f"{where}: expected an array"]
        return [p for i, item in enumerate(value) for p in problems(item, args[0], f"{where}[{i}]")]
    if origin is dict or annotation is dict:
        return [] if isinstance(value, dict) else [f"{where}: expected an object"]
    if annotation is Any:
        return []
    if annotation is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return [] if ok else [f"{where}: expected a number"]
    return [] if isinstance(value, annotation) else [f"{where}: expected {annotation.__name__}"]


def _annotated(annotation: Any) -> bool:
    return typing.get_origin(annotation) is typing.Annotated


def _typeddict_problems(value: Any, document: Any, where: str) -> list[str]:
    if not isinstance(value, dict):
        return [f"{where}: expected an object"]
    hints = typing.get_type_hints(document, include_extras=True)
    missing = sorted(document.__required_keys__ - value.keys())
    unknown = sorted(value.keys() - hints.keys())
    found = [f"{where}: missing {k!r}" for k in missing] + [
        f"{where}: unknown {k!r}" for k in unknown
    ]
    for key in value.keys() & hints.keys():
        found += problems(value[key], hints[key], f"{where}.{key}")
    return found


def golden(schema: str) -> Any:
    text = (GOLDEN / FILES[schema]).read_text(encoding="utf-8")
    return tomllib.loads(text) if FILES[schema].endswith(".toml") else json.loads(text)


@pytest.mark.parametrize("schema", list(DOCUMENTS))
def test_the_golden_document_keeps_its_contract(schema: str) -> None:
    document = golden(schema)
    tool = document.get("tool", {}).get("ptenv", {})  # a pylock keeps its schema in [tool.ptenv]
    assert document.get("schema", tool.get("schema")) == schema
    assert problems(document, DOCUMENTS[schema]) == []


runner = CliRunner()


def _cli(*args: str) -> Any:
    return json.loads(runner.invoke(app, [*args, "--json"]).stdout)


@pytest.mark.parametrize(
    ("schema", "args"),
    [
        ("ptenv.doctor/1", ("doctor",)),
        ("ptenv.plan/1", ("plan", "--gpu", "8.6", "--driver", "580.95.05")),
        ("ptenv.matrix/1", ("matrix",)),
    ],
)
def test_the_commands_documents_keep_their_contract(schema: str, args: tuple[str, ...]) -> None:
    assert problems(_cli(*args), DOCUMENTS[schema]) == []


def test_an_error_document_keeps_its_contract() -> None:
    assert problems(_cli("plan", "--torch", "1.0"), ErrorDocument) == []


def test_a_lock_written_now_keeps_its_contract(tmp_path: Path) -> None:
    """Read the golden lock, write it again with today's code: the same contract."""
    from ptenv import releases
    from ptenv.install import lock
    from ptenv.models import Request
    from ptenv.resolve import resolve
    from tests.conftest import make_machine

    locked = lock.read(GOLDEN / FILES["ptenv.pylock/1"])
    machine = make_machine()
    # today's plan value, for the golden lock's own pins (a lock must list what it plans)
    plan = resolve(machine, Request(cuda="cpu"), releases.load())
    plan = replace(plan, torch=locked.plan.torch, variant=locked.plan.variant,
                   packages=locked.plan.packages)  # fmt: skip
    contents = lock.LockContents(
        plan=plan,
        source=locked.source,
        machine=machine,
        packages=locked.packages,
        request=locked.request,
        venv=tmp_path / ".venv",
    )
    lock.write(tmp_path / "pylock.venv.toml", contents)
    written = tomllib.loads((tmp_path / "pylock.venv.toml").read_text(encoding="utf-8"))
    assert problems(written, DOCUMENTS["ptenv.pylock/1"]) == []
    assert lock.read(tmp_path / "pylock.venv.toml").packages == locked.packages


def test_an_old_ptenv_lock_is_still_read() -> None:
    from ptenv.install import lock

    old = lock.read(GOLDEN / "ptenv.lock")
    assert old.old_format and old.packages and old.plan.packages[0].name == "torch"


def test_a_check_and_install_document_rendered_now_keep_their_contract() -> None:
    """The golden install (with its check) read back into values and rendered again."""
    from ptenv import report
    from ptenv.check import from_document
    from ptenv.schema import CheckDocument

    recorded: CheckDocument = golden("ptenv.check/1")
    again = from_document(dict(recorded), recorded["venv"], recorded["seconds"])
    rendered = report.check_document(again, [])
    assert problems(rendered, DOCUMENTS["ptenv.check/1"]) == []
    assert rendered["stages"] == recorded["stages"]


def test_an_install_document_rendered_now_keeps_its_contract() -> None:
    from ptenv import releases, report
    from ptenv.install.sources import Source, SourceKind
    from ptenv.install.workflow import Environment, InstallAction, Installed
    from ptenv.models import Request
    from ptenv.resolve import resolve
    from tests.conftest import make_machine

    machine = make_machine()
    plan = resolve(machine, Request(), releases.load())
    installed = Environment(
        action=InstallAction.INSTALLED,
        plan=plan,
        machine=machine,
        venv=Path("/v"),
        python="/v/bin/python",
        installer="uv",
        source=Source(kind=SourceKind.INDEX, label="official index", index_url=plan.index_url),
        installed=(Installed("torch", "2.15.0+cu130", "https://example.invalid/torch.whl"),),
        lock=Path("/ptenv.lock"),
        seconds={"total": 1.0},
    )
    rendered = report.install_document(installed, golden("ptenv.check/1"))
    assert problems(rendered, DOCUMENTS["ptenv.install/1"]) == []

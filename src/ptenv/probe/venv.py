"""What a venv holds, read statically by a child of its own interpreter (torch not imported)."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ptenv import _proc
from ptenv.errors import UsageError
from ptenv.models import TorchInstall, VenvInfo
from ptenv.scripts import interpreter_of, static_probe_argv

STATIC_PROBE_TIMEOUT_S = 30.0


def default_venv(env: Mapping[str, str], cwd: Path, own_prefix: str = sys.prefix) -> Path | None:
    """$VIRTUAL_ENV, else ./.venv when it exists, else None.

    When the active venv is ptenv's own (activated to run ptenv; it never holds torch) and the
    project has a ./.venv, the project's is meant.
    """
    active = env.get("VIRTUAL_ENV")
    candidate = cwd / ".venv"
    if active and not (_same_folder(active, own_prefix) and candidate.exists()):
        return Path(active)
    return candidate if candidate.exists() else None


def is_own_environment(venv: Path, own_prefix: str = sys.prefix) -> bool:
    """True when `venv` is the environment ptenv itself runs from."""
    return _same_folder(str(venv), own_prefix)


def _same_folder(one: str, other: str) -> bool:
    try:
        return Path(one).samefile(other)
    except OSError:
        return False


def validate_venv(venv: Path) -> Path:
    """The venv's interpreter; UsageError when the path is no virtual environment."""
    if not venv.exists():
        raise UsageError(
            f"--venv {venv}: no such directory.",
            hint="Create one with `ptenv install --venv PATH`, or point at an "
            "existing virtual environment.",
        )
    if not venv.is_dir():
        raise UsageError(
            f"--venv {venv} is a file, not a virtual environment.",
            hint="Point --venv at the folder that holds pyvenv.cfg.",
        )
    if not (venv / "pyvenv.cfg").is_file():
        raise UsageError(
            f"--venv {venv} is not a virtual environment (it has no pyvenv.cfg).",
            hint="Point --venv at a folder made by `python -m venv` or `uv venv`.",
        )
    python = interpreter_of(venv)
    if not python.exists():
        raise UsageError(
            f"--venv {venv} has no interpreter at {python}.",
            hint="The venv is broken (its Python was removed?); recreate it.",
        )
    return python


def parse_static_probe(venv: Path, document: dict[str, object]) -> VenvInfo:
    """The static probe's JSON -> VenvInfo (pure; tested on captured documents)."""
    python = document["python"]
    assert isinstance(python, dict)
    raw_dists = document.get("distributions") or {}
    assert isinstance(raw_dists, dict)
    raw_torch = document.get("torch")
    torch: TorchInstall | None = None
    if isinstance(raw_torch, dict):
        fields = raw_torch.get("version_py") or {}
        torch = TorchInstall(
            version=str(fields.get("__version__") or "unknown"),
            cuda=fields.get("cuda") or None,
            hip=fields.get("hip") or None,
            arch_list=tuple(raw_torch.get("arch_list") or ()),
            requires=tuple(raw_torch.get("requires") or ()),
            location=raw_torch.get("location"),
            damaged=tuple(raw_torch.get("damaged") or ()),
        )
    return VenvInfo(
        path=str(venv),
        python_executable=str(python.get("executable")),
        python_version=str(python.get("version")),
        free_threaded=bool(python.get("free_threaded")),
        python_h=bool(python.get("python_h")),
        distributions={str(k): tuple(v) for k, v in raw_dists.items()},
        torch=torch,
    )


def start_static_probe(python: Path) -> _proc.Background:
    """The static probe, started now and read later by read_static_probe."""
    return _proc.Background(static_probe_argv(python), env=_proc.clean_env())


def run_static_probe(
    python: Path, what: str, timeout: float = STATIC_PROBE_TIMEOUT_S
) -> dict[str, Any]:
    """The static probe's JSON from `python`; UsageError (naming `what`) if it cannot answer."""
    try:
        started = start_static_probe(python)
    except OSError as error:
        raise UsageError(
            f"Cannot run {what} {python}: {error.strerror}.",
            hint="Give (or recreate) a working Python interpreter.",
        ) from None
    return read_static_probe(started, python, what, timeout)


def read_static_probe(
    started: _proc.Background, python: Path, what: str, timeout: float = STATIC_PROBE_TIMEOUT_S
) -> dict[str, Any]:
    """The started probe's JSON; UsageError (naming `what`) if it could not answer."""
    done = started.wait(timeout)
    if not done.ok:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        reason = "timed out" if done.timed_out else f"exited with {done.returncode}: {last}"
        raise UsageError(
            f"{what.capitalize()} {python} {reason}.",
            hint="Run it by hand to see why; recreate the venv if it is broken.",
        )
    try:
        document = json.loads(done.stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        document = None
    if not isinstance(document, dict) or not isinstance(document.get("python"), dict):
        raise UsageError(
            f"{what.capitalize()} {python} printed no readable report.",
            hint="A sitecustomize or .pth file may print on start-up; it must be CPython 3.8+.",
        )
    return document


def probe_venv(
    venv: Path, started: _proc.Background | None = None, timeout: float = STATIC_PROBE_TIMEOUT_S
) -> VenvInfo:
    """Run the static probe with the venv's interpreter (or read the one `started` for it);
    UsageError if it cannot answer."""
    python = validate_venv(venv)
    what = "the venv's interpreter"
    if started is None:
        document = run_static_probe(python, what, timeout)
    else:
        document = read_static_probe(started, python, what, timeout)
    return parse_static_probe(venv.absolute(), document)

"""`ptenv install` run again on a venv that already holds what its own lock records has
nothing to do, the way `uv sync` answers a synced project: that answer is given here, asked by
the console script (ptenv.entry) before the CLI loads (Typer, the release data, the report:
about 0.3 s), by the same probes and the same tests (ptenv.install.noop) the full install
makes. Whatever this is not sure of (another flag, a lock that does not fit, a damaged torch,
a venv in use) goes to the full command, which then decides.

Modules are imported late on purpose: the venv's probe (a child process) is started first and
runs while they load.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TextIO

from ptenv import _proc, project, scripts
from ptenv.errors import ExitCode, Stopped, stop_on_signals
from ptenv.install import staging

# `install`'s options that the no-op answer cannot change: while the venv's own lock fits,
# the plan and its source are the lock's (the full command ignores these flags then too).
_VALUED = {
    "--venv": "venv",
    "--torch": "torch",
    "--cuda": "cuda",
    "--with": "with",
    "--driver": "driver",  # the described target: probed through the same overrides
    "--gpu": "gpu",
}
_IGNORED_VALUED = ("--index-base",)
_IGNORED_FLAGS = ("--no-check", "--yes", "-y")
# Variables that feed `install`'s options or the probe: their values are the CLI's to check.
_VARIABLES = ("PTENV_INSTALLER", "PTENV_STALL_TIMEOUT", "PTENV_PYPI_MIRROR", "PTENV_SYSROOT")


def answer(argv: Sequence[str], env: Mapping[str, str], out: TextIO) -> int | None:
    """0 after writing the answer when `ptenv <argv>` is an install with nothing to do; None
    when the full command must decide (it then answers alike, or does the work)."""
    asked = _install_flags(argv, env)
    if asked is None or any(env.get(name) for name in _VARIABLES) or not _can_write(out):
        return None
    if project.may_set_defaults(Path.cwd()):
        return None  # [tool.ptenv] may name another venv, torch or installer: the CLI reads it
    stop_on_signals()
    try:
        return _answer(asked, env, out)
    except Stopped as stop:
        sys.stderr.write(f"error: Stopped by {stop.name}; the previous environment is unchanged.\n")
        return 128 + stop.number
    except KeyboardInterrupt:
        sys.stderr.write("error: Interrupted.\n")
        return int(ExitCode.INTERRUPTED)
    except Exception:  # noqa: BLE001 - any doubt is the full command's to explain
        return None


def _can_write(out: TextIO) -> bool:
    """The answer's dash needs an encoding that has it; the CLI's streams fall back to ASCII."""
    encoding = getattr(out, "encoding", None)
    try:
        "—".encode(encoding or "utf-8")  # no encoding: a text buffer
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def _install_flags(argv: Sequence[str], env: Mapping[str, str]) -> dict[str, str] | None:
    """`install`'s values from argv when it holds only the flags the answer is sure of
    (--driver and --gpu fall back to PTENV_DRIVER / PTENV_GPU, as the CLI's do)."""
    if not argv or argv[0] != "install":
        return None
    values = {"venv": ".venv", "torch": "latest", "cuda": "auto", "with": ""}
    for key, variable in (("driver", "PTENV_DRIVER"), ("gpu", "PTENV_GPU")):
        if env.get(variable):
            values[key] = env[variable]
    words = iter(argv[1:])
    for word in words:
        name, equals, inline = word.partition("=")
        if name in _VALUED or name in _IGNORED_VALUED:
            value = inline if equals else next(words, None)
            if value is None:
                return None  # the CLI says what is missing
            if name in _VALUED:
                values[_VALUED[name]] = value
        elif word not in _IGNORED_FLAGS:
            return None
    return values


def _answer(asked: dict[str, str], env: Mapping[str, str], out: TextIO) -> int | None:
    venv = staging.real_target(Path(asked["venv"]))
    staging.refuse_unsafe_target(venv)
    python = scripts.interpreter_of(venv)
    if not (venv / "pyvenv.cfg").is_file() or not python.is_file():
        return None
    with staging.install_lock(venv), staging.venv_lock(venv, shared=False) as free:
        if not free:
            return None
        started = _proc.Background(scripts.static_probe_argv(python), env=_proc.clean_env())
        try:
            answered = _decide(venv, started, asked, env)
        finally:
            started.cancel()
        if answered is None:
            return None
        staging.clear_leftovers(venv)
    out.write(answered)
    out.flush()
    return 0


def _decide(
    venv: Path, started: _proc.Background, asked: dict[str, str], env: Mapping[str, str]
) -> str | None:
    """The full install's no-op test, made while the venv's probe runs: the answer's line."""
    from ptenv.install import lock as lockfile  # noqa: PLC0415
    from ptenv.install import noop  # noqa: PLC0415
    from ptenv.probe import TargetOverrides, probe_machine  # noqa: PLC0415
    from ptenv.probe.venv import probe_venv  # noqa: PLC0415

    own = lockfile.default_path(venv)
    if not own.is_file():
        return None
    locked = lockfile.read(own)
    existing = probe_venv(venv, started)
    if existing.torch is not None and existing.torch.damaged:
        return None  # the full install repairs it
    minor = ".".join(existing.python_version.split(".")[:2])
    machine = probe_machine(
        env=env,
        venv_target=venv,
        overrides=TargetOverrides(
            python=minor + ("t" if existing.free_threaded else ""),
            driver=asked.get("driver"),
            gpu=asked.get("gpu"),
        ),
    )
    asked_record = noop.request_record(
        asked["torch"], asked["cuda"], noop.companions(asked["with"])
    )
    if not noop.own_lock_fits(locked, asked_record, machine):
        return None
    if not noop.already_installed(existing, locked.plan):
        return None
    return noop.answer_line(locked.plan, venv)

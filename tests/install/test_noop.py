"""The console script answers an install with nothing to do before the CLI loads
(ptenv.entry, ptenv.fastpath); every case it is not sure of goes to the full install, which
then decides."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ptenv import fastpath
from ptenv.cli import app
from ptenv.install import staging
from tests.index_server import Index, serve

runner = CliRunner()
PY = f"cp{sys.version_info[0]}{sys.version_info[1]}"
TAG = f"{PY}-{PY}-manylinux_2_28_x86_64"


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Index, Path]]:
    """A venv that ptenv installed torch 2.14.1+cpu into, and the index it came from."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))
    with serve(tmp_path / "served") as index:
        index.add("cpu", f"torch-2.14.1+cpu-{TAG}.whl")
        index.add("cpu", f"torch-2.14.0+cpu-{TAG}.whl")
        done = runner.invoke(
            app, ["install", "--venv", "env", "--index-base", index.url, "--torch", "2.14.1",
                  "--cuda", "cpu", "--no-check"],
        )  # fmt: skip
        assert done.exit_code == 0, done.stderr
        yield index, tmp_path / "env"


def _asked(index: Index, *more: str) -> list[str]:
    return ["install", "--venv", "env", "--index-base", index.url, "--torch", "2.14.1",
            "--cuda", "cpu", *more]  # fmt: skip


def _answer(argv: list[str], env: dict[str, str] | None = None) -> tuple[int | None, str]:
    out = io.StringIO()
    return fastpath.answer(argv, dict(os.environ) if env is None else env, out), out.getvalue()


def test_an_install_with_nothing_to_do_is_answered_as_the_full_command_answers(
    installed: tuple[Index, Path],
) -> None:
    index, venv = installed
    code, answered = _answer(_asked(index, "--no-check"))
    full = runner.invoke(app, _asked(index, "--no-check"))
    assert code == 0 and full.exit_code == 0
    assert answered == f"Already installed: torch==2.14.1+cpu in {venv} — nothing to do.\n"
    assert answered == full.stdout
    # the other spellings of the same ask: --flag=value, the flags the answer cannot change
    assert _answer([*_asked(index)[:1], f"--venv={venv}", "--torch=2.14.1", "--cuda", "cpu",
                    "-y", "--index-base", "http://127.0.0.1:9/whl"])[0] == 0  # fmt: skip
    assert not staging.lock_path(venv).exists() and not staging.stagings(venv)


def test_the_console_script_answers_without_loading_the_cli(
    installed: tuple[Index, Path],
) -> None:
    """The full command writes its progress to stderr and loads Typer; the answer neither."""
    index, venv = installed
    probe = (
        "import sys\n"
        "from ptenv import entry\n"
        f"sys.argv = ['ptenv', *{_asked(index, '--no-check')!r}]\n"
        "try:\n    entry.main()\nfinally:\n    print('typer' in sys.modules, file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False, cwd=venv.parent
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"Already installed: torch==2.14.1+cpu in {venv} — nothing to do.\n"
    assert done.stderr == "False\n"


@pytest.mark.parametrize(
    "extra",
    [
        ["--upgrade"],
        ["--reinstall"],
        ["--json"],
        ["--dry-run"],
        ["--quiet"],
        ["--with", "torchvision"],
        ["--installer", "pip"],
        ["--unknown-flag"],
        ["--venv"],  # a value missing: the CLI says so
    ],
)
def test_any_other_flag_goes_to_the_full_install(
    installed: tuple[Index, Path], extra: list[str]
) -> None:
    index, _ = installed
    assert _answer(_asked(index, *extra)) == (None, "")


def test_another_ask_goes_to_the_full_install(installed: tuple[Index, Path]) -> None:
    index, _ = installed
    assert _answer(["install", "--venv", "env", "--torch", "2.14.0", "--cuda", "cpu"])[0] is None
    assert _answer(["install", "--venv", "env", "--torch", "2.14.1"])[0] is None  # cuda auto
    assert _answer(["doctor"])[0] is None
    assert _answer(_asked(index), {**os.environ, "PTENV_SYSROOT": "/"})[0] is None


def test_a_lock_that_does_not_fit_goes_to_the_full_install(
    installed: tuple[Index, Path],
) -> None:
    index, venv = installed
    lock = venv.parent / "pylock.env.toml"
    text = lock.read_text(encoding="utf-8")
    lock.write_text(text.replace("gpus = []", 'driver = "550.54.15", gpus = ["8.6"]'))
    assert _answer(_asked(index)) == (None, "")  # locked on another machine
    lock.write_text(text[: len(text) // 2])
    assert _answer(_asked(index)) == (None, "")  # truncated: the CLI names the problem
    assert runner.invoke(app, _asked(index, "--no-check")).exit_code == 2
    lock.unlink()
    assert _answer(_asked(index)) == (None, "")


def test_a_damaged_torch_goes_to_the_full_install_which_repairs_it(
    installed: tuple[Index, Path],
) -> None:
    index, venv = installed
    (init,) = venv.glob("lib/python*/site-packages/torch/__init__.py")
    init.write_text(init.read_text() + "# changed\n")
    assert _answer(_asked(index)) == (None, "")
    repaired = runner.invoke(app, _asked(index, "--no-check"))
    assert repaired.exit_code == 0 and "repair" in repaired.stderr
    assert _answer(_asked(index))[0] == 0


def test_a_venv_in_use_goes_to_the_full_install(installed: tuple[Index, Path]) -> None:
    index, venv = installed
    with staging.venv_lock(venv, shared=True) as held:
        assert held
        assert _answer(_asked(index)) == (None, "")
    with staging.install_lock(venv):
        assert _answer(_asked(index)) == (None, "")
    assert _answer(_asked(index))[0] == 0


def test_a_described_target_is_answered_when_the_lock_was_made_for_it(
    installed: tuple[Index, Path],
) -> None:
    index, _ = installed
    described = ["--driver", "550.54.15", "--gpu", "8.6"]
    done = runner.invoke(app, _asked(index, "--no-check", "--reinstall", *described))
    assert done.exit_code == 0, done.output  # the lock now records driver 550.54.15
    assert _answer(_asked(index, *described))[0] == 0
    environment = {**os.environ, "PTENV_DRIVER": "550.54.15", "PTENV_GPU": "8.6"}
    assert _answer(_asked(index), environment)[0] == 0  # the variables, as the CLI reads them
    assert _answer(_asked(index))[0] is None  # this machine has no such driver


def test_a_project_that_sets_ptenv_defaults_goes_to_the_full_install(
    installed: tuple[Index, Path], tmp_path: Path
) -> None:
    """[tool.ptenv] venv = "other" means plain `ptenv install` is about another venv."""
    index, _ = installed
    (tmp_path / "pyproject.toml").write_text('[tool.ptenv]\nvenv = "other"\n')
    assert _answer(_asked(index)) == (None, "")

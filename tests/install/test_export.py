"""ptenv export: the plan as hash-pinned requirements pip installs with --require-hashes, and
as a PEP 751 pylock that ptenv install --lock replays; resolved for the target's platform."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ptenv.cli import app
from tests.index_server import Index

runner = CliRunner()
MINOR = f"{sys.version_info[0]}.{sys.version_info[1]}"


@pytest.fixture
def index(two_platform_index: Index) -> Index:
    return two_platform_index


def test_exported_requirements_install_with_require_hashes(index: Index, tmp_path: Path) -> None:
    out = tmp_path / "requirements.txt"
    result = runner.invoke(app, ["export", "requirements", "--index-base", index.url,
                                 "--gpu", "none", "--python", MINOR, "-o", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert f"--index-url {index.url}/cpu" in text
    assert "torch==2.15.0+cpu --hash=sha256:" in text and "filelock==3.20.0 --hash=sha256:" in text
    venv = tmp_path / "fresh"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    isolated = {"PATH": "/usr/bin:/bin", "PIP_CONFIG_FILE": "/dev/null"}
    done = subprocess.run(
        [python, "-m", "pip", "install", "--isolated", "--disable-pip-version-check",
         "--require-hashes", "-r", str(out)],
        capture_output=True, text=True, env=isolated, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    probe = "import torch; print(torch.__version__)"
    version = subprocess.run([python, "-c", probe], capture_output=True, text=True, check=True)
    assert version.stdout.strip() == "2.15.0+cpu"


def test_an_export_for_windows_pins_the_windows_wheel(index: Index, tmp_path: Path) -> None:
    out = tmp_path / "pylock.win.toml"
    result = runner.invoke(app, ["export", "pylock", "--index-base", index.url, "--os", "windows",
                                 "--gpu", "none", "--python", MINOR, "-o", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "win_amd64.whl" in out.read_text() and "manylinux" not in out.read_text()


def test_an_exported_pylock_replays_with_install_lock(index: Index, tmp_path: Path) -> None:
    out = tmp_path / "pylock.venv.toml"
    result = runner.invoke(app, ["export", "pylock", "--index-base", index.url, "--gpu", "none",
                                 "--python", MINOR, "-o", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    replay = runner.invoke(app, ["install", "--no-check", "--venv", "env", "--lock", str(out)])
    assert replay.exit_code == 0, replay.output
    assert (tmp_path / "env" / "bin" / "python").exists()

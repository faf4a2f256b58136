"""ptenv bundle: the target's wheels in one folder, hash-checked and resumable; installed on
the "target" with --find-links and no index at all."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ptenv.cli import app
from tests.index_server import Index
from tests.install.conftest import LINUX_TORCH, WINDOWS_TORCH

runner = CliRunner()
MINOR = f"{sys.version_info[0]}.{sys.version_info[1]}"


@pytest.fixture
def index(two_platform_index: Index) -> Index:
    return two_platform_index


def _bundle(index: Index, out: Path, *extra: str) -> str:
    result = runner.invoke(app, ["bundle", "--out", str(out), "--index-base", index.url,
                                 "--gpu", "none", "--python", MINOR, *extra])  # fmt: skip
    assert result.exit_code == 0, result.output
    return result.stdout


def test_a_bundle_holds_the_targets_wheels_and_a_manifest(index: Index, tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    said = _bundle(index, out)
    assert "Bundled 2 wheels" in said and "2 downloaded" in said
    assert sorted(p.name for p in out.glob("*.whl")) == ["filelock-3.20.0-py3-none-any.whl",
                                                         LINUX_TORCH]  # fmt: skip
    manifest = json.loads((out / "ptenv-bundle.json").read_text())
    assert manifest["schema"] == "ptenv.bundle/1" and len(manifest["wheels"]) == 2
    assert all(len(w["sha256"]) == 64 for w in manifest["wheels"])


def test_a_rerun_fetches_only_what_is_missing(index: Index, tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    _bundle(index, out)
    downloads = len(index.served)
    assert "0 downloaded, 2 already there" in _bundle(index, out)
    assert len(index.served) == downloads
    (out / "filelock-3.20.0-py3-none-any.whl").write_bytes(b"cut short")
    assert "1 downloaded, 1 already there" in _bundle(index, out)
    assert index.served[downloads:] == ["filelock-3.20.0-py3-none-any.whl"]


def test_a_bundle_for_windows_holds_the_windows_wheel(index: Index, tmp_path: Path) -> None:
    out = tmp_path / "win"
    _bundle(index, out, "--os", "windows")
    assert (out / WINDOWS_TORCH).is_file() and not (out / LINUX_TORCH).exists()


def test_the_target_installs_from_the_bundle_with_no_index(index: Index, tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    _bundle(index, out)
    index.unavailable = 10**6  # the "target" cannot reach the index at all
    requests = len(index.requests)
    result = runner.invoke(app, ["install", "--no-check", "--venv", "env", "--find-links",
                                 str(out), "--torch", "2.15.0", "--cuda", "cpu"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert len(index.requests) == requests, "the install reached for the index"
    assert (tmp_path / "env" / "bin" / "python").exists()


def test_a_wheel_missing_from_the_bundle_is_named(index: Index, tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    _bundle(index, out)
    (out / "filelock-3.20.0-py3-none-any.whl").unlink()
    result = runner.invoke(app, ["install", "--no-check", "--venv", "env", "--find-links",
                                 str(out), "--torch", "2.15.0", "--cuda", "cpu"])  # fmt: skip
    assert result.exit_code == 4
    assert "filelock" in result.stderr


def _unshare_works() -> bool:
    unshare = shutil.which("unshare")
    if unshare is None:
        return False
    done = subprocess.run([unshare, "-n", "true"], capture_output=True, check=False)
    return done.returncode == 0


@pytest.mark.skipif(not _unshare_works(), reason="needs `unshare -n` (root or user namespaces)")
def test_the_bundle_installs_with_no_network_at_all_and_an_empty_cache(
    index: Index, tmp_path: Path
) -> None:
    """No network namespace but loopback (down): the install must need nothing but the folder."""
    out = tmp_path / "bundle"
    _bundle(index, out)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "PIP_"))}
    env |= {"UV_CACHE_DIR": str(tmp_path / "empty-cache"), "PIP_CONFIG_FILE": os.devnull}
    ptenv = [sys.executable, "-m", "ptenv", "install", "--no-check", "--venv", "env",
             "--find-links", str(out), "--torch", "2.15.0", "--cuda", "cpu"]  # fmt: skip
    done = subprocess.run(["unshare", "-n", *ptenv], capture_output=True, text=True, env=env,
                          cwd=tmp_path, check=False, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    imported = subprocess.run(
        [str(tmp_path / "env" / "bin" / "python"), "-c", "import torch; print(torch.__version__)"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert imported.stdout.strip() == "2.15.0+cpu", imported.stderr
    (out / "filelock-3.20.0-py3-none-any.whl").unlink()
    shutil.rmtree(tmp_path / "env")
    missing = subprocess.run(["unshare", "-n", *ptenv], capture_output=True, text=True, env=env,
                             cwd=tmp_path, check=False, timeout=300)  # fmt: skip
    assert missing.returncode == 4 and "filelock" in missing.stderr, missing.stderr

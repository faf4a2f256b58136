"""End to end: the real CPU torch wheel, served with its dependencies from a loopback index,
installed by ptenv into a fresh venv with real uv, then proven by ptenv check."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ptenv.cli import app
from tests.index_server import serve
from tests.torch_venv import TORCH_VERSION, NoTorchWheel, fill_index_folder

runner = CliRunner()


@pytest.mark.slow
def test_real_cpu_torch_from_a_loopback_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))
    with serve(tmp_path / "served") as index:
        try:
            fill_index_folder(index.root / "cpu", tmp_path / "cache")
        except NoTorchWheel as reason:
            pytest.skip(str(reason))
        result = runner.invoke(
            app,
            [
                "install",
                "--venv",
                "env",
                "--index-base",
                index.url,
                "--torch",
                TORCH_VERSION,
                "--cuda",
                "cpu",
                "--json",
                "--yes",
            ],
        )
    document = json.loads(result.stdout)
    assert result.exit_code == 0, document
    assert document["action"] == "installed"
    assert document["check"]["ok"] is True, document["check"]["stages"]
    names = {item["name"] for item in document["installed"]}
    assert {"torch", "sympy", "filelock"} <= names
    assert all(item["source"].startswith(index.url) for item in document["installed"])
    done = subprocess.run(
        [
            str(tmp_path / "env" / "bin" / "python"),
            "-c",
            "import torch; print(torch.__version__, torch.version.cuda)",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.split() == [f"{TORCH_VERSION}+cpu", "None"]

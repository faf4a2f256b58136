"""Jetson boards from their recorded files: named with their L4T and JetPack, and never given
an aarch64 server wheel (or the CPU build) in silence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ptenv.cli import app
from ptenv.probe.jetson import probe_jetson
from tests.sysroots import jetson_machine

runner = CliRunner()
ORIN = {"soc": "tegra234", "model": "NVIDIA Jetson AGX Orin Developer Kit",
        "release": "R36 (release), REVISION: 4.3"}  # fmt: skip
THOR = {"soc": "tegra264", "model": "NVIDIA Jetson AGX Thor Developer Kit",
        "release": "R38 (release), REVISION: 2.0"}  # fmt: skip


def test_an_orin_is_named_with_its_l4t_and_jetpack(tmp_path: Path) -> None:
    board = probe_jetson(jetson_machine(tmp_path, **ORIN))
    assert board is not None
    assert (board.model, board.soc, board.l4t, board.jetpack, board.compute_capability) == (
        "NVIDIA Jetson AGX Orin Developer Kit", "tegra234", "36.4.3", "6", "8.7"
    )  # fmt: skip


def test_a_server_is_not_a_jetson(tmp_path: Path) -> None:
    assert probe_jetson(tmp_path) is None


def _plan(root: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[int, dict[str, object]]:
    monkeypatch.setenv("PTENV_SYSROOT", str(root))
    result = runner.invoke(app, ["plan", "--json", "--arch", "aarch64", "--python", "3.12"])
    return result.exit_code, json.loads(result.stdout)


def test_an_orin_is_exit_3_pointing_at_nvidias_jetson_wheels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, document = _plan(jetson_machine(tmp_path, **ORIN), monkeypatch)
    assert code == 3
    error = document["error"]
    assert "sm_87" in error["message"] and "JetPack 6" in error["hint"]  # type: ignore[index]


def test_thor_is_pointed_at_the_sbsa_build_that_carries_sm_110(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, document = _plan(jetson_machine(tmp_path, **THOR), monkeypatch)
    assert code == 3
    error = document["error"]
    assert "sm_110" in error["message"] and "--cuda cu13" in error["hint"]  # type: ignore[index]


def test_cuda_cpu_is_honoured_on_a_jetson(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTENV_SYSROOT", str(jetson_machine(tmp_path, **ORIN)))
    result = runner.invoke(app, ["plan", "--json", "--arch", "aarch64", "--cuda", "cpu"])
    assert result.exit_code == 0 and json.loads(result.stdout)["variant"] == "cpu"

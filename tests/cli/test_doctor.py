from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ptenv import __version__
from ptenv.cli import app
from tests.venvs import add_torch, make_venv

runner = CliRunner()


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No ambient venv: run in an empty folder with VIRTUAL_ENV unset."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    for name in ("PTENV_OS", "PTENV_ARCH", "PTENV_PYTHON", "PTENV_DRIVER", "PTENV_GPU"):
        monkeypatch.delenv(name, raising=False)


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"ptenv {__version__}"


def test_doctor_json_contract() -> None:
    """One document on stdout with the versioned schema and stable keys."""
    result = runner.invoke(app, ["doctor", "--json"])
    assert result.exit_code in (0, 1)
    document = json.loads(result.stdout)
    assert document["schema"] == "ptenv.doctor/1"
    assert set(document) == {"schema", "machine", "venv", "findings"}
    machine = document["machine"]
    assert {
        "os",
        "arch",
        "python",
        "cpu",
        "memory",
        "storage",
        "toolchain",
        "nvidia",
        "overridden",
        "platform",
    } <= set(machine)
    assert {"driver_version", "cuda_driver_version", "gpus", "sources"} <= set(machine["nvidia"])
    for item in document["findings"]:
        assert set(item) == {"code", "severity", "message", "fix"}
        assert item["severity"] in ("error", "warning", "info")


def test_doctor_on_this_gpu_less_machine_says_no_driver_and_exits_0() -> None:
    result = runner.invoke(app, ["doctor", "--json"])
    document = json.loads(result.stdout)
    if document["machine"]["nvidia"]["driver_version"] is not None:
        pytest.skip("this machine has an NVIDIA driver")
    assert "no-nvidia-driver" in [f["code"] for f in document["findings"]]
    errors = [f for f in document["findings"] if f["severity"] == "error"]
    assert result.exit_code == (1 if errors else 0)


def test_doctor_rich_output_names_the_host() -> None:
    result = runner.invoke(app, ["doctor"])
    assert "Host" in result.stdout and "Python" in result.stdout


def test_error_finding_exits_1() -> None:
    result = runner.invoke(app, ["doctor", "--json", "--python", "3.7"])
    assert result.exit_code == 1
    assert "python-too-old" in result.stdout


def test_strict_counts_warnings(tmp_path: Path) -> None:
    venv = make_venv(tmp_path / "v")
    add_torch(venv, "2.14.1+cu126", "12.6", "-gencode;arch=compute_80,code=sm_80")
    args = ["doctor", "--json", "--venv", str(venv), "--driver", "550.54.15", "--gpu", "8.0"]
    relaxed = runner.invoke(app, args)
    strict = runner.invoke(app, [*args, "--strict"])
    codes = [f["code"] for f in json.loads(relaxed.stdout)["findings"]]
    assert "torch-driver-older-than-ptx" in codes
    assert relaxed.exit_code == 0
    assert strict.exit_code == 1


def test_overrides_from_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTENV_GPU", "sm_86")
    monkeypatch.setenv("PTENV_DRIVER", "550.54.15")
    document = json.loads(runner.invoke(app, ["doctor", "--json"]).stdout)
    assert document["machine"]["overridden"] == ["driver", "gpu"]
    assert document["machine"]["nvidia"]["gpus"][0]["compute_capability"] == "8.6"


@pytest.mark.parametrize(
    "args",
    [
        ["--gpu", "8.x"],
        ["--driver", "new"],
        ["--os", "beos"],
        ["--arch", "mips"],
        ["--python", "snake"],
    ],
)
def test_bad_override_values_exit_2_with_one_line(args: list[str]) -> None:
    result = runner.invoke(app, ["doctor", *args])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ")
    assert "hint: " in result.stderr
    assert "Traceback" not in result.output


def test_bad_value_in_json_mode_still_prints_one_json_document() -> None:
    result = runner.invoke(app, ["doctor", "--json", "--gpu", "8.x"])
    assert result.exit_code == 2
    document = json.loads(result.stdout)
    assert document["error"]["code"] == "usage"


def test_venv_pointing_at_a_file(tmp_path: Path) -> None:
    target = tmp_path / "file.txt"
    target.write_text("x")
    result = runner.invoke(app, ["doctor", "--venv", str(target)])
    assert result.exit_code == 2
    assert "is a file" in result.stderr


def test_venv_that_is_not_a_venv(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    result = runner.invoke(app, ["doctor", "--venv", str(tmp_path / "plain")])
    assert result.exit_code == 2
    assert "pyvenv.cfg" in result.stderr


def test_missing_venv(tmp_path: Path) -> None:
    result = runner.invoke(app, ["doctor", "--venv", str(tmp_path / "nope")])
    assert result.exit_code == 2


def test_unknown_flag_is_a_usage_error() -> None:
    result = runner.invoke(app, ["doctor", "--frobnicate"])
    assert result.exit_code == 2


def test_nvml_raising_anything_still_gives_a_report(tmp_path: Path) -> None:
    """A binding that raises an unexpected exception becomes a finding, not a traceback."""
    from ptenv import workflows
    from ptenv.context import Context
    from ptenv.probe import TargetOverrides
    from tests.fakes import FakeNvml

    result = workflows.doctor(
        TargetOverrides(),
        None,
        Context(cwd=tmp_path, nvml_loader=lambda: FakeNvml(init_error=ValueError("odd"))),
    )
    assert result.machine.nvidia.problem is not None
    assert "nvml-error" in [f.code for f in result.findings]

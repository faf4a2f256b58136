"""The rough edges a newcomer hits first (issue 15): each is one clear exit, never 70."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ptenv.cli import app
from tests.check.test_check import fake_venv

runner = CliRunner()

PASSING_DOCUMENT = json.dumps(
    {
        "ok": True,
        "device": "cpu",
        "cache": {"dir": None, "warm": None},
        "stages": [
            {"name": "import", "ok": True, "seconds": 1.0, "detail": {"torch": "2.13.0+cpu"}},
            {"name": "device", "ok": True, "seconds": 0.1, "detail": {"device": "cpu"}},
            {
                "name": "numerics",
                "ok": True,
                "seconds": 0.1,
                "detail": {"size": 256, "relative_error": 1e-7},
            },
            {
                "name": "train_eager",
                "ok": True,
                "seconds": 1.0,
                "detail": {"loss_first": 2.3, "loss_last": 0.1, "losses": [2.3, 1.0, 0.1]},
            },
        ],
    }
)
RAN = 'echo ran >> "$(dirname "$0")/ran"'


def test_too_few_steps_is_exit_2_naming_the_minimum(tmp_path: Path) -> None:
    result = runner.invoke(app, ["check", "--venv", str(tmp_path), "--steps", "5"])
    assert result.exit_code == 2
    # Typer words the range its own way from release to release: the option and the minimum
    assert "'--steps'" in result.output and "20" in result.output


def test_a_junit_file_in_a_missing_folder_is_refused_before_the_check_runs(
    tmp_path: Path,
) -> None:
    venv = fake_venv(tmp_path, f"{RAN}; stage import; echo 'PTENV_JSON={PASSING_DOCUMENT}'")
    junit = tmp_path / "missing" / "check.xml"
    result = runner.invoke(app, ["check", "--venv", str(venv), "--junit", str(junit)])
    assert result.exit_code == 2, result.output
    assert f"--junit {junit} is in {junit.parent}, which does not exist." in result.stderr
    assert not (venv / "bin" / "ran").exists(), "the check ran before the path was refused"


def test_a_lock_in_a_missing_folder_is_refused_before_any_work(tmp_path: Path) -> None:
    lock = tmp_path / "nowhere" / "ptenv.lock"
    result = runner.invoke(
        app, ["install", "--venv", str(tmp_path / "env"), "--lock", str(lock), "--dry-run"]
    )
    assert result.exit_code == 2, result.output
    assert "--lock" in result.stderr and "does not exist" in result.stderr
    assert not (tmp_path / "env").exists()


def test_a_check_on_a_gbk_console_prints_ascii_and_exits_0(tmp_path: Path) -> None:
    """A Chinese Windows code page cannot encode ✓; the report must still come out."""
    venv = fake_venv(tmp_path, f"stage import; echo 'PTENV_JSON={PASSING_DOCUMENT}'")
    done = subprocess.run(
        [sys.executable, "-m", "ptenv", "check", "--venv", str(venv)],
        capture_output=True,
        env={"PYTHONIOENCODING": "gbk", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        timeout=120,
        check=False,
    )
    out = done.stdout.decode("gbk")
    assert done.returncode == 0, done.stderr.decode("gbk", errors="replace")
    assert "✓" not in out and "ok" in out and "OK in" in out
    assert "internal error" not in done.stderr.decode("gbk", errors="replace")


def _plan(*args: str, columns: int = 80) -> tuple[int, str]:
    result = runner.invoke(app, ["plan", *args], env={"COLUMNS": str(columns)})
    return result.exit_code, result.output


def test_no_driver_is_offered_to_a_gpu_no_build_serves() -> None:
    """sm_35 on R470: no CUDA build of torch 2.x has its kernels, whatever the driver."""
    code, output = _plan("--gpu", "3.5", "--driver", "470.256.02")
    assert code == 3
    assert "upgrade the driver" not in output and "has no kernels for sm_35" in output


def test_an_old_pinned_torch_on_a_new_gpu_is_told_to_ask_for_a_newer_one() -> None:
    code, output = _plan("--gpu", "12.0", "--driver", "580.95.05", "--torch", "2.0")
    assert code == 3
    assert "pin torch <=" not in output and "--torch 2.15 runs here" in output


def test_a_pin_an_intel_mac_has_no_wheels_for_names_what_it_has() -> None:
    code, output = _plan("--os", "macos", "--arch", "x86_64", "--torch", "2.5", columns=200)
    assert code == 3
    assert "none" not in output
    assert "2.2 (Python 3.8-3.12)" in output and "--torch 2.2" in output


def test_reasons_carry_no_internal_source_tags() -> None:
    code, output = _plan("--with", "torchvision,torchaudio", columns=200)
    assert code == 0
    assert "PYPI" not in output and "VISION" not in output and "AUDIO" not in output


def test_the_install_command_is_one_line_whatever_the_width() -> None:
    code, output = _plan("--gpu", "8.6", "--driver", "580.95.05", columns=60)
    assert code == 0
    line = next(line for line in output.splitlines() if line.startswith("Install by hand:"))
    assert line.endswith("--index-url https://download.pytorch.org/whl/cu130")


def test_the_matrix_fits_80_columns_and_is_a_table_when_wide() -> None:
    narrow = runner.invoke(app, ["matrix"], env={"COLUMNS": "80"})
    assert narrow.exit_code == 0
    assert max(len(line) for line in narrow.output.splitlines()) <= 80
    assert "  cu130      7.5-12.0+PTX" in narrow.output
    wide = runner.invoke(app, ["matrix"], env={"COLUMNS": "220"})
    assert "┃ torch" in wide.output


def test_gpus_are_known_by_their_names() -> None:
    from ptenv.models import ComputeCapability
    from ptenv.probe.overrides import parse_gpus

    named = parse_gpus("rtx4090,RTX 4090,4090,a100,h100,b200,1080ti,t4,v100,jetson-orin")
    assert [str(cc) for cc in named] == [
        "8.9", "8.9", "8.9", "8.0", "9.0", "10.0", "6.1", "7.5", "7.0", "8.7"
    ]  # fmt: skip
    assert parse_gpus("sm_86") == (ComputeCapability(8, 6),)


def test_a_compute_capability_no_gpu_has_is_exit_2() -> None:
    for gpu in ("99", "8.3", "rtx9999"):
        result = runner.invoke(app, ["plan", "--gpu", gpu, "--driver", "580.95.05"])
        assert result.exit_code == 2, (gpu, result.output)
        assert "Traceback" not in result.output


def test_a_gpu_without_a_driver_is_a_finding_not_silence() -> None:
    """With NVML's driver (a GPU machine) nothing is unknown; without one, it is said."""
    document = json.loads(runner.invoke(app, ["doctor", "--json", "--gpu", "8.6"]).stdout)
    codes = [f["code"] for f in document["findings"]]
    driver_known = document["machine"]["nvidia"]["driver_version"] is not None
    assert ("target-driver-unknown" in codes) is not driver_known


def test_help_shows_no_type_placeholders_on_flags() -> None:
    for command in ("doctor", "plan", "matrix", "check", "install"):
        result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "100"})
        assert result.exit_code == 0
        assert "<bool>" not in result.output and "<str>" not in result.output, command
    assert "--venv PATH" in runner.invoke(app, ["install", "--help"]).output


def test_every_command_takes_quiet_and_verbose() -> None:
    for command in ("doctor", "plan", "matrix", "check", "install"):
        output = runner.invoke(app, [command, "--help"], env={"COLUMNS": "100"}).output
        assert "-q, --quiet" in output and "-v, --verbose" in output, command


def test_quiet_plan_prints_only_the_command() -> None:
    result = runner.invoke(app, ["plan", "-q", "--gpu", "8.6", "--driver", "580.95.05"])
    assert result.exit_code == 0
    assert result.output.strip().splitlines() == [
        "uv pip install torch==2.15.0+cu130 --index-url https://download.pytorch.org/whl/cu130"
    ]


def test_shell_completion_is_offered() -> None:
    assert "--install-completion" in runner.invoke(app, ["--help"]).output


def test_a_projects_pyproject_sets_defaults_and_flags_win(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "demo"\n[tool.ptenv]\ncuda = "cu126"\nwith = ["torchvision"]\n',
        encoding="utf-8",
    )
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")  # the nearest pyproject.toml above counts
    args = ["plan", "--json", "--gpu", "8.6", "--driver", "580.95.05"]
    planned = json.loads(runner.invoke(app, args).stdout)
    assert planned["variant"] == "cu126"
    assert [p.split("==")[0] for p in planned["packages"]] == ["torch", "torchvision"]
    assert json.loads(runner.invoke(app, [*args, "--cuda", "cu130"]).stdout)["variant"] == "cu130"


def test_an_unknown_key_in_tool_ptenv_is_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.ptenv]\nmirrror = 'nju'\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["plan"])
    assert result.exit_code == 2 and "unknown keys: mirrror" in result.stderr


def test_ptenv_mirror_and_installer_come_from_the_environment() -> None:
    output = runner.invoke(app, ["install", "--help"], env={"COLUMNS": "200"}).output
    assert "PTENV_MIRROR" in output and "PTENV_INSTALLER" in output
    result = runner.invoke(
        app,
        ["install", "--venv", "/nonexistent-parent/x/.venv", "--dry-run", "--cuda", "cpu"],
        env={"PTENV_MIRROR": "no-such-mirror"},
    )
    assert result.exit_code == 2 and "no-such-mirror" in result.stderr


def test_ptenvs_own_active_venv_is_not_given_torch_advice(tmp_path: Path) -> None:
    """A newcomer who activated ptenv's venv is told so, not to install torch into it."""
    import venv

    own = tmp_path / "ptenv-env"
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(own)
    python = own / "bin" / "python"
    env = {"VIRTUAL_ENV": str(own), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}

    def ptenv(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(python), "-m", "ptenv", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=120,
            check=False,
        )

    doctor = ptenv("doctor", "--json")
    codes = [f["code"] for f in json.loads(doctor.stdout)["findings"]]
    assert "ptenv-own-venv" in codes and "venv-no-torch" not in codes
    check = ptenv("check")
    assert check.returncode == 2 and "ptenv's own environment" in check.stderr


def test_malformed_urls_paths_and_options_are_exit_2(tmp_path: Path) -> None:
    """Each used to be exit 70 (an internal error) from deep inside the install or check."""
    (tmp_path / "afile").write_text("", encoding="utf-8")
    cases = [
        ["install", "--index-base", "http://127.0.0.1:abc/whl", "--dry-run", "--cuda", "cpu"],
        ["install", "--index-base", "https://exa mple.com/whl", "--dry-run", "--cuda", "cpu"],
        ["install", "--index-base", "https://x/whl\n", "--dry-run", "--cuda", "cpu"],
        ["install", "--venv", str(tmp_path / "afile" / ".venv"), "--dry-run"],
        ["install", "--venv", str(tmp_path / ("a" * 300)), "--dry-run"],
        ["check", "--venv", str(tmp_path), "--compile-mode", "bogus"],
        ["check", "--venv", str(tmp_path), "--nproc", "2", "--rdzv-endpoint", "bad::"],
    ]
    for args in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert "internal error" not in result.output


def test_rich_markup_in_a_path_is_printed_as_written(tmp_path: Path) -> None:
    """`--venv 'x[/red]/.venv'` was a MarkupError after a whole install; `[bold]` ate text."""
    from tests.index_server import make_wheel

    tag = f"cp{sys.version_info[0]}{sys.version_info[1]}"
    house = tmp_path / "house"
    house.mkdir()
    make_wheel(house, f"torch-2.14.0+cpu-{tag}-{tag}-manylinux_2_28_x86_64.whl")
    venv = tmp_path / "x[/red]y[bold]" / ".venv"
    args = [
        "install",
        "--venv",
        str(venv),
        "--dry-run",
        "--cuda",
        "cpu",
        "--find-links",
        str(house),
    ]
    result = runner.invoke(app, args, env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    assert f"into {venv} " in result.output

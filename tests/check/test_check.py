"""ptenv check: every failure shape through fake interpreters, and the real smoke test."""

from __future__ import annotations

import json
import stat
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ptenv.check import CheckOptions, run_check
from ptenv.cli import app
from tests.venvs import make_venv

runner = CliRunner()

# A fake interpreter: records stages in the progress file like the real script, then misbehaves.
FAKE = """#!/usr/bin/env bash
progress=""
while [ $# -gt 0 ]; do
  if [ "$1" = "--progress" ]; then progress="$2"; fi
  shift
done
[ -n "$progress" ] || exit 0   # static probe call: say nothing
stage() {{ echo "$1" >> "$progress"; }}
{body}
"""

FAILING_DOCUMENT = json.dumps(
    {
        "ok": False,
        "device": None,
        "cache": {"dir": None, "warm": None},
        "stages": [
            {"name": "import", "ok": True, "seconds": 1.0, "detail": {"torch": "2.14.1+cu130"}},
            {
                "name": "device",
                "ok": False,
                "seconds": 0.1,
                "detail": {},
                "message": "CUDA was asked for but torch.cuda.is_available() is False",
                "fix": "Run ptenv doctor",
            },
        ],
    }
)

SHAPES = {
    "failing-document": (
        f"stage import; stage device; echo 'PTENV_JSON={FAILING_DOCUMENT}'",
        "device",
        "is_available() is False",
    ),
    "sigsegv": ("stage import; stage device; stage numerics; kill -SEGV $$", "numerics", "SIGSEGV"),
    "garbage": ("stage import; echo 'hello from a wrapper'; exit 0", "import", "printed no report"),
    "exit-early": (
        "stage import; echo 'libfoo.so: cannot open' >&2; exit 3",
        "import",
        "exited with 3",
    ),
}


def fake_venv(tmp_path: Path, body: str) -> Path:
    folder = tmp_path / "fake-venv"
    (folder / "bin").mkdir(parents=True)
    (folder / "pyvenv.cfg").write_text("home = /usr/bin\n")
    python = folder / "bin" / "python"
    python.write_text(FAKE.format(body=textwrap.dedent(body)))
    python.chmod(python.stat().st_mode | stat.S_IXUSR)
    return folder


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_failure_shapes_name_their_stage(tmp_path: Path, shape: str) -> None:
    body, stage, message = SHAPES[shape]
    venv = fake_venv(tmp_path, body)
    report = run_check(venv / "bin" / "python", venv, CheckOptions(timeout=30))
    assert not report.ok
    failed = report.failed_stage
    assert failed is not None
    assert failed.name == stage
    assert message in failed.message


def test_each_stage_is_reported_live_as_it_ends(tmp_path: Path) -> None:
    venv = fake_venv(tmp_path, "stage import; sleep 0.6; stage device; sleep 0.6; stage done")
    heard: list[str] = []
    run_check(venv / "bin" / "python", venv, CheckOptions(timeout=30), on_stage=heard.append)
    assert heard[0] == "check: import …"
    assert heard[1].startswith("check: import ✓ ") and heard[2] == "check: device …"
    assert heard[-1].startswith("check: device ✓ ")


def test_a_hang_is_killed_at_the_stage_deadline(tmp_path: Path) -> None:
    venv = fake_venv(tmp_path, "stage import; stage train_compiled; sleep 60")
    report = run_check(
        venv / "bin" / "python",
        venv,
        CheckOptions(timeout=30),
        stage_timeouts={"import": 5, "train_compiled": 1},
    )
    failed = report.failed_stage
    assert failed is not None and failed.name == "train_compiled"
    assert "hung past its 1 s limit" in failed.message
    assert report.seconds < 20


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_cli_exit_code_5_and_json_for_each_shape(tmp_path: Path, shape: str) -> None:
    venv = fake_venv(tmp_path, SHAPES[shape][0])
    junit = tmp_path / "check.xml"
    result = runner.invoke(app, ["check", "--venv", str(venv), "--json", "--junit", str(junit)])
    assert result.exit_code == 5, result.output
    document = json.loads(result.stdout)
    assert document["schema"] == "ptenv.check/1" and document["ok"] is False
    suite = ET.parse(junit).getroot()
    assert suite.get("failures") == "1"
    assert "Traceback" not in result.output


def test_cli_overall_timeout(tmp_path: Path) -> None:
    venv = fake_venv(tmp_path, "stage import; sleep 60")
    result = runner.invoke(app, ["check", "--venv", str(venv), "--timeout", "2", "--json"])
    assert result.exit_code == 5
    assert json.loads(result.stdout)["stages"][-1]["name"] == "import"


def test_no_such_venv_is_usage(tmp_path: Path) -> None:
    result = runner.invoke(app, ["check", "--venv", str(tmp_path / "missing")])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ")


def test_venv_without_torch_fails_the_import_stage(tmp_path: Path) -> None:
    venv = make_venv(tmp_path / "empty")
    result = runner.invoke(app, ["check", "--venv", str(venv), "--json"])
    assert result.exit_code == 5
    stages = json.loads(result.stdout)["stages"]
    assert stages[0]["name"] == "import" and stages[0]["ok"] is False
    assert "torch cannot be imported" in stages[0]["message"]


# --- the real thing (slow: builds a venv from the CPU torch wheel, compiles the MLP) ---------


@pytest.mark.slow
def test_real_cpu_check_passes_with_compile(torch_venv: Path, tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    result = runner.invoke(
        app,
        [
            "check",
            "--venv",
            str(torch_venv),
            "--device",
            "cpu",
            "--json",
            "--cache-dir",
            str(tmp_path / "cache"),
            "--junit",
            str(junit),
        ],
    )
    document = json.loads(result.stdout)
    assert result.exit_code == 0, json.dumps(document["stages"], indent=1)[-3000:]
    assert document["ok"] and document["device"] == "cpu"
    assert [s["name"] for s in document["stages"]] == [
        "import",
        "device",
        "numerics",
        "train_eager",
        "compile_prerequisites",
        "train_compiled",
        "figures",
    ]
    figures = document["figures"]
    assert figures["loss_last"] < figures["loss_first"] * 0.5
    assert figures["compile_seconds"] > 0 and figures["speedup"] > 0
    assert document["cache"]["warm"] is False
    assert ET.parse(junit).getroot().get("failures") == "0"


@pytest.mark.slow
def test_require_gpu_on_a_machine_without_one_exits_6(torch_venv: Path) -> None:
    result = runner.invoke(
        app, ["check", "--venv", str(torch_venv), "--require-gpu", "--no-compile", "--json"]
    )
    if json.loads(result.stdout).get("device") == "cuda":
        pytest.skip("this machine has a usable GPU")
    assert result.exit_code == 6


def test_ptenvs_own_active_venv_gives_way_to_the_projects(tmp_path: Path) -> None:
    """A user who activated ptenv's venv to run it means the project's .venv."""
    from ptenv.probe.venv import default_venv

    own = tmp_path / "ptenv-env"
    own.mkdir()
    project = tmp_path / "project"
    project.mkdir()
    active = {"VIRTUAL_ENV": str(own)}
    assert default_venv(active, project, own_prefix=str(own)) == own  # no project venv yet
    (project / ".venv").mkdir()
    assert default_venv(active, project, own_prefix=str(own)) == project / ".venv"
    other = {"VIRTUAL_ENV": str(tmp_path / "elsewhere")}
    assert default_venv(other, project, own_prefix=str(own)) == tmp_path / "elsewhere"


@pytest.mark.parametrize(
    "line",
    [
        "PTENV_JSON={not json",
        "PTENV_JSON=[1, 2]",
        'PTENV_JSON={"stages": "all"}',
        'PTENV_JSON={"stages": [1]}',
        'PTENV_JSON={"stages": [{"name": "import", "seconds": "abc"}]}',
        'PTENV_JSON={"stages": [], "distributed": 5}',
    ],
)
def test_a_bogus_report_line_is_no_report_not_a_crash(tmp_path: Path, line: str) -> None:
    venv = fake_venv(tmp_path, f"stage import; echo '{line}'; exit 0")
    result = runner.invoke(app, ["check", "--venv", str(venv), "--json"])
    assert result.exit_code == 5, result.output
    assert "printed no report" in json.loads(result.stdout)["stages"][-1]["message"]

"""ptenv check under torch.distributed: launch detection, the parent's reading of ranks, and
real gloo launches through the venv's torchrun (CPU ranks, the real torch wheel).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ptenv.check import STAGE_TIMEOUTS, CheckOptions, RankProgress, describe_hang, fleet, run_check
from ptenv.cli import app
from ptenv.scripts import fleet_rank as smoke_fleet

runner = CliRunner()

# --- launch detection (what the smoke script reads from the launcher) -----------------------


def test_torchrun_variables_make_a_launch() -> None:
    env = {
        "RANK": "3",
        "WORLD_SIZE": "8",
        "LOCAL_RANK": "1",
        "LOCAL_WORLD_SIZE": "2",
        "MASTER_ADDR": "node01",
        "MASTER_PORT": "29400",
        "TORCHELASTIC_RUN_ID": "ptenv",
    }
    assert smoke_fleet.detect(env) == smoke_fleet.Launch(3, 8, 1, 2, "torchrun", "node01", 29400)


def test_a_world_of_one_is_not_a_launch() -> None:
    assert smoke_fleet.detect({"RANK": "0", "WORLD_SIZE": "1"}) is None
    assert smoke_fleet.detect({}) is None


def test_slurm_step_variables_make_a_launch_with_master_from_the_node_list() -> None:
    env = {
        "SLURM_PROCID": "5",
        "SLURM_STEP_ID": "0",
        "SLURM_STEP_NUM_TASKS": "16",
        "SLURM_LOCALID": "1",
        "SLURM_STEP_TASKS_PER_NODE": "4(x4)",
        "SLURM_STEP_NODELIST": "gpu[07-09,12]",
        "SLURM_JOB_ID": "123456",
    }
    launch = smoke_fleet.detect(env)
    assert launch == smoke_fleet.Launch(5, 16, 1, 4, "slurm", "gpu07", 29500 + 123456 % 10000)


def test_a_slurm_batch_script_without_srun_is_not_a_launch() -> None:
    env = {"SLURM_PROCID": "0", "SLURM_NTASKS": "16", "SLURM_JOB_NODELIST": "gpu[01-04]"}
    assert smoke_fleet.detect(env) is None


def test_torchrun_inside_srun_is_read_as_torchrun() -> None:
    env = {"RANK": "1", "WORLD_SIZE": "2", "SLURM_PROCID": "0", "SLURM_STEP_ID": "0"}
    launch = smoke_fleet.detect(env)
    assert launch is not None and launch.launcher == "env" and launch.rank == 1


def test_detection_can_be_turned_off() -> None:
    assert smoke_fleet.detect({"RANK": "1", "WORLD_SIZE": "2", "PTENV_DISTRIBUTED": "0"}) is None


@pytest.mark.parametrize(
    ("nodelist", "first"),
    [
        ("gpu[07-09,12],cpu1", "gpu07"),
        ("node001", "node001"),
        ("a-b[3]", "a-b3"),
        ("n[1,5-6]", "n1"),
        ("", ""),
    ],
)
def test_first_host_of_a_slurm_node_list(nodelist: str, first: str) -> None:
    assert smoke_fleet.first_host(nodelist) == first


def test_bus_bandwidth_follows_nccl_tests() -> None:
    assert smoke_fleet.bus_bandwidth(100.0, 2) == 100.0
    assert smoke_fleet.bus_bandwidth(100.0, 8) == 175.0


def test_fingerprint_differences_group_ranks_by_value() -> None:
    ranks = [
        {"rank": 0, "fingerprint": {"torch": "2.13.0", "host": "a"}},
        {"rank": 1, "fingerprint": {"torch": "2.13.0", "host": "b"}},
        {"rank": 2, "fingerprint": {"torch": "2.12.1", "host": "c"}},
    ]
    assert smoke_fleet._differences(ranks) == {"torch": {"2.13.0": [0, 1], "2.12.1": [2]}}


# --- the parent's reading of ranks -----------------------------------------------------------

TORCHRUN_FAILURE = """torch.distributed.elastic.multiprocessing.errors.ChildFailedError:
=======================================================
/x/check.py FAILED
-------------------------------------------------------
Failures:
[1]:
  time      : 2026-11-28_20:54:12
  host      : localhost
  rank      : 0 (local_rank: 0)
  exitcode  : -15 (pid: 32709)  (SIGTERM)
  error_file: <N/A>
  traceback : Signal 15 (SIGTERM) received by PID 32709
-------------------------------------------------------
Root Cause (first observed failure):
[0]:
  time      : 2026-11-28_20:54:12
  host      : localhost
  rank      : 1 (local_rank: 1)
  exitcode  : -6 (pid: 32710)  (SIGABRT)
  error_file: <N/A>
  traceback : Signal 6 (SIGABRT) received by PID 32710
=======================================================
"""


def test_torchrun_failure_report_names_the_root_cause() -> None:
    assert fleet.torchrun_failures(TORCHRUN_FAILURE) == (1, {0: -15, 1: -6})
    assert fleet.torchrun_failures("nothing") == (None, {})


def test_a_hang_names_the_busy_rank_not_the_waiting_ones() -> None:
    late = {
        0: RankProgress(stage="train_eager", waiting=True),
        1: RankProgress(stage="train_eager", waiting=False),
        2: RankProgress(stage="train_eager", waiting=True),
    }
    assert describe_hang(late, {"train_eager": 10.0}, per_rank=True) == (
        "rank 1 hung in stage train_eager past its 10 s limit (ranks 0, 2 waited for it)"
    )
    waiting = {0: RankProgress(stage="fingerprint", waiting=True)}
    assert describe_hang(waiting, {"fingerprint": 5.0}, per_rank=True) == (
        "rank 0 waited past 5 s after stage fingerprint for other ranks"
    )


def test_nnodes_without_a_rendezvous_endpoint_is_usage(tmp_path: Path) -> None:
    from tests.venvs import make_venv

    venv = make_venv(tmp_path / "v")
    result = runner.invoke(app, ["check", "--venv", str(venv), "--nproc", "2", "--nnodes", "2"])
    assert result.exit_code == 2
    assert "--rdzv-endpoint" in result.stderr


def test_nproc_inside_a_launch_is_usage(tmp_path: Path) -> None:
    from tests.venvs import make_venv

    venv = make_venv(tmp_path / "v")
    result = runner.invoke(
        app,
        ["check", "--venv", str(venv), "--nproc", "2"],
        env={"RANK": "0", "WORLD_SIZE": "2"},
    )
    assert result.exit_code == 2
    assert "already runs as one rank" in result.stderr


# --- real launches: gloo ranks with the real CPU torch ---------------------------------------


def _check(venv: Path, *extra: str, env: dict[str, str] | None = None) -> tuple[int, Any]:
    result = runner.invoke(
        app, ["check", "--venv", str(venv), "--device", "cpu", "--json", *extra], env=env
    )
    return result.exit_code, json.loads(result.stdout)


def _names(document: dict[str, Any]) -> list[str]:
    return [stage["name"] for stage in document["stages"]]


@pytest.mark.slow
def test_two_ranks_train_ddp_to_identical_parameters_with_compile(
    torch_venv: Path, tmp_path: Path
) -> None:
    code, document = _check(torch_venv, "--nproc", "2", "--cache-dir", str(tmp_path / "cache"))
    assert code == 0, json.dumps(document["ranks"], indent=1)[-3000:]
    assert document["ok"] and document["world_size"] == 2
    assert _names(document) == [
        "import",
        "device",
        "numerics",
        "process_group",
        "fingerprint",
        "train_eager",
        "compile_prerequisites",
        "train_compiled",
        "train_ddp",
        "allreduce",
        "figures",
    ]
    assert [(r["rank"], r["ok"]) for r in document["ranks"]] == [(0, True), (1, True)]
    ddp = next(s for s in document["stages"] if s["name"] == "train_ddp")["detail"]
    assert ddp["parameters_differing"] == 0 and ddp["parameters"] == 784 * 500 + 500 + 5010
    assert ddp["loss_last"] < ddp["loss_first"] * 0.5
    sizes = [row["bytes"] for row in document["allreduce"]]
    assert sizes == sorted(sizes) and len(sizes) >= 4
    assert all(row["busbw_gbps"] > 0 for row in document["allreduce"])
    assert document["fingerprint_differences"] == {}


@pytest.mark.slow
def test_three_ranks_report_bus_bandwidth_for_three(torch_venv: Path) -> None:
    code, document = _check(torch_venv, "--nproc", "3", "--no-compile", "--steps", "20")
    assert code == 0, json.dumps(document["ranks"], indent=1)[-3000:]
    assert [r["rank"] for r in document["ranks"]] == [0, 1, 2]
    for row in document["allreduce"]:
        assert row["busbw_gbps"] == pytest.approx(row["algbw_gbps"] * 4 / 3)


@pytest.mark.slow
def test_a_rank_that_raises_inside_a_collective_stage_is_named(torch_venv: Path) -> None:
    code, document = _check(
        torch_venv,
        "--nproc",
        "2",
        "--no-compile",
        "--steps",
        "20",
        "--dist-timeout",
        "5",
        env={"PTENV_CHECK_FAULT": "1:train_ddp:raise"},
    )
    assert code == 5 and not document["ok"]
    assert document["first_failed_rank"] == 1
    rank1 = document["ranks"][1]
    assert rank1["ok"] is False and rank1["stage"] == "train_ddp"
    assert "fault injected" in rank1["message"]
    skipped = next(s for s in document["stages"] if s["name"] == "allreduce")
    assert skipped["ok"] is None


@pytest.mark.slow
def test_a_rank_that_hangs_past_its_stage_limit_is_named_and_killed(
    torch_venv: Path, tmp_path: Path
) -> None:
    python = torch_venv / "bin" / "python"
    options = CheckOptions(device="cpu", steps=20, compile=False, nproc=2, timeout=300)
    limits = {**STAGE_TIMEOUTS, "train_eager": 15.0}
    marker = uuid.uuid4().hex  # finds this run's ranks, whatever else runs on the machine
    began = time.monotonic()
    report = run_check(
        python,
        torch_venv,
        options,
        env={"PTENV_CHECK_FAULT": "1:train_eager:hang", "PTENV_TEST_RUN": marker},
        stage_timeouts=limits,
    )
    assert time.monotonic() - began < 120
    assert not report.ok
    assert report.fleet is not None
    failed = report.failed_stage
    assert failed is not None
    assert failed.message.startswith("rank 1 hung in stage train_eager past its 15 s limit")
    assert "rank 0 waited for it" in failed.message
    assert {r.rank: r.ok for r in report.fleet.ranks} == {0: None, 1: False}
    assert not _smoke_processes_left(marker), "a rank outlived the check"


def _smoke_processes_left(marker: str) -> list[str]:
    """Smoke processes of this test's own run (marked in their environment), not anyone's."""
    left = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes()
                environment = (entry / "environ").read_bytes().split(b"\0")
            except OSError:
                continue
            mine = f"PTENV_TEST_RUN={marker}".encode() in environment
            if mine and b"scripts/smoke.py" in command:
                left.append(command.decode(errors="replace"))
    return left


@pytest.mark.slow
def test_a_rank_that_crashes_is_named_from_torchruns_report(torch_venv: Path) -> None:
    code, document = _check(
        torch_venv,
        "--nproc",
        "2",
        "--no-compile",
        env={"PTENV_CHECK_FAULT": "1:numerics:crash"},
    )
    assert code == 5
    ranks = {r["rank"]: r for r in document["ranks"]}
    assert ranks[1]["ok"] is False
    assert ranks[1]["message"] == "died by SIGABRT in stage numerics"
    assert document["first_failed_rank"] == 1


def _shadow_venv(original: Path, target: Path, version: str) -> Path:
    """A venv that shares the original's packages through symlinks but whose torch reports
    another version: a node on which someone installed a different build."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(target)], check=True)
    source = next((original / "lib").glob("python3*/site-packages"))
    destination = next((target / "lib").glob("python3*/site-packages"))
    for entry in source.iterdir():
        if entry.name != "torch":
            (destination / entry.name).symlink_to(entry)
    (destination / "torch").mkdir()
    for entry in (source / "torch").iterdir():
        if entry.name not in ("version.py", "__pycache__"):
            (destination / "torch" / entry.name).symlink_to(entry)
    text = (source / "torch" / "version.py").read_text(encoding="utf-8")
    lines = [
        f"__version__ = {version!r}" if line.startswith("__version__") else line
        for line in text.splitlines()
    ]
    (destination / "torch" / "version.py").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow
def test_a_rank_with_another_torch_build_is_flagged_and_only_rank_0_prints(
    torch_venv: Path, tmp_path: Path
) -> None:
    other = _shadow_venv(torch_venv, tmp_path / "other", "2.13.0+cpu.rebuilt")
    base = {
        **os.environ,
        "WORLD_SIZE": "2",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(_free_port()),
    }
    argv = [sys.executable, "-m", "ptenv", "check", "--device", "cpu", "--no-compile", "--json"]
    ranks = [
        subprocess.Popen(
            [*argv, "--venv", str(venv)],
            env={**base, "RANK": str(rank), "LOCAL_RANK": str(rank)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank, venv in ((0, torch_venv), (1, other))
    ]
    (out0, _), (out1, err1) = (process.communicate(timeout=300) for process in ranks)
    assert [process.returncode for process in ranks] == [5, 5]
    assert out1 == "", "only rank 0 writes to stdout"
    assert "rank 1 of 2 FAILED at fingerprint" in err1
    document = json.loads(out0)
    assert document["fingerprint_differences"] == {
        "torch": {"2.13.0+cpu": [0], "2.13.0+cpu.rebuilt": [1]}
    }
    rank1 = document["ranks"][1]
    assert rank1["stage"] == "fingerprint"
    assert "torch 2.13.0+cpu.rebuilt (rank 0: 2.13.0+cpu)" in rank1["message"]
    assert document["launcher"] == "env"

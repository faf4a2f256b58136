"""`ptenv data refresh` learns a release the data does not know from a loopback index, and
plan uses it, saying so; without the learned data the built-in answer stands."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ptenv.cli import app
from tests.index_server import Index, serve
from tests.wheel_shapes import torch_wheel

runner = CliRunner()
BLACKWELL_SASS = ("75", "80", "86", "90", "100", "120")
TAGS = ("cp312-cp312-manylinux_2_28_x86_64", "cp313-cp313t-manylinux_2_28_x86_64")


@pytest.fixture
def index(tmp_path: Path) -> Iterator[Index]:
    with serve(tmp_path / "served") as served:
        for tag in TAGS:
            torch_wheel(
                served.root / "cpu", f"torch-2.16.0+cpu-{tag}.whl", build_version="2.16.0+cpu"
            )
            torch_wheel(
                served.root / "cu132",
                f"torch-2.16.0+cu132-{tag}.whl",
                build_version="2.16.0+cu132",
                cuda="13.2",
                sass=BLACKWELL_SASS,
                headers=1500,
            )
        # a release the data has: nothing to learn from it
        torch_wheel(
            served.root / "cpu",
            "torch-2.15.0+cpu-cp312-cp312-manylinux_2_28_x86_64.whl",
            build_version="2.15.0+cpu",
        )
        yield served


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "ptenv-data"
    monkeypatch.setenv("PTENV_DATA_DIR", str(folder))
    return folder


def _plan(*args: str) -> dict[str, Any]:
    result = runner.invoke(app, ["plan", "--json", "--python", "3.12", *args])
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def test_a_new_release_is_learned_and_planned_with_its_provenance(
    index: Index, data_dir: Path
) -> None:
    assert _plan("--gpu", "9.0", "--driver", "595.45.04")["torch"] == "2.15.0"  # before
    result = runner.invoke(app, ["data", "refresh", "--index-base", index.url])
    assert result.exit_code == 0, result.output
    assert "new torch 2.16.0: cpu, cu132 (linux-x86_64)" in result.stdout
    assert "2.16.0 cu132 linux-x86_64: sm_75, sm_80, sm_86, sm_90, sm_100, sm_120, no PTX" in (
        result.stdout
    )
    assert (data_dir / "learned.toml").is_file()

    plan = _plan("--gpu", "9.0", "--driver", "595.45.04")
    assert (plan["torch"], plan["variant"]) == ("2.16.0", "cu132")
    reasons = " ".join(plan["reasons"])
    assert f"learned from {index.url}/<variant>/torch/ on " in reasons
    assert f"architecture list of torch 2.16.0 cu132 was learned from {index.url}/cu132/" in (
        reasons
    )
    assert _plan("--gpu", "none")["torch"] == "2.16.0"
    free_threaded = runner.invoke(app, ["plan", "--json", "--python", "3.13t", "--gpu", "none"])
    assert json.loads(free_threaded.stdout)["torch"] == "2.16.0"


def test_only_the_wheel_directories_are_read_for_the_architectures(
    index: Index, data_dir: Path
) -> None:
    assert runner.invoke(app, ["data", "refresh", "--index-base", index.url]).exit_code == 0
    assert index.served == [], "a whole wheel was downloaded"
    read = {name for name, _, agent in index.ranged if agent.startswith("ptenv/")}
    assert read == {"torch-2.16.0+cu132-cp312-cp312-manylinux_2_28_x86_64.whl"}  # one per build


def test_with_an_empty_data_dir_the_built_in_answer_stands(
    index: Index, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert runner.invoke(app, ["data", "refresh", "--index-base", index.url]).exit_code == 0
    monkeypatch.setenv("PTENV_DATA_DIR", str(tmp_path / "empty"))
    assert _plan("--gpu", "none")["torch"] == "2.15.0"


def test_a_refresh_with_nothing_new_says_so_and_never_changes_built_in_facts(
    tmp_path: Path, data_dir: Path
) -> None:
    with serve(tmp_path / "old") as served:
        torch_wheel(
            served.root / "cpu",
            "torch-2.15.0+cpu-cp312-cp312-manylinux_2_28_x86_64.whl",
            build_version="2.15.0+cpu",
        )
        result = runner.invoke(app, ["data", "refresh", "--index-base", served.url])
    assert result.exit_code == 0, result.output
    assert "Nothing new" in result.stdout
    assert _plan("--gpu", "none")["torch"] == "2.15.0"


def test_a_cuda_version_ptenv_has_no_driver_facts_for_is_a_note_not_a_plan(
    index: Index, data_dir: Path
) -> None:
    torch_wheel(
        index.root / "cu134",
        "torch-2.16.0+cu134-cp312-cp312-manylinux_2_28_x86_64.whl",
        build_version="2.16.0+cu134",
        cuda="13.4",
        sass=BLACKWELL_SASS,
    )
    result = runner.invoke(
        app, ["data", "refresh", "--index-base", index.url, "--variant", "cu134"]
    )
    assert result.exit_code == 0, result.output
    assert "cu134, a CUDA version this ptenv has no driver facts for" in result.stdout
    assert _plan("--gpu", "9.0", "--driver", "600.10")["variant"] == "cu132"


def test_data_show_lists_the_built_in_data_and_what_was_learned(
    index: Index, data_dir: Path
) -> None:
    before = runner.invoke(app, ["data", "show"])
    assert before.exit_code == 0 and "learned: none yet" in before.stdout
    assert "checked against its sources on 2026-12-02" in before.stdout
    assert runner.invoke(app, ["data", "refresh", "--index-base", index.url]).exit_code == 0
    after = runner.invoke(app, ["data", "show"])
    assert "learned: 1 patches, 1 architecture lists" in after.stdout
    assert "torch 2.16.0: learned from" in after.stdout


def test_a_broken_overlay_is_ignored_by_plan_and_named_by_show(data_dir: Path) -> None:
    data_dir.mkdir()
    (data_dir / "learned.toml").write_text('schema = "ptenv.learned/1"\n[[patch]]\nversion = 3\n')
    assert _plan("--gpu", "none")["torch"] == "2.15.0"
    shown = runner.invoke(app, ["data", "show"])
    assert shown.exit_code == 0 and "is ignored" in shown.stdout


def test_an_unreachable_index_is_exit_7(tmp_path: Path, data_dir: Path) -> None:
    with serve(tmp_path / "gone") as served:
        url = served.url
    result = runner.invoke(app, ["data", "refresh", "--index-base", url])
    assert result.exit_code == 7, result.output
    assert "Traceback" not in result.output
    assert not (data_dir / "learned.toml").exists()


def test_an_index_without_torch_wheels_is_exit_7_with_the_way_out(
    tmp_path: Path, data_dir: Path
) -> None:
    with serve(tmp_path / "empty") as served:
        result = runner.invoke(app, ["data", "refresh", "--index-base", served.url])
    assert result.exit_code == 7 and "--index-base" in result.stderr


def test_pypis_own_build_of_a_new_release_is_learned_with_its_variant_and_list(
    index: Index, data_dir: Path
) -> None:
    """PyPI's wheels are untagged; torch/version.py of one per platform says the build."""
    for platform in ("manylinux_2_28_x86_64", "win_amd64"):
        linux = platform.startswith("many")
        torch_wheel(
            index.root / "pypi",
            f"torch-2.16.0-cp312-cp312-{platform}.whl",
            build_version="2.16.0+cu132" if linux else "2.16.0+cpu",
            cuda="13.2" if linux else None,
            sass=("75", "80", "86", "90", "100", "120") if linux else (),
        )
    result = runner.invoke(
        app, ["data", "refresh", "--index-base", index.url, "--pypi", f"{index.url}/pypi"]
    )
    assert result.exit_code == 0, result.output
    learned = (data_dir / "learned.toml").read_text()
    assert 'pypi = { "linux-x86_64" = "cu132", "windows-x86_64" = "cpu" }' in learned
    plan = _plan("--pypi", "--gpu", "9.0", "--driver", "595.45.04")
    assert plan["torch"] == "2.16.0" and plan["packages"] == ["torch==2.16.0"]
    assert any("PyPI's CUDA wheels carry no PTX" in r for r in plan["reasons"])

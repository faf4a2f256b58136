from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from ptenv.cli import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def _no_ambient_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PTENV_OS", "PTENV_ARCH", "PTENV_PYTHON", "PTENV_DRIVER", "PTENV_GPU"):
        monkeypatch.delenv(name, raising=False)


def test_plan_json_contract() -> None:
    result = runner.invoke(
        app, ["plan", "--json", "--gpu", "8.6", "--driver", "550.54.15", "--python", "3.12"]
    )
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    assert set(document) == {
        "schema",
        "torch",
        "variant",
        "index_url",
        "packages",
        "python",
        "platform",
        "machine",
        "reasons",
        "warnings",
    }
    assert document["schema"] == "ptenv.plan/1"
    assert document["packages"] == ["torch==2.14.1+cu126"]
    assert document["machine"]["overridden"] == ["python", "driver", "gpu"]


def test_plan_rich_output_lists_reasons() -> None:
    result = runner.invoke(app, ["plan", "--gpu", "6.1", "--driver", "580.95.05"])
    assert result.exit_code == 0
    assert "Why" in result.stdout and "sm_61" in result.stdout


def test_no_compatible_build_exits_3_with_json_error() -> None:
    result = runner.invoke(
        app, ["plan", "--json", "--torch", "2.14", "--gpu", "12.0", "--driver", "575.57.08"]
    )
    assert result.exit_code == 3
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "no-compatible-build"
    assert "pin torch <= 2.13.0" in error["hint"]  # 2.13.0 + cu129 has sm_120 (§13.1)


@pytest.mark.parametrize(
    "args",
    [
        ["--cuda", "cu999"],
        ["--torch", "1.13"],
        ["--gpu", "sm_x"],
        ["--driver", "five"],
        ["--python", "3.7"],
        ["--with", "numpy"],
    ],
)
def test_plan_usage_errors_exit_2(args: list[str]) -> None:
    result = runner.invoke(
        app, ["plan", "--gpu", "none", *args] if "--gpu" not in args else ["plan", *args]
    )
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ") and "Traceback" not in result.output


def test_matrix_json() -> None:
    result = runner.invoke(
        app, ["matrix", "--json", "--platform", "linux-x86_64", "--torch", "2.14"]
    )
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    assert document["schema"] == "ptenv.matrix/1"
    (row,) = document["releases"]
    cu126 = next(v for v in row["variants"] if v["variant"] == "cu126")
    assert cu126["sass"] == ["5.0", "6.0", "7.0", "7.5", "8.0", "8.6", "9.0"]


def test_matrix_table_for_people() -> None:
    result = runner.invoke(app, ["matrix", "--platform", "linux-aarch64"])
    assert result.exit_code == 0
    assert "cu130" in result.stdout and "8.0-12.0+PTX" in result.stdout


def test_matrix_bad_platform() -> None:
    result = runner.invoke(app, ["matrix", "--platform", "solaris"])
    assert result.exit_code == 2


def _plan(*args: str) -> tuple[int, dict[str, Any], str]:
    result = runner.invoke(app, ["plan", "--json", "--python", "3.12", "--os", "linux",
                                 "--arch", "x86_64", *args])  # fmt: skip
    return result.exit_code, json.loads(result.stdout), result.stderr


def test_an_amd_gfx_target_is_planned_a_rocm_build_that_lists_it() -> None:
    code, document, _ = _plan("--gpu", "gfx942")
    assert code == 0, document
    assert str(document["variant"]).startswith("rocm")
    assert any("gfx942" in str(r) for r in document["reasons"])
    code, several, _ = _plan("--gpu", "gfx1100,gfx90a")
    assert code == 0 and str(several["variant"]).startswith("rocm")


def test_a_gfx_target_no_rocm_build_serves_is_exit_3_and_a_near_miss_names_the_override() -> None:
    code, document, _ = _plan("--gpu", "gfx803")
    assert code == 3 and "gfx803" in document["error"]["message"]
    code, document, _ = _plan("--gpu", "gfx1031")
    assert code == 3
    hint = document["error"]["hint"]
    assert "gfx1031 is not gfx1030" in hint and "HSA_OVERRIDE_GFX_VERSION=10.3.0" in hint


def test_an_nvidia_and_an_amd_gpu_plan_cuda_and_name_the_other_card() -> None:
    code, document, _ = _plan("--gpu", "gfx942,8.6", "--driver", "570.86.15")
    assert code == 0 and str(document["variant"]).startswith("cu")
    assert any("gfx942" in str(w) and "--cuda" in str(w) for w in document["warnings"])


def test_a_misspelt_gfx_target_is_exit_2() -> None:
    result = runner.invoke(app, ["plan", "--gpu", "gfx94z"])
    assert result.exit_code == 2 and "gfx" in result.stderr


def test_an_intel_product_name_is_planned_the_xpu_build_where_the_family_has_one() -> None:
    code, document, _ = _plan("--gpu", "arc-b580")
    assert code == 0 and document["variant"] == "xpu", document
    assert any("UNVERIFIED" in str(w) for w in document["warnings"])
    code, document, _ = _plan("--gpu", "flex-170")  # not on PyTorch's hardware list
    assert code == 0 and document["variant"] == "cpu"
    assert any("not a GPU the xpu builds are made for" in str(r) for r in document["reasons"])


def _old_plan(torch: str, gpu: str) -> tuple[int, dict[str, Any]]:
    result = runner.invoke(app, ["plan", "--json", "--python", "3.10", "--os", "linux", "--arch",
                                 "x86_64", "--gpu", gpu, "--torch", torch])  # fmt: skip
    return result.exit_code, json.loads(result.stdout)


def test_an_old_torch_is_planned_on_its_own_release_branch_gfx_list() -> None:
    """pytorch/builder release/2.1: gfx900;gfx906;gfx908;gfx90a;gfx1030;gfx1100 for rocm5.x."""
    code, document = _old_plan("2.1", "gfx90a")
    assert code == 0, document
    assert document["variant"] == "rocm5.6"
    assert any("pytorch/builder" in str(r) and "release/2.0" in str(r) for r in document["reasons"])
    assert not any("UNVERIFIED" in str(w) for w in document["warnings"])


@pytest.mark.parametrize(
    ("torch", "gpu", "variant"),
    [
        ("2.0", "gfx1100", None),  # release/2.0 built no gfx1100 (added in 2.1)
        ("2.1", "gfx1100", "rocm5.6"),
        ("2.2", "gfx942", None),  # gfx942 only from ROCm 6.0, first in 2.3
        ("2.3", "gfx942", "rocm6.0"),
        ("2.4", "gfx1101", None),  # 2.4's rocm6.1 image has no gfx1101 (uv's index row does)
        ("2.5", "gfx1101", "rocm6.1"),  # 2.5 is built in pytorch's own CI: uv's row
    ],
)
def test_each_release_is_judged_by_the_gfx_list_its_own_build_had(
    torch: str, gpu: str, variant: str | None
) -> None:
    code, document = _old_plan(torch, gpu)
    if variant is None:
        assert code == 3 and gpu in document["error"]["message"], document
    else:
        assert code == 0 and document["variant"] == variant, document

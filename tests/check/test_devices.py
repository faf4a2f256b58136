"""The check's device stage on the backends this machine does not have: ROCm (torch.cuda over
HIP), Intel xpu and Apple mps. torch is faked at the seam the smoke script reads it through
(the module object in its state), shaped like the real attributes each backend has."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from ptenv.scripts import script


def _smoke() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ptenv_smoke_under_test", script("smoke.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


smoke = _smoke()


def _torch(
    *, cuda: bool = False, hip: str | None = None, xpu: bool = False, mps: bool = False,
    props: Any = None, arch_list: tuple[str, ...] = (),
) -> Any:  # fmt: skip
    return SimpleNamespace(
        __version__="2.9.1+rocm6.4" if hip else "2.9.1",
        version=SimpleNamespace(cuda=None if hip else "12.8", hip=hip),
        cuda=SimpleNamespace(
            is_available=lambda: cuda,
            current_device=lambda: 0,
            device_count=lambda: 1,
            get_device_properties=lambda index: props,
            get_arch_list=lambda: list(arch_list),
        ),
        xpu=SimpleNamespace(
            is_available=lambda: xpu,
            get_device_name=lambda index: "Intel(R) Arc(TM) B580 Graphics",
            device_count=lambda: 1,
        ),
        backends=SimpleNamespace(mps=SimpleNamespace(is_available=lambda: mps)),
        _C=SimpleNamespace(),
        get_num_threads=lambda: 2,
    )


MI300X = SimpleNamespace(
    name="AMD Instinct MI300X", major=9, minor=4, total_memory=192 * 2**30,
    gcnArchName="gfx942:sramecc+:xnack-",
)  # fmt: skip


def test_rocm_is_cuda_to_torch_and_its_gfx_target_is_checked_against_the_build() -> None:
    fake = _torch(cuda=True, hip="6.4.43482", props=MI300X, arch_list=("gfx90a", "gfx942"))
    state: dict[str, Any] = {"torch": fake}
    detail = smoke.stage_device(state, "auto")
    assert state["device"] == "cuda"
    assert detail["backend"] == "rocm" and detail["gfx"] == "gfx942" and detail["hip"]


def test_a_rocm_build_without_the_gpus_gfx_target_fails_the_device_stage_naming_it() -> None:
    fake = _torch(cuda=True, hip="6.4", props=MI300X, arch_list=("gfx90a", "gfx1100"))
    state: dict[str, Any] = {"torch": fake}
    with pytest.raises(smoke.StageFailed) as failed:
        smoke.stage_device(state, "auto")
    assert "gfx942" in str(failed.value) and "HSA_OVERRIDE_GFX_VERSION" in failed.value.fix


def test_auto_takes_xpu_then_mps_then_cpu() -> None:
    state: dict[str, Any] = {"torch": _torch(xpu=True)}
    assert smoke.stage_device(state, "auto")["name"].startswith("Intel")
    assert state["device"] == "xpu"
    state = {"torch": _torch(mps=True)}
    assert smoke.stage_device(state, "auto")["backend"] == "mps" and state["device"] == "mps"
    state = {"torch": _torch()}
    smoke.stage_device(state, "auto")
    assert state["device"] == "cpu"


def test_xpu_asked_for_and_absent_is_a_failed_stage_with_the_way_out() -> None:
    with pytest.raises(smoke.StageFailed) as failed:
        smoke.stage_device({"torch": _torch()}, "xpu")
    assert "--cuda xpu" in failed.value.fix


def test_a_backend_torch_compile_cannot_serve_is_skipped_not_failed(tmp_path: Path) -> None:
    runner = smoke.Runner(str(tmp_path / "progress"))

    def compiled() -> dict[str, Any]:
        raise smoke.StageSkipped("torch.compile cannot compile for mps in torch 2.9.1")

    runner.stage("train_compiled", compiled)
    (stage,) = runner.stages
    assert stage["ok"] is None and "mps" in stage["detail"]["skipped"]
    assert not runner.failed
    assert smoke._unsupported_backend(NotImplementedError("aten::foo on MPS"))
    assert not smoke._unsupported_backend(AssertionError("losses differ"))

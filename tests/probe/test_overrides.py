from __future__ import annotations

import pytest

from ptenv.errors import UsageError
from ptenv.models import ComputeCapability
from ptenv.probe.overrides import TargetOverrides, apply_overrides, parse_gpus, parse_python
from ptenv.releases import ReleaseData
from tests.conftest import make_machine


def test_gpu_forms() -> None:
    assert parse_gpus("8.6") == (ComputeCapability(8, 6),)
    assert parse_gpus("sm_86,8.0") == (ComputeCapability(8, 6), ComputeCapability(8, 0))
    assert parse_gpus("sm_120") == (ComputeCapability(12, 0),)
    assert parse_gpus("none") == ()


@pytest.mark.parametrize("bad", ["8.x", "sm_", "99.0", "1.0", "abc"])
def test_bad_gpu_is_a_usage_error_with_a_hint(bad: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_gpus(bad)
    assert caught.value.hint


def test_python_forms() -> None:
    assert parse_python("3.12").version == "3.12"
    assert parse_python("cp313").version == "3.13"
    threaded = parse_python("3.14t")
    assert threaded.free_threaded and threaded.minor_version == "3.14"
    with pytest.raises(UsageError):
        parse_python("python")


def test_overridden_machine_says_what_was_overridden(data: ReleaseData) -> None:
    machine = apply_overrides(
        make_machine(),
        TargetOverrides(os="win32", arch="amd64", python="3.11", driver="550.54.15", gpu="8.6,8.0"),
        data,
    )
    assert machine.overridden == ("os", "arch", "python", "driver", "gpu")
    assert machine.platform == "windows-x86_64"
    assert machine.nvidia.cuda_driver_version == "12.4"  # R550 ships CUDA 12.4
    assert [str(g.compute_capability) for g in machine.nvidia.gpus] == ["8.6", "8.0"]
    assert machine.nvidia.sources["gpus"] == "override"


def test_gpu_none_removes_gpus(data: ReleaseData) -> None:
    machine = apply_overrides(make_machine(), TargetOverrides(gpu="none"), data)
    assert machine.nvidia.gpus == ()


@pytest.mark.parametrize(
    "overrides",
    [TargetOverrides(os="beos"), TargetOverrides(arch="mips"), TargetOverrides(driver="latest")],
)
def test_unknown_values_are_usage_errors(overrides: TargetOverrides, data: ReleaseData) -> None:
    with pytest.raises(UsageError):
        apply_overrides(make_machine(), overrides, data)

"""The resolution policy: the issue's examples, their siblings, and table-driven checks
generated from the release data."""

from __future__ import annotations

from dataclasses import replace

import pytest
from packaging.version import Version

from ptenv.errors import NoCompatibleBuild, UsageError
from ptenv.models import Machine, Request
from ptenv.probe.overrides import TargetOverrides, apply_overrides
from ptenv.releases import PLATFORMS, Release, ReleaseData
from ptenv.releases.gpus import KNOWN_CAPABILITIES
from ptenv.resolve import judge, resolve
from tests.conftest import make_machine


def target(data: ReleaseData, **overrides: str) -> Machine:
    return apply_overrides(make_machine(), TargetOverrides(**overrides), data)


@pytest.mark.parametrize(
    ("overrides", "request_", "torch", "variant"),
    [
        ({"gpu": "none"}, Request(), "2.15.0", "cpu"),
        ({"gpu": "8.6", "driver": "550.54.15"}, Request(), "2.14.1", "cu126"),
        ({"gpu": "6.1", "driver": "580.95.05"}, Request(), "2.14.1", "cu126"),
        ({"gpu": "9.0", "driver": "550.54.15"}, Request(torch="2.5"), "2.5.1", "cu124"),
    ],
    ids=["no-gpu", "rtx3090-r550", "gtx1080ti-r580", "h100-r550-torch2.5"],
)
def test_the_issue_examples(
    data: ReleaseData, overrides: dict[str, str], request_: Request, torch: str, variant: str
) -> None:
    plan = resolve(target(data, **overrides, python="3.12"), request_, data)
    assert (plan.torch, plan.variant.tag) == (torch, variant)
    assert str(plan.packages[0]) == f"torch=={torch}+{variant}"
    assert plan.index_url == f"https://download.pytorch.org/whl/{variant}"


def test_rtx3090_on_r550_warns_about_minor_version_compatibility(data: ReleaseData) -> None:
    plan = resolve(target(data, gpu="8.6", driver="550.54.15"), Request(), data)
    assert any("minor-version compatibility" in w and "560.35.05" in w for w in plan.warnings)
    assert any("2.15.0 would need driver >= 580" in r for r in plan.reasons)


def test_pascal_never_gets_cu130_and_2_15_is_explained(data: ReleaseData) -> None:
    plan = resolve(target(data, gpu="6.1", driver="580.95.05"), Request(), data)
    assert any("cu130 has no kernels for sm_61" in r for r in plan.reasons)
    assert any(r.startswith("torch 2.15.0 is not usable") for r in plan.reasons)


def test_native_variant_is_the_highest_the_driver_supports(data: ReleaseData) -> None:
    plan = resolve(target(data, gpu="8.6", driver="580.95.05"), Request(torch="2.14"), data)
    assert plan.variant.tag == "cu130"  # 13.0 native; cu132 would need minor-version compat
    assert plan.warnings == ()


def test_newest_torch_with_a_new_driver_is_2_15(data: ReleaseData) -> None:
    plan = resolve(target(data, gpu="9.0", driver="595.45.04"), Request(), data)
    assert (plan.torch, plan.variant.tag) == ("2.15.0", "cu132")
    assert any("UNVERIFIED" in w for w in plan.warnings)  # 2.15's index contents are


def test_blackwell_on_r575_pinned_to_2_14_has_no_build(data: ReleaseData) -> None:
    with pytest.raises(NoCompatibleBuild) as caught:
        resolve(target(data, gpu="12.0", driver="575.57.08"), Request(torch="2.14"), data)
    assert "sm_120" in caught.value.message
    assert "driver to >= 580" in caught.value.hint
    assert "pin torch <= 2.13.0" in caught.value.hint  # 2.13.0 + cu129 has sm_120 (§13.1)
    assert "--cuda cpu" in caught.value.hint


def test_blackwell_on_r575_unpinned_gets_2_13_cu129(data: ReleaseData) -> None:
    plan = resolve(target(data, gpu="12.0", driver="575.57.08"), Request(), data)
    assert (plan.torch, plan.variant.tag) == ("2.13.0", "cu129")


def test_mixed_gpus_need_a_variant_covering_all(data: ReleaseData) -> None:
    """A Pascal card beside an Ampere one rules out every CUDA 13 build."""
    plan = resolve(target(data, gpu="8.0,6.1", driver="580.95.05"), Request(), data)
    assert plan.variant.tag == "cu126"


def test_driver_too_old_for_any_build(data: ReleaseData) -> None:
    with pytest.raises(NoCompatibleBuild):
        resolve(target(data, gpu="8.6", driver="418.39"), Request(torch="2.14"), data)


def test_python_3_10_excludes_2_15(data: ReleaseData) -> None:
    plan = resolve(target(data, gpu="none", python="3.10"), Request(), data)
    assert plan.torch == "2.14.1"
    assert "2.15 not for this Python/platform" in plan.reasons[0]


def test_free_threaded_python(data: ReleaseData) -> None:
    """PyPI wheel tags (§13.3): 2.12.0 still has cp313t, 2.12.1 not; 2.15.0 has 3.14t/3.15t."""
    assert resolve(target(data, gpu="none", python="3.13t"), Request(), data).torch == "2.12.0"
    assert resolve(target(data, gpu="none", python="3.14t"), Request(), data).torch == "2.15.0"
    assert resolve(target(data, gpu="none", python="3.15t"), Request(), data).torch == "2.15.0"


def test_macos_arm64_default_build_without_local_tag(data: ReleaseData) -> None:
    plan = resolve(target(data, os="macos", arch="arm64", gpu="none"), Request(), data)
    assert tuple(map(str, plan.packages)) == ("torch==2.15.0",)
    assert "MPS" in plan.reasons[-1]


def test_intel_mac_ends_at_2_2_2(data: ReleaseData) -> None:
    plan = resolve(
        target(data, os="darwin", arch="x86_64", gpu="none", python="3.11"), Request(), data
    )
    assert plan.torch == "2.2.2"


def test_explicit_variant_for_another_machine_warns(data: ReleaseData) -> None:
    plan = resolve(target(data, gpu="none"), Request(cuda="12.6"), data)
    assert (plan.torch, plan.variant.tag) == ("2.14.1", "cu126")
    assert any("planned for another machine" in w for w in plan.warnings)


def test_explicit_variant_that_cannot_run_here_warns(data: ReleaseData) -> None:
    plan = resolve(
        target(data, gpu="6.1", driver="580.95.05"), Request(cuda="cu130", torch="2.14"), data
    )
    assert any("no kernels for sm_61" in w for w in plan.warnings)


def test_rocm_and_xpu_when_asked(data: ReleaseData) -> None:
    assert resolve(target(data, gpu="none"), Request(cuda="rocm6.4"), data).torch == "2.9.1"
    assert resolve(target(data, gpu="none"), Request(cuda="xpu"), data).torch == "2.14.1"


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (Request(cuda="cu999"), "publishes no cu999"),
        (Request(cuda="gpu"), "not a variant"),
        (Request(torch="1.13"), "PyTorch 2.x only"),
        (Request(torch="2.99"), "matches"),
        (Request(torch="two"), "not a version"),
        (Request(with_packages=("numpy",)), "pairs only"),
    ],
)
def test_bad_requests_are_usage_errors(data: ReleaseData, request_: Request, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        resolve(target(data, gpu="none"), request_, data)
    assert message in caught.value.message
    assert caught.value.hint


def test_python_no_release_supports(data: ReleaseData) -> None:
    with pytest.raises(UsageError):
        resolve(target(data, gpu="none", python="3.7"), Request(), data)


def test_companions_are_pinned_from_the_same_index(data: ReleaseData) -> None:
    plan = resolve(
        target(data, gpu="none"),
        Request(torch="2.5.1", with_packages=("torchvision", "torchaudio")),
        data,
    )
    assert tuple(map(str, plan.packages)) == (
        "torch==2.5.1+cpu",
        "torchvision==0.20.1+cpu",
        "torchaudio==2.5.1+cpu",
    )


def test_torchaudio_after_2_11_uses_the_2_11_line(data: ReleaseData) -> None:
    plan = resolve(target(data, gpu="none"), Request(with_packages=("torchaudio",)), data)
    assert str(plan.packages[1]) == "torchaudio==2.11.1"
    assert any("no release after 2.11" in r for r in plan.reasons)


def test_version_range(data: ReleaseData) -> None:
    plan = resolve(target(data, gpu="none"), Request(torch=">=2.3,<2.6"), data)
    assert plan.torch == "2.5.1"


def test_glibc_floor_excludes_manylinux_2_28_builds(data: ReleaseData) -> None:
    from dataclasses import replace

    machine = target(data, gpu="8.6", driver="550.54.15")
    old_glibc = replace(machine, os=replace(machine.os, libc_version="2.26"))
    plan = resolve(old_glibc, Request(torch="2.6"), data)
    assert plan.variant.tag == "cu124"  # cu126 of 2.6 is manylinux_2_28
    assert any("glibc >= 2.28" in r for r in plan.reasons)


# --- table-driven: every release x CUDA variant x platform from the data --------------------


def _cuda_cells(data: ReleaseData) -> list[tuple[str, str, str]]:
    return [
        (r.minor, tag, p)
        for r in data.releases
        for p in PLATFORMS
        for tag in r.variants.get(p, ())
        if tag.startswith("cu")
    ]


def test_every_cuda_cell_runs_on_its_own_newest_sass_gpu(data: ReleaseData) -> None:
    """For each release x CUDA variant x platform with a known arch list, a GPU of the newest
    SASS architecture with the variant's toolkit driver gets exactly that variant when asked,
    and judge() calls it usable."""
    checked = 0
    for minor, tag, platform in _cuda_cells(data):
        release = data.release(minor)
        assert release is not None
        patch = release.latest
        if tag in release.only_in_patches:
            patch = release.only_in_patches[tag][-1]
        rule = data.arches(tag, platform, patch)
        if rule is None:
            continue
        os_name, arch = platform.split("-")
        newest = max(rule.sass)
        driver = data.cuda_variants[tag].toolkit_driver[os_name]
        if "." not in driver:
            driver += ".0"
        machine = target(
            data, os=os_name, arch=arch, python=release.python[-1], gpu=str(newest), driver=driver
        )
        verdict = judge(
            machine,
            release,
            patch,
            next(v for v in release.variants_for(platform, patch) if v.tag == tag),
            data,
        )
        assert verdict.usable, (minor, tag, platform, verdict.why)
        plan = resolve(machine, Request(torch=str(patch), cuda=tag), data)
        assert plan.variant.tag == tag
        checked += 1
    assert checked > 60


def test_every_cuda_cell_rejects_a_gpu_older_than_its_oldest_sass(data: ReleaseData) -> None:
    for minor, tag, platform in _cuda_cells(data):
        release = data.release(minor)
        assert release is not None
        rule = data.arches(tag, platform, release.latest)
        if rule is None or (rule.ptx and min(rule.ptx) <= min(rule.sass)):
            continue
        oldest = min(rule.sass)
        if oldest.major <= 3:
            continue
        # The newest real GPU generation below the oldest SASS (4.0 and the like do not exist).
        older = max(cc for cc in KNOWN_CAPABILITIES if cc < oldest)
        os_name, arch = platform.split("-")
        machine = target(
            data, os=os_name, arch=arch, python=release.python[-1], gpu=str(older), driver="600.0"
        )
        variant = next(v for v in release.variants_for(platform, release.latest) if v.tag == tag)
        assert not judge(machine, release, release.latest, variant, data).usable


def test_every_release_resolves_cpu_on_every_platform_it_publishes(data: ReleaseData) -> None:
    for release in data.releases:
        for platform, tags in release.variants.items():
            os_name, arch = platform.split("-")
            python = release.python[-1]
            plan = resolve(
                target(data, os=os_name, arch=arch, python=python, gpu="none"),
                Request(torch=str(release.latest)),
                data,
            )
            assert plan.torch == str(release.latest)
            assert plan.variant.tag == "cpu" and "cpu" in tags
            assert Version(plan.torch) in release.patches


# --- the facts of pytorch-compat.md §13, each with its source ------------------------------


@pytest.mark.parametrize(
    ("overrides", "request_", "torch", "variant"),
    [
        # §13.1: cu129 of 2.11-2.13 has sm_120 and loads on R570 (minor-version compatibility);
        # pytorch/pytorch#188443, test-infra#8164 / #8215, NVIDIA's MVC table
        ({"gpu": "12.0", "driver": "570.86.10"}, Request(), "2.13.0", "cu129"),
        ({"gpu": "12.0", "driver": "570.86.10"}, Request(torch="2.12"), "2.12.1", "cu129"),
        # §13.1: Grace Hopper on 2.6 (pytorch/pytorch#140844) and 2.7 (#146378)
        (
            {"gpu": "9.0", "driver": "560.35.03", "arch": "aarch64"},
            Request(torch="2.6"),
            "2.6.0",
            "cu126",
        ),
        (
            {"gpu": "9.0", "driver": "570.86.10", "arch": "aarch64"},
            Request(torch="2.7"),
            "2.7.1",
            "cu128",
        ),
        # §13.3: 2.15.0 publishes cp315 on Windows and macOS too (PyPI wheel tags)
        ({"gpu": "none", "os": "windows", "python": "3.15"}, Request(), "2.15.0", "cpu"),
        (
            {"gpu": "none", "os": "macos", "arch": "arm64", "python": "3.15t"},
            Request(),
            "2.15.0",
            "cpu",
        ),
        # §13.3: aarch64 cp313 wheels start at 2.6.0 (x86_64's at 2.5.0)
        ({"gpu": "none", "arch": "aarch64", "python": "3.13"}, Request(torch="2.5"), None, None),
        ({"gpu": "none", "python": "3.13"}, Request(torch="2.5"), "2.5.1", "cpu"),
    ],
    ids=[
        "rtx5090-r570",
        "rtx5090-r570-torch2.12",
        "gh200-torch2.6",
        "gh200-torch2.7",
        "windows-py3.15",
        "macos-py3.15t",
        "aarch64-py3.13-torch2.5",
        "x86-py3.13-torch2.5",
    ],
)
def test_the_second_pass_facts(
    data: ReleaseData,
    overrides: dict[str, str],
    request_: Request,
    torch: str | None,
    variant: str | None,
) -> None:
    machine = target(data, **{"python": "3.12", **overrides})
    if torch is None:
        with pytest.raises(NoCompatibleBuild):
            resolve(machine, request_, data)
        return
    plan = resolve(machine, request_, data)
    assert (plan.torch, plan.variant.tag) == (torch, variant)


def test_aarch64_2_6_needs_glibc_2_28_for_every_build(data: ReleaseData) -> None:
    """§13.3: manylinux2014_aarch64 wheels end at 2.5.1; 2.6.0 is manylinux_2_28_aarch64."""
    machine = target(data, gpu="none", arch="aarch64", python="3.12")
    old_glibc = replace(machine, os=replace(machine.os, libc_version="2.26"))
    with pytest.raises(NoCompatibleBuild, match="glibc"):
        resolve(old_glibc, Request(torch="2.6", cuda="cpu"), data)
    assert _release(data, "2.6").glibc_floor("linux-aarch64", "cpu") == "2.28"
    assert _release(data, "2.6").glibc_floor("linux-x86_64", "cpu") == "2.17"


@pytest.mark.parametrize(
    ("torch", "variant", "sass"),
    [
        ("2.7.1", "cu126", ("5.0", "6.0", "7.0", "7.5", "8.0", "8.6", "9.0")),
        ("2.8.0", "cu128", ("7.0", "7.5", "8.0", "8.6", "9.0", "10.0", "12.0")),
        ("2.14.1", "cu130", ("7.5", "8.0", "8.6", "9.0", "10.0", "12.0")),
        ("2.15.0", "cu132", ("7.5", "8.0", "8.6", "9.0", "10.0", "12.0")),
    ],
)
def test_the_pypi_builds_are_builds_of_their_own_without_ptx(
    data: ReleaseData, torch: str, variant: str, sass: tuple[str, ...]
) -> None:
    """§13.2, measured on PyPI's Linux x86_64 wheels (CUDAConfig.h, cuobjdump)."""
    rule = data.arches(variant, "linux-x86_64", Version(torch), pypi=True)
    assert rule is not None and rule.pypi and rule.ptx == ()
    assert tuple(str(cc) for cc in rule.sass) == sass
    assert _release(data, torch.rsplit(".", 1)[0]).pypi_variant("linux-x86_64").tag == variant


def test_a_pypi_build_without_a_measured_list_takes_the_index_list_without_ptx(
    data: ReleaseData,
) -> None:
    index = data.arches("cu130", "linux-x86_64", Version("2.12.1"))
    pypi = data.arches("cu130", "linux-x86_64", Version("2.12.1"), pypi=True)
    assert index is not None and index.ptx and pypi is not None
    assert pypi.sass == index.sass and pypi.ptx == ()


def test_python_sets_can_differ_between_patches_of_one_minor(data: ReleaseData) -> None:
    release = _release(data, "2.12")
    assert "3.13t" in release.pythons("linux-x86_64", Version("2.12.0"))
    assert "3.13t" not in release.pythons("linux-x86_64", Version("2.12.1"))


def test_the_toolkit_patch_levels_of_the_pypi_builds(data: ReleaseData) -> None:
    """§13.2: cuda-toolkit==13.0.3 in 2.14.1's METADATA, ==13.2.2 in 2.15.0's."""
    assert _release(data, "2.14").toolkit[Version("2.14.1")] == "13.0.3"
    assert _release(data, "2.15").toolkit[Version("2.15.0")] == "13.2.2"


def _release(data: ReleaseData, minor: str) -> Release:
    release = data.release(minor)
    assert release is not None, minor
    return release

"""Sanity of the release data: sorted, parseable, complete, every fact sourced."""

from __future__ import annotations

from packaging.version import Version

from ptenv.models import DriverVersion, Variant, VariantKind
from ptenv.releases import PLATFORMS, ReleaseData


def test_every_minor_from_2_0_to_2_15(data: ReleaseData) -> None:
    assert [r.minor for r in data.releases] == [f"2.{n}" for n in range(16)]


def test_patches_sorted_and_belong_to_their_minor(data: ReleaseData) -> None:
    for release in data.releases:
        assert list(release.patches) == sorted(release.patches)
        assert all(f"{p.major}.{p.minor}" == release.minor for p in release.patches)


def test_every_release_publishes_cpu_for_every_platform_it_lists(data: ReleaseData) -> None:
    for release in data.releases:
        assert release.variants
        for platform, tags in release.variants.items():
            assert platform in PLATFORMS
            assert "cpu" in tags, (release.minor, platform)
            for tag in tags:
                Variant.parse(tag)  # parseable


def test_every_cuda_variant_has_driver_facts(data: ReleaseData) -> None:
    for release in data.releases:
        for tags in release.variants.values():
            for tag in tags:
                variant = Variant.parse(tag)
                if variant.kind is VariantKind.CUDA:
                    facts = data.cuda_variants[tag]
                    assert set(facts.floor) == {"linux", "windows"}
                    assert Version(facts.floor["linux"]) <= Version(facts.toolkit_driver["linux"])


def test_every_patch_has_companions(data: ReleaseData) -> None:
    for release in data.releases:
        assert set(release.companions) == set(release.patches), release.minor


def test_every_source_tag_is_defined(data: ReleaseData) -> None:
    for table, fields in data.raw_sources.items():
        for field in fields:
            tags = [t.strip() for t in field.split(";")]
            assert tags and all(tag in data.sources for tag in tags), (table, field)


def test_arch_rules_are_sorted_and_name_known_variants(data: ReleaseData) -> None:
    for rule in data.arch_rules:
        assert rule.variant in data.cuda_variants
        assert list(rule.sass) == sorted(rule.sass)
        assert all(p in PLATFORMS for p in rule.platforms)


def test_driver_branches_ascend(data: ReleaseData) -> None:
    branches = [b for b, _ in data.driver_branches]
    cudas = [c for _, c in data.driver_branches]
    assert branches == sorted(branches) and cudas == sorted(cudas)
    assert data.cuda_for_driver(DriverVersion.parse("580.95.05")) == Version("13.0")
    assert data.cuda_for_driver(DriverVersion.parse("418.39")) is None


def test_unverified_marks_survive_into_the_data(data: ReleaseData) -> None:
    """The reference's UNVERIFIED facts stay marked (a sample of them)."""
    assert data.release("2.15") is not None and data.release("2.15").is_unverified("variants")  # type: ignore[union-attr]
    assert "floor" in data.cuda_variants["cu130"].unverified
    rule = data.arches("cu126", "linux-x86_64", Version("2.6.0"))
    assert rule is not None and rule.unverified
    assert data.arches("cu129", "linux-aarch64", Version("2.11.0")) is None  # unknown
    aarch64 = data.arches("cu129", "linux-aarch64", Version("2.13.0"))
    assert aarch64 is not None and aarch64.unverified  # §13.1: "most likely" only


def test_loading_is_cached(data: ReleaseData) -> None:
    from ptenv import releases

    assert releases.load() is releases.load()

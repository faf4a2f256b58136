"""The release knowledge as a table: torch x variant x platform x GPU architectures."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ptenv.errors import UsageError
from ptenv.models import ComputeCapability, Variant, VariantKind
from ptenv.releases import PLATFORMS, ReleaseData


@dataclass(frozen=True, kw_only=True)
class Cell:
    variant: str
    cuda: str | None
    sass: tuple[ComputeCapability, ...]
    ptx: tuple[ComputeCapability, ...]
    arch_known: bool
    unverified: bool
    source: str
    only_in: tuple[str, ...] = ()  # patches that have it, when not all do
    # ROCm: the gfx targets compiled in; xpu: the Intel GPU families it is built for
    gpu_targets: tuple[str, ...] = ()

    @property
    def summary(self) -> str:
        """'5.0-9.0', '7.5-12.0+PTX', 'gfx900-gfx1201 (14)', '4 families*', 'yes' (cpu), '?'."""
        mark = "*" if self.unverified else ""
        kind = Variant.parse(self.variant).kind
        if kind is VariantKind.ROCM:
            if not self.gpu_targets:
                return "gfx ?" + mark
            first, last = self.gpu_targets[0], self.gpu_targets[-1]
            return f"{first}-{last} ({len(self.gpu_targets)})" + mark
        if kind is VariantKind.XPU:
            return f"{len(self.gpu_targets)} families{mark}"
        if not self.cuda:
            return "yes" + mark
        if not self.arch_known:
            return "?"
        text = f"{self.sass[0]}-{self.sass[-1]}" if len(self.sass) > 1 else str(self.sass[0])
        if self.ptx:
            text += "+PTX"
        return text + ("*" if self.unverified else "")


@dataclass(frozen=True)
class Row:
    torch: str
    patches: tuple[str, ...]
    python: tuple[str, ...]
    cells: tuple[Cell, ...]


def matrix(data: ReleaseData, platform: str, torch: str | None) -> list[Row]:
    if platform not in PLATFORMS:
        raise UsageError(
            f"--platform {platform!r} is not a platform PyTorch publishes for.",
            hint="Use one of: " + ", ".join(PLATFORMS) + ".",
        )
    releases = [r for r in data.releases if torch is None or r.minor == torch]
    if torch is not None and not releases:
        raise UsageError(
            f"--torch {torch}: ptenv's data has no such release line.",
            hint=f"Give X.Y between {data.releases[0].minor} and {data.newest.minor}.",
        )
    rows = []
    for release in reversed(releases):
        if platform not in release.variants:
            continue
        cells = []
        for tag in release.variants[platform]:
            facts = data.cuda_variants.get(tag)
            rule = data.arches(tag, platform, release.latest) if facts else None
            only_in = tuple(str(p) for p in release.only_in_patches.get(tag, ()))
            unverified = release.is_unverified("variants", f"variants.{platform}.{tag}") or (
                rule is not None and rule.unverified
            )
            facts_of_cell: dict[str, Any] = {
                "variant": tag,
                "cuda": str(facts.cuda) if facts else None,
                "sass": rule.sass if rule else (),
                "ptx": rule.ptx if rule else (),
                "arch_known": rule is not None,
                "unverified": unverified,
                "source": rule.source if rule else release.source,
                "only_in": only_in,
            }
            others = _gpu_targets(data, release.minor, tag)
            others["unverified"] = unverified or others.get("unverified", False)
            cells.append(Cell(**(facts_of_cell | others)))
        rows.append(
            Row(
                release.minor,
                tuple(str(p) for p in release.patches),
                release.pythons(platform),
                tuple(cells),
            )
        )
    return rows


def _gpu_targets(data: ReleaseData, minor: str, tag: str) -> dict[str, Any]:
    """The non-NVIDIA targets of a cell, and whether they rest on UNVERIFIED data."""
    kind = Variant.parse(tag).kind
    if kind is VariantKind.ROCM:
        known = data.rocm_targets(minor, tag)
        if known is None:
            return {"gpu_targets": (), "arch_known": False}
        return {"gpu_targets": known.targets, "arch_known": True, "source": known.source}
    if kind is VariantKind.XPU:
        from ptenv.probe import intel  # noqa: PLC0415 - the family table, only for xpu cells

        names, source = intel.xpu_families()
        return {"gpu_targets": names, "arch_known": True, "unverified": True, "source": source}
    return {}


def variant_order(rows: list[Row]) -> list[str]:
    """Columns: cpu, CUDA ascending, ROCm, xpu."""
    tags = {cell.variant for row in rows for cell in row.cells}
    kinds = [VariantKind.CPU, VariantKind.CUDA, VariantKind.ROCM, VariantKind.XPU]

    def key(tag: str) -> tuple[int, tuple[int, ...]]:
        variant = Variant.parse(tag)
        numbers = tuple(int(n) for n in (variant.version or "0").split("."))
        return kinds.index(variant.kind), numbers

    return sorted(tags, key=key)

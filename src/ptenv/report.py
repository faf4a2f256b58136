"""Rendering: Rich for people (stdout), versioned JSON for machines. The only rich importer.

Rich is imported lazily so the --json paths never pay for it.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ptenv import redact
from ptenv.models import (
    CheckReport,
    Finding,
    FleetReport,
    Machine,
    Plan,
    Severity,
    StageResult,
    Transfer,
    VenvInfo,
    to_jsonable,
)
from ptenv.schema import (
    CheckDocument,
    DoctorDocument,
    ErrorDocument,
    FindingDocument,
    FleetDocument,
    InstallDocument,
    Jsonable,
    MatrixDocument,
    PlanDocument,
    StageDocument,
    WheelDocument,
)

if TYPE_CHECKING:
    from rich.console import Console

    from ptenv.install.bundle import BundleResult
    from ptenv.install.learn import Learned
    from ptenv.install.workflow import Environment
    from ptenv.releases.learned import DataSummary, Overlay
    from ptenv.releases.matrix import Cell, Row
    from ptenv.releases.wheelinfo import WheelFacts

DOCTOR_SCHEMA = "ptenv.doctor/1"
_SEVERITY_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}


def esc(value: object) -> str:
    """Text from the world (paths, messages, names) made safe for Rich markup."""
    from rich.markup import escape

    return escape(str(value))


def console(stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def emit_json(document: Mapping[str, Any]) -> None:
    """One JSON document on stdout, nothing else."""
    sys.stdout.write(json.dumps(document, indent=2, sort_keys=False) + "\n")


def machine_json(machine: Machine) -> Jsonable:
    document: Jsonable = to_jsonable(machine)
    document["platform"] = machine.platform
    document["nvidia"]["visible_gpu_count"] = len(machine.nvidia.visible_gpus)
    return document


def _findings(findings: Sequence[Finding]) -> list[FindingDocument]:
    return [
        {"code": f.code, "severity": f.severity.value, "message": f.message, "fix": f.fix}
        for f in findings
    ]


def doctor_document(
    machine: Machine, venv: VenvInfo | None, findings: Sequence[Finding]
) -> DoctorDocument:
    return {
        "schema": DOCTOR_SCHEMA,
        "machine": machine_json(machine),
        "venv": to_jsonable(venv) if venv is not None else None,
        "findings": _findings(findings),
    }


def error_document(schema: str, code: str, message: str, hint: str) -> ErrorDocument:
    return {"schema": schema, "error": {"code": code, "message": message, "hint": hint}}


# What the symbols ptenv prints become on a stream that cannot encode them (a GBK console, a
# stdout redirected on a Windows code page): readable ASCII rather than a crash.
_ASCII = str.maketrans(
    {
        "✓": "ok",
        "✗": "FAIL",
        "→": "->",
        "·": "|",
        "²": "^2",
        "µ": "u",
        "°": " deg",
        "—": "-",
        "…": "...",
        **dict(zip("▁▂▃▄▅▆▇█", "_.-~=+*#", strict=True)),
    }
)


_ASCII_SOURCE = tuple(chr(code) for code in _ASCII)


class _GuardedStream:
    """A text stream that never shows a credential, and writes ASCII where UTF-8 is missing."""

    def __init__(self, stream: Any, ascii_only: bool) -> None:
        self._stream = stream
        self._ascii_only = ascii_only

    def write(self, text: str) -> int:
        shown = redact.text(text)
        self._stream.write(shown.translate(_ASCII) if self._ascii_only else shown)
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def safe_streams() -> None:
    """Guard stdout and stderr: credentials masked, ASCII fallbacks where UTF-8 is not there."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if isinstance(stream, _GuardedStream):
            continue
        ascii_only = False
        try:
            "".join(_ASCII_SOURCE).encode(getattr(stream, "encoding", None) or "ascii")
        except (UnicodeEncodeError, LookupError):
            reconfigure = getattr(stream, "reconfigure", None)
            if reconfigure is not None:
                reconfigure(errors="replace")  # whatever the table does not cover
            ascii_only = True
        setattr(sys, name, _GuardedStream(stream, ascii_only))


def _by_hand(plan: Plan) -> str:
    """The one command that installs the plan without ptenv (PyPI: the default index)."""
    where = "" if plan.index_url == "PyPI" else f" --index-url {plan.index_url}"
    return f"uv pip install {_pins(plan)}{where}"


def print_error(message: str, hint: str) -> None:
    """One clear sentence and a hint, on stderr."""
    sys.stderr.write(f"error: {message}\n")
    if hint:
        sys.stderr.write(f"hint: {hint}\n")


def _size(value: int | None) -> str:
    return "?" if value is None else f"{value / 2**30:.1f} GiB"


def render_doctor(machine: Machine, venv: VenvInfo | None, findings: Sequence[Finding]) -> None:
    out = console()
    out.print(_doctor_summary(machine, venv))
    if machine.nvidia.gpus:
        out.print(_gpu_table(machine))
    out.print()
    if not findings:
        out.print("[green]No findings: nothing wrong was detected.[/green]")
    for item in findings:
        style = _SEVERITY_STYLE[item.severity]
        out.print(
            f"[{style}]{item.severity.value:>7}[/{style}] [bold]{item.code}[/bold]: "
            f"{esc(item.message)}",
            markup=True,
        )
        out.print(f"         fix: {item.fix}", markup=False)


def _joined(*parts: str | None) -> str:
    return " · ".join(p for p in parts if p)


def _add_row(grid: Any, label: str, value: str) -> None:
    grid.add_row(label, esc(value))  # paths and names come from the machine, not from us


def _doctor_summary(machine: Machine, venv: VenvInfo | None) -> Any:
    from rich.table import Table

    os_info, python, cpu = machine.os, machine.python, machine.cpu
    distro = " ".join(p for p in (os_info.distro_id, os_info.distro_version) if p)
    libc = " ".join(p for p in (os_info.libc_name, os_info.libc_version) if p)
    where = ", ".join(p for p in (os_info.container, "WSL2" if os_info.wsl else None) if p)
    summary = Table.grid(padding=(0, 2))
    summary.add_column(style="bold")
    summary.add_column()
    host = f"{os_info.system} {os_info.release}".strip()
    _add_row(summary, "Host", _joined(host, distro, machine.arch, libc, where))
    threaded = " (free-threaded)" if python.free_threaded else ""
    _add_row(
        summary,
        "Python",
        _joined(
            f"{python.implementation} {python.version}{threaded}",
            python.executable,
            "venv" if python.in_venv else None,
        ),
    )
    cores = f"{cpu.physical_cores or '?'} cores / {cpu.logical_cores or '?'} threads"
    _add_row(summary, "CPU", _joined(cpu.model or "unknown", cores, " ".join(cpu.flags)))
    _add_row(
        summary,
        "Memory",
        f"{_size(machine.memory.available_bytes)} free of {_size(machine.memory.total_bytes)}",
    )
    disk = f"{_size(machine.storage.free_bytes)} free at {machine.storage.path}"
    if machine.storage.shm_bytes is not None:
        disk += f" · /dev/shm {_size(machine.storage.shm_bytes)}"
    _add_row(summary, "Disk", disk)
    _add_row(summary, "NVIDIA driver", _driver_line(machine))
    amd = machine.amd
    if amd.gpus:
        listed = ", ".join(
            f"{g.name} ({g.gfx or 'gfx ?'})" + ("" if g.visible else " hidden") for g in amd.gpus
        )
        kfd = (
            "/dev/kfd usable"
            if amd.kfd_access
            else ("/dev/kfd not usable" if amd.kfd else "no /dev/kfd")
        )
        _add_row(summary, "AMD GPUs", _joined(listed, f"amdgpu {amd.kernel_driver or '?'}", kfd))
    board = machine.jetson
    if board is not None:
        l4t = f"L4T {board.l4t} (JetPack {board.jetpack or '?'})" if board.l4t else None
        gpu = (
            f"GPU sm_{board.compute_capability.replace('.', '')}"
            if board.compute_capability
            else None
        )
        _add_row(summary, "Jetson", _joined(board.model, board.soc, l4t, gpu))
    intel = machine.intel
    if intel.gpus:
        listed = ", ".join(
            f"{g.family} ({g.device_id}, {g.driver or 'no driver'})"
            + ("" if g.xpu else ": not an xpu target")
            for g in intel.gpus
        )
        runtime = "Level Zero present" if intel.level_zero else "no Level Zero runtime"
        _add_row(summary, "Intel GPUs", _joined(listed, runtime))
    if machine.overridden:
        _add_row(summary, "Overridden", ", ".join(machine.overridden) + " (target machine)")
    if venv is not None:
        torch = venv.torch
        what = "no torch"
        if torch is not None:
            what = f"torch {torch.version}" + (f" · CUDA {torch.cuda}" if torch.cuda else "")
        _add_row(summary, "Venv", f"{venv.path} · Python {venv.python_version} · {what}")
    return summary


def _driver_line(machine: Machine) -> str:
    nvidia = machine.nvidia
    if not nvidia.driver_version:
        return "none"
    return (
        f"{nvidia.driver_version} (CUDA {nvidia.cuda_driver_version or '?'}) from "
        f"{nvidia.sources.get('driver_version', '?')}"
    )


def _gpu_table(machine: Machine) -> Any:
    from rich.table import Table

    table = Table(title="GPUs", title_justify="left")
    for column in ("#", "name", "CC", "memory", "temp", "power", "PCIe", "visible"):
        table.add_column(column)
    for gpu in machine.nvidia.gpus:
        pcie = "?"
        if gpu.pcie_gen_current is not None:
            pcie = (
                f"gen{gpu.pcie_gen_current}/{gpu.pcie_gen_max} "
                f"x{gpu.pcie_width_current}/{gpu.pcie_width_max}"
            )
        memory = "?"
        if gpu.memory_total_bytes is not None:
            memory = (
                f"{(gpu.memory_used_bytes or 0) / 2**30:.1f}/"
                f"{gpu.memory_total_bytes / 2**30:.1f} GiB"
            )
        table.add_row(
            str(gpu.index),
            esc(gpu.name or "?"),
            str(gpu.compute_capability) if gpu.compute_capability else "?",
            memory,
            f"{gpu.temperature_c} °C" if gpu.temperature_c is not None else "?",
            f"{gpu.power_w:.0f}/{gpu.power_limit_w:.0f} W"
            if gpu.power_w is not None and gpu.power_limit_w is not None
            else "?",
            pcie,
            "yes" if gpu.visible else "no",
        )
    return table


PLAN_SCHEMA = "ptenv.plan/1"
MATRIX_SCHEMA = "ptenv.matrix/1"


def plan_document(plan: Plan, machine: Machine) -> PlanDocument:
    return {
        "schema": PLAN_SCHEMA,
        **plan.summary(),
        "machine": machine_json(machine),
        "reasons": list(plan.reasons),
        "warnings": list(plan.warnings),
    }


def _pins(plan: Plan) -> str:
    return " ".join(map(str, plan.packages))


def render_plan(plan: Plan, machine: Machine) -> None:
    out = console()
    target = (
        " (target overrides: " + ", ".join(machine.overridden) + ")" if machine.overridden else ""
    )
    out.print(
        f"[bold]torch {plan.torch}[/bold] · [bold]{plan.variant}[/bold] · Python "
        f"{plan.python} · {plan.platform}{target}"
    )
    # URLs and commands are printed whole (soft wrap): a pasted line must not break.
    out.print(f"index: {plan.index_url}", markup=False, soft_wrap=True)
    out.print("pins:  " + _pins(plan), markup=False, soft_wrap=True)
    out.print()
    out.print("[bold]Why[/bold]")
    for number, reason in enumerate(plan.reasons, 1):
        out.print(f"  {number}. {reason}", markup=False)
    if plan.warnings:
        out.print("[bold yellow]Warnings[/bold yellow]")
        for warning in plan.warnings:
            out.print(f"  - {warning}", markup=False)
    out.print()
    out.print(
        "Install by hand: " + _by_hand(plan),
        markup=False,
        soft_wrap=True,
    )


def matrix_document(platform: str, rows: Sequence[Row]) -> MatrixDocument:
    return {
        "schema": MATRIX_SCHEMA,
        "platform": platform,
        "releases": [
            {
                "torch": row.torch,
                "patches": list(row.patches),
                "python": list(row.python),
                "variants": [
                    {
                        "variant": cell.variant,
                        "cuda": cell.cuda,
                        "sass": [str(cc) for cc in cell.sass],
                        "ptx": [str(cc) for cc in cell.ptx],
                        "arch_known": cell.arch_known,
                        "unverified": cell.unverified,
                        "only_in_patches": list(cell.only_in),
                        "gpu_targets": list(cell.gpu_targets),
                        "source": cell.source,
                    }
                    for cell in row.cells
                ],
            }
            for row in rows
        ],
    }


NARROW_COLUMNS = 100  # at or below this width the matrix is a list, not a table


def render_matrix(
    platform: str, rows: Sequence[Row], columns: Sequence[str], legend: bool = True
) -> None:
    """A table on a wide terminal; one block per release at NARROW_COLUMNS or fewer."""
    out = console()
    if out.width <= NARROW_COLUMNS:
        _render_matrix_narrow(out, platform, rows)
    else:
        out.print(_matrix_table(platform, rows, columns))
    if legend:
        out.print(
            "ROCm: gfx range (targets) · xpu: Intel GPU families (--json lists them) · "
            "? = architecture list unknown · * = UNVERIFIED · (x.y.z) = only in those patches",
            markup=False,
        )


def _cell_text(cell: Cell) -> str:
    return cell.summary + (f" ({','.join(cell.only_in)})" if cell.only_in else "")


def _python_range(row: Row) -> str:
    pythons = [p for p in row.python if not p.endswith("t")]
    return f"{pythons[0]}-{pythons[-1]}" if pythons else "?"


def _render_matrix_narrow(out: Console, platform: str, rows: Sequence[Row]) -> None:
    out.print(f"[bold]PyTorch builds for {platform}[/bold] (GPU architectures: SASS range, +PTX)")
    for row in rows:
        out.print(f"[bold]torch {row.patches[-1]}[/bold] · Python {_python_range(row)}")
        for cell in row.cells:
            marker = "*" if cell.unverified else ""
            out.print(f"  {cell.variant + marker:<10} {_cell_text(cell)}", markup=False)


def _matrix_table(platform: str, rows: Sequence[Row], columns: Sequence[str]) -> Any:
    from rich.table import Table

    cuda_columns = [c for c in columns if c.startswith("cu")]
    table = Table(
        title=f"PyTorch builds for {platform}: GPU architectures (SASS range, +PTX)",
        title_justify="left",
    )
    table.add_column("torch", style="bold", no_wrap=True)
    table.add_column("Python", no_wrap=True)
    for column in ["cpu", *cuda_columns]:
        table.add_column(column, no_wrap=True)
    table.add_column("ROCm / XPU")
    for row in rows:
        by_variant = {cell.variant: cell for cell in row.cells}
        cells = [
            _cell_text(by_variant[c]) if c in by_variant else "" for c in ["cpu", *cuda_columns]
        ]
        others = " ".join(
            c.variant + ("*" if c.unverified else "")
            for c in row.cells
            if not c.variant.startswith("cu") and c.variant != "cpu"
        )
        table.add_row(row.patches[-1], _python_range(row), *cells, others)
    return table


def matrix_markdown(platform: str, rows: Sequence[Row], columns: Sequence[str]) -> str:
    """The matrix as a markdown table (docs/reference/matrix.md is generated from this)."""
    header = ["torch", "Python", *columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        by_variant = {cell.variant: cell for cell in row.cells}
        pythons = [p for p in row.python if not p.endswith("t")]
        cells = [row.patches[-1], f"{pythons[0]}-{pythons[-1]}" if pythons else "?"]
        for column in columns:
            cell = by_variant.get(column)
            text = cell.summary if cell else ""
            if cell and cell.only_in:
                text += " (" + ", ".join(cell.only_in) + ")"
            cells.append(text)
        lines.append("| " + " | ".join(cells) + " |")
    return f"### {platform}\n\n" + "\n".join(lines) + "\n"


CHECK_SCHEMA = "ptenv.check/1"
_SPARK = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float], width: int = 40) -> str:
    """A loss curve in one line of block characters."""
    if not values:
        return ""
    step = max(1, len(values) // width)
    sampled = list(values[::step])
    low, high = min(sampled), max(sampled)
    span = (high - low) or 1.0
    return "".join(_SPARK[int((v - low) / span * (len(_SPARK) - 1))] for v in sampled)


def _stage_document(stage: StageResult) -> StageDocument:
    document: StageDocument = {
        "name": stage.name,
        "ok": stage.ok,
        "seconds": stage.seconds,
        "detail": stage.detail,
    }
    if stage.ok is False:
        document["message"] = stage.message
        document["fix"] = stage.fix
    return document


def check_document(report: CheckReport, findings: Sequence[Finding]) -> CheckDocument:
    return {
        "schema": CHECK_SCHEMA,
        "ok": report.ok,
        "device": report.device,
        "venv": report.venv,
        "seconds": round(report.seconds, 3),
        "cache": {"dir": report.cache_dir, "warm": report.cache_warm},
        "stages": [_stage_document(s) for s in report.stages],
        "figures": report.figures,
        "findings": _findings(findings),
        **fleet_document(report.fleet),
    }


def fleet_document(fleet: FleetReport | None) -> FleetDocument:
    """world_size, per-rank results, the all_reduce table; world_size 1 without a launch."""
    if fleet is None:
        return {
            "world_size": 1,
            "launcher": None,
            "backend": None,
            "ranks": [],
            "allreduce": [],
            "fingerprint_differences": {},
            "first_failed_rank": None,
        }
    return {
        "world_size": fleet.world_size,
        "launcher": fleet.launcher,
        "backend": fleet.backend,
        "ranks": [
            {
                "rank": r.rank,
                "host": r.host,
                "ok": r.ok,
                "stage": r.stage,
                "message": r.message,
                "fingerprint": r.fingerprint,
                "seconds": r.seconds,
            }
            for r in fleet.ranks
        ],
        "allreduce": [
            {
                "bytes": row.bytes,
                "iterations": row.iterations,
                "time_us": row.time_us,
                "algbw_gbps": row.algbw_gbps,
                "busbw_gbps": row.busbw_gbps,
            }
            for row in fleet.allreduce
        ],
        "fingerprint_differences": fleet.differences,
        "first_failed_rank": fleet.first_failed,
    }


def _import_figures(detail: dict[str, Any]) -> str:
    cuda = f" · CUDA {detail['cuda']}" if detail.get("cuda") else ""
    return f"torch {detail.get('torch')}{cuda}"


def _device_figures(detail: dict[str, Any]) -> str:
    return f"{detail.get('device')} · {detail.get('name', '')}"


def _numerics_figures(detail: dict[str, Any]) -> str:
    error = detail.get("relative_error", 0)
    return f"{detail.get('size')}² matmul repeatable, rel. error {error:.1e}"


def _training_figures(detail: dict[str, Any]) -> str:
    text = (
        f"loss {detail.get('loss_first', 0):.3f} → {detail.get('loss_last', 0):.3f} · "
        f"acc {detail.get('accuracy', 0):.3f} · {detail.get('step_ms', 0):.2f} ms/step"
    )
    if "compile_seconds" in detail:
        text += f" · compile {detail['compile_seconds']:.1f} s"
    return text


def _process_group_figures(detail: dict[str, Any]) -> str:
    return (
        f"{detail.get('backend')} · rank {detail.get('rank')} of {detail.get('world_size')}"
        f" · {detail.get('launcher')} · {detail.get('init_seconds', 0):.2f} s"
    )


def _fingerprint_figures(detail: dict[str, Any]) -> str:
    mine = detail.get("fingerprint") or {}
    return f"{mine.get('host')} · torch {mine.get('torch')} · same build as rank 0"


def _ddp_figures(detail: dict[str, Any]) -> str:
    return (
        f"loss {detail.get('loss_first', 0):.3f} → {detail.get('loss_last', 0):.3f} · "
        f"{detail.get('step_ms', 0):.2f} ms/step · parameters identical on every rank"
    )


def _allreduce_figures(detail: dict[str, Any]) -> str:
    return f"peak bus bandwidth {detail.get('peak_busbw_gbps', 0):.2f} GB/s"


def _summary_figures(detail: dict[str, Any]) -> str:
    parts = []
    if detail.get("speedup"):
        parts.append(f"compiled speed-up x{detail['speedup']:.2f}")
    for dtype, value in (detail.get("matmul_tflops") or {}).items():
        parts.append(f"{dtype} {value:.1f} TFLOP/s")
    return " · ".join(parts)


# The one-line result of each passed stage, from its detail.
_FIGURES: dict[str, Callable[[dict[str, Any]], str]] = {
    "import": _import_figures,
    "device": _device_figures,
    "numerics": _numerics_figures,
    "train_eager": _training_figures,
    "train_compiled": _training_figures,
    "process_group": _process_group_figures,
    "fingerprint": _fingerprint_figures,
    "train_ddp": _ddp_figures,
    "allreduce": _allreduce_figures,
    "figures": _summary_figures,
}


def _stage_figures(stage: StageResult) -> str:
    if stage.ok is None:
        return f"skipped: {stage.detail.get('skipped', '')}"
    if stage.ok is False:
        return stage.message
    figures = _FIGURES.get(stage.name)
    return figures(stage.detail) if figures is not None else ""


def render_check(report: CheckReport, findings: Sequence[Finding]) -> None:
    from rich.table import Table

    out = console()
    for item in findings:
        if item.severity is not Severity.INFO:
            style = _SEVERITY_STYLE[item.severity]
            out.print(f"[{style}]{item.severity.value}[/{style}] {item.code}: {esc(item.message)}")
    table = Table(
        title=f"ptenv check · {esc(report.venv)} · device {esc(report.device or '?')}",
        title_justify="left",
    )
    for column in ("", "stage", "seconds", "result"):
        table.add_column(column)
    marks = {True: "[green]✓[/green]", False: "[red]✗[/red]", None: "[dim]-[/dim]"}
    for stage in report.stages:
        table.add_row(
            marks[stage.ok], esc(stage.name), f"{stage.seconds:.2f}", esc(_stage_figures(stage))
        )
    out.print(table)
    eager = next((s for s in report.stages if s.name == "train_eager" and s.ok), None)
    if eager is not None and eager.detail.get("losses"):
        out.print("loss " + sparkline(eager.detail["losses"]), markup=False)
    if report.cache_dir:
        out.print(
            f"compile cache: {report.cache_dir} ({'warm' if report.cache_warm else 'cold'})",
            markup=False,
        )
    if report.fleet is not None:
        _render_fleet(out, report.fleet)
    _render_verdict(out, report)


def _render_verdict(out: Console, report: CheckReport) -> None:
    failed = report.failed_stage
    culprit = report.fleet.culprit if report.fleet is not None else None
    if culprit is not None:
        where = f" in stage {culprit.stage}" if culprit.stage else ""
        out.print(
            f"[bold red]FAILED[/bold red] on rank {culprit.rank}{esc(where)}: "
            f"{esc(culprit.message)}"
        )
    elif failed is not None:
        out.print(f"[bold red]FAILED[/bold red] at {esc(failed.name)}: {esc(failed.message)}")
        if failed.fix:
            out.print(f"fix: {failed.fix}", markup=False)
    else:
        out.print(f"[bold green]OK[/bold green] in {report.seconds:.1f} s")


def _render_fleet(out: Console, fleet: FleetReport) -> None:
    from rich.table import Table

    marks = {True: "[green]✓[/green]", False: "[red]✗[/red]", None: "[yellow]?[/yellow]"}
    ranks = Table(title=f"{fleet.world_size} ranks · {fleet.backend or '?'}", title_justify="left")
    for column in ("", "rank", "host", "torch", "device", "seconds", "result"):
        ranks.add_column(column)
    for rank in fleet.ranks:
        device = rank.fingerprint.get("gpu") or rank.fingerprint.get("device") or ""
        ranks.add_row(
            marks[rank.ok],
            str(rank.rank),
            esc(rank.host or "?"),
            esc(rank.fingerprint.get("torch") or "?"),
            esc(device),
            f"{rank.seconds:.1f}",
            esc(f"{rank.stage}: {rank.message}") if rank.message else "",
        )
    out.print(ranks)
    for field, groups in fleet.differences.items():
        spread = "; ".join(
            f"{value} on ranks {', '.join(map(str, r))}" for value, r in groups.items()
        )
        out.print(f"[red]ranks differ[/red] in {esc(field)}: {esc(spread)}")
    if fleet.allreduce:
        table = Table(
            title="all_reduce (sum, float32) · bandwidths as nccl-tests define them",
            title_justify="left",
        )
        for column in ("size", "time µs", "algbw GB/s", "busbw GB/s"):
            table.add_column(column, justify="right")
        for row in fleet.allreduce:
            table.add_row(
                _bytes(row.bytes),
                f"{row.time_us:.1f}",
                f"{row.algbw_gbps:.2f}",
                f"{row.busbw_gbps:.2f}",
            )
        out.print(table)


def _bytes(count: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= size:
            return f"{count / size:g} {unit}"
    return f"{count} B"


def print_rank_line(report: CheckReport) -> None:
    """A rank other than 0 prints one line on stderr: rank 0 reports for the launch."""
    fleet = report.fleet
    if fleet is None:
        return
    verdict = "ok" if report.ok else "FAILED"
    failed = report.failed_stage
    why = f" at {failed.name}: {failed.message}" if failed is not None else ""
    sys.stderr.write(
        f"ptenv check: rank {fleet.rank} of {fleet.world_size} {verdict}{why} "
        "(rank 0 prints the report)\n"
    )


INSTALL_SCHEMA = "ptenv.install/1"


class ProgressDisplay:
    """Progress on stderr (never stdout, so --json stays one document); none with --quiet.

    On a terminal: Rich, with a live bar for an installer step (bytes written of the total,
    rate, time left). Elsewhere (CI logs, pipes): plain lines stamped with the seconds since
    start, a transfer's figures every 10 s. Rich is imported only for a terminal."""

    def __init__(self, quiet: bool = False, verbose: bool = False) -> None:
        self.quiet, self.verbose = quiet, verbose
        self.live = not quiet and sys.stderr.isatty() and os.environ.get("TERM") != "dumb"
        self._began = time.monotonic()
        self._bar: Any = None  # a rich.progress.Progress while a transfer is shown
        self._task: Any = None
        self._said = 0.0
        self._said_written = 0

    def line(self, message: str) -> None:
        if self.quiet:
            return
        elapsed = time.monotonic() - self._began
        if not self.live:
            sys.stderr.write(f"{elapsed:7.1f}s → {message}\n")
            sys.stderr.flush()
            return
        stamp = f"[dim]{elapsed:7.1f}s[/dim] " if self.verbose else ""
        shown = self._bar.console if self._bar is not None else console(stderr=True)
        shown.print(f"{stamp}[dim]→[/dim] {esc(message)}", highlight=False)

    def transfer(self, transfer: Transfer) -> None:
        if self.quiet:
            return
        if self.live:
            self._show_bar(transfer)
        elif transfer.written >= 10**6 and (transfer.done or transfer.seconds - self._said >= 10):
            repeat = transfer.done and transfer.written == self._said_written
            self._said = 0.0 if transfer.done else transfer.seconds
            self._said_written = 0 if transfer.done else transfer.written
            if not repeat:  # the last periodic line already said these figures
                self.line(_transfer_text(transfer))

    def _show_bar(self, transfer: Transfer) -> None:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        if self._bar is None and not transfer.done:
            self._bar = Progress(
                TextColumn("[dim]→[/dim] {task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                TimeElapsedColumn(),
                console=console(stderr=True),
                transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task(f"{esc(transfer.what)}: written", total=None)
        if self._bar is None:
            return
        total = transfer.expected
        shown = min(transfer.written, total) if total else transfer.written
        self._bar.update(self._task, completed=shown, total=total)
        if transfer.done:
            self._bar.stop()
            self._bar = None
            if transfer.written >= 10**6:
                self.line(_transfer_text(transfer))


def _transfer_text(transfer: Transfer) -> str:
    rate = transfer.written / max(transfer.seconds, 1e-3)
    of = f" of about {_decimal_size(transfer.expected)}" if transfer.expected else ""
    return (
        f"{transfer.what}: {_decimal_size(transfer.written)}{of} written "
        f"in {transfer.seconds:.0f} s ({_decimal_size(rate)}/s)"
    )


def _decimal_size(count: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count:.0f} B"


def render_quiet_doctor(findings: Sequence[Finding]) -> None:
    """--quiet: the errors and warnings only, one line each."""
    for item in findings:
        if item.severity is not Severity.INFO:
            sys.stdout.write(f"{item.severity.value}: {item.code}: {item.message}\n")


def render_quiet_plan(plan: Plan) -> None:
    """--quiet: just the command that installs the plan."""
    sys.stdout.write(_by_hand(plan) + "\n")


def render_quiet_check(report: CheckReport) -> None:
    """--quiet: the verdict line."""
    failed = report.failed_stage
    if failed is None and report.ok:
        sys.stdout.write(f"OK in {report.seconds:.1f} s\n")
    else:
        where = f" at {failed.name}: {failed.message}" if failed is not None else ""
        sys.stdout.write(f"FAILED{where}\n")


def render_quiet_install(result: Environment) -> None:
    sys.stdout.write(f"{result.action.value}: {_pins(result.plan)} in {result.venv}\n")


def install_document(result: Environment, check: CheckDocument | None) -> InstallDocument:
    plan = plan_document(result.plan, result.machine)
    return {
        "schema": INSTALL_SCHEMA,
        "action": result.action.value,
        "plan": plan,
        "venv": str(result.venv),
        "python": result.python,
        "installer": result.installer,
        "source": result.source.label,
        "installed": [
            {"name": i.name, "version": i.version, "source": i.source} for i in result.installed
        ],
        "lock": str(result.lock) if result.lock else None,
        "seconds": result.seconds,
        "warnings": list(result.plan.warnings) + list(result.warnings),
        "check": check,
    }


def _source(result: Environment) -> str:
    return result.plan.index_url if result.source.official else result.source.label


def render_install(result: Environment) -> None:
    from ptenv.install.workflow import InstallAction

    plan = result.plan
    if result.action is InstallAction.ALREADY_INSTALLED and not sys.stdout.isatty():
        # one plain line: off a terminal the no-op does not load Rich (about 40 ms)
        sys.stdout.write(f"Already installed: {_pins(plan)} in {result.venv} — nothing to do.\n")
        return
    out = console()
    if result.action is InstallAction.ALREADY_INSTALLED:
        out.print(
            f"[green]Already installed:[/green] {_pins(plan)} in {esc(result.venv)} — "
            "nothing to do."
        )
        return
    verb = "Would install" if result.action is InstallAction.DRY_RUN else "Installed"
    out.print(
        f"[bold]{verb}[/bold] {_pins(plan)} into {esc(result.venv)} "
        f"(Python {plan.python}, {result.installer}, from {esc(_source(result))})"
    )
    for number, reason in enumerate(plan.reasons, 1):
        out.print(f"  {number}. {reason}", markup=False)
    for warning in (*plan.warnings, *result.warnings):
        out.print(f"  [yellow]warning:[/yellow] {esc(warning)}")
    if result.installed:
        out.print("[bold]Where each distribution came from[/bold]")
        for item in result.installed:
            out.print(f"  {item.name} {item.version}  {item.source}", markup=False, soft_wrap=True)
    if result.lock:
        out.print(f"lock: {result.lock}", markup=False, soft_wrap=True)
    timings = ", ".join(f"{k} {v:.1f} s" for k, v in result.seconds.items())
    if timings:
        out.print(f"[dim]{timings}[/dim]")
    if result.action is InstallAction.INSTALLED:
        _print_how_to_use(out, result)


def _print_how_to_use(out: Console, result: Environment) -> None:
    """The venv by hand: how to enter it, and how to add packages to it (not to the system)."""
    windows = result.plan.platform.startswith("windows")
    activate = (
        f"{result.venv}\\Scripts\\activate" if windows else f"source {result.venv}/bin/activate"
    )
    out.print(f"Use it: {activate}", markup=False, soft_wrap=True)
    python = Path(result.venv) / ("Scripts/python.exe" if windows else "bin/python")
    has_pip = (
        any(Path(result.venv).glob("lib/python3*/site-packages/pip"))
        or (Path(result.venv) / "Lib" / "site-packages" / "pip").is_dir()
    )
    if not has_pip:
        out.print(
            f"It has no pip: add packages with `uv pip install --python {python} NAME` "
            "(a bare `pip install` would go to another Python).",
            markup=False,
            soft_wrap=True,
        )


WHEEL_SCHEMA = "ptenv.wheel/1"


def wheel_document(facts: WheelFacts) -> WheelDocument:
    return {
        "schema": WHEEL_SCHEMA,
        "filename": facts.filename,
        "size": facts.size,
        "fetched": facts.fetched,
        "name": facts.name,
        "version": facts.version,
        "build_version": facts.build_version,
        "variant": facts.variant,
        "cuda": facts.cuda,
        "hip": facts.hip,
        "sass": list(facts.sass),
        "ptx": list(facts.ptx),
        "python_tags": list(facts.python_tags),
        "abi_tags": list(facts.abi_tags),
        "platform_tags": list(facts.platform_tags),
        "requires_python": facts.requires_python,
        "requires_dist": list(facts.requires_dist),
    }


def render_wheel(facts: WheelFacts) -> None:
    from rich.table import Table

    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    gpu_code = ", ".join(facts.sass) or "none"
    rows = [
        ("wheel", facts.filename),
        ("version", facts.build_version or facts.version),
        ("variant", facts.variant or "not a torch wheel"),
        ("CUDA", facts.cuda or "-"),
        ("HIP", facts.hip or "-"),
        ("GPU code (SASS)", gpu_code),
        ("PTX", ", ".join(facts.ptx) or "none: GPUs newer than its SASS cannot run it"),
        ("Python", f"{', '.join(facts.python_tags)} (ABI {', '.join(facts.abi_tags)})"),
        ("platform", ", ".join(facts.platform_tags)),
        ("Requires-Python", facts.requires_python or "-"),
    ]
    if facts.cuda is None and facts.hip is None:
        rows = [row for row in rows if row[0] not in ("CUDA", "HIP", "GPU code (SASS)", "PTX")]
    for key, value in rows:
        table.add_row(key, esc(value))
    out = console()
    out.print(table)
    if facts.requires_dist:
        out.print("[bold]Requires-Dist[/bold]")
        for line in facts.requires_dist:
            out.print(f"  {esc(line)}", soft_wrap=True)
    share = facts.fetched / facts.size if facts.size else 1.0
    out.print(
        f"[dim]read {_decimal_size(facts.fetched)} of {_decimal_size(facts.size)} "
        f"({share:.2%})[/dim]"
    )


def render_refresh(path: Path, overlay: Overlay, learned: Learned) -> None:
    out = console()
    out.soft_wrap = True  # paths and URLs stay whole
    out.print(
        f"Read {learned.wheels_seen} torch wheel{'s' if learned.wheels_seen != 1 else ''} on "
        f"{esc(overlay.source)}; "
        f"{_decimal_size(learned.bytes_read)} of wheels read for their architectures."
    )
    if not learned.patches and not learned.arches:
        out.print("Nothing new: the built-in data already has every release found.")
    for patch in learned.patches:
        variants = sorted({v for tags in patch.variants.values() for v in tags})
        platforms = ", ".join(patch.variants)
        out.print(f"[bold]new[/bold] torch {patch.version}: {', '.join(variants)} ({platforms})")
    for arch in learned.arches:
        codes = ", ".join(f"sm_{cc.replace('.', '')}" for cc in arch.sass)
        ptx = f" + PTX {', '.join(arch.ptx)}" if arch.ptx else ", no PTX"
        build = " (PyPI's wheel)" if arch.pypi else ""
        out.print(f"  {arch.torch} {arch.variant}{build} {arch.platform}: {codes}{ptx}")
    for note in learned.notes:
        out.print(f"[yellow]note[/yellow]: {esc(note)}", soft_wrap=True)
    out.print(f"[dim]learned data: {esc(path)}[/dim]")


def render_data_summary(summary: DataSummary) -> None:
    out = console()
    out.soft_wrap = True  # paths and URLs stay whole
    data = summary.built_in
    out.print(
        f"built-in: torch {data.releases[0].minor} to {data.newest.latest} "
        f"({len(data.releases)} releases, {len(data.arch_rules)} architecture lists), "
        f"checked against its sources on {summary.built_in_date}"
    )
    overlay = summary.overlay
    if summary.problem:
        out.print(
            f"[yellow]learned[/yellow]: {esc(summary.path)} is ignored: {esc(summary.problem)}"
        )
    elif overlay is None:
        out.print(f"learned: none yet ({esc(summary.path)}; `ptenv data refresh` makes it)")
    else:
        out.print(
            f"learned: {len(overlay.patches)} patches, {len(overlay.arches)} architecture lists "
            f"from {esc(overlay.source)}, refreshed {overlay.refreshed} ({esc(summary.path)})"
        )
        for patch in overlay.patches:
            out.print(f"  torch {patch.version}: {esc(patch.provenance.text)}", soft_wrap=True)
        for note in overlay.notes:
            out.print(f"  [yellow]note[/yellow]: {esc(note)}", soft_wrap=True)
    if summary.stale:
        out.print("[yellow]The data is over 60 days old: `ptenv data refresh`.[/yellow]")


def render_bundle(result: BundleResult) -> None:
    kept = result.wheels - result.fetched
    sys.stdout.write(
        f"Bundled {result.wheels} wheels ({_decimal_size(result.bytes_total)}) in "
        f"{result.folder}: {result.fetched} downloaded, {kept} already there and hash-checked, "
        f"in {result.seconds:.1f} s.\n"
        f"On the target: {result.install}\n(manifest: {result.folder}/ptenv-bundle.json)\n"
    )

"""Each command as a short workflow of plain functions over values (nox's style).

The CLI calls these; they raise PtenvError subclasses and never touch exit codes or output.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ptenv import diagnose, releases
from ptenv.errors import ExitCode, UsageError
from ptenv.install import lock as lockfile
from ptenv.models import CheckReport, Finding, Machine, Plan, Request, Severity, VenvInfo
from ptenv.probe import TargetOverrides, probe_machine
from ptenv.probe.nvidia import Nvml, load_nvml
from ptenv.probe.venv import default_venv, probe_venv, validate_venv
from ptenv.resolve import resolve

if TYPE_CHECKING:
    from ptenv.check import CheckOptions
    from ptenv.install import InstallOptions, InstallResult

# install, check and index (urllib, http.client) are imported where they are used, so that
# `ptenv doctor` and `ptenv plan` do not pay for them at start-up.


@dataclass(frozen=True)
class DoctorResult:
    machine: Machine
    venv: VenvInfo | None
    findings: tuple[Finding, ...]

    def exit_code(self, strict: bool) -> ExitCode:
        failing = {Severity.ERROR, Severity.WARNING} if strict else {Severity.ERROR}
        return (
            ExitCode.FINDINGS if any(f.severity in failing for f in self.findings) else ExitCode.OK
        )


def doctor(
    overrides: TargetOverrides,
    venv: Path | None,
    *,
    env: Mapping[str, str],
    cwd: Path,
    nvml_loader: Callable[[], Nvml | None] = load_nvml,
) -> DoctorResult:
    data = releases.load()
    venv_path = venv if venv is not None else default_venv(env, cwd)
    venv_info = probe_venv(venv_path) if venv_path is not None else None
    machine = probe_machine(
        env=env,
        venv_target=venv_path or cwd / ".venv",
        overrides=overrides,
        data=data,
        nvml_loader=nvml_loader,
    )
    changes: list[str] = []
    lock = lockfile.default_path(venv_path) if venv_path is not None else None
    if lock is not None and lock.is_file():
        try:
            locked = lockfile.read(lock)
        except UsageError:
            changes.append(f"{lock} is unreadable")
        else:
            changes = lockfile.drift(locked.fingerprint, lockfile.fingerprint(machine))
    findings = diagnose.diagnose(machine, venv_info, data, changes)
    return DoctorResult(machine, venv_info, tuple(findings))


@dataclass(frozen=True)
class PlanResult:
    machine: Machine
    plan: Plan


def plan(
    overrides: TargetOverrides,
    request: Request,
    *,
    env: Mapping[str, str],
    cwd: Path,
    verify_index: bool = False,
    nvml_loader: Callable[[], Nvml | None] = load_nvml,
) -> PlanResult:
    data = releases.load()
    if verify_index:
        from ptenv.install.index import check_url  # noqa: PLC0415

        check_url(request.index_base)
    machine = probe_machine(
        env=env, venv_target=cwd / ".venv", overrides=overrides, data=data, nvml_loader=nvml_loader
    )
    chosen = resolve(machine, request, data)
    if verify_index:
        from ptenv.install.index import verify_plan  # noqa: PLC0415

        chosen = verify_plan(chosen, machine, data.newest.latest)
    return PlanResult(machine, chosen)


@dataclass(frozen=True)
class CheckResult:
    doctor: DoctorResult
    report: CheckReport
    gpu_required_but_missing: bool

    def exit_code(self) -> ExitCode:
        if self.gpu_required_but_missing:
            return ExitCode.NO_GPU
        return ExitCode.OK if self.report.ok else ExitCode.CHECK_FAILED


def check(
    venv: Path | None,
    options: CheckOptions,
    *,
    require_gpu: bool,
    env: Mapping[str, str],
    cwd: Path,
    nvml_loader: Callable[[], Nvml | None] = load_nvml,
) -> CheckResult:
    venv_path = venv if venv is not None else default_venv(env, cwd)
    if venv_path is None:
        raise UsageError(
            "No venv to check: --venv not given, $VIRTUAL_ENV unset and no ./.venv.",
            hint="Pass --venv PATH, or create one with `ptenv install`.",
        )
    python = validate_venv(venv_path)
    _validate_launch(options, env)
    try:
        found = doctor(TargetOverrides(), venv_path, env=env, cwd=cwd, nvml_loader=nvml_loader)
    except UsageError:
        # The static probe could not read the venv; the smoke test will say why, stage by stage.
        machine_only = doctor(TargetOverrides(), None, env={}, cwd=cwd, nvml_loader=nvml_loader)
        found = replace(machine_only, venv=None)
    if require_gpu and options.device in ("auto", "cuda"):
        options = replace(options, device="cuda")
    from ptenv.check import run_check  # noqa: PLC0415

    report = run_check(python, venv_path.absolute(), options)
    imported = next((s.detail for s in report.stages if s.name == "import"), {})
    extra = diagnose.check_findings(imported)
    if extra:
        found = replace(found, findings=(*extra, *found.findings))
    missing_gpu = require_gpu and report.device != "cuda"
    return CheckResult(found, report, missing_gpu)


def _validate_launch(options: CheckOptions, env: Mapping[str, str]) -> None:
    if not options.launches_ranks:
        return
    if "RANK" in env or "SLURM_STEP_ID" in env:
        raise UsageError(
            "This ptenv already runs as one rank of a launch (RANK or SLURM_STEP_ID is set); "
            "--nproc would start ranks inside a rank.",
            hint="Drop --nproc/--nnodes: under torchrun or srun every task runs `ptenv check`.",
        )
    if options.several_nodes and not options.rdzv_endpoint:
        raise UsageError(
            f"--nnodes {options.nnodes} needs --rdzv-endpoint HOST:PORT "
            "(the node every other node can reach).",
            hint="Run the same command on every node, e.g. --rdzv-endpoint node01:29400.",
        )


@dataclass(frozen=True)
class InstallOutcome:
    install: InstallResult
    check: CheckResult | None

    def exit_code(self) -> ExitCode:
        return self.check.exit_code() if self.check is not None else ExitCode.OK


def install_and_check(
    request: Request,
    overrides: TargetOverrides,
    options: InstallOptions,
    *,
    then_check: bool,
    env: Mapping[str, str],
    progress: Callable[[str], None],
    confirm: Callable[[str], bool],
    nvml_loader: Callable[[], Nvml | None] = load_nvml,
) -> InstallOutcome:
    from ptenv import install as install_module  # noqa: PLC0415
    from ptenv.check import CheckOptions, default_cache_dir  # noqa: PLC0415

    result = install_module.install(
        request,
        overrides,
        options,
        env=env,
        progress=progress,
        confirm=confirm,
        nvml_loader=nvml_loader,
    )
    if not then_check or result.action != "installed":
        return InstallOutcome(result, None)
    progress("check: training the 784-500-10 MLP in the new venv")
    checked = check(
        result.venv,
        CheckOptions(cache_dir=default_cache_dir(env)),
        require_gpu=False,
        env=env,
        cwd=result.venv.parent,
        nvml_loader=nvml_loader,
    )
    return InstallOutcome(result, checked)

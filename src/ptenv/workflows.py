"""Each command as a short workflow of plain functions over values (nox's style).

The CLI calls these; they raise PtenvError subclasses and never touch exit codes or output.
Each probes the machine at most once and hands the Machine down.
"""

from __future__ import annotations

import datetime
import os
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.version import Version

from ptenv import redact, releases
from ptenv.context import Context
from ptenv.errors import ExitCode, SourceUnreadable, UsageError
from ptenv.install import lock as lockfile
from ptenv.install import noop
from ptenv.models import CheckReport, Finding, Machine, Plan, Request, Severity, VenvInfo
from ptenv.probe import TargetOverrides, probe_machine
from ptenv.probe.venv import (
    STATIC_PROBE_TIMEOUT_S,
    default_venv,
    is_own_environment,
    probe_venv,
    validate_venv,
)
from ptenv.resolve import resolve

if TYPE_CHECKING:
    from ptenv.check import CheckOptions
    from ptenv.install.bundle import BundleResult
    from ptenv.install.export import Resolution
    from ptenv.install.learn import Learned
    from ptenv.install.sources import SourceOptions
    from ptenv.install.workflow import Environment, InstallOptions
    from ptenv.releases.learned import DataSummary, Overlay
    from ptenv.releases.wheelinfo import WheelFacts

# The install workflow, check and index (urllib, http.client) are imported where they are
# used, so that `ptenv doctor` and `ptenv plan` do not pay for them at start-up.


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
    context: Context,
    machine: Machine | None = None,
    probe_timeout: float = STATIC_PROBE_TIMEOUT_S,
) -> DoctorResult:
    """Findings for the machine (probed here unless given) and the venv, if there is one."""
    data = releases.load()
    venv_path = venv if venv is not None else default_venv(context.env, context.cwd)
    venv_info = probe_venv(venv_path, timeout=probe_timeout) if venv_path is not None else None
    if machine is None:
        machine = probe_machine(
            env=context.env,
            venv_target=venv_path or context.cwd / ".venv",
            overrides=overrides,
            data=data,
            nvml_loader=context.nvml_loader,
        )
    changes = _lock_drift(venv_path, machine)
    own = venv_path is not None and is_own_environment(venv_path)
    from ptenv import diagnose

    findings = diagnose.diagnose(machine, venv_info, data, changes, own_venv=own)
    return DoctorResult(machine, venv_info, tuple(findings))


def _lock_drift(venv: Path | None, machine: Machine) -> list[str]:
    lock = lockfile.default_path(venv) if venv is not None else None
    if lock is None or not lock.is_file():
        return []
    try:
        locked = lockfile.read(lock)
    except UsageError as error:
        return [error.message.rstrip(".")]
    return lockfile.drift(locked.fingerprint, lockfile.fingerprint(machine))


@dataclass(frozen=True)
class PlanResult:
    machine: Machine
    plan: Plan


def plan(
    overrides: TargetOverrides,
    request: Request,
    context: Context,
    *,
    verify_index: bool = False,
    source: SourceOptions | None = None,
    venv: Path | None = None,
) -> PlanResult:
    """The plan for this machine or a described one; with a source, what that source holds."""
    data = releases.load()
    if venv is not None and overrides.python is None:
        overrides = replace(overrides, python=_python_of(venv))
    if verify_index:
        from ptenv.install.index import check_url

        check_url(request.index_base)
    machine = _probe_target(overrides, context, data)
    if source is not None:
        from ptenv.install.availability import plan_and_source

        chosen, _where, found = plan_and_source(machine, request, data, source)
        chosen = replace(chosen, warnings=(*chosen.warnings, *found))
    else:
        chosen = resolve(machine, request, data)
    if verify_index and not (source is not None and source.pypi):
        from ptenv.install.index import verify_plan

        chosen = verify_plan(chosen, machine, data.newest.latest)
    stale = _stale_data_note(context.env, datetime.date.today(), data)
    if stale:
        chosen = replace(chosen, warnings=(*chosen.warnings, stale))
    return PlanResult(machine, chosen)


def _stale_data_note(
    env: Mapping[str, str], today: datetime.date, data: releases.ReleaseData
) -> str | None:
    """Once (a marker in the data folder remembers it), when the release data is over 60 days
    old and no refresh happened since: PyTorch may have shipped a release ptenv does not know."""
    from ptenv.releases import learned as overlay_file

    if not overlay_file.is_stale(data.learned_on, today):
        return None
    since = str(overlay_file.data_date(data.learned_on))
    folder = releases.data_dir(env)
    marker = folder / "stale-noted"
    try:
        if marker.is_file() and marker.read_text(encoding="utf-8").strip() == since:
            return None
        folder.mkdir(parents=True, exist_ok=True)
        marker.write_text(since + "\n", encoding="utf-8")
    except OSError:
        pass  # a read-only home: say it every time rather than never
    return (
        f"ptenv's release data dates from {since}, over 60 days ago: a newer torch may exist. "
        "`ptenv data refresh` learns it from the index (or update ptenv)."
    )


def _python_of(venv: Path) -> str:
    """The venv's Python minor as --python takes it: 3.12, or 3.14t when free-threaded."""
    validate_venv(venv)
    info = probe_venv(venv)
    minor = ".".join(info.python_version.split(".")[:2])
    return minor + ("t" if info.free_threaded else "")


@dataclass(frozen=True)
class CheckResult:
    doctor: DoctorResult
    report: CheckReport
    gpu_required_but_missing: bool

    def exit_code(self) -> ExitCode:
        if self.gpu_required_but_missing:
            return ExitCode.NO_GPU
        return ExitCode.OK if self.report.ok else ExitCode.CHECK_FAILED


def check(options: CheckOptions, context: Context, machine: Machine | None = None) -> CheckResult:
    """Doctor's findings for the venv, then the smoke test inside it."""
    venv_path = options.venv or default_venv(context.env, context.cwd)
    if venv_path is None:
        raise UsageError(
            "No venv to check: --venv not given, $VIRTUAL_ENV unset and no ./.venv.",
            hint="Pass --venv PATH, or create one with `ptenv install`.",
        )
    began = time.monotonic()  # --timeout bounds the whole command, its probes included
    python = validate_venv(venv_path)
    probe_s = min(STATIC_PROBE_TIMEOUT_S, options.timeout)
    if is_own_environment(venv_path) and probe_venv(venv_path, timeout=probe_s).torch is None:
        raise UsageError(
            f"{venv_path} is ptenv's own environment, which never holds torch: nothing to check.",
            hint="Check your project's venv (--venv PATH), or make one: "
            "ptenv install --venv .venv.",
        )
    _validate_launch(options, context)
    _validate_cache_dir(options.cache_dir)
    try:
        found = doctor(TargetOverrides(), venv_path, context, machine, probe_s)
    except UsageError:
        # The static probe could not read the venv; the smoke test will say why, stage by stage.
        machine_only = doctor(TargetOverrides(), None, replace(context, env={}), machine)
        found = replace(machine_only, venv=None)
    if options.require_gpu and options.device in ("auto", "cuda"):
        options = replace(options, device="cuda")
    options = replace(options, spent_s=time.monotonic() - began)
    from ptenv.check import run_check
    from ptenv.install.staging import venv_lock

    with venv_lock(venv_path, shared=True) as free:
        if not free:
            raise UsageError(
                f"A ptenv install into {venv_path} is running; a check now could test the torch "
                "it is about to replace.",
                hint="Run the check when the install has finished.",
            )
        report = run_check(python, venv_path.absolute(), options, on_stage=context.progress)
    imported = next((s.detail for s in report.stages if s.name == "import"), {})
    from ptenv import diagnose

    extra = diagnose.check_findings(imported)
    if extra:
        found = replace(found, findings=(*extra, *found.findings))
    missing_gpu = options.require_gpu and report.device != "cuda"
    return CheckResult(found, report, missing_gpu)


def _validate_cache_dir(cache_dir: Path | None) -> None:
    """The compile cache must be a folder ptenv can make and write, said before any work
    (else the venv's interpreter fails at start-up and the import stage is blamed)."""
    if cache_dir is None:
        return
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        probe = cache_dir / f".ptenv-writable-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as error:
        raise UsageError(
            f"--cache-dir {cache_dir} cannot be used: {error.strerror or error}.",
            hint="Give --cache-dir a folder you can write (the default is under XDG_CACHE_HOME).",
        ) from None


def _validate_launch(options: CheckOptions, context: Context) -> None:
    if not options.launches_ranks:
        return
    if "RANK" in context.env or "SLURM_STEP_ID" in context.env:
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
    install: Environment
    check: CheckResult | None

    def exit_code(self) -> ExitCode:
        return self.check.exit_code() if self.check is not None else ExitCode.OK


def install_and_check(
    request: Request, options: InstallOptions, context: Context, *, then_check: bool
) -> InstallOutcome:
    from ptenv.check import CheckOptions, default_cache_dir
    from ptenv.install import workflow as install_module

    result = install_module.install(request, options, context)
    if not then_check or result.action is not install_module.InstallAction.INSTALLED:
        return InstallOutcome(result, None)
    context.progress("check: training the 784-500-10 MLP in the new venv")
    # The install probed this machine; with --driver/--gpu it planned for another one, and
    # the check runs here, so this machine is probed again only then.
    described = options.overrides.driver is not None or options.overrides.gpu is not None
    checked = check(
        CheckOptions(venv=result.venv, cache_dir=default_cache_dir(context.env)),
        replace(context, cwd=result.venv.parent),
        None if described else result.machine,
    )
    return InstallOutcome(result, checked)


def inspect_wheel(location: str, *, download: bool = False) -> WheelFacts:
    """`ptenv data inspect`: a wheel's facts by range reads (or, with download, all of it)."""
    from ptenv import _http
    from ptenv.releases import wheelinfo
    from ptenv.releases.wheelfile import WheelUnreadable

    remote = location.startswith(("http://", "https://"))
    if not remote and not Path(location.removeprefix("file://")).is_file():
        raise UsageError(
            f"{location} is neither a wheel file nor an http(s) URL.",
            hint="Give the path of a .whl file or its URL on an index.",
        )
    try:
        try:
            return wheelinfo.inspect_wheel(location)
        except _http.RangesRefused as refused:
            if not download:
                raise SourceUnreadable(
                    f"{refused.url} cannot be read in parts: {refused.reason}.",
                    hint="Add --download to read the whole file (0.5-3 GB for a CUDA torch), "
                    "or give the path of a downloaded copy.",
                ) from None
            return _inspect_downloaded(location)
    except _http.HttpError as error:
        raise SourceUnreadable(f"Cannot read {error.url}: {error.reason}.", error.hint) from None
    except (WheelUnreadable, OSError) as error:
        shown = redact.url(location)
        raise SourceUnreadable(
            f"{shown} is not a readable wheel: {error}.",
            hint="Check the file name and that the download finished (a truncated file?).",
        ) from None


def _inspect_downloaded(url: str) -> WheelFacts:
    import tempfile

    from ptenv import _http
    from ptenv.releases import wheelinfo

    name = url.rstrip("/").rsplit("/", 1)[-1]
    with tempfile.TemporaryDirectory(prefix="ptenv-inspect-") as scratch:
        path = Path(scratch) / urllib.parse.unquote(name)
        with path.open("wb") as target:
            _http.download(url, target)
        facts = wheelinfo.inspect_wheel(str(path))
    return replace(facts, fetched=facts.size)


@dataclass(frozen=True)
class RefreshResult:
    path: Path
    overlay: Overlay
    learned: Learned


def refresh_data(
    index_base: str,
    env: Mapping[str, str],
    *,
    variants: Sequence[str] = (),
    pypi: str | None = None,
) -> RefreshResult:
    """`ptenv data refresh`: read the index's torch pages, learn what the data lacks, and
    write the user's overlay (previous learned facts kept unless read again)."""
    from ptenv.errors import InstallFailed
    from ptenv.install import index, learn
    from ptenv.releases import learned as overlay_file
    from ptenv.releases.learned import LearnedArch, Overlay

    index.check_url(index_base)
    data = releases.built_in()
    known = {tag for r in data.releases for tags in r.variants.values() for tag in tags}
    candidates = sorted(known | set(data.cuda_variants) | set(variants))
    try:
        seen = learn.scan(index_base, candidates)
    except InstallFailed as error:
        raise SourceUnreadable(error.message, error.hint) from None
    if not seen:
        raise SourceUnreadable(
            f"{redact.url(index_base)} has no torch wheels in any variant folder ptenv knows "
            f"({candidates[0]} ... {candidates[-1]}).",
            hint="Give the index's base URL, the folder that holds cpu/, cu126/, ... "
            "(--index-base); a new variant's folder can be named with --variant.",
        )
    now = datetime.datetime.now(datetime.timezone.utc)
    found = learn.learn(index_base, data, seen, now.date().isoformat())
    if pypi is not None:
        from ptenv.install.sources import pypi_mirror_url

        pypi_url, _label = pypi_mirror_url(pypi)
        try:
            learn.learn_pypi(pypi_url, data, found, now.date().isoformat())
        except InstallFailed as error:
            raise SourceUnreadable(error.message, error.hint) from None
    path = releases.overlay_path(env)
    try:
        previous = overlay_file.read(path)
    except overlay_file.OverlayUnreadable:
        previous = None  # replaced by this refresh
    patches = {p.version: p for p in (previous.patches if previous else ())}
    patches.update({p.version: p for p in found.patches})

    def key(arch: LearnedArch) -> tuple[str, str, str, bool]:
        return arch.variant, arch.platform, arch.torch, arch.pypi  # PyPI's list is its own

    arches = {key(a): a for a in (previous.arches if previous else ())}
    arches.update({key(a): a for a in found.arches})
    overlay = Overlay(
        refreshed=now.isoformat(timespec="seconds"),
        source=redact.url(index_base),
        patches=tuple(sorted(patches.values(), key=lambda p: Version(p.version))),
        arches=tuple(arches.values()),
        notes=tuple(found.notes),
    )
    try:
        overlay_file.write(path, overlay)
    except OSError as error:
        raise UsageError(
            f"Cannot write the learned data to {path}: {error.strerror}.",
            hint="Point PTENV_DATA_DIR at a folder you can write.",
        ) from None
    return RefreshResult(path=path, overlay=overlay, learned=found)


def data_summary(env: Mapping[str, str], today: datetime.date) -> DataSummary:
    """`ptenv data show`: the built-in data, the overlay, their ages."""
    from ptenv.releases import learned as overlay_file

    path = releases.overlay_path(env)
    problem = None
    try:
        overlay = overlay_file.read(path)
    except overlay_file.OverlayUnreadable as error:
        overlay, problem = None, str(error)
    return overlay_file.DataSummary(
        built_in=releases.built_in(),
        built_in_date=overlay_file.BUILT_IN_DATE,
        path=path,
        overlay=overlay,
        problem=problem,
        stale=overlay_file.is_stale(overlay.refreshed if overlay else "", today),
    )


def export_plan(
    overrides: TargetOverrides,
    request: Request,
    options: SourceOptions,
    context: Context,
    *,
    kind: str,
    output: Path,
    venv: Path,
) -> tuple[str, Plan]:
    """`ptenv export requirements|pylock`: the plan for the target, resolved for its Python
    and platform into hash-pinned requirements or a PEP 751 file; (text, plan)."""
    from ptenv.install import export

    machine, resolution = _resolve_for_target(overrides, request, options, context)
    chosen, source = resolution.plan, resolution.source
    if kind == "requirements":
        return export.requirements_text(resolution), chosen
    contents = lockfile.LockContents(
        plan=chosen,
        source=source,
        machine=machine,
        packages=resolution.packages,
        request=noop.request_record(request.torch, request.cuda, request.with_packages),
        venv=venv,
    )
    return lockfile.render(contents, output), chosen


@dataclass(frozen=True)
class UvExport:
    pyproject: Path
    plan: Plan
    changed: bool  # the file was (or, with check, would be) edited
    drift: tuple[str, ...]  # where the project did not fit before


def export_uv(
    overrides: TargetOverrides,
    request: Request,
    options: SourceOptions,
    context: Context,
    *,
    project: Path,
    platforms: Sequence[str],
    check: bool,
) -> UvExport:
    """`ptenv export uv`: the plan written into the project's pyproject.toml (with check,
    only compared with it), so that `uv lock` / `uv sync` get the planned build."""
    from ptenv.install import uvproject
    from ptenv.install.availability import plan_and_source

    pyproject = project / "pyproject.toml"
    try:
        text = pyproject.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(
            f"{project} has no pyproject.toml.",
            hint="Run `uv init` there first, or point --project at the project's folder.",
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"Cannot read {pyproject}: {error}.", hint="Check the file.") from None
    data = releases.load()
    machine = _probe_target(overrides, context, data)
    chosen, source, _found = plan_and_source(machine, request, data, options)
    config = uvproject.config_for(chosen, source, platforms)
    drift = tuple(uvproject.drift(text, config, str(pyproject)))
    edited = uvproject.apply(text, config, str(pyproject))
    if not check and edited != text:
        _replace_text(pyproject, edited)
    return UvExport(pyproject=pyproject, plan=chosen, changed=edited != text, drift=drift)


def _replace_text(path: Path, text: str) -> None:
    """Written beside and renamed over, keeping an existing file's mode: never half a file."""
    fresh = path.with_name(f".{path.name}.ptenv-{os.getpid()}")
    try:
        fresh.write_text(text, encoding="utf-8")
        if path.exists():
            fresh.chmod(path.stat().st_mode & 0o7777)
        fresh.replace(path)
    except OSError as error:
        fresh.unlink(missing_ok=True)
        raise UsageError(
            f"Cannot write {path}: {error.strerror or error}.",
            hint="Check the folder's permissions.",
        ) from None


@dataclass(frozen=True)
class DockerExport:
    folder: Path
    plan: Plan
    files: tuple[Path, ...]


def export_dockerfile(
    overrides: TargetOverrides,
    request: Request,
    options: SourceOptions,
    context: Context,
    *,
    out: Path,
    base: str | None,
) -> DockerExport:
    """`ptenv export dockerfile`: a build context for the target: Dockerfile, .dockerignore,
    the target's lock (resolved for its Python and platform) and ptenv's own wheel."""
    from ptenv.install import dockerfile, selfwheel

    dockerfile.refuse_foreign(out)
    machine, resolution = _resolve_for_target(overrides, request, options, context)
    chosen = resolution.plan
    text = dockerfile.render(chosen, selfwheel.wheel_name(), base)  # refuses non-Linux targets
    lock = out / dockerfile.LOCK_NAME
    contents = lockfile.LockContents(
        plan=chosen, source=resolution.source, machine=machine, packages=resolution.packages,
        request=noop.request_record(request.torch, request.cuda, request.with_packages),
        venv=Path(dockerfile.VENV),
    )  # fmt: skip
    try:
        out.mkdir(parents=True, exist_ok=True)
        lockfile.write(lock, contents)
        wheel = selfwheel.build(out)
        _replace_text(out / ".dockerignore", dockerfile.dockerignore(wheel.name))
        _replace_text(out / "Dockerfile", text)
    except OSError as error:
        raise UsageError(
            f"Cannot write the build context to {out}: {error.strerror or error}.",
            hint="Give --out a folder you can write.",
        ) from None
    files = (out / "Dockerfile", out / ".dockerignore", lock, wheel)
    return DockerExport(folder=out, plan=chosen, files=files)


def _resolve_for_target(
    overrides: TargetOverrides, request: Request, options: SourceOptions, context: Context
) -> tuple[Machine, Resolution]:
    from ptenv.install import export
    from ptenv.install.availability import plan_and_source

    data = releases.load()
    machine = _probe_target(overrides, context, data)
    chosen, source, _found = plan_and_source(machine, request, data, options)
    return machine, export.resolve_for_target(
        chosen, source, insecure=options.insecure, env=dict(context.env)
    )


def bundle_plan(
    overrides: TargetOverrides,
    request: Request,
    options: SourceOptions,
    context: Context,
    *,
    out: Path,
) -> BundleResult:
    """`ptenv bundle`: every wheel the target needs in `out`, with a manifest."""
    from ptenv.install import bundle

    _machine, resolution = _resolve_for_target(overrides, request, options, context)
    try:
        return bundle.build(resolution, out, context.progress)
    except OSError as error:
        raise UsageError(
            f"Cannot write the bundle to {out}: {error.strerror}.",
            hint="Give --out a folder you can write, with room for the wheels (3 GB for CUDA).",
        ) from None


def _probe_target(
    overrides: TargetOverrides, context: Context, data: releases.ReleaseData
) -> Machine:
    """This machine, or the target the --os/--arch/--python/--driver/--gpu flags describe."""
    return probe_machine(
        env=context.env,
        venv_target=context.cwd / ".venv",
        overrides=overrides,
        data=data,
        nvml_loader=context.nvml_loader,
    )

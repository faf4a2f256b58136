"""Plan -> Environment: create or reuse a venv and install the planned build into it, safely.

Order of work: lock the target; clear leftovers of an interrupted run; settle the target
Python; probe the machine once, for that Python; plan (or replay the lock) and read the
source, falling back to what it really holds; stop early when the build is already there;
check disk; build the new venv beside the target (a hard-linked clone of an existing one, or
a fresh one, with pip where it can be had); install, keeping the installer's own record of
every wheel (uv's pylock, pip's --report); swap the new venv into place; write the venv's
lock, pylock.<venv>.toml. Any failure before the swap leaves the previous environment
untouched. The venv's own lock is replayed while the request and the machine are the same.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from urllib.parse import unquote, urlsplit

from packaging.tags import Tag
from packaging.utils import canonicalize_name

from ptenv import _proc, releases
from ptenv.context import Context
from ptenv.errors import InstallFailed, PtenvError, UsageError
from ptenv.install import backends as installers
from ptenv.install import gate, index, noop, staging, vetting
from ptenv.install import lock as lockfile
from ptenv.install.availability import plan_and_source
from ptenv.install.index import IndexFile
from ptenv.install.meter import ExpectedBytes, Meter
from ptenv.install.sources import (
    PIP_SOURCE_KEYS,
    Source,
    SourceKind,
    SourceOptions,
    list_project,
    read_pip_config,
)
from ptenv.models import Machine, Plan, Request, VariantKind, VenvInfo
from ptenv.probe import TargetOverrides, probe_machine
from ptenv.probe.venv import probe_venv, run_static_probe
from ptenv.scripts import interpreter_of

CUDA_BUILD_BYTES = 6 * 10**9  # a CUDA torch venv is ~5.4 GB (measured), plus the cache
CPU_BUILD_BYTES = 10**9


class InstallAction(str, Enum):
    INSTALLED = "installed"
    ALREADY_INSTALLED = "already-installed"
    DRY_RUN = "dry-run"


@dataclass(frozen=True, kw_only=True)
class InstallOptions:
    venv: Path
    source: SourceOptions
    overrides: TargetOverrides = field(default_factory=TargetOverrides)  # --driver, --gpu
    python: str | None = None  # X.Y or a path to an interpreter
    installer: str = "auto"
    lock: Path | None = None
    dry_run: bool = False
    yes: bool = False
    required_free_bytes: int | None = None  # None: by variant (6 GB CUDA, 1 GB CPU)
    stall_timeout: float = installers.STALL_TIMEOUT_S  # no bytes for this long: give up
    upgrade: bool = False  # resolve afresh even where the venv's own lock fits the request
    reinstall: bool = False  # write torch's files afresh even where it is installed


@dataclass(frozen=True)
class Installed:
    name: str
    version: str
    source: str  # URL the wheel came from, or why it is not known


@dataclass(frozen=True, kw_only=True)
class Environment:
    """What `ptenv install` left at the venv path, and how it got there."""

    action: InstallAction
    plan: Plan
    machine: Machine  # probed once; the check after the install reuses it
    venv: Path
    python: str
    installer: str
    source: Source
    installed: tuple[Installed, ...] = ()
    lock: Path | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


@dataclass
class _Clock:
    began: float = field(default_factory=time.monotonic)
    seconds: dict[str, float] = field(default_factory=dict)

    def lap(self, name: str, started: float | None = None) -> None:
        since = self.began if started is None else started
        self.seconds[name] = round(time.monotonic() - since, 3)


@dataclass(frozen=True)
class _Python:
    path: str
    minor: str  # 3.12 or 3.13t


@dataclass(frozen=True, kw_only=True)
class _Target:
    """The venv path as found: what it holds, the Python it keeps, who installs into it."""

    path: Path
    existing: VenvInfo | None
    python: _Python
    backend: installers.Installer


@dataclass(frozen=True, kw_only=True)
class _Decision:
    machine: Machine
    plan: Plan
    source: Source
    locked: lockfile.Lock | None
    warnings: tuple[str, ...]
    request: dict[str, object]


def install(request: Request, options: InstallOptions, context: Context) -> Environment:
    path = staging.real_target(options.venv)
    staging.refuse_unsafe_target(path)
    backend = installers.choose(options.installer)
    # A dry run only reads: no lock file, no folder, no clean-up of others' leftovers.
    guard = contextlib.nullcontext() if options.dry_run else staging.install_lock(path)
    checks = (
        contextlib.nullcontext(True) if options.dry_run else staging.venv_lock(path, shared=False)
    )
    with guard, checks as free:
        if not free:
            raise InstallFailed(
                f"A ptenv check is running in {path}; installing now would swap torch under it.",
                hint="Wait for the check to finish, then run the install again.",
            )
        if not options.dry_run:
            staging.clear_leftovers(path)
        clock = _Clock()
        context.progress("resolve: reading the machine and the target venv")
        target = _find_target(path, options.python, backend)
        machine = probe_machine(
            env=context.env,
            venv_target=path,
            overrides=replace(options.overrides, python=target.python.minor),
            data=releases.load(),
            nvml_loader=context.nvml_loader,
        )
        decision = _decide(request, options, machine, path)
        clock.lap("resolve")
        planned = Environment(
            action=InstallAction.DRY_RUN,
            plan=decision.plan,
            machine=machine,
            venv=path,
            python=target.python.path,
            installer=backend.name,
            source=decision.source,
            seconds=clock.seconds,
            warnings=decision.warnings,
        )
        damaged = _damaged(target.existing)
        if damaged:
            context.progress(f"repair: {damaged}; torch is installed again")
        repair = options.reinstall or bool(damaged)
        existing = target.existing
        if existing is not None and not repair and noop.already_installed(existing, decision.plan):
            return replace(planned, action=InstallAction.ALREADY_INSTALLED)
        _confirm_replacement(target, decision.plan, options, context.confirm)
        if options.dry_run:
            return planned
        _check_disk(path, decision.plan, options.required_free_bytes)
        if repair:
            options = replace(options, reinstall=True)
        installed, lock, problem = _build(target, decision, options, context, clock)
        clock.lap("total")
        done = replace(planned, action=InstallAction.INSTALLED, installed=installed, lock=lock)
        return replace(done, warnings=(*done.warnings, problem)) if problem else done


def _decide(request: Request, options: InstallOptions, machine: Machine, venv: Path) -> _Decision:
    """The plan and its source: the lock's when replaying one, else resolved and available.

    The venv's own lock is honoured, as `uv sync` honours uv.lock, while it was written for
    the same request on the same machine; --upgrade, another request or a changed machine
    resolve afresh (and the new lock replaces it)."""
    warnings: list[str] = []
    asked = noop.request_record(request.torch, request.cuda, request.with_packages)
    locked = lockfile.read(options.lock) if options.lock and options.lock.exists() else None
    if locked is None and options.lock is None and not options.upgrade:
        own = lockfile.default_path(venv)
        candidate = lockfile.read(own) if own.is_file() else None
        if candidate is not None and noop.own_lock_fits(candidate, asked, machine):
            locked = candidate
    if locked is not None:
        plan, source = _plan_from_lock(locked, machine, warnings)
    else:
        try:
            plan, source, found = plan_and_source(machine, request, releases.load(), options.source)
        except InstallFailed as error:
            raise _with_other_routes(error, request, machine, options) from None
        warnings += found
    return _Decision(
        machine=machine,
        plan=plan,
        source=source,
        locked=locked,
        warnings=tuple(warnings),
        request=asked,
    )


def _build(
    target: _Target, decision: _Decision, options: InstallOptions, context: Context, clock: _Clock
) -> tuple[tuple[Installed, ...], Path | None, str]:
    """Build the new venv beside the target, install, swap in (undone on any failure before
    the swap), then lock; the third value says why there is no lock, if there is none."""
    new = staging.staging_path(target.path)
    existing, plan, source = target.existing, decision.plan, decision.source
    try:
        began = time.monotonic()
        if existing is not None:
            context.progress(f"venv: cloning {target.path} (hard links) to build beside it")
            staging.clone(target.path, new)
        else:
            context.progress(
                f"venv: creating it with Python {target.python.minor} ({target.backend.name})"
            )
            _create_venv(target, new, context)
        clock.lap("venv", began)
        began = time.monotonic()
        context.progress(f"install: {' '.join(map(str, plan.packages))} from {source.label}")
        record = _run_install(target.backend, new, decision, options, context)
        clock.lap("install", began)
        before = existing.distributions if existing is not None else {}
        after = probe_venv(new)
        _confirm_untagged_build(after, plan, decision.machine)
        previous = _previous_lock(target.path) if existing is not None else None
        installed, entries = _provenance(before, after, record, previous, source, decision.machine)
        staging.retarget(new, new, target.path)
        staging.swap_in(new, target.path)
    except BaseException:
        shutil.rmtree(new, ignore_errors=True)
        raise
    return (tuple(installed), *_write_lock(decision, options, target.path, entries))


def _create_venv(target: _Target, new: Path, context: Context) -> None:
    """A fresh venv, with pip in it where the interpreter bundles a pip wheel (ensurepip's
    copy: offline, no index); without one (Debian's python3 without python3-venv) the
    install's last lines say how to add packages instead."""
    backend = target.backend
    installers.run_installer(
        backend.venv_argv(new, target.python.path), "Creating the venv", echo=context.echo
    )
    if not isinstance(backend, installers.UvInstaller):
        return
    python = interpreter_of(new)
    found = _proc.run([str(python), "-c", _BUNDLED_PIP], timeout=30)
    folder = Path(found.stdout.strip()) if found.ok and found.stdout.strip() else None
    if folder is None or not any(folder.glob("pip-*.whl")):
        return
    with contextlib.suppress(InstallFailed):  # a venv without pip still works
        installers.run_installer(
            backend.seed_argv(python, folder), "Adding pip to the venv", echo=context.echo
        )


_BUNDLED_PIP = (
    "import os\n"
    "try:\n import ensurepip\nexcept ImportError:\n raise SystemExit\n"
    "print(os.path.join(os.path.dirname(ensurepip.__file__), '_bundled'))"
)


def _previous_lock(venv: Path) -> lockfile.Lock | None:
    """The lock of the venv being replaced, for what the new install left as it was."""
    path = lockfile.default_path(venv)
    try:
        return lockfile.read(path) if path.is_file() else None
    except UsageError:
        return None


def _write_lock(
    decision: _Decision, options: InstallOptions, venv: Path, entries: list[lockfile.LockedPackage]
) -> tuple[Path | None, str]:
    """After the swap, so the lock never names a torch the venv does not have; atomic (a temp
    file renamed into place). A lock that cannot be written does not undo the install: it
    comes back as (None, why)."""
    lock = options.lock or lockfile.default_path(venv)
    replayed = decision.locked
    if replayed is not None:
        # A replay leaves the lock it read as it is; a venv elsewhere gets its own copy.
        own = lockfile.default_path(venv)
        elsewhere = options.lock is not None and options.lock.absolute() != own
        if not (elsewhere or replayed.old_format):
            return lock, ""
        lock = own
    contents = lockfile.LockContents(
        plan=decision.plan if replayed is None else replayed.plan,
        source=decision.source,
        machine=decision.machine,
        packages=tuple(entries),
        request=decision.request if replayed is None else replayed.request,
        venv=venv,
    )
    try:
        lockfile.write(lock, contents)
    except OSError as error:
        if decision.locked is None:  # an older lock beside the venv would now disagree with it
            with contextlib.suppress(OSError):
                lock.unlink()
        return None, (
            f"The install is done, but {lock} could not be written ({error.strerror or error}); "
            "run ptenv install again once there is room, to write it."
        )
    return lock, ""


def _confirm_replacement(
    target: _Target, plan: Plan, options: InstallOptions, confirm: Callable[[str], bool]
) -> None:
    existing = target.existing
    if existing is None or existing.torch is None or options.dry_run or options.yes:
        return
    if noop.already_installed(existing, plan):
        return  # the same build written again (a repair): nothing is replaced
    torch = plan.packages[0]
    if not confirm(f"{target.path} has torch {existing.torch.version}; replace it with {torch}?"):
        raise UsageError(
            f"{target.path} already holds torch {existing.torch.version}; not replaced by {torch}.",
            hint="Pass --yes to replace it, or choose another --venv.",
        )


# --- safety and preflight ------------------------------------------------------------------


def _find_target(path: Path, wanted: str | None, backend: installers.Installer) -> _Target:
    existing = probe_venv(path) if (path / "pyvenv.cfg").is_file() else None
    python = _target_python(wanted, existing, backend)
    return _Target(path=path, existing=existing, python=python, backend=backend)


def _target_python(
    wanted: str | None, existing: VenvInfo | None, backend: installers.Installer
) -> _Python:
    if wanted is None:
        if existing is not None:
            minor = ".".join(existing.python_version.split(".")[:2])
            return _Python(
                existing.python_executable, minor + ("t" if existing.free_threaded else "")
            )
        wanted = sys.executable
    path = _locate_python(wanted, backend)
    facts = _python_facts(path)
    if existing is not None:
        have = ".".join(existing.python_version.split(".")[:2])
        if have != facts.minor.rstrip("t"):
            raise UsageError(
                f"The venv has Python {have}, not {facts.minor}.",
                hint="Choose another --venv, or drop --python to keep its Python.",
            )
    return facts


def _locate_python(wanted: str, backend: installers.Installer) -> str:
    if os.sep in wanted or Path(wanted).exists():
        if not Path(wanted).exists():
            raise UsageError(
                f"--python {wanted}: no such interpreter.",
                hint="Give a path to a python executable, or a version like 3.12.",
            )
        return str(Path(wanted).absolute())  # ./x is that file, never an x found on PATH
    found = shutil.which(f"python{wanted}")
    if found is None and isinstance(backend, installers.UvInstaller):
        done = _proc.run([backend.uv, "python", "find", "--no-project", wanted], timeout=60)
        found = done.stdout.strip() if done.ok and done.stdout.strip() else None
    if found is None:
        raise UsageError(
            f"--python {wanted}: no such Python on this machine.",
            hint=f"Install it (uv python install {wanted}) or give its path.",
        )
    return found


def _python_facts(path: str) -> _Python:
    python = run_static_probe(Path(path), "--python")["python"]
    if not python["is_64bit"]:
        raise UsageError(
            f"--python {path} is a 32-bit build.",
            hint="PyTorch publishes no 32-bit wheels; install a 64-bit Python.",
        )
    minor = ".".join(python["version"].split(".")[:2]) + ("t" if python["free_threaded"] else "")
    return _Python(path, minor)


def _check_disk(target: Path, plan: Plan, required: int | None) -> None:
    need = (
        required
        if required is not None
        else (CUDA_BUILD_BYTES if plan.variant.kind is VariantKind.CUDA else CPU_BUILD_BYTES)
    )
    folder = target.parent
    free = shutil.disk_usage(folder).free
    if free < need:
        raise InstallFailed(
            f"Only {free / 1e9:.1f} GB free at {folder}; the {plan.variant} "
            f"build needs about {need / 1e9:.1f} GB.",
            hint="Free space, or put the venv on another disk with --venv.",
        )


def _with_other_routes(
    error: InstallFailed, request: Request, machine: Machine, options: InstallOptions
) -> InstallFailed:
    """An unreachable index: name the routes that may work (pip's sources, PyPI's build)."""
    if options.source.use_pip_config or options.source.find_links or options.source.pypi:
        return error
    routes = []
    configured = {k: v for k, v in read_pip_config().items() if k in PIP_SOURCE_KEYS}
    if configured:
        listed = "; ".join(f"{key}={value}" for key, value in sorted(configured.items()))
        routes.append(
            f"pip is configured with other sources ({listed}): pass --use-pip-config "
            "to install from them"
        )
    pypi = _pypi_route(request, machine)
    if pypi:
        routes.append(pypi)
    if not routes:
        return error
    return InstallFailed(
        error.message,
        hint="; ".join(routes) + "; or use --mirror NAME / --find-links DIR.",
    )


def _pypi_route(request: Request, machine: Machine) -> str | None:
    """PyPI's build, when it is the planned one: `--pypi` reaches it (PyPI or its mirror)."""
    from ptenv.install.pypi import plan_from_pypi  # noqa: PLC0415 - only on this error path

    try:
        plan = plan_from_pypi(machine, request, releases.load())
    except PtenvError:
        return None
    return (
        f"PyPI holds torch {plan.torch} as the {plan.variant} build this machine can use: "
        "--pypi installs it from PyPI (with --pypi-mirror NAME from a PyPI mirror)"
    )


# --- availability ---------------------------------------------------------------------------


def _damaged(existing: VenvInfo | None) -> str:
    """What is wrong with the venv's torch files, if anything (RECORD sizes)."""
    torch = existing.torch if existing is not None else None
    if torch is None or not torch.damaged:
        return ""
    return f"{len(torch.damaged)} of torch's files are missing or changed ({torch.damaged[0]})"


def _confirm_untagged_build(after: VenvInfo, plan: Plan, machine: Machine) -> None:
    """PyPI's torch carries its build only in torch/version.py: check it is the planned one."""
    pin = plan.packages[0]
    if pin.version.local is not None or machine.os.system == "macos" or after.torch is None:
        return
    have = noop.parse_version(after.torch.version)
    if have is not None and have.local != plan.variant.tag:
        raise InstallFailed(
            f"The untagged torch {pin.version} installed turned out to be the "
            f"{have.local or 'untagged'} build (torch/version.py), not {plan.variant} as "
            "ptenv's release data says; the previous environment is unchanged.",
            hint="Install from the PyTorch index instead (drop --pypi, or use --mirror), "
            "and please report this with `ptenv doctor --json`.",
        )


# --- installing ---------------------------------------------------------------------------


def _run_install(
    backend: installers.Installer,
    venv: Path,
    decision: _Decision,
    options: InstallOptions,
    context: Context,
) -> list[lockfile.LockedPackage]:
    """Install; the installer's own record of what it installed (URL, sha256) comes back."""
    locked, plan = decision.locked, decision.plan
    source = _replay_source(locked) if locked is not None else decision.source
    with gate.gated(source, insecure=options.source.insecure, env=context.env) as front:
        installed = _install_through(backend, venv, locked, plan, front, options, context)
    summary = front.refused_summary()
    if summary:
        context.progress(f"vetting: {summary}")
    return installed


def _install_through(
    backend: installers.Installer,
    venv: Path,
    locked: lockfile.Lock | None,
    plan: Plan,
    front: gate.Gate,
    options: InstallOptions,
    context: Context,
) -> list[lockfile.LockedPackage]:
    """The resolve and install steps, with the installer reading remote pages via the gate."""
    network = _user_network(backend, context.env)
    source, told = front.original, front.source

    def step(argv: list[str], what: str, wheels: Sequence[str] = ()) -> None:
        expected = ExpectedBytes(wheels) if wheels and context.wants_totals else None
        meter = Meter(what, context, expected)
        try:
            installers.run_installer(
                argv,
                what,
                backend.environment(network) | front.installer_env(context.env),
                echo=context.echo,
                stall_s=options.stall_timeout,
                source=source,
                on_activity=meter,
            )
        except InstallFailed as failed:
            raise gate.as_seen_by_ptenv(failed, front) from None
        finally:
            meter.finish()

    python = interpreter_of(venv)
    with tempfile.TemporaryDirectory(prefix="ptenv-install-") as scratch:
        requirements = Path(scratch) / "requirements.txt"
        text = lockfile.requirements(locked) if locked else "".join(f"{p}\n" for p in plan.packages)
        requirements.write_text(text, encoding="utf-8")
        resolved: Path | None = None
        chosen: list[lockfile.LockedPackage] = []  # what the installer is to fetch, if known
        if locked is None and isinstance(backend, installers.UvInstaller):
            resolved = Path(scratch) / "pylock.toml"
            step(
                backend.compile_argv(python, requirements, told, network=network, output=resolved),
                "uv resolve",
            )
            # the real URLs of what it chose (it read them through the gate), vetted again
            resolved.write_text(front.restore(resolved.read_text(encoding="utf-8")), "utf-8")
            chosen = lockfile.from_uv_pylock(resolved.read_text(encoding="utf-8"))
            vetting.vet(chosen, source, insecure=options.source.insecure)
        elif isinstance(backend, installers.UvInstaller) and locked and not locked.old_format:
            # uv installs a pylock as resolved: one download per wheel (a list of direct
            # URLs makes it fetch each wheel for its metadata as well)
            resolved = Path(scratch) / "pylock.toml"
            resolved.write_text(lockfile.as_pylock(locked), encoding="utf-8")
        report = (
            Path(scratch) / "report.json" if isinstance(backend, installers.PipInstaller) else None
        )
        argv = backend.install_argv(
            python, resolved or requirements, told, locked=locked is not None, network=network,
            report=report if locked is None else None,
            reinstall=("torch",) if options.reinstall else (),
        )  # fmt: skip
        if locked is not None:
            chosen = list(locked.packages)
        # where each chosen wheel's URL really leads, before the installer follows it there
        # (pip, resolving as it installs, fetches through the gate, which follows them itself)
        vetting.vet_redirects(chosen)
        # uv writes about the wheels' unpacked size (pip adds its download and bytecode)
        wheels = [p.url for p in chosen if p.url] if resolved else []
        step(argv, f"{backend.name} install", wheels)
        if locked is not None or resolved is not None:
            return chosen
        assert report is not None
        installed = lockfile.from_pip_report(front.restore(report.read_text(encoding="utf-8")))
        # pip resolves and installs in one step: vetted again before the new venv replaces
        # the old one (the gate showed it only vetted links)
        vetting.vet(installed, source, insecure=options.source.insecure)
        return installed


def _replay_source(locked: lockfile.Lock) -> Source:
    """A pylock replays from its wheels' own URLs (no index); an old ptenv.lock from its
    recorded source."""
    if locked.old_format:
        return locked.source
    return Source(kind=SourceKind.WHEELHOUSE, label="the lock's own URLs", index_url=None)


def _user_network(backend: installers.Installer, env: Mapping[str, str]) -> installers.UserNetwork:
    """The user's own way of reaching indexes, as that installer's config files say it."""
    if isinstance(backend, installers.UvInstaller):
        return installers.uv_network(env)
    return installers.pip_network(read_pip_config(), env)


def _plan_from_lock(
    locked: lockfile.Lock, machine: Machine, warnings: list[str]
) -> tuple[Plan, Source]:
    changes = lockfile.drift(locked.fingerprint, lockfile.fingerprint(machine))
    if changes:
        warnings.append(
            "This machine differs from the one the lock was made for: " + "; ".join(changes) + "."
        )
    if locked.old_format:
        warnings.append(
            "ptenv.lock is the old JSON format: this install writes the PEP 751 lock "
            "pylock.<venv>.toml beside the venv, which replaces it."
        )
    plan = replace(
        locked.plan, reasons=("Reproducing the lock file exactly (hash-checked).",), warnings=()
    )
    return plan, locked.source


def _provenance(
    before: Mapping[str, tuple[str, ...]],
    after: VenvInfo,
    record: list[lockfile.LockedPackage],
    previous: lockfile.Lock | None,
    source: Source,
    machine: Machine,
) -> tuple[list[Installed], list[lockfile.LockedPackage]]:
    """The lock's entries (the installer's record) and where each changed distribution came
    from. In a cloned venv pip's record omits what was already there: the previous lock
    supplies those, else the source's pages are read."""
    entries: dict[str, lockfile.LockedPackage] = {canonicalize_name(p.name): p for p in record}
    for old in previous.packages if previous else ():
        key = canonicalize_name(old.name)
        if key not in entries and old.version in after.distributions.get(key, ()):
            entries[key] = old
    installed = []
    tags = set(index.target_tags(machine))
    for name, versions in sorted(after.distributions.items()):
        if tuple(before.get(name, ())) == tuple(versions):
            continue
        entry = entries.get(name)
        if entry is None:
            if not before:
                continue  # a fresh venv's own seed (pip, ...): not part of the torch install
            entry = entries[name] = _locate(source, name, versions[0], tags)
        installed.append(Installed(name, versions[0], entry.url or f"not found on {source.label}"))
    return installed, sorted(entries.values(), key=lambda p: canonicalize_name(p.name))


def _locate(source: Source, name: str, version: str, tags: set[Tag]) -> lockfile.LockedPackage:
    try:
        files = list_project(source, name)
        if source.default_index is not None and not index.wheels(files, name):  # PyPI mirror
            files = index.fetch_project(source.default_index, name)
    except InstallFailed:
        files = []
    wanted = noop.parse_version(version)
    for wheel in index.wheels(files, name):
        if wheel.version == wanted and wheel.tags & tags:
            return lockfile.LockedPackage(
                name=name,
                version=version,
                filename=wheel.file.filename,
                url=wheel.file.url,
                sha256=wheel.file.sha256 or _sha256_of(wheel.file),
            )
    return lockfile.LockedPackage(name=name, version=version, filename=None, url=None, sha256=None)


def _sha256_of(file: IndexFile) -> str | None:
    if not file.url.startswith("file://"):
        return None
    return lockfile.sha256_of_file(Path(unquote(urlsplit(file.url).path)))


__all__ = ["Environment", "InstallAction", "InstallOptions", "install"]

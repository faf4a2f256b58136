"""The command line: flags -> values, calls into the core, renders, and maps errors to exit
codes. The only module that imports typer; the only place an exception becomes an exit status.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from ptenv import DEFAULT_INDEX_BASE, __version__
from ptenv.errors import ExitCode, PtenvError, Stopped, UsageError, stop_on_signals

if TYPE_CHECKING:
    from ptenv.install.sources import SourceOptions
    from ptenv.models import Request
    from ptenv.probe.overrides import TargetOverrides

app = typer.Typer(
    name="ptenv",
    # Plain help: no type placeholders on flags, no Rich on the --help path, and text that
    # copies cleanly from any terminal.
    rich_markup_mode=None,
    help="From a fresh machine to 'PyTorch 2.x works here, and here is the proof'.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion (bash, zsh, fish)
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

T = TypeVar("T")
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
_ENDPOINT = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):[0-9]{1,5}$")
# The fewest training steps the check's bars hold for: measured on the CPU build, a healthy
# run reaches accuracy 0.9 after 5 steps and halves its loss after 11 (0.29 of it after 16).
MIN_STEPS = 20

# --- options shared by doctor, plan and install ---------------------------------------------
OsOption = Annotated[
    str | None,
    typer.Option(
        "--os",
        metavar="OS",
        envvar="PTENV_OS",
        help="Target OS: linux, windows, macos.",
        rich_help_panel="Target machine",
    ),
]
ArchOption = Annotated[
    str | None,
    typer.Option(
        "--arch",
        metavar="ARCH",
        envvar="PTENV_ARCH",
        help="Target architecture: x86_64, aarch64.",
        rich_help_panel="Target machine",
    ),
]
PythonOption = Annotated[
    str | None,
    typer.Option(
        "--python",
        metavar="PYTHON",
        envvar="PTENV_PYTHON",
        help="Target Python minor, e.g. 3.12 or 3.14t.",
        rich_help_panel="Target machine",
    ),
]
DriverOption = Annotated[
    str | None,
    typer.Option(
        "--driver",
        metavar="VERSION",
        envvar="PTENV_DRIVER",
        help="Target NVIDIA driver version, e.g. 550.54.15.",
        rich_help_panel="Target machine",
    ),
]
GpuOption = Annotated[
    str | None,
    typer.Option(
        "--gpu",
        metavar="GPUS",
        envvar="PTENV_GPU",
        help="Target GPUs: compute capabilities (8.6, sm_86) or names (rtx4090, a100, h100), "
        "AMD gfx targets (gfx942), Intel products (arc-b580, max-1550), several with commas, "
        "or none.",
        rich_help_panel="Target machine",
    ),
]
IndexBaseOption = Annotated[
    str,
    typer.Option(
        "--index-base",
        metavar="URL",
        help="Wheel index root; the variant index is <base>/<variant>.",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
QuietOption = Annotated[
    bool, typer.Option("--quiet", "-q", help="Only the result: no progress, no tables.")
]
VerboseOption = Annotated[
    bool,
    typer.Option(
        "--verbose",
        "-v",
        help="Timestamped progress, each installer command, a traceback on an internal error.",
    ),
]
MirrorOption = Annotated[
    str | None,
    typer.Option(
        "--mirror",
        metavar="NAME",
        envvar="PTENV_MIRROR",
        help="A named mirror of the PyTorch index: nju, aliyun, sjtu.",
        show_default=False,
        rich_help_panel="Source",
    ),
]
FindLinksOption = Annotated[
    str | None,
    typer.Option(
        "--find-links",
        metavar="DIR|URL",
        help="A wheelhouse: a folder (offline, no index is contacted) or a flat listing URL.",
        show_default=False,
        rich_help_panel="Source",
    ),
]
PypiOption = Annotated[
    bool,
    typer.Option(
        "--pypi",
        help="Torch from PyPI (or --pypi-mirror): its untagged build, where that is the "
        "planned variant (2.15.0 is cu132 on Linux).",
        rich_help_panel="Source",
    ),
]
PypiMirrorOption = Annotated[
    str | None,
    typer.Option(
        "--pypi-mirror",
        metavar="NAME|URL",
        envvar="PTENV_PYPI_MIRROR",
        help="A PyPI mirror for torch's dependencies (and torch with --pypi): tuna, aliyun, "
        "ustc, sjtu, or its URL.",
        show_default=False,
        rich_help_panel="Source",
    ),
]
UsePipConfigOption = Annotated[
    bool,
    typer.Option(
        "--use-pip-config",
        help="Use the index / extra-index / find-links pip is configured with.",
        rich_help_panel="Source",
    ),
]
InsecureOption = Annotated[
    bool,
    typer.Option(
        "--insecure",
        help="Allow a plain-http index that is not on loopback.",
        rich_help_panel="Source",
    ),
]


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"ptenv {__version__}")
        raise typer.Exit()


# [tool.ptenv] keys a project's pyproject.toml may set -> the parameters they default.
PROJECT_KEYS = {
    "torch": "torch",
    "cuda": "cuda",
    "with": "with_packages",
    "mirror": "mirror",
    "installer": "installer",
    "index-base": "index_base",
    "venv": "venv",
    "use-pip-config": "use_pip_config",
}
PROJECT_COMMANDS = ("doctor", "plan", "install", "check")  # matrix's --torch is a release line


def _project_defaults(folder: Path) -> dict[str, dict[str, object]]:
    """Defaults from the nearest pyproject.toml's [tool.ptenv]; flags and PTENV_* win."""
    from ptenv.project import nearest_pyproject

    path = nearest_pyproject(folder)
    if path is None:
        return {}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return {}  # not ours to judge; tools that own the file will say what is wrong
    if "ptenv" not in text:
        return {}  # most projects: no TOML parse on every command
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib

    try:
        table = tomllib.loads(text).get("tool", {}).get("ptenv", {})
    except tomllib.TOMLDecodeError as error:
        typer.echo(f"error: {path} cannot be read as TOML ({error}).", err=True)
        typer.echo("hint: Fix the file, or run ptenv from another folder.", err=True)
        raise typer.Exit(int(ExitCode.USAGE)) from None
    if not isinstance(table, dict):
        typer.echo(f"error: tool.ptenv in {path} is not a table.", err=True)
        typer.echo('hint: Write it as [tool.ptenv] with keys such as cuda = "cu126".', err=True)
        raise typer.Exit(int(ExitCode.USAGE))
    unknown = sorted(set(table) - set(PROJECT_KEYS))
    if unknown:
        typer.echo(
            f"error: [tool.ptenv] in {path} has unknown keys: {', '.join(unknown)}.", err=True
        )
        typer.echo(f"hint: Known: {', '.join(PROJECT_KEYS)}.", err=True)
        raise typer.Exit(int(ExitCode.USAGE))
    settings = {
        PROJECT_KEYS[key]: ",".join(map(str, value)) if isinstance(value, list) else value
        for key, value in table.items()
    }
    return {command: settings for command in PROJECT_COMMANDS} if settings else {}


@app.callback()
def _root(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version_callback,
            is_eager=True,
            help="Print ptenv's version and exit.",
        ),
    ] = False,
) -> None:
    """ptenv: detect, plan, install and prove a PyTorch 2.x environment.

    Defaults for a project can sit in its pyproject.toml, e.g. [tool.ptenv] mirror = "nju",
    cuda = "cu126"; PTENV_MIRROR, PTENV_INSTALLER and the flags override them.
    """
    ctx.default_map = _project_defaults(Path.cwd())


def _output_file(path: Path | None, flag: str) -> None:
    """Refuse, before any work, a file ptenv could not write at the end (results kept)."""
    if path is None:
        return
    folder = path.absolute().parent
    problem = None
    if path.is_dir():
        problem = "is a folder"
    elif not folder.is_dir():
        problem = f"is in {folder}, which does not exist"
    elif not os.access(folder, os.W_OK):
        problem = f"is in {folder}, which is not writable"
    elif path.exists() and not os.access(path, os.W_OK):
        problem = "exists and is not writable"
    if problem is not None:
        raise UsageError(
            f"{flag} {path} {problem}.",
            hint=f"Give {flag} a file in an existing, writable folder (create it first).",
        )


def _guarded(schema: str, as_json: bool, body: Callable[[], int], verbose: bool = False) -> None:
    """Run a command body; turn ptenv's errors, Ctrl-C and bugs into one line and an exit code."""
    from ptenv import report

    report.safe_streams()
    stop_on_signals()
    http = sys.modules.get("ptenv._http")
    if http is not None:  # one run, one page cache (tests run many commands in one process)
        http.configure(None)
    try:
        code = body()
    except PtenvError as error:
        if as_json:
            report.emit_json(report.error_document(schema, error.code, error.message, error.hint))
        report.print_error(error.message, error.hint)
        raise typer.Exit(int(error.exit_code)) from None
    except Stopped as stop:
        report.print_error(f"Stopped by {stop.name}; the previous environment is unchanged.", "")
        raise typer.Exit(128 + stop.number) from None
    except KeyboardInterrupt:
        report.print_error("Interrupted.", "")
        raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
    except Exception as error:
        message = f"ptenv hit an internal error: {type(error).__name__}: {error}"
        hint = "Please report it with the command you ran (set PTENV_DEBUG=1 for a traceback)."
        if verbose or os.environ.get("PTENV_DEBUG"):
            raise
        if as_json:
            report.emit_json(report.error_document(schema, "internal", message, hint))
        report.print_error(message, hint)
        raise typer.Exit(int(ExitCode.INTERNAL)) from None
    raise typer.Exit(code)


@app.command()
def doctor(
    venv: Annotated[
        Path | None,
        typer.Option(
            "--venv",
            metavar="PATH",
            help="Venv to inspect (default: $VIRTUAL_ENV, else ./.venv when present).",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit 1 on warnings too, not only on errors.")
    ] = False,
    os_name: OsOption = None,
    arch: ArchOption = None,
    python: PythonOption = None,
    driver: DriverOption = None,
    gpu: GpuOption = None,
) -> None:
    """What is this machine, and what is wrong with it. Fast; never imports torch.

    Exit status: 0 no error findings, 1 at least one error (with --strict, or a warning),
    2 bad usage.
    """

    def body() -> int:
        from ptenv import report, workflows
        from ptenv.context import Context
        from ptenv.probe.overrides import TargetOverrides

        overrides = TargetOverrides(os=os_name, arch=arch, python=python, driver=driver, gpu=gpu)
        result = workflows.doctor(overrides, venv, Context(env=dict(os.environ)))

        if as_json:
            report.emit_json(report.doctor_document(result.machine, result.venv, result.findings))
        elif quiet:
            report.render_quiet_doctor(result.findings)
        else:
            report.render_doctor(result.machine, result.venv, result.findings)
        return int(result.exit_code(strict))

    _guarded("ptenv.doctor/1", as_json, body, verbose)


TorchOption = Annotated[
    str,
    typer.Option(
        "--torch",
        metavar="VERSION",
        help="Torch version or range: latest, 2.5, 2.5.1, '>=2.3,<2.6'.",
    ),
]
CudaOption = Annotated[
    str,
    typer.Option(
        "--cuda", metavar="VARIANT", help="Variant: auto, cpu, cu126 (or 12.6), rocm6.4, xpu."
    ),
]
WithOption = Annotated[
    str,
    typer.Option(
        "--with", metavar="NAMES", help="Companions to pin with torch: torchvision,torchaudio."
    ),
]


@app.command()
def plan(
    torch: TorchOption = "latest",
    cuda: CudaOption = "auto",
    with_packages: WithOption = "",
    index_base: IndexBaseOption = DEFAULT_INDEX_BASE,
    verify_index: Annotated[
        bool,
        typer.Option(
            "--verify-index", help="Read the chosen index and confirm the wheels exist (network)."
        ),
    ] = False,
    mirror: MirrorOption = None,
    find_links: FindLinksOption = None,
    use_pip_config: UsePipConfigOption = False,
    pypi: PypiOption = False,
    pypi_mirror: PypiMirrorOption = None,
    insecure: InsecureOption = False,
    venv: Annotated[
        Path | None,
        typer.Option(
            "--venv",
            metavar="PATH",
            help="Plan for this venv's Python (as `ptenv install --venv` would).",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
    os_name: OsOption = None,
    arch: ArchOption = None,
    python: PythonOption = None,
    driver: DriverOption = None,
    gpu: GpuOption = None,
) -> None:
    """Which torch build fits this machine (or a target machine), and why.

    Offline, unless a source is named (--mirror, --find-links, --use-pip-config, --pypi): then
    it reads that source as `ptenv install` would, and plans what the source really holds.

    Exit status: 0 a plan, 2 bad usage, 3 no compatible build, 4 index unreachable
    (--verify-index, or a named source).
    """
    flags = _PlanFlags(
        torch, cuda, with_packages, index_base, mirror, find_links, use_pip_config, pypi,
        pypi_mirror, insecure, os_name, arch, python, driver, gpu,
    )  # fmt: skip

    def body() -> int:
        from ptenv import report, workflows
        from ptenv.context import Context

        result = workflows.plan(
            flags.overrides(),
            flags.request(),
            Context(env=dict(os.environ)),
            verify_index=verify_index,
            source=flags.source() if flags.names_a_source else None,
            venv=venv,
        )
        if as_json:
            report.emit_json(report.plan_document(result.plan, result.machine))
        elif quiet:
            report.render_quiet_plan(result.plan)
        else:
            report.render_plan(result.plan, result.machine)
        return int(ExitCode.OK)

    _guarded("ptenv.plan/1", as_json, body, verbose)


@app.command()
def matrix(
    torch: Annotated[
        str | None,
        typer.Option(
            "--torch", metavar="VERSION", help="One release line, e.g. 2.14.", show_default=False
        ),
    ] = None,
    platform: Annotated[
        str | None,
        typer.Option(
            "--platform",
            metavar="PLATFORM",
            help="linux-x86_64, linux-aarch64, windows-x86_64, macos-arm64, "
            "macos-x86_64 (default: this machine's).",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
) -> None:
    """The release knowledge: torch x variant x platform x GPU architectures."""

    def body() -> int:
        from ptenv import releases, report
        from ptenv.probe.host import this_platform
        from ptenv.releases import matrix as matrix_module

        target = platform or this_platform()
        rows = matrix_module.matrix(releases.load(), target, torch)
        if as_json:
            report.emit_json(report.matrix_document(target, rows))
        else:
            report.render_matrix(target, rows, matrix_module.variant_order(rows), legend=not quiet)
        return int(ExitCode.OK)

    _guarded("ptenv.matrix/1", as_json, body, verbose)


@app.command()
def check(
    venv: Annotated[
        Path | None,
        typer.Option(
            "--venv",
            metavar="PATH",
            help="Venv to check (default: $VIRTUAL_ENV, else ./.venv).",
            show_default=False,
        ),
    ] = None,
    device: Annotated[
        str,
        typer.Option(
            "--device",
            metavar="DEVICE",
            help="auto (cuda, which is ROCm's too, else xpu, else mps, else cpu), cuda, xpu, "
            "mps or cpu.",
        ),
    ] = "auto",
    steps: Annotated[
        int,
        typer.Option(
            "--steps",
            metavar="N",
            min=MIN_STEPS,
            help=f"Training steps (at least {MIN_STEPS}: a healthy build halves the loss of "
            "the MLP in about 11).",
        ),
    ] = 50,
    batch: Annotated[int, typer.Option("--batch", metavar="N", min=1, help="Batch size.")] = 256,
    no_compile: Annotated[bool, typer.Option("--no-compile", help="Train eagerly only.")] = False,
    compile_mode: Annotated[
        str,
        typer.Option(
            "--compile-mode",
            metavar="MODE",
            help="torch.compile mode: default, reduce-overhead, max-autotune.",
        ),
    ] = "default",
    cache_dir: Annotated[
        Path | None,
        typer.Option(
            "--cache-dir",
            metavar="DIR",
            help="Inductor/Triton cache (default: ~/.cache/ptenv/compile).",
            show_default=False,
        ),
    ] = None,
    require_gpu: Annotated[
        bool, typer.Option("--require-gpu", help="Exit 6 unless the check ran on an NVIDIA GPU.")
    ] = False,
    timeout: Annotated[
        float,
        typer.Option("--timeout", metavar="SECONDS", min=1, help="Seconds for the whole check."),
    ] = 900.0,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
    junit: Annotated[
        Path | None,
        typer.Option(
            "--junit",
            metavar="FILE",
            help="Also write a JUnit XML file (one testcase per stage).",
            show_default=False,
        ),
    ] = None,
    nproc: Annotated[
        int,
        typer.Option(
            "--nproc",
            metavar="N",
            min=1,
            help="Ranks to start on this node through the venv's torchrun (one per GPU; "
            "gloo ranks on the CPU).",
            rich_help_panel="Distributed",
        ),
    ] = 1,
    nnodes: Annotated[
        str | None,
        typer.Option(
            "--nnodes",
            metavar="N",
            help="Nodes in the launch, e.g. 2 or 1:4 (passed to torchrun).",
            show_default=False,
            rich_help_panel="Distributed",
        ),
    ] = None,
    rdzv_endpoint: Annotated[
        str | None,
        typer.Option(
            "--rdzv-endpoint",
            metavar="HOST:PORT",
            help="HOST:PORT of the rendezvous, the same on every node (torchrun's c10d).",
            show_default=False,
            rich_help_panel="Distributed",
        ),
    ] = None,
    rdzv_id: Annotated[
        str,
        typer.Option(
            "--rdzv-id",
            metavar="ID",
            help="Rendezvous id shared by the nodes.",
            rich_help_panel="Distributed",
        ),
    ] = "ptenv",
    dist_timeout: Annotated[
        float,
        typer.Option(
            "--dist-timeout",
            metavar="SECONDS",
            min=1,
            help="Seconds a rank waits for the others in a collective or between stages.",
            rich_help_panel="Distributed",
        ),
    ] = 120.0,
) -> None:
    """Prove the environment works: train the 784-500-10 MLP eagerly and with torch.compile.

    Under torchrun or srun (or with --nproc), also DDP training, an all_reduce bandwidth sweep
    and a comparison of every rank's build; rank 0 prints the report, other ranks print nothing.

    Exit status: 0 all stages passed, 5 a stage (or a rank) failed, 6 --require-gpu and no
    usable GPU, 2 bad usage (no such venv, no interpreter in it).
    """
    if device not in ("auto", "cuda", "xpu", "mps", "cpu"):
        raise typer.BadParameter("use auto, cuda, xpu, mps or cpu", param_hint="--device")
    if compile_mode not in COMPILE_MODES:
        raise typer.BadParameter("use " + ", ".join(COMPILE_MODES), param_hint="--compile-mode")
    if rdzv_endpoint is not None and not _ENDPOINT.match(rdzv_endpoint):
        raise typer.BadParameter(
            "give HOST:PORT, e.g. node01:29400 or [fe80::1]:29400", param_hint="--rdzv-endpoint"
        )

    def body() -> int:
        from ptenv import report, workflows
        from ptenv.check import CheckOptions, default_cache_dir, junit_xml
        from ptenv.context import Context

        _output_file(junit, "--junit")
        environment = dict(os.environ)
        options = CheckOptions(
            venv=venv,
            require_gpu=require_gpu,
            device=device,
            steps=steps,
            batch=batch,
            compile=not no_compile,
            compile_mode=compile_mode,
            timeout=timeout,
            cache_dir=cache_dir or default_cache_dir(environment),
            nproc=nproc,
            nnodes=nnodes,
            rdzv_endpoint=rdzv_endpoint,
            rdzv_id=rdzv_id,
            dist_timeout=dist_timeout,
        )
        display = report.ProgressDisplay(quiet=quiet, verbose=verbose)
        result = workflows.check(options, Context(env=environment, progress=display.line))
        findings = result.doctor.findings
        fleet = result.report.fleet
        if fleet is not None and fleet.rank != 0:
            report.print_rank_line(result.report)  # rank 0 reports for the whole launch
            return int(result.exit_code())
        if junit is not None:
            junit.write_text(junit_xml(result.report), encoding="utf-8")
        if as_json:
            report.emit_json(report.check_document(result.report, findings))
        elif quiet:
            report.render_quiet_check(result.report)
        else:
            report.render_check(result.report, findings)
        if result.gpu_required_but_missing:
            report.print_error(
                "--require-gpu: the check did not run on an NVIDIA GPU.",
                "Run `ptenv doctor` to see why no GPU is usable.",
            )
        return int(result.exit_code())

    _guarded("ptenv.check/1", as_json, body, verbose)


@app.command()
def install(
    venv: Annotated[
        Path, typer.Option("--venv", metavar="PATH", help="The venv to create or update.")
    ] = Path(".venv"),
    python: Annotated[
        str | None,
        typer.Option(
            "--python",
            metavar="PYTHON",
            help="Interpreter for a new venv: X.Y or a path (default: the venv's own, "
            "else the one running ptenv).",
            show_default=False,
        ),
    ] = None,
    torch: TorchOption = "latest",
    cuda: CudaOption = "auto",
    with_packages: WithOption = "",
    installer: Annotated[
        str,
        typer.Option(
            "--installer",
            metavar="NAME",
            envvar="PTENV_INSTALLER",
            help="auto (uv, else pip), uv or pip.",
        ),
    ] = "auto",
    index_base: IndexBaseOption = DEFAULT_INDEX_BASE,
    mirror: MirrorOption = None,
    find_links: FindLinksOption = None,
    use_pip_config: UsePipConfigOption = False,
    pypi: PypiOption = False,
    pypi_mirror: PypiMirrorOption = None,
    insecure: InsecureOption = False,
    stall_timeout: Annotated[
        float,
        typer.Option(
            "--stall-timeout",
            metavar="SECONDS",
            envvar="PTENV_STALL_TIMEOUT",
            min=1,
            help="Give up when the installer receives, writes and prints nothing for this "
            "long (there is no limit on the whole download).",
        ),
    ] = 180.0,
    lock: Annotated[
        Path | None,
        typer.Option(
            "--lock",
            metavar="FILE",
            help="Replay this lock (pylock.*.toml) exactly if it exists; else write the "
            "lock here (default: pylock.<venv>.toml beside the venv).",
            show_default=False,
        ),
    ] = None,
    upgrade: Annotated[
        bool,
        typer.Option("--upgrade", "-U", help="Resolve afresh even where the venv's own lock fits."),
    ] = False,
    reinstall: Annotated[
        bool,
        typer.Option(
            "--reinstall",
            help="Write torch's files afresh even where the planned build is installed "
            "(a damaged install is repaired without it).",
        ),
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Plan and read the source; change nothing.")
    ] = False,
    no_check: Annotated[
        bool, typer.Option("--no-check", help="Skip `ptenv check` after installing.")
    ] = False,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Replace a different torch build without asking.")
    ] = False,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
    driver: DriverOption = None,
    gpu: GpuOption = None,
) -> None:
    """Create (or update) a venv with the torch build that fits, then prove it with a check.

    Exit status: 0 done, 2 bad usage, 3 no compatible build, 4 install failed (network, index,
    disk, installer), 5 the check failed, 130 interrupted. A failed or interrupted install
    leaves the previous environment as it was.
    """

    def body() -> int:

        from ptenv import report, workflows
        from ptenv.context import Context
        from ptenv.install.noop import companions
        from ptenv.install.sources import SourceOptions
        from ptenv.install.workflow import InstallOptions
        from ptenv.models import Request
        from ptenv.probe.overrides import TargetOverrides

        if lock is not None and not lock.is_file():
            _output_file(lock, "--lock")  # an existing lock is read; a new one written at the end
        request = Request(
            torch=torch, cuda=cuda, with_packages=companions(with_packages), index_base=index_base
        )
        options = InstallOptions(
            venv=venv,
            overrides=TargetOverrides(driver=driver, gpu=gpu),
            python=python,
            installer=installer,
            lock=lock,
            dry_run=dry_run,
            yes=yes,
            source=SourceOptions(
                index_base=index_base,
                mirror=mirror,
                find_links=find_links,
                use_pip_config=use_pip_config,
                insecure=insecure,
                pypi=pypi,
                pypi_mirror=pypi_mirror,
                env=dict(os.environ),
            ),
            stall_timeout=stall_timeout,
            upgrade=upgrade,
            reinstall=reinstall,
        )

        def confirm(question: str) -> bool:
            return sys.stdin.isatty() and typer.confirm(question, err=True)

        display = report.ProgressDisplay(quiet=quiet, verbose=verbose)
        context = Context(
            env=dict(os.environ),
            progress=display.line,
            transfer=display.transfer,
            wants_totals=display.live,
            confirm=confirm,
            verbose=verbose,
        )
        outcome = workflows.install_and_check(request, options, context, then_check=not no_check)
        check_doc = None
        if outcome.check is not None:
            check_doc = report.check_document(outcome.check.report, outcome.check.doctor.findings)
        if as_json:
            report.emit_json(report.install_document(outcome.install, check_doc))
        elif quiet:
            report.render_quiet_install(outcome.install)
            if outcome.check is not None:
                report.render_quiet_check(outcome.check.report)
        else:
            report.render_install(outcome.install)
            if outcome.check is not None:
                report.render_check(outcome.check.report, outcome.check.doctor.findings)
        return int(outcome.exit_code())

    _guarded("ptenv.install/1", as_json, body, verbose)


@dataclass(frozen=True)
class _PlanFlags:
    """The plan, source and target flags that plan, export and bundle share, as parsed; the
    core's values are built from them only once a command runs (lazy imports)."""

    torch: str
    cuda: str
    with_packages: str
    index_base: str
    mirror: str | None
    find_links: str | None
    use_pip_config: bool
    pypi: bool
    pypi_mirror: str | None
    insecure: bool
    os_name: str | None
    arch: str | None
    python: str | None
    driver: str | None
    gpu: str | None

    @property
    def names_a_source(self) -> bool:
        return (
            self.mirror is not None
            or self.find_links is not None
            or self.use_pip_config
            or self.pypi
        )

    def request(self) -> Request:
        from ptenv.install.noop import companions
        from ptenv.models import Request

        return Request(
            torch=self.torch,
            cuda=self.cuda,
            with_packages=companions(self.with_packages),
            index_base=self.index_base,
        )

    def source(self) -> SourceOptions:
        from ptenv.install.sources import SourceOptions

        return SourceOptions(
            index_base=self.index_base, mirror=self.mirror, find_links=self.find_links,
            use_pip_config=self.use_pip_config, insecure=self.insecure, pypi=self.pypi,
            pypi_mirror=self.pypi_mirror, env=dict(os.environ),
        )  # fmt: skip

    def overrides(self) -> TargetOverrides:
        from ptenv.probe.overrides import TargetOverrides

        return TargetOverrides(
            os=self.os_name, arch=self.arch, python=self.python, driver=self.driver, gpu=self.gpu
        )


export_app = typer.Typer(
    help="The plan as files other tools install: a uv project, hash-pinned requirements, "
    "a PEP 751 pylock.",
    no_args_is_help=True,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(export_app, name="export")
OutputOption = Annotated[
    Path | None,
    typer.Option(
        "--output", "-o", metavar="FILE", help="Write here (default: stdout).", show_default=False
    ),
]


def _export(kind: str, output: Path | None, venv: Path, flags: _PlanFlags, verbose: bool) -> None:
    def body() -> int:
        from ptenv import workflows
        from ptenv.context import Context

        if output is not None:
            _output_file(output, "--output")
        text, _plan = workflows.export_plan(
            flags.overrides(), flags.request(), flags.source(), Context(env=dict(os.environ)),
            kind=kind, output=output or Path(f"pylock.{venv.name.lstrip('.') or 'venv'}.toml"),
            venv=venv,
        )  # fmt: skip
        if output is None:
            sys.stdout.write(text)
        else:
            output.write_text(text, encoding="utf-8")
            sys.stderr.write(f"wrote {output}\n")
        return int(ExitCode.OK)

    _guarded(f"ptenv.export-{kind}/1", False, body, verbose)


@export_app.command("requirements")
def export_requirements(
    torch: TorchOption = "latest",
    cuda: CudaOption = "auto",
    with_packages: WithOption = "",
    index_base: IndexBaseOption = DEFAULT_INDEX_BASE,
    mirror: MirrorOption = None,
    find_links: FindLinksOption = None,
    use_pip_config: UsePipConfigOption = False,
    pypi: PypiOption = False,
    pypi_mirror: PypiMirrorOption = None,
    insecure: InsecureOption = False,
    output: OutputOption = None,
    verbose: VerboseOption = False,
    os_name: OsOption = None,
    arch: ArchOption = None,
    python: PythonOption = None,
    driver: DriverOption = None,
    gpu: GpuOption = None,
) -> None:
    """A requirements file for `pip install --require-hashes -r`: the plan for this machine or
    the target the flags describe, with its index lines and a sha256 for every wheel.

    Exit status: 0 written, 2 bad usage, 3 no compatible build, 4 the source failed.
    """
    flags = _PlanFlags(
        torch, cuda, with_packages, index_base, mirror, find_links, use_pip_config, pypi,
        pypi_mirror, insecure, os_name, arch, python, driver, gpu,
    )  # fmt: skip
    _export("requirements", output, Path(".venv"), flags, verbose)


@export_app.command("pylock")
def export_pylock(
    torch: TorchOption = "latest",
    cuda: CudaOption = "auto",
    with_packages: WithOption = "",
    index_base: IndexBaseOption = DEFAULT_INDEX_BASE,
    mirror: MirrorOption = None,
    find_links: FindLinksOption = None,
    use_pip_config: UsePipConfigOption = False,
    pypi: PypiOption = False,
    pypi_mirror: PypiMirrorOption = None,
    insecure: InsecureOption = False,
    venv: Annotated[
        Path, typer.Option("--venv", metavar="PATH", help="The venv the lock is for (its name).")
    ] = Path(".venv"),
    output: OutputOption = None,
    verbose: VerboseOption = False,
    os_name: OsOption = None,
    arch: ArchOption = None,
    python: PythonOption = None,
    driver: DriverOption = None,
    gpu: GpuOption = None,
) -> None:
    """The plan as a PEP 751 pylock.toml (as `ptenv install` writes it), for the target the
    flags describe: `ptenv install --lock FILE` or `uv pip install -r FILE` installs it.

    Exit status: 0 written, 2 bad usage, 3 no compatible build, 4 the source failed.
    """
    flags = _PlanFlags(
        torch, cuda, with_packages, index_base, mirror, find_links, use_pip_config, pypi,
        pypi_mirror, insecure, os_name, arch, python, driver, gpu,
    )  # fmt: skip
    _export("pylock", output, venv, flags, verbose)


@export_app.command("uv")
def export_uv(
    torch: TorchOption = "latest",
    cuda: CudaOption = "auto",
    with_packages: WithOption = "",
    index_base: IndexBaseOption = DEFAULT_INDEX_BASE,
    mirror: MirrorOption = None,
    find_links: FindLinksOption = None,
    use_pip_config: UsePipConfigOption = False,
    pypi: PypiOption = False,
    pypi_mirror: PypiMirrorOption = None,
    insecure: InsecureOption = False,
    project: Annotated[
        Path, typer.Option("--project", metavar="DIR", help="The uv project's folder.")
    ] = Path(),
    platforms: Annotated[
        str,
        typer.Option(
            "--platforms",
            metavar="LIST",
            help="Resolve for these platforms only ([tool.uv] environments), e.g. "
            "linux-x86_64,macos-arm64 (default: uv's, every platform).",
        ),
    ] = "",
    check: Annotated[
        bool,
        typer.Option(
            "--check", help="Change nothing; exit 1 when the project no longer fits the plan."
        ),
    ] = False,
    verbose: VerboseOption = False,
    os_name: OsOption = None,
    arch: ArchOption = None,
    python: PythonOption = None,
    driver: DriverOption = None,
    gpu: GpuOption = None,
) -> None:
    """Write the plan into a uv project's pyproject.toml: the variant's index (explicit), the
    sources that route torch and its companions there on the planned platform, and the pins,
    so that a plain `uv lock` / `uv sync` gets the planned build. Comments and layout stay; a
    second run changes nothing.

    Exit status: 0 written (or, with --check, it fits), 1 --check found drift, 2 bad usage,
    3 no compatible build, 4 the source failed.
    """
    flags = _PlanFlags(
        torch, cuda, with_packages, index_base, mirror, find_links, use_pip_config, pypi,
        pypi_mirror, insecure, os_name, arch, python, driver, gpu,
    )  # fmt: skip

    def body() -> int:
        from ptenv import workflows
        from ptenv.context import Context

        result = workflows.export_uv(
            flags.overrides(), flags.request(), flags.source(), Context(env=dict(os.environ)),
            project=project, platforms=[p.strip() for p in platforms.split(",") if p.strip()],
            check=check,
        )  # fmt: skip
        pins = " ".join(map(str, result.plan.packages))
        if check:
            if not result.drift:
                sys.stdout.write(f"{result.pyproject} fits the plan ({pins}).\n")
                return int(ExitCode.OK)
            sys.stdout.write(f"{result.pyproject} no longer fits the plan ({pins}):\n")
            sys.stdout.write("".join(f"  - {change}\n" for change in result.drift))
            sys.stdout.write("Run `ptenv export uv` (same flags) to update it, then `uv lock`.\n")
            return int(ExitCode.FINDINGS)
        if result.changed:
            sys.stdout.write(f"Wrote {pins} into {result.pyproject}; now run `uv lock`.\n")
        else:
            sys.stdout.write(f"{result.pyproject} already holds {pins}: nothing changed.\n")
        return int(ExitCode.OK)

    _guarded("ptenv.export-uv/1", False, body, verbose)


@export_app.command("dockerfile")
def export_dockerfile(
    out: Annotated[
        Path,
        typer.Option("--out", metavar="DIR", help="The build context to write (made if missing)."),
    ],
    torch: TorchOption = "latest",
    cuda: CudaOption = "auto",
    with_packages: WithOption = "",
    index_base: IndexBaseOption = DEFAULT_INDEX_BASE,
    mirror: MirrorOption = None,
    find_links: FindLinksOption = None,
    use_pip_config: UsePipConfigOption = False,
    pypi: PypiOption = False,
    pypi_mirror: PypiMirrorOption = None,
    insecure: InsecureOption = False,
    base: Annotated[
        str | None,
        typer.Option(
            "--base",
            metavar="IMAGE",
            help="Base image (default: python:X.Y-slim-bookworm for the planned Python).",
            show_default=False,
        ),
    ] = None,
    verbose: VerboseOption = False,
    os_name: OsOption = None,
    arch: ArchOption = None,
    python: PythonOption = None,
    driver: DriverOption = None,
    gpu: GpuOption = None,
) -> None:
    """A Docker build context for the target the flags describe (say --driver 570 --gpu 8.6
    on a build host without a GPU): Dockerfile on a plain Python image, .dockerignore, the
    target's lock and ptenv's own wheel. The build replays the lock and runs `ptenv check`.

    Exit status: 0 written, 2 bad usage, 3 no compatible build, 4 the source failed.
    """
    flags = _PlanFlags(
        torch, cuda, with_packages, index_base, mirror, find_links, use_pip_config, pypi,
        pypi_mirror, insecure, os_name, arch, python, driver, gpu,
    )  # fmt: skip

    def body() -> int:
        from ptenv import workflows
        from ptenv.context import Context

        result = workflows.export_dockerfile(
            flags.overrides(), flags.request(), flags.source(), Context(env=dict(os.environ)),
            out=out, base=base,
        )  # fmt: skip
        pins = " ".join(map(str, result.plan.packages))
        sys.stdout.write(f"Wrote a build context for {pins} (Python {result.plan.python}, ")
        sys.stdout.write(f"{result.plan.platform}) to {result.folder}:\n")
        sys.stdout.write("".join(f"  {path.name}\n" for path in result.files))
        sys.stdout.write(f"Build: docker build -t torch-app {result.folder}\n")
        return int(ExitCode.OK)

    _guarded("ptenv.export-dockerfile/1", False, body, verbose)


@app.command()
def bundle(
    out: Annotated[
        Path, typer.Option("--out", metavar="DIR", help="The folder to fill (made if missing).")
    ],
    torch: TorchOption = "latest",
    cuda: CudaOption = "auto",
    with_packages: WithOption = "",
    index_base: IndexBaseOption = DEFAULT_INDEX_BASE,
    mirror: MirrorOption = None,
    find_links: FindLinksOption = None,
    use_pip_config: UsePipConfigOption = False,
    pypi: PypiOption = False,
    pypi_mirror: PypiMirrorOption = None,
    insecure: InsecureOption = False,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
    os_name: OsOption = None,
    arch: ArchOption = None,
    python: PythonOption = None,
    driver: DriverOption = None,
    gpu: GpuOption = None,
) -> None:
    """Every wheel the target machine needs (its Python and platform, nvidia-* and triton
    included), hash-checked, in one folder with a manifest, for a machine without network.

    A re-run fetches only what is missing. On the target: `ptenv install --find-links DIR`.
    Exit status: 0 done, 2 bad usage, 3 no compatible build, 4 download or source failed.
    """
    flags = _PlanFlags(
        torch, cuda, with_packages, index_base, mirror, find_links, use_pip_config, pypi,
        pypi_mirror, insecure, os_name, arch, python, driver, gpu,
    )  # fmt: skip

    def body() -> int:
        from ptenv import report, workflows
        from ptenv.context import Context

        display = report.ProgressDisplay(quiet=quiet, verbose=verbose)
        context = Context(env=dict(os.environ), progress=display.line)
        result = workflows.bundle_plan(
            flags.overrides(), flags.request(), flags.source(), context, out=out
        )
        report.render_bundle(result)
        return int(ExitCode.OK)

    _guarded("ptenv.bundle/1", False, body, verbose)


data_app = typer.Typer(
    help="Where ptenv's release knowledge comes from: read a wheel, learn new releases from "
    "an index, show what is known and how old it is.",
    no_args_is_help=True,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(data_app, name="data")


@data_app.command("inspect")
def data_inspect(
    wheel: Annotated[
        str,
        typer.Argument(
            metavar="WHEEL_URL_OR_PATH", help="A .whl file, or its http(s) URL on an index."
        ),
    ],
    download: Annotated[
        bool,
        typer.Option(
            "--download", help="Read the whole file where the server refuses range requests."
        ),
    ] = False,
    as_json: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """A wheel's version, variant, CUDA, GPU targets (SASS and PTX), tags and requirements.

    A remote wheel is read with HTTP range requests: its zip directory, then only
    torch/version.py, the CUDA build header and the METADATA (a few hundred kB of a
    0.5-3 GB file). Exit status: 0 read, 2 bad usage, 7 the wheel could not be read.
    """

    def body() -> int:
        from ptenv import report, workflows

        facts = workflows.inspect_wheel(wheel, download=download)
        if as_json:
            report.emit_json(report.wheel_document(facts))
        else:
            report.render_wheel(facts)
        return int(ExitCode.OK)

    _guarded("ptenv.wheel/1", as_json, body, verbose)


@data_app.command("refresh")
def data_refresh(
    index_base: Annotated[
        str,
        typer.Option(
            "--index-base",
            metavar="URL",
            help="The index to learn from: the folder holding cpu/, cu126/, ... "
            "(default: the official PyTorch index).",
        ),
    ] = DEFAULT_INDEX_BASE,
    variant: Annotated[
        list[str] | None,
        typer.Option(
            "--variant",
            metavar="TAG",
            help="Also read this variant folder (a new one, e.g. cu134); repeatable.",
            show_default=False,
        ),
    ] = None,
    pypi: Annotated[
        str | None,
        typer.Option(
            "--pypi",
            metavar="URL|NAME",
            help="Also read PyPI's own torch wheels, from PyPI's simple index URL or a named "
            "PyPI mirror: which build each new release is there, and its architectures.",
            show_default=False,
        ),
    ] = None,
    verbose: VerboseOption = False,
) -> None:
    """Learn releases the built-in data lacks from an index, into the user's overlay.

    Reads the torch page of each variant folder, and one wheel per new (release, variant,
    platform) by range requests for its GPU architectures. The overlay is learned.toml in
    PTENV_DATA_DIR (else ~/.local/share/ptenv); plan, install, matrix and doctor use it, and
    a decision resting on it says so. Exit status: 0 done, 2 bad usage, 7 index unreadable.
    """

    def body() -> int:
        from ptenv import report, workflows

        result = workflows.refresh_data(
            index_base, dict(os.environ), variants=variant or (), pypi=pypi
        )
        report.render_refresh(result.path, result.overlay, result.learned)
        return int(ExitCode.OK)

    _guarded("ptenv.data/1", False, body, verbose)


@data_app.command("show")
def data_show(verbose: VerboseOption = False) -> None:
    """The built-in release data and the learned overlay: what they hold, how old they are."""

    def body() -> int:
        import datetime

        from ptenv import report, workflows

        report.render_data_summary(workflows.data_summary(dict(os.environ), datetime.date.today()))
        return int(ExitCode.OK)

    _guarded("ptenv.data/1", False, body, verbose)


def main() -> None:
    """Console-script entry point."""
    app()

"""The JSON documents ptenv prints (and the lock it writes), as types.

Each `--json` renderer in ptenv.report returns one of these TypedDicts, so mypy holds the
renderer to its contract; tests/test_contracts.py compares real documents with the golden
ones in tests/data/golden/; docs/reference/json.md is generated from these classes (the text
of each key is its `Annotated` note). A key is added without changing the schema name;
removing or renaming one needs a new schema (`/2`).

Objects that mirror a dataclass (`machine`, `venv`) or carry free-form figures are typed
`dict[str, Any]`: their keys are the dataclass's fields or the stage's own.
"""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

Jsonable = dict[str, Any]


class ErrorBody(TypedDict):
    code: Annotated[str, "`usage`, `no-compatible-build`, `install-failed`, …"]
    message: Annotated[str, "one sentence"]
    hint: Annotated[str, "what to do about it"]


class ErrorDocument(TypedDict):
    schema: Annotated[str, "the command's schema, e.g. `ptenv.plan/1`"]
    error: Annotated[ErrorBody, "why the command has no result"]


class FindingDocument(TypedDict):
    code: Annotated[str, "stable code, listed in the [finding reference](findings.md)"]
    severity: Annotated[str, "`error`, `warning` or `info`"]
    message: Annotated[str, "what was found, in one sentence"]
    fix: Annotated[str, "what to do about it"]


class DoctorDocument(TypedDict):
    schema: Annotated[str, "`ptenv.doctor/1`"]
    machine: Annotated[
        Jsonable,
        "`os`, `arch`, `python`, `cpu`, `memory`, `storage`, `toolchain`, `nvidia` (driver, "
        "NVML state, one entry per GPU with name, UUID, compute capability, memory, health "
        "counters), `overridden` (fields given by `--os/--gpu/...`), `platform`",
    ]
    venv: Annotated[
        Jsonable | None,
        "the `--venv` probed without importing torch: its Python, torch version, CUDA, "
        "architecture list, installed distributions",
    ]
    findings: Annotated[list[FindingDocument], "what is wrong, errors first"]


class PlanSummary(TypedDict):
    """The decision itself: plan output and the lock share it."""

    torch: Annotated[str, "the chosen version, e.g. `2.14.1`"]
    variant: Annotated[str, "`cpu`, `cu126`, `rocm6.4`, `xpu`, …"]
    index_url: Annotated[str, "the variant's index"]
    packages: Annotated[
        list[str], "exact pins, torch first (`torch==2.14.1+cu126`, companions after it)"
    ]
    python: Annotated[str, "target Python minor (`3.12`, `3.14t`)"]
    platform: Annotated[str, "`linux-x86_64`, `linux-aarch64`, `windows-x86_64`, `macos-arm64`"]


class PlanDocument(PlanSummary):
    schema: Annotated[str, "`ptenv.plan/1`"]
    machine: Annotated[Jsonable, "as in `ptenv.doctor/1`"]
    reasons: Annotated[list[str], "the numbered steps of the decision, as sentences"]
    warnings: Annotated[
        list[str],
        "what the plan rests on that could bite (minor-version compatibility, unverified data)",
    ]


class MatrixCell(TypedDict):
    variant: Annotated[str, "`cpu`, `cu126`, …"]
    cuda: Annotated[str | None, "its CUDA version"]
    sass: Annotated[list[str], "compute capabilities with SASS"]
    ptx: Annotated[list[str], "compute capabilities with PTX"]
    arch_known: Annotated[bool, "whether the architecture list is known"]
    unverified: Annotated[bool, "UNVERIFIED in the release data"]
    only_in_patches: Annotated[list[str], "the patches that have it, when not all do"]
    gpu_targets: Annotated[
        list[str], "ROCm: the gfx targets compiled in; xpu: the Intel GPU families it is built for"
    ]
    source: Annotated[str, "where the fact comes from"]


class MatrixRow(TypedDict):
    torch: Annotated[str, "the minor, e.g. `2.14`"]
    patches: Annotated[list[str], "its patch releases"]
    python: Annotated[list[str], "supported Python minors"]
    variants: Annotated[list[MatrixCell], "one per published variant"]


class MatrixDocument(TypedDict):
    schema: Annotated[str, "`ptenv.matrix/1`"]
    platform: Annotated[str, "the platform the matrix is for"]
    releases: Annotated[list[MatrixRow], "per torch minor, oldest first"]


class CacheDocument(TypedDict):
    dir: Annotated[str | None, "the compile cache used"]
    warm: Annotated[bool | None, "whether it held entries before"]


class _StageRequired(TypedDict):
    name: Annotated[str, "the stage"]
    ok: Annotated[bool | None, "`null`: skipped"]
    seconds: Annotated[float, "its wall time"]
    detail: Annotated[Jsonable, "the stage's figures"]


class StageDocument(_StageRequired, total=False):
    message: Annotated[str, "a failed stage only: what failed"]
    fix: Annotated[str, "a failed stage only: what to do"]


class RankDocument(TypedDict):
    rank: Annotated[int, "the rank"]
    host: Annotated[str | None, "where it ran"]
    ok: Annotated[bool | None, "`null`: it never reported"]
    stage: Annotated[str | None, "where it failed or hung"]
    message: Annotated[str, "what happened"]
    fingerprint: Annotated[
        Jsonable, "torch, git, cuda, hip, python, device, gpu, capability, driver, host"
    ]
    seconds: Annotated[float, "its wall time"]


class AllReduceDocument(TypedDict):
    bytes: Annotated[int, "message size"]
    iterations: Annotated[int, "timed repetitions"]
    time_us: Annotated[float, "the slowest rank's mean"]
    algbw_gbps: Annotated[float, "bytes / time"]
    busbw_gbps: Annotated[float, "algbw · 2(n-1)/n (nccl-tests' definition)"]


class FleetDocument(TypedDict):
    world_size: Annotated[int, "ranks in the launch; 1 without one"]
    launcher: Annotated[str | None, "`torchrun`, `slurm` or `env`"]
    backend: Annotated[str | None, "`nccl` or `gloo`"]
    ranks: Annotated[list[RankDocument], "per rank"]
    allreduce: Annotated[list[AllReduceDocument], "per message size"]
    fingerprint_differences: Annotated[
        dict[str, dict[str, list[int]]],
        "field → value → ranks, for every field on which ranks disagree",
    ]
    first_failed_rank: Annotated[int | None, "the rank to look at first"]


class CheckDocument(FleetDocument):
    schema: Annotated[str, "`ptenv.check/1`"]
    ok: Annotated[bool, "every stage passed (and, under a launch, every rank)"]
    device: Annotated[str | None, "`cuda`, `cpu` or `mps`"]
    venv: Annotated[str, "the venv checked"]
    seconds: Annotated[float, "wall time of the whole check"]
    cache: Annotated[CacheDocument, "the compile cache"]
    stages: Annotated[list[StageDocument], "in the order they ran"]
    figures: Annotated[
        Jsonable,
        "`loss_first`, `loss_last`, `accuracy`, eager / compiled `step_ms` and "
        "`samples_per_s`, `speedup`, `compile_seconds`, memory peaks, on a GPU "
        "`matmul_tflops` (fp32/fp16/bf16), under a launch `ddp_step_ms` and "
        "`allreduce_peak_busbw_gbps`",
    ]
    findings: Annotated[
        list[FindingDocument],
        "doctor's findings plus what the check itself found (`cuda-libraries-outside-venv`)",
    ]


class InstalledDocument(TypedDict):
    name: Annotated[str, "distribution"]
    version: Annotated[str, "its version"]
    source: Annotated[str, "the URL it came from"]


class InstallDocument(TypedDict):
    schema: Annotated[str, "`ptenv.install/1`"]
    action: Annotated[str, "`installed`, `already-installed` or `dry-run`"]
    plan: Annotated[PlanDocument, "the `ptenv.plan/1` document of what was installed"]
    venv: Annotated[str, "the venv"]
    python: Annotated[str, "its interpreter"]
    installer: Annotated[str, "`uv` or `pip`"]
    source: Annotated[
        str,
        "where the wheels came from: `official index`, `mirror nju`, `wheelhouse DIR`, "
        "`pip config`, `index`",
    ]
    installed: Annotated[list[InstalledDocument], "per new or changed distribution"]
    lock: Annotated[str | None, "the lock written (`pylock.<venv>.toml`)"]
    seconds: Annotated[dict[str, float], "`resolve`, `venv`, `install`, `total`"]
    warnings: Annotated[list[str], "the plan's warnings and the install's own"]
    check: Annotated[
        CheckDocument | None, "the `ptenv.check/1` document of the check that followed"
    ]


class _PylockSourceKeys(TypedDict):
    kind: Annotated[str, "`index`, `mirror`, `pip-config`, `wheelhouse` or `pypi`"]
    label: Annotated[str, "the source as people read it"]
    find_links: Annotated[list[str], "folders or flat listings"]
    extra_index_urls: Annotated[list[str], "further indexes"]


class PylockSource(_PylockSourceKeys, total=False):
    index_url: Annotated[str, "the index, if there is one"]
    default_index: Annotated[str, "the dependencies' index (a PyPI mirror), if not PyPI"]


class PylockWheel(TypedDict):
    name: Annotated[str, "the wheel's file name"]
    url: Annotated[str, "where the installer got it (credentials masked)"]
    hashes: Annotated[dict[str, str], "`sha256`"]


class PylockPackage(TypedDict):
    name: Annotated[str, "distribution"]
    version: Annotated[str, "exact version"]
    wheels: Annotated[list[PylockWheel], "the one wheel installed"]


class PtenvTool(TypedDict):
    schema: Annotated[str, "`ptenv.pylock/1`"]
    ptenv: Annotated[str, "the ptenv that wrote it"]
    venv: Annotated[str, "the venv it belongs to (relative to the lock's folder)"]
    request: Annotated[Jsonable, "`torch`, `cuda`, `with` as asked: another ask resolves afresh"]
    plan: Annotated[PlanSummary, "the decision that was installed"]
    source: Annotated[PylockSource, "where the wheels came from"]
    machine: Annotated[
        Jsonable, "`platform`, `os`, `python`, `driver`, `gpus`: what the build depends on"
    ]


class PylockTool(TypedDict):
    ptenv: Annotated[PtenvTool, "ptenv's own table"]


PylockDocument = TypedDict(
    "PylockDocument",
    {
        "lock-version": Annotated[str, "`1.0` (PEP 751)"],
        "created-by": Annotated[str, "`ptenv`"],
        "requires-python": Annotated[str, "`==3.12.*`"],
        "packages": Annotated[list[PylockPackage], "every wheel of the torch install, by name"],
        "tool": Annotated[PylockTool, "`[tool.ptenv]`"],
    },
)


# Schema name -> document type, in the order the reference lists them.
class WheelDocument(TypedDict):
    schema: Annotated[str, "`ptenv.wheel/1`"]
    filename: Annotated[str, "the wheel's file name"]
    size: Annotated[int, "bytes of the whole wheel"]
    fetched: Annotated[int, "bytes read to learn this (range requests: a small part of it)"]
    name: Annotated[str, "the distribution name from METADATA"]
    version: Annotated[str, "METADATA's `Version` (PyPI's torch has no local tag there)"]
    build_version: Annotated[str | None, "`torch/version.py`'s `__version__`, e.g. `2.15.0+cu132`"]
    variant: Annotated[str | None, "`cpu`, `cu132`, `rocm6.4`, `xpu`; null for another package"]
    cuda: Annotated[str | None, "the CUDA version it was built with"]
    hip: Annotated[str | None, "the HIP version of a ROCm build"]
    sass: Annotated[list[str], "the GPU code it carries, e.g. `sm_90`, `sm_100a`"]
    ptx: Annotated[list[str], "the PTX it carries (`compute_120`): newer GPUs JIT-compile it"]
    python_tags: Annotated[list[str], "from the file name: `cp312`, `cp313t`, …"]
    abi_tags: Annotated[list[str], "from the file name"]
    platform_tags: Annotated[list[str], "from the file name: `manylinux_2_28_x86_64`, …"]
    requires_python: Annotated[str | None, "METADATA's `Requires-Python`"]
    requires_dist: Annotated[list[str], "METADATA's `Requires-Dist` lines"]


DOCUMENTS: dict[str, type] = {
    "ptenv.doctor/1": DoctorDocument,
    "ptenv.plan/1": PlanDocument,
    "ptenv.matrix/1": MatrixDocument,
    "ptenv.check/1": CheckDocument,
    "ptenv.install/1": InstallDocument,
    "ptenv.pylock/1": PylockDocument,
    "ptenv.wheel/1": WheelDocument,
}

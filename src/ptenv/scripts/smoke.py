"""ptenv's smoke test, run with the target venv's own interpreter. Imports torch; never ptenv.

    <venv python> -X utf8 smoke.py --progress FILE [--device auto] [--steps 50] [--batch 256]
                  [--no-compile] [--compile-mode default] [--cache-dir DIR]

Trains the 784-500-10 MLP of the tutorial this project grew out of (Linear, ReLU, Linear,
cross-entropy, SGD) eagerly and under torch.compile, on a deterministic synthetic 10-class
dataset (nothing downloaded). Writes each stage's name to the progress file as it starts, so
the parent can name the stage that crashed or hung, and prints exactly one line
`PTENV_JSON=<document>` on stdout at the end.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import resource
import shutil
import statistics
import sys
import sysconfig
import time
import traceback
import warnings
from importlib import metadata
from typing import Any, Callable

SENTINEL = "PTENV_JSON="
LOSS_FALL_FACTOR = 0.5  # the last loss must be at most half the first
ACCURACY_BAR = 0.9  # on the synthetic dataset after training
LOSS_AGREEMENT = 5e-2  # compiled vs eager losses, max absolute difference over the curve
MATMUL_SIZE = 512
_CUDA_LIB = re.compile(
    r"lib(cudart|cublas|cublasLt|cudnn|nccl|nvrtc|cusparse|cufft|curand|"
    r"cusolver|nvJitLink|cuda)\S*\.so"
)


class StageFailed(Exception):
    """A stage's own verdict: a message for the user, a fix, and the figures behind it."""

    def __init__(self, message: str, fix: str = "", detail: dict[str, Any] | None = None):
        super().__init__(message)
        self.fix = fix
        self.detail = detail or {}


class StageSkipped(Exception):
    """A stage this backend cannot run (torch.compile on a device Inductor does not serve):
    reported as skipped, with the reason, not as a failure of the machine."""


class Runner:
    """Runs stages in order; after the first failure the rest are skipped, not run.

    Under a launcher, every rank waits for the others after each stage (Fleet.agree) and
    learns whether any rank failed, so all ranks skip the remaining stages together.
    """

    def __init__(self, progress_path: str, fleet: Any = None) -> None:
        self.progress_path = progress_path
        self.fleet = fleet
        self.rank = fleet.launch.rank if fleet is not None else 0
        self.stages: list[dict[str, Any]] = []
        self.failed = False
        self.skip_reason = "an earlier stage failed"
        self.first_failure: dict[str, Any] | None = None
        self.failure_posted = False
        self.faults = _faults(os.environ.get("PTENV_CHECK_FAULT", ""), self.rank)

    def note(self, line: str) -> None:
        _note(self.progress_path, line)

    def stage(
        self,
        name: str,
        body: Callable[[], dict[str, Any]],
        skip_reason: str = "",
        despite_failure: bool = False,
    ) -> None:
        self.note(name)
        if (self.failed and not despite_failure) or skip_reason:
            self.stages.append(
                {
                    "name": name,
                    "ok": None,
                    "seconds": 0.0,
                    "detail": {"skipped": skip_reason or self.skip_reason},
                }
            )
            return
        start = time.perf_counter()
        try:
            _inject(self.faults.get(name), name, self.rank)
            detail = body()
            ok, message, fix = True, "", ""
        except StageSkipped as skipped:
            self.stages.append(
                {"name": name, "ok": None, "seconds": 0.0, "detail": {"skipped": str(skipped)}}
            )
            return
        except Exception as error:  # a failure of torch itself is the finding
            ok, message = False, str(error)
            if hasattr(error, "fix"):  # StageFailed, from this file or fleet.py
                fix, detail = error.fix, getattr(error, "detail", {})
            else:
                message, fix = f"{type(error).__name__}: {error}", ""
                detail = {"traceback": traceback.format_exc(limit=6)[-3000:]}
        result = {
            "name": name,
            "ok": ok,
            "seconds": round(time.perf_counter() - start, 4),
            "detail": detail,
        }
        if not ok:
            result["message"] = message
            result["fix"] = fix
            self.failed = True
            if self.first_failure is None:
                self.first_failure = {"rank": self.rank, "stage": name, "message": message}
        self.stages.append(result)
        self._agree(name, result)

    def _agree(self, name: str, result: dict[str, Any]) -> None:
        fleet = self.fleet
        if fleet is None or not fleet.ready:
            return
        failure = None
        if self.first_failure is not None and not self.failure_posted:
            failure, self.failure_posted = self.first_failure, True
        try:
            posted = fleet.agree(name, failure)
        except Exception as error:  # FleetError: the store stopped answering
            lost = f"lost contact with the other ranks after stage {name}: {error}"
            result.update(
                ok=False,
                message=f"{result['message']}; then {lost}" if result.get("message") else lost,
                fix="Another rank died or hung; see its stages, dmesg and the launcher's log.",
            )
            self.failed, self.skip_reason = True, "the ranks lost contact"
            return
        others = [f for f in posted if f["rank"] != self.rank]
        if others and not self.failed:
            self.failed = True
            self.skip_reason = f"rank {others[0]['rank']} failed in stage {others[0]['stage']}"


def _note(progress_path: str, line: str) -> None:
    with open(progress_path, "a", encoding="utf-8") as handle:
        handle.write(line + "\n")


def _faults(spec: str, rank: int) -> dict[str, str]:
    """PTENV_CHECK_FAULT='RANK:STAGE:KIND,...' -> {stage: kind} for this rank.

    A fire drill for alerting and for ptenv's own tests: KIND is raise, hang, crash (abort)
    or exit (status 3); RANK may be * for every rank.
    """
    faults = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        who, _, rest = item.partition(":")
        stage, _, kind = rest.partition(":")
        if who in ("*", str(rank)):
            faults[stage] = kind
    return faults


def _inject(kind: str | None, stage: str, rank: int) -> None:
    if kind is None:
        return
    if kind == "raise":
        raise RuntimeError(f"fault injected by PTENV_CHECK_FAULT in stage {stage} on rank {rank}")
    if kind == "hang":
        while True:
            time.sleep(60)
    if kind == "crash":
        os.abort()
    if kind == "exit":
        os._exit(3)


def _loaded_cuda_libraries() -> list[str]:
    try:
        with open("/proc/self/maps", encoding="utf-8") as handle:
            paths = {line.split()[-1] for line in handle if _CUDA_LIB.search(line)}
    except OSError:
        return []
    return sorted(paths)


def stage_import(state: dict[str, Any]) -> dict[str, Any]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            import torch
        except ImportError as error:
            raise StageFailed(
                f"torch cannot be imported: {error}",
                fix="Install torch into this venv: ptenv install --venv ...",
            ) from None
    state["torch"] = torch
    cuda_built = torch.backends.cuda.is_built()
    libraries = _loaded_cuda_libraries()
    prefix = os.path.realpath(sys.prefix)
    foreign = [
        p for p in libraries if not os.path.realpath(p).startswith(prefix) and "libcuda.so" not in p
    ]
    return {
        "torch": torch.__version__,
        "file": torch.__file__,
        "cuda": torch.version.cuda,
        "hip": getattr(torch.version, "hip", None),
        "arch_list": _arch_list(torch) if cuda_built else [],
        "cuda_libraries": libraries,
        "libraries_outside_venv": foreign,
        "warnings": [f"{w.category.__name__}: {w.message}" for w in caught],
    }


def _arch_list(torch: Any) -> list[str]:
    """The build's architectures. get_arch_list() is [] without a GPU in 2.7 and 2.8
    (pytorch-compat.md §13.2); the flags it reads are there all the same."""
    listed = list(torch.cuda.get_arch_list())
    if listed:
        return listed
    flags = getattr(torch._C, "_cuda_getArchFlags", None)
    try:
        text = flags() if flags is not None else None
    except Exception:  # an old or odd build: no list rather than a failed stage
        return []
    return str(text).split() if text else []


def _sm_covered(capability: tuple[int, int], arch_list: list[str]) -> bool:
    major, minor = capability
    for entry in arch_list:
        kind, _, digits = entry.partition("_")
        if not digits.isdigit():
            continue
        code = (int(digits[:-1]), int(digits[-1]))
        if kind == "sm" and code[0] == major and code[1] <= minor:
            return True
        if kind == "compute" and code <= (major, minor):
            return True
    return False


def _xpu_available(torch: Any) -> bool:
    xpu = getattr(torch, "xpu", None)
    return bool(xpu is not None and xpu.is_available())


def _mps_available(torch: Any) -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def _auto_device(torch: Any, cuda: bool) -> str:
    """CUDA (NVIDIA, or AMD through ROCm's HIP), else Intel's xpu, else Apple's mps, else cpu."""
    if cuda:
        return "cuda"
    if _xpu_available(torch):
        return "xpu"
    return "mps" if _mps_available(torch) else "cpu"


def stage_device(state: dict[str, Any], requested: str) -> dict[str, Any]:
    torch = state["torch"]
    cuda = torch.cuda.is_available()
    device = _auto_device(torch, cuda) if requested == "auto" else requested
    if device == "cuda" and not cuda:
        raise StageFailed(
            "CUDA was asked for but torch.cuda.is_available() is False "
            f"(torch {torch.__version__}, CUDA {torch.version.cuda}).",
            fix="Run `ptenv doctor` for the driver and build findings.",
            detail={"device": "cuda", "cuda_available": False},
        )
    if device == "mps" and not _mps_available(torch):
        raise StageFailed(
            "MPS was asked for but is not available.",
            fix="MPS needs Apple silicon and macOS 12.3 or newer.",
        )
    if device == "xpu" and not _xpu_available(torch):
        raise StageFailed(
            f"An Intel GPU (xpu) was asked for but torch.xpu.is_available() is False (torch "
            f"{torch.__version__}).",
            fix="Install the xpu build (ptenv install --cuda xpu) and Intel's GPU runtime "
            "(Level Zero); `ptenv doctor` says which is missing.",
        )
    state["device"] = device
    detail: dict[str, Any] = {"device": device, "cuda_available": cuda}
    if device == "cuda":
        detail.update(_cuda_device(state))
    elif device == "xpu":
        detail.update(
            backend="xpu", name=torch.xpu.get_device_name(0), count=torch.xpu.device_count()
        )
    elif device == "mps":
        detail.update(backend="mps", name=platform.machine())
    else:
        detail.update(
            name=platform.processor() or platform.machine(), threads=torch.get_num_threads()
        )
    return detail


def _cuda_device(state: dict[str, Any]) -> dict[str, Any]:
    """The GPU torch.cuda drives (NVIDIA, or AMD under ROCm) and whether the build has code
    for it: sm_XY / compute_XY for CUDA, the gfx target for ROCm."""
    torch = state["torch"]
    if "local_rank" in state:  # one GPU per rank; srun --gpus-per-task leaves one visible
        torch.cuda.set_device(state["local_rank"] % torch.cuda.device_count())
    index = torch.cuda.current_device()
    props = torch.cuda.get_device_properties(index)
    capability = (props.major, props.minor)
    arch_list = _arch_list(torch)
    hip = getattr(torch.version, "hip", None)
    detail: dict[str, Any] = {
        "name": props.name,
        "capability": f"{props.major}.{props.minor}",
        "memory_bytes": props.total_memory,
        "count": torch.cuda.device_count(),
        "arch_list": arch_list,
    }
    if hip:
        # gcnArchName reads "gfx942:sramecc+:xnack-": the wheel lists the part before ':'
        gfx = str(getattr(props, "gcnArchName", "") or "").split(":")[0]
        detail.update(backend="rocm", hip=hip, gfx=gfx or None)
        if arch_list and gfx and gfx not in arch_list:
            raise StageFailed(
                f"{props.name} ({gfx}) is not in this ROCm build's targets {arch_list}.",
                fix="Install a build compiled for it (ptenv plan --gpu "
                f"{gfx}); HSA_OVERRIDE_GFX_VERSION is the unsupported way round.",
                detail=detail,
            )
    else:
        detail["backend"] = "cuda"
        if arch_list and not _sm_covered(capability, arch_list):
            raise StageFailed(
                f"{props.name} (sm_{props.major}{props.minor}) is not in this "
                f"build's architectures {arch_list}.",
                fix="Install a build that covers it: ptenv plan",
                detail=detail,
            )
    state["capability"] = capability
    state["gpu_name"], state["capability_text"] = props.name, detail["capability"]
    return detail


def stage_numerics(state: dict[str, Any]) -> dict[str, Any]:
    torch = state["torch"]
    device = state["device"]
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(MATMUL_SIZE, MATMUL_SIZE, generator=generator)
    b = torch.randn(MATMUL_SIZE, MATMUL_SIZE, generator=generator)
    first = (a.to(device) @ b.to(device)).cpu()
    second = (a.to(device) @ b.to(device)).cpu()
    reference = a.double() @ b.double()
    if not torch.isfinite(first).all():
        raise StageFailed("The matmul produced NaN or Inf.", fix="Suspect the hardware.")
    if not torch.equal(first, second):
        raise StageFailed(
            "The same matmul gave two different results (silent data corruption?).",
            fix="Run the vendor's diagnostics (dcgmi diag -r 3).",
        )
    error = ((first.double() - reference).abs().max() / reference.abs().max()).item()
    tolerance = 1e-3 if device == "cpu" else 1e-2  # TF32 may be on for CUDA
    if error > tolerance:
        raise StageFailed(
            f"The matmul differs from a float64 reference by {error:.2e} (tolerance {tolerance}).",
            fix="Suspect the hardware or the BLAS.",
        )
    return {"size": MATMUL_SIZE, "relative_error": error, "repeatable": True}


def _dataset(torch: Any, samples: int) -> tuple[Any, Any]:
    generator = torch.Generator().manual_seed(1234)
    centers = torch.randn(10, 784, generator=generator) * 0.5
    labels = torch.arange(samples) % 10
    inputs = centers[labels] + torch.randn(samples, 784, generator=generator)
    return inputs, labels


def _model(torch: Any, seed: int = 0) -> Any:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(784, 500), torch.nn.ReLU(), torch.nn.Linear(500, 10))


def _train(state: dict[str, Any], compiled: bool, mode: str) -> dict[str, Any]:
    torch = state["torch"]
    device = state["device"]
    steps, batch = state["steps"], state["batch"]
    inputs, labels = state["data"]
    model = _model(torch).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step(x: Any, y: Any) -> Any:
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(forward(x), y)
        loss.backward()
        optimizer.step()
        return loss

    forward = torch.compile(model, mode=None if mode == "default" else mode) if compiled else model
    losses, times = [], []
    for index in range(steps):
        start = (index * batch) % inputs.shape[0]
        x = inputs[start : start + batch].to(device)
        y = labels[start : start + batch].to(device)
        began = time.perf_counter()
        loss = step(x, y)
        value = loss.item()  # synchronises
        times.append(time.perf_counter() - began)
        losses.append(value)
    with torch.no_grad():
        predictions = model(inputs.to(device)).argmax(dim=1).cpu()
    accuracy = (predictions == labels).float().mean().item()
    return {"losses": losses, "step_seconds": times, "accuracy": accuracy}


def _judge_training(result: dict[str, Any], label: str) -> None:
    first, last = result["losses"][0], result["losses"][-1]
    if not all(math.isfinite(v) for v in result["losses"]):
        raise StageFailed(
            f"{label}: the loss became NaN or Inf.",
            fix="Suspect the build or the hardware.",
            detail=result,
        )
    if last > first * LOSS_FALL_FACTOR:
        raise StageFailed(
            f"{label}: the loss fell from {first:.3f} to {last:.3f}, not below "
            f"{LOSS_FALL_FACTOR} of it.",
            detail=result,
        )
    if result["accuracy"] < ACCURACY_BAR:
        raise StageFailed(
            f"{label}: accuracy {result['accuracy']:.3f} is under {ACCURACY_BAR}.", detail=result
        )


def stage_train_eager(state: dict[str, Any]) -> dict[str, Any]:
    result = _train(state, compiled=False, mode="default")
    state["eager"] = result
    _judge_training(result, "eager training")
    return _summary(result)


def _summary(result: dict[str, Any]) -> dict[str, Any]:
    steady = result["step_seconds"][1:] or result["step_seconds"]
    return {
        "loss_first": result["losses"][0],
        "loss_last": result["losses"][-1],
        "accuracy": result["accuracy"],
        "step_ms": statistics.median(steady) * 1000,
        "first_step_ms": result["step_seconds"][0] * 1000,
        "losses": result["losses"],
    }


def stage_compile_prerequisites(state: dict[str, Any]) -> dict[str, Any]:
    cxx = os.environ.get("CXX") or shutil.which("g++") or shutil.which("clang++")
    cc = os.environ.get("CC") or shutil.which("gcc") or shutil.which("clang")
    include = sysconfig.get_paths().get("include") or ""
    python_h = os.path.isfile(os.path.join(include, "Python.h"))
    detail: dict[str, Any] = {"cxx": cxx, "cc": cc, "python_h": python_h}
    missing = []
    if not cxx:
        missing.append(("no C++ compiler", "install g++ (build-essential) or set CXX"))
    if state["device"] == "cuda":
        if not cc:
            missing.append(("no C compiler for Triton", "install gcc or set CC"))
        if not python_h:
            missing.append(("Python.h missing", "install the python3.X-dev package"))
        try:
            detail["triton"] = metadata.version("triton")
        except metadata.PackageNotFoundError:
            missing.append(("Triton is not installed", "reinstall torch with its dependencies"))
        if state.get("capability", (0, 0)) < (7, 0):
            missing.append(
                (
                    "the GPU is older than compute capability 7.0 (no Triton)",
                    "run with --no-compile on this GPU",
                )
            )
    if missing:
        raise StageFailed(
            "torch.compile cannot work here: " + "; ".join(m for m, _ in missing) + ".",
            fix="; ".join(f for _, f in missing) + ".",
            detail=detail,
        )
    return detail


def stage_train_compiled(state: dict[str, Any], mode: str) -> dict[str, Any]:
    try:
        result = _train(state, compiled=True, mode=mode)
    except Exception as error:
        if state["device"] in ("mps", "xpu") and _unsupported_backend(error):
            raise StageSkipped(
                f"torch.compile cannot compile for {state['device']} in torch "
                f"{state['torch'].__version__} ({type(error).__name__}); eager training is the "
                "proof on this backend"
            ) from error
        raise
    state["compiled"] = result
    _judge_training(result, "compiled training")
    eager = state["eager"]["losses"]
    difference = max(abs(a - b) for a, b in zip(eager, result["losses"]))
    summary = _summary(result)
    summary.update(
        compile_seconds=result["step_seconds"][0], mode=mode, max_loss_difference=difference
    )
    if difference > LOSS_AGREEMENT:
        raise StageFailed(
            f"Compiled and eager losses differ by {difference:.4f} (tolerance {LOSS_AGREEMENT}).",
            fix="Report it to PyTorch with TORCHDYNAMO_VERBOSE=1 output.",
            detail=summary,
        )
    return summary


def _unsupported_backend(error: BaseException) -> bool:
    """Inductor has no code generator for the device (not a wrong answer from one)."""
    text = f"{type(error).__name__}: {error}".lower()
    return isinstance(error, NotImplementedError) or any(
        hint in text for hint in ("not supported", "unsupported", "no backend", "not implemented")
    )


def _matmul_tflops(torch: Any, dtype: Any, size: int = 4096, repeat: int = 20) -> float:
    """Dense matmul throughput, timed on the GPU with CUDA events after three warm-up runs."""
    a = torch.randn(size, size, device="cuda", dtype=dtype)
    b = torch.randn(size, size, device="cuda", dtype=dtype)
    for _ in range(3):
        a @ b
    start = torch.cuda.Event(enable_timing=True)
    end = torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(repeat):
        a @ b
    end.record()
    end.synchronize()
    seconds = float(start.elapsed_time(end)) / 1000 / repeat
    return 2 * size**3 / seconds / 1e12


def _cuda_tflops(torch: Any, capability: tuple[int, int], size: int = 4096) -> dict[str, Any]:
    """fp32 as torch's default computes it (TF32 off), tf32, and the half types the GPU has.

    TF32 exists from compute capability 8.0; fp16 tensor cores from 7.0; bf16 from 8.0
    (torch.cuda.is_bf16_supported() also says yes where bf16 is only emulated, so the
    capability decides).
    """
    precision = torch.get_float32_matmul_precision()
    tflops: dict[str, Any] = {}
    try:
        torch.set_float32_matmul_precision("highest")
        tflops["fp32"] = _matmul_tflops(torch, torch.float32, size)
        if capability >= (8, 0):
            torch.set_float32_matmul_precision("high")
            tflops["tf32"] = _matmul_tflops(torch, torch.float32, size)
    finally:
        torch.set_float32_matmul_precision(precision)
    if capability >= (7, 0):
        tflops["fp16"] = _matmul_tflops(torch, torch.float16, size)
    if capability >= (8, 0):
        tflops["bf16"] = _matmul_tflops(torch, torch.bfloat16, size)
    return tflops


def stage_figures(state: dict[str, Any]) -> dict[str, Any]:
    torch = state["torch"]
    batch = state["batch"]
    eager_ms = statistics.median(state["eager"]["step_seconds"][1:] or [0.0]) * 1000
    figures: dict[str, Any] = {
        "eager_step_ms": eager_ms,
        "eager_samples_per_s": batch / (eager_ms / 1000) if eager_ms else None,
    }
    compiled = state.get("compiled")
    if compiled:
        compiled_ms = statistics.median(compiled["step_seconds"][1:] or [0.0]) * 1000
        figures.update(
            compiled_step_ms=compiled_ms,
            compiled_samples_per_s=batch / (compiled_ms / 1000) if compiled_ms else None,
            speedup=eager_ms / compiled_ms if compiled_ms else None,
            compile_seconds=compiled["step_seconds"][0],
        )
    if state["device"] == "cuda":
        figures["peak_memory_bytes"] = torch.cuda.max_memory_allocated()
        figures["float32_matmul_precision"] = torch.get_float32_matmul_precision()
        figures["matmul_tflops"] = _cuda_tflops(torch, state.get("capability", (0, 0)))
    else:
        figures["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    if "ddp" in state:
        figures["ddp_step_ms"] = state["ddp"]["step_ms"]
    if "allreduce" in state:
        figures["allreduce_peak_busbw_gbps"] = state["allreduce"]["peak_busbw_gbps"]
    return figures


def _cache(cache_root: str | None) -> dict[str, Any]:
    """Point Inductor and Triton at a persistent per-torch-version cache; say if it was warm."""
    if not cache_root:
        return {"dir": None, "warm": None}
    try:
        version = metadata.version("torch")
    except metadata.PackageNotFoundError:
        version = "none"
    folder = os.path.join(
        cache_root, f"torch-{version}-py{sys.version_info[0]}{sys.version_info[1]}"
    )
    inductor = os.path.join(folder, "inductor")
    warm = os.path.isdir(inductor) and bool(os.listdir(inductor))
    os.makedirs(inductor, exist_ok=True)
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = inductor
    os.environ["TRITON_CACHE_DIR"] = os.path.join(folder, "triton")
    return {"dir": folder, "warm": warm}


def _load_fleet() -> Any:
    """fleet.py from this script's folder (ptenv is not importable in the target venv)."""
    import importlib.util

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fleet_rank.py")
    spec = importlib.util.spec_from_file_location("ptenv_smoke_fleet", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[spec.name] = module  # type: ignore[union-attr]  # dataclasses look it up
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--progress", required=True)
    parser.add_argument("--progress-per-rank", action="store_true", help="write PROGRESS.<rank>")
    parser.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu", "mps", "xpu"])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--compile-mode", default="default")
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--dist-timeout", type=float, default=120.0)
    args = parser.parse_args()
    fleet_module = _load_fleet()
    launch = fleet_module.detect(os.environ)
    progress = args.progress
    if launch is not None and args.progress_per_rank:
        progress = f"{progress}.{launch.rank}"
    fleet = None
    if launch is not None:
        fleet = fleet_module.Fleet(launch, args.dist_timeout, lambda line: _note(progress, line))
    runner = Runner(progress, fleet)
    runner.note(f"pid:{os.getpid()}")
    cache = _cache(None if args.no_compile else args.cache_dir)
    state: dict[str, Any] = {"steps": args.steps, "batch": args.batch}
    if launch is not None:
        state["local_rank"] = launch.local_rank
    runner.stage("import", lambda: stage_import(state))
    runner.stage("device", lambda: stage_device(state, args.device))
    runner.stage("numerics", lambda: stage_numerics(state))
    if fleet is not None:
        # Even after a local failure: joining lets the others learn of it instead of waiting.
        device = state.get("device") or ("cpu" if args.device == "auto" else args.device)
        joinable = "torch" in state and not (device == "cuda" and "capability" not in state)
        runner.stage(
            "process_group",
            lambda: fleet.init_process_group(state["torch"], device),
            "" if joinable else "torch or the GPU is unusable on this rank",
            despite_failure=True,
        )
        runner.stage("fingerprint", lambda: fleet.fingerprint(state))
    if "torch" in state and "device" in state:
        state["data"] = _dataset(state["torch"], max(args.batch * 8, 2048))
    runner.stage("train_eager", lambda: stage_train_eager(state))
    skip = "--no-compile" if args.no_compile else ""
    runner.stage("compile_prerequisites", lambda: stage_compile_prerequisites(state), skip)
    runner.stage("train_compiled", lambda: stage_train_compiled(state, args.compile_mode), skip)
    if fleet is not None:
        runner.stage("train_ddp", lambda: _keep(state, "ddp", fleet.train_ddp(state, _model)))
        runner.stage("allreduce", lambda: _keep(state, "allreduce", fleet.allreduce_sweep(state)))
    runner.stage("figures", lambda: stage_figures(state))
    document: dict[str, Any] = {
        "ok": not runner.failed,
        "device": state.get("device"),
        "cache": cache,
        "stages": runner.stages,
    }
    if fleet is not None:
        document = _fleet_document(fleet_module, fleet, runner, state, document)
    sys.stdout.write(SENTINEL + json.dumps(document) + "\n")
    sys.stdout.flush()
    runner.note("done")


def _keep(state: dict[str, Any], key: str, detail: dict[str, Any]) -> dict[str, Any]:
    state[key] = detail
    return detail


def _fleet_document(
    fleet_module: Any, fleet: Any, runner: Runner, state: dict[str, Any], own: dict[str, Any]
) -> dict[str, Any]:
    """Every rank publishes its document; rank 0 returns the fleet's, the others their own."""
    launch = fleet.launch
    own["distributed"] = {
        "rank": launch.rank,
        "world_size": launch.world_size,
        "local_rank": launch.local_rank,
        "launcher": launch.launcher,
        "backend": fleet.backend,
        "host": platform.node(),
        "fingerprint": state.get("fingerprint") or {},
        "broken": fleet.broken,
    }
    collected = fleet.publish_and_collect(own)
    fleet.close()
    if launch.rank != 0:
        # What this rank knows of the fleet: its own stages and every failure agreed on.
        own["ok"] = own["ok"] and not fleet.failures and fleet.broken is None
        return own
    summary = fleet_module.aggregate(collected, launch.world_size)
    own["distributed"].update(
        summary,
        allreduce=(state.get("allreduce") or {}).get("rows", []),
        first_failed_rank=fleet.failures[0]["rank"] if fleet.failures else None,
    )
    own["ok"] = (
        all(entry["ok"] for entry in summary["ranks"])
        and not summary["fingerprint_differences"]
        and len(summary["ranks"]) == launch.world_size
    )
    return own


if __name__ == "__main__":
    main()

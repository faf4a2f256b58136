"""GPU figures beside the check: eager vs compiled MLP steps at three batch sizes, and dense
matmul throughput against the GPU's published peak. Run with an interpreter that has torch:

    python benchmarks/gpu_figures.py --out FILE.json

Every GPU time is taken with CUDA events after warm-up (never the host clock). The matmul
figures are the check's own measurement (scripts/smoke.py: TF32 off for "fp32", on for
"tf32", bf16 and TF32 only from compute capability 8.0) at 8192². Without a GPU it writes
{"gpu": null} and exits 0.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import time
from pathlib import Path
from typing import Any

# Dense (no sparsity) peaks in TFLOP/s from NVIDIA's datasheets; the datasheets print the
# tensor-core figures "with sparsity", which are twice these. H200: NVIDIA H200 Tensor Core GPU
# datasheet (FP32 67, TF32 989*, BF16/FP16 1,979* TFLOPS, *with sparsity), H200 SXM.
# H100 SXM: NVIDIA H100 Tensor Core GPU datasheet (same figures for the SXM part).
# Matched on the exact device name: the H200 NVL and H100 PCIe parts have lower peaks.
PEAK_TFLOPS = {
    "NVIDIA H200": {"fp32": 67.0, "tf32": 494.5, "bf16": 989.5, "fp16": 989.5},
    "NVIDIA H100 80GB HBM3": {"fp32": 67.0, "tf32": 494.5, "bf16": 989.5, "fp16": 989.5},
}
BATCHES = (256, 1024, 4096)
MATMUL_SIZE = 8192
SMOKE = Path(__file__).resolve().parent.parent / "src" / "ptenv" / "scripts" / "smoke.py"
STEPS = 50
WARMUP = 5


def _elapsed_ms(torch: Any, run: Any, repeat: int) -> float:
    start = torch.cuda.Event(enable_timing=True)
    end = torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(repeat):
        run()
    end.record()
    end.synchronize()
    return float(start.elapsed_time(end)) / repeat


def training(torch: Any, batch: int, compiled: bool) -> dict[str, Any]:
    """The 784-500-10 MLP with SGD: compile time (first step) and the steady step time."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(784, 500), torch.nn.ReLU(), torch.nn.Linear(500, 10)
    ).cuda()
    forward = torch.compile(model) if compiled else model
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    loss_fn = torch.nn.CrossEntropyLoss()
    x = torch.randn(batch, 784, device="cuda")
    y = torch.randint(0, 10, (batch,), device="cuda")

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss_fn(forward(x), y).backward()
        optimizer.step()

    began = time.perf_counter()
    step()
    torch.cuda.synchronize()
    first_s = time.perf_counter() - began  # includes compiling: a host-side cost
    for _ in range(WARMUP):
        step()
    step_ms = _elapsed_ms(torch, step, STEPS)
    return {"batch": batch, "compiled": compiled, "first_step_s": first_s, "step_ms": step_ms}


def matmuls(torch: Any, capability: tuple[int, int]) -> dict[str, float]:
    """The check's own matmul measurement (scripts/smoke.py), at a size nearer the peak."""
    spec = importlib.util.spec_from_file_location("ptenv_smoke", SMOKE)
    assert spec is not None and spec.loader is not None
    smoke = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(smoke)
    found: dict[str, float] = smoke._cuda_tflops(torch, capability, MATMUL_SIZE)
    return found


def peak_for(name: str) -> dict[str, float] | None:
    return PEAK_TFLOPS.get(name.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    import torch  # noqa: PLC0415 - after --help, which must work without torch

    document: dict[str, Any] = {"torch": torch.__version__, "cuda": torch.version.cuda}
    if not torch.cuda.is_available():
        document["gpu"] = None
    else:
        props = torch.cuda.get_device_properties(0)
        capability = (props.major, props.minor)
        document["gpu"] = {"name": props.name, "capability": f"{props.major}.{props.minor}"}
        document["training"] = [
            training(torch, batch, compiled) for batch in BATCHES for compiled in (False, True)
        ]
        tflops = matmuls(torch, capability)
        peak = peak_for(props.name)
        document["matmul_tflops"] = tflops
        document["matmul_size"] = MATMUL_SIZE
        document["peak_tflops"] = peak
        if peak:
            document["fraction_of_peak"] = {k: v / peak[k] for k, v in tflops.items() if k in peak}
    with open(args.out, "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=2)


if __name__ == "__main__":
    main()

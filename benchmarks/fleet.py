"""`ptenv check --nproc N --device cpu` against a bare torchrun script, whole processes, medians.

    python benchmarks/fleet.py --venv .bench/torch-venv [--nproc 2] [--runs 3]

The bare script is what a cluster admin would otherwise write: torchrun, init_process_group,
a few DDP steps and one timed all_reduce. ptenv does more (doctor, per-rank build fingerprint,
eager training, the all_reduce sweep, stage agreement); the table shows what that costs.
Prints a markdown table and the all_reduce sweep of the last ptenv run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from _timing import machine_line, markdown_table, time_process

ROOT = Path(__file__).resolve().parent.parent
BARE = textwrap.dedent(
    """
    import time, torch, torch.distributed as dist
    dist.init_process_group("gloo")
    model = torch.nn.parallel.DistributedDataParallel(
        torch.nn.Sequential(torch.nn.Linear(784, 500), torch.nn.ReLU(), torch.nn.Linear(500, 10)))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    for _ in range(50):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(torch.randn(256, 784)),
                                          torch.randint(0, 10, (256,))).backward()
        optimizer.step()
    tensor = torch.ones(1 << 22)
    dist.barrier(); began = time.perf_counter(); dist.all_reduce(tensor)
    if dist.get_rank() == 0:
        print("all_reduce 16 MiB", time.perf_counter() - began)
    dist.destroy_process_group()
    """
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--venv", default=str(ROOT / ".bench/torch-venv"))
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    ptenv = str(Path(sys.executable).parent / "ptenv")
    python = str(Path(args.venv) / "bin" / "python")
    with tempfile.TemporaryDirectory() as scratch:
        bare = Path(scratch) / "bare_ddp.py"
        bare.write_text(BARE, encoding="utf-8")
        nproc = str(args.nproc)
        check = [ptenv, "check", "--venv", args.venv, "--device", "cpu", "--nproc", nproc]
        timings = [
            time_process(
                f"ptenv check --nproc {nproc} --no-compile", [*check, "--no-compile"], args.runs
            ),
            time_process(
                f"bare torchrun DDP + all_reduce, {nproc} ranks",
                [
                    python,
                    "-m",
                    "torch.distributed.run",
                    "--standalone",
                    "--nproc-per-node",
                    nproc,
                    str(bare),
                ],
                args.runs,
            ),
        ]
        last = subprocess.run(
            [*check, "--no-compile", "--json"], capture_output=True, text=True, check=False
        )
    print(machine_line())
    print()
    print(markdown_table(timings, {}))
    print()
    rows = json.loads(last.stdout).get("allreduce", [])
    print("| bytes | time (µs) | algbw (GB/s) | busbw (GB/s) |")
    print("|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['bytes']} | {row['time_us']:.0f} | {row['algbw_gbps']:.3f} "
            f"| {row['busbw_gbps']:.3f} |"
        )


if __name__ == "__main__":
    main()

"""`ptenv check --device cpu` cold (empty compile cache) and warm, whole process, medians.

    python benchmarks/check.py --venv .bench/torch-venv [--runs 3]

Side by side: the bare smoke script run directly by the venv's python (what ptenv adds on top
is doctor's probe and the process supervision).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _timing import Timing, machine_line, markdown_table

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "src" / "ptenv" / "scripts" / "smoke.py"


def timed(argv: list[str]) -> tuple[float, dict[str, object]]:
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=900)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{argv}: exit {done.returncode}\n{done.stdout[-2000:]}")
    last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "{}"
    try:
        document = json.loads(done.stdout) if done.stdout.lstrip().startswith("{") else {}
    except json.JSONDecodeError:
        document = {"raw": last}
    return elapsed, document


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--venv", default=str(ROOT / ".bench/torch-venv"))
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    ptenv = str(Path(sys.executable).parent / "ptenv")
    python = str(Path(args.venv) / "bin" / "python")
    cold, warm, bare_cold, compile_cold = [], [], [], []
    for _ in range(args.runs):
        cache = Path(tempfile.mkdtemp(prefix="ptenv-bench-"))
        argv = [
            ptenv,
            "check",
            "--venv",
            args.venv,
            "--device",
            "cpu",
            "--json",
            "--cache-dir",
            str(cache),
        ]
        seconds, document = timed(argv)
        cold.append(seconds)
        figures = document.get("figures")
        if isinstance(figures, dict):
            compile_cold.append(float(figures.get("compile_seconds", 0.0)))
        warm.append(timed(argv)[0])
        shutil.rmtree(cache, ignore_errors=True)
        cache = Path(tempfile.mkdtemp(prefix="ptenv-bench-"))
        progress = cache / "progress"
        bare = [
            python,
            "-X",
            "utf8",
            str(SCRIPT),
            "--progress",
            str(progress),
            "--device",
            "cpu",
            "--cache-dir",
            str(cache),
        ]
        bare_cold.append(timed(bare)[0])
        shutil.rmtree(cache, ignore_errors=True)
    timings = [
        Timing("ptenv check --device cpu (cold cache)", (), tuple(cold)),
        Timing("ptenv check --device cpu (warm cache)", (), tuple(warm)),
        Timing("smoke script alone, cold cache", (), tuple(bare_cold)),
    ]
    print(f"Machine: {machine_line()}\n")
    print(markdown_table(timings, {timings[0].label: 60.0, timings[1].label: 15.0}))
    if compile_cold:
        middle = sorted(compile_cold)[len(compile_cold) // 2]
        print(f"\nfirst compiled step (cold) median: {middle:.1f} s")


if __name__ == "__main__":
    main()

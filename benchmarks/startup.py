"""Start-up of ptenv's fast commands, side by side with torch's collect_env, in one run.

    python benchmarks/startup.py [--runs 9] [--torch-python PATH] [--compare-with REV]

--torch-python: an interpreter with torch installed (for collect_env); default .bench's venv.
--compare-with REV: also time the source tree of git revision REV (a temporary worktree),
both trees as `python -m ptenv` from their src/, runs interleaved so drift hits both alike.
Prints a markdown table to paste into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _timing import Timing, machine_line, markdown_table, time_process

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--torch-python", default=str(ROOT / ".bench/torch-venv/bin/python"))
    parser.add_argument("--compare-with", metavar="REV")
    args = parser.parse_args()
    if args.compare_with:
        compare(args.compare_with, args.runs)
        return
    beside = Path(sys.executable).parent / "ptenv"
    ptenv = str(beside) if beside.exists() else (shutil.which("ptenv") or "ptenv")
    cases = [
        ("ptenv --help", [ptenv, "--help"]),
        ("ptenv doctor --json", [ptenv, "doctor", "--json"]),
        ("ptenv plan --json", [ptenv, "plan", "--json"]),
        (
            "ptenv plan --json --gpu 8.6 --driver 550.54.15",
            [ptenv, "plan", "--json", "--gpu", "8.6", "--driver", "550.54.15"],
        ),
        ("ptenv matrix --json", [ptenv, "matrix", "--json"]),
    ]
    if Path(args.torch_python).exists():
        cases.append(
            (
                "python -m torch.utils.collect_env",
                [args.torch_python, "-m", "torch.utils.collect_env"],
            )
        )
    else:
        print(f"note: {args.torch_python} missing; collect_env not timed", file=sys.stderr)
    timings = [time_process(label, argv, args.runs) for label, argv in cases]
    budgets = {"ptenv --help": 0.25, "ptenv doctor --json": 0.4, "ptenv plan --json": 0.4}
    print(f"Machine: {machine_line()}\n")
    print(markdown_table(timings, budgets))


COMPARED = (("--help",), ("doctor", "--json"), ("plan", "--json"))


def compare(revision: str, runs: int) -> None:
    """This tree against REV's, each command's runs interleaved (A B A B ...)."""
    with tempfile.TemporaryDirectory(prefix="ptenv-startup-") as scratch:
        other = Path(scratch) / "tree"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(other), revision],
            check=True,
            capture_output=True,
        )
        try:
            timings = []
            for args in COMPARED:
                label = "ptenv " + " ".join(args)
                timings += _interleaved(label, args, {"HEAD": ROOT, revision: other}, runs)
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(other)], check=False
            )
    print(f"Machine: {machine_line()}\n")
    print(markdown_table(timings, {}))


def _interleaved(
    label: str, args: tuple[str, ...], trees: dict[str, Path], runs: int
) -> list[Timing]:
    samples: dict[str, list[float]] = {name: [] for name in trees}
    for attempt in range(runs + 1):  # the first round warms the caches and is discarded
        for name, tree in trees.items():
            # Bytecode is cached as an installed ptenv's would be (CI images often forbid it).
            env = {**os.environ, "PYTHONPATH": str(tree / "src")}
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            argv = [sys.executable, "-m", "ptenv", *args]
            began = time.perf_counter()
            subprocess.run(argv, capture_output=True, env=env, check=False, timeout=120)
            if attempt:
                samples[name].append(time.perf_counter() - began)
    return [
        Timing(f"{label} ({name})", (sys.executable, "-m", "ptenv", *args), tuple(found))
        for name, found in samples.items()
    ]


if __name__ == "__main__":
    main()

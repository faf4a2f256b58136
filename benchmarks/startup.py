"""Start-up of ptenv's fast commands, side by side with torch's collect_env, in one run.

    python benchmarks/startup.py [--runs 9] [--torch-python PATH]

--torch-python: an interpreter with torch installed (for collect_env); default .bench's venv.
Prints a markdown table to paste into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from _timing import machine_line, markdown_table, time_process

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--torch-python", default=str(ROOT / ".bench/torch-venv/bin/python"))
    args = parser.parse_args()
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


if __name__ == "__main__":
    main()

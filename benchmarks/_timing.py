"""Shared timing helpers: whole processes, several runs, the median."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    label: str
    argv: tuple[str, ...]
    runs: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.runs)


def seconds_of(argv: Sequence[str], env: dict[str, str], timeout: float = 900) -> float:
    """Wall-clock seconds of one run of the whole process; SystemExit if it fails."""
    start = time.perf_counter()
    done = subprocess.run(
        list(argv), capture_output=True, text=True, env=env, check=False, timeout=timeout
    )
    if done.returncode != 0:
        raise SystemExit(f"{list(argv)}: exit {done.returncode}\n{done.stderr[-2000:]}")
    return time.perf_counter() - start


def time_process(
    label: str, argv: Sequence[str], runs: int, warmup: int = 1, env: dict[str, str] | None = None
) -> Timing:
    """Wall-clock seconds of the whole process, `runs` times after `warmup` discarded runs."""
    samples = []
    for attempt in range(warmup + runs):
        start = time.perf_counter()
        done = subprocess.run(list(argv), capture_output=True, env=env, check=False, timeout=600)
        elapsed = time.perf_counter() - start
        if done.returncode not in (0, 1):
            raise SystemExit(f"{label}: exit {done.returncode}\n{done.stderr.decode()[-2000:]}")
        if attempt >= warmup:
            samples.append(elapsed)
    return Timing(label, tuple(argv), tuple(samples))


def machine_line() -> str:
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (
        f"{platform.system()} {platform.release()}, {os.cpu_count()} logical CPUs ({cpu}), "
        f"Python {platform.python_version()}"
    )


def markdown_table(timings: Sequence[Timing], budgets: dict[str, float]) -> str:
    lines = [
        "| command | median (s) | min (s) | max (s) | runs | budget |",
        "|---|---|---|---|---|---|",
    ]
    for t in timings:
        budget = budgets.get(t.label)
        verdict = (
            "" if budget is None else (f"<= {budget} s {'met' if t.median <= budget else 'MISSED'}")
        )
        lines.append(
            f"| `{t.label}` | {t.median:.3f} | {min(t.runs):.3f} | {max(t.runs):.3f} "
            f"| {len(t.runs)} | {verdict} |"
        )
    return "\n".join(lines)

"""The parent's side of a distributed check: read rank 0's fleet document, read torchrun's
failure report when there is none, and kill ranks that torchrun left behind.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ptenv.models import AllReduceRow, FleetReport, RankResult

# torchrun's ChildFailedError block: "rank : 1 (local_rank: 1)" then "exitcode : -6 (pid: 7)".
_FAILURE = re.compile(r"rank\s*:\s*(\d+)\s*\(local_rank:\s*\d+\)\s*\n\s*exitcode\s*:\s*(-?\d+)")


def fleet_report(raw: Any) -> FleetReport | None:
    """The `distributed` part of a smoke document -> FleetReport (None for a single process)."""
    if not isinstance(raw, dict):
        return None
    ranks = tuple(
        RankResult(
            rank=int(entry.get("rank", -1)),
            host=entry.get("host"),
            ok=entry.get("ok"),
            stage=entry.get("stage"),
            message=str(entry.get("message") or ""),
            fingerprint=dict(entry.get("fingerprint") or {}),
            seconds=float(entry.get("seconds") or 0.0),
        )
        for entry in raw.get("ranks", [])
    )
    rows = tuple(
        AllReduceRow(
            bytes=int(row["bytes"]),
            iterations=int(row["iterations"]),
            time_us=float(row["time_us"]),
            algbw_gbps=float(row["algbw_gbps"]),
            busbw_gbps=float(row["busbw_gbps"]),
        )
        for row in raw.get("allreduce", [])
    )
    return FleetReport(
        world_size=int(raw.get("world_size", len(ranks))),
        rank=int(raw.get("rank", 0)),
        launcher=raw.get("launcher"),
        backend=raw.get("backend"),
        ranks=ranks,
        allreduce=rows,
        differences=dict(raw.get("fingerprint_differences") or {}),
        first_failed=raw.get("first_failed_rank"),
    )


def torchrun_failures(stderr: str) -> tuple[int | None, dict[int, int]]:
    """(root-cause rank, {rank: exit code}) from torchrun's failure report on stderr."""
    codes = {int(rank): int(code) for rank, code in _FAILURE.findall(stderr)}
    _, marker, root = stderr.partition("Root Cause")
    first = _FAILURE.search(root) if marker else None
    return (int(first.group(1)) if first else None), codes


def reap(pids: Iterable[int | None]) -> None:
    """SIGKILL the session of every rank still running our smoke script.

    torchrun starts each rank in a session of its own, so killing torchrun's process group
    (a hang past its deadline, Ctrl-C) leaves the ranks behind.
    """
    for pid in pids:
        if pid is None or not _runs_smoke_script(pid):
            continue
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)


def _runs_smoke_script(pid: int) -> bool:
    """Guards against a recycled pid: only a process running scripts/smoke.py is killed."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"smoke.py" in command and b"--progress" in command

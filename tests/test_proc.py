"""The child-process seam: the stall watch and the activity it reports (Linux /proc)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from ptenv import _proc

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def test_a_child_that_does_nothing_is_stopped_as_stalled() -> None:
    done = _proc.run([sys.executable, "-c", "import time; time.sleep(30)"], timeout=60, stall_s=2)
    assert done.stopped == _proc.STALLED and not done.ok


def test_a_child_that_keeps_writing_is_not_stalled_and_its_bytes_are_reported(
    tmp_path: Path,
) -> None:
    script = (
        "import time\n"
        f"with open({str(tmp_path)!r} + '/out', 'wb') as f:\n"
        "    for _ in range(4):\n"
        "        f.write(b'x' * 2_000_000); f.flush(); time.sleep(0.8)\n"
    )
    seen: list[int] = []
    done = _proc.run([sys.executable, "-c", script], timeout=60, stall_s=2, on_activity=seen.append)
    assert done.ok, done.stderr
    assert seen == sorted(seen) and seen[-1] >= 4_000_000  # it grew, and never went back


def test_a_background_child_runs_while_the_caller_works_and_is_read_later() -> None:
    started = _proc.Background([sys.executable, "-c", "import time; time.sleep(0.5); print('hi')"])
    time.sleep(0.6)  # the caller's own work: the child ran meanwhile
    began = time.monotonic()
    done = started.wait(timeout=10)
    assert done.ok and done.stdout == "hi\n"
    assert time.monotonic() - began < 0.3


def test_a_background_child_past_its_time_or_cancelled_is_killed_with_its_group(
    tmp_path: Path,
) -> None:
    pid_file = tmp_path / "grandchild"
    script = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(60)\n"
    )
    for end in ("timeout", "cancel"):
        pid_file.unlink(missing_ok=True)
        started = _proc.Background([sys.executable, "-c", script])
        while not pid_file.exists() or not pid_file.read_text():
            time.sleep(0.05)
        if end == "timeout":
            assert started.wait(timeout=0.2).timed_out
        else:
            started.cancel()
        grandchild = int(pid_file.read_text())
        deadline = time.monotonic() + 5
        while _alive(grandchild) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(grandchild), end


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.split(")")[-1].split()[0] != "Z"  # a zombie awaits its reaper: it is gone

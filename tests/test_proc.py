"""The child-process seam: the stall watch and the activity it reports (Linux /proc)."""

from __future__ import annotations

import sys
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

"""How far an installer step has got: bytes its processes wrote, against what it will write.

uv streams each wheel into its cache unpacked and links it into the venv, so what it writes
is, within a percent, the sum of the wheels' unpacked sizes (measured on the CPU torch
stack: 742.8 MB written, 740.8 MB unpacked). Those sizes are in each wheel's zip directory:
two range requests per wheel, read in the background while the installer runs, and only for
a live display (a terminal), never on the install's critical path.
"""

from __future__ import annotations

import struct
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from ptenv.context import Context
from ptenv.models import Transfer

_READERS = 8


class ExpectedBytes:
    """The wheels' unpacked sizes, summed by daemon threads (an interrupted install never
    waits for them); None until every wheel is read, and for good if one cannot be."""

    def __init__(self, urls: Sequence[str]) -> None:
        self._queue = list(dict.fromkeys(urls))
        self._count = len(self._queue)
        self._sizes: list[int] = []
        self._failed = False
        self._lock = threading.Lock()
        self._settled = threading.Event()
        for _ in range(min(_READERS, self._count)):
            threading.Thread(target=self._read_some, daemon=True).start()

    def total(self, wait_s: float = 0.0) -> int | None:
        if wait_s:
            self._settled.wait(wait_s)
        with self._lock:
            if self._failed or len(self._sizes) < self._count:
                return None
            return sum(self._sizes)

    def _read_some(self) -> None:
        # Imported here: the network stack only for a live display (the no-op never pays).
        from ptenv import _http  # noqa: PLC0415
        from ptenv.releases import wheelfile  # noqa: PLC0415

        while True:
            with self._lock:
                if self._failed or not self._queue:
                    return
                url = self._queue.pop()
            try:
                size = wheelfile.open_wheel(url).unpacked
            except (_http.HttpError, wheelfile.WheelUnreadable, OSError, ValueError, struct.error):
                with self._lock:
                    self._failed = True  # a server without ranges: no total, no guess
                self._settled.set()
                return
            with self._lock:
                self._sizes.append(size)
                if len(self._sizes) == self._count:
                    self._settled.set()


@dataclass
class Meter:
    """Hears the stall watch's reading (about once a second) and tells the context."""

    what: str
    context: Context
    expected: ExpectedBytes | None = None
    began: float = field(default_factory=time.monotonic)
    written: int = 0

    def __call__(self, written: int) -> None:
        self.written = written
        self.context.transfer(self._now())

    def finish(self) -> None:
        """The last figures (a short wait for a total still being read: small installs)."""
        self.context.transfer(replace(self._now(wait_s=0.5), done=True))

    def _now(self, wait_s: float = 0.0) -> Transfer:
        total = self.expected.total(wait_s) if self.expected is not None else None
        return Transfer(
            what=self.what,
            written=self.written,
            expected=total,
            seconds=time.monotonic() - self.began,
        )

"""The one place ptenv starts child processes.

Argv lists only, an explicit timeout, stdin closed, and each child in its own process group
so that a hung driver call (or a compile worker it spawned) can be killed as a whole.
"""

from __future__ import annotations

import ctypes
import functools
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

# Variables that would make a child interpreter or installer act on another environment.
_LEAKY_VARIABLES = (
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONSTARTUP",
    "PYTHONUSERBASE",
    "PIP_TARGET",
    "PIP_PREFIX",
    "PIP_USER",
    "PIP_REQUIRE_VIRTUALENV",
    "__PYVENV_LAUNCHER__",
)


STALLED = "stalled"  # Completed.stopped when nothing happened for stall_s seconds


@dataclass(frozen=True, kw_only=True)
class Completed:
    argv: tuple[str, ...]
    returncode: int | None  # None when it timed out; negative: killed by that signal
    stdout: str
    stderr: str
    timed_out: bool = False
    stopped: str | None = None  # why `should_stop` ended it early

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The user's environment minus what would redirect a child to another Python."""
    env = {k: v for k, v in os.environ.items() if k not in _LEAKY_VARIABLES}
    if extra:
        env.update(extra)
    return env


def run(
    argv: Sequence[str],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    should_stop: Callable[[], str | None] | None = None,
    on_stop: Callable[[], None] | None = None,
    poll_s: float = 0.25,
    stall_s: float | None = None,
    on_activity: Callable[[int], None] | None = None,
) -> Completed:
    """Run argv to completion or until timeout; never raise for the child's own failure.

    `should_stop` is polled while the child runs; a non-empty answer kills the child's whole
    process group and is returned as `stopped` (a per-stage deadline, say). `on_stop` runs
    after such a kill (and on Ctrl-C), for descendants that left the group.
    `stall_s`: end it (stopped=STALLED) when for that long its process group read, wrote and
    printed nothing (bytes from /proc/PID/io on Linux, its output elsewhere).
    Output goes to temporary files, not pipes: we wait for the child itself, so a descendant
    that outlives it holding the inherited descriptors cannot keep us waiting.
    Raises FileNotFoundError / PermissionError when the program cannot be started at all.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = _popen(argv, out, err, env, cwd)
        deadline = time.monotonic() + timeout
        watch = (
            _StallWatch(process.pid, (out, err), stall_s, on_activity)
            if stall_s is not None
            else None
        )
        try:
            while True:
                remaining = deadline - time.monotonic()
                polled = should_stop is not None or watch is not None
                step = min(poll_s, remaining) if polled else remaining
                try:
                    _wait(process, max(step, 0.0))
                    break
                except subprocess.TimeoutExpired:
                    reason = should_stop() if should_stop is not None else None
                    if reason is None and watch is not None and watch.stalled():
                        reason = STALLED
                    if reason or time.monotonic() >= deadline:
                        _stop(process, on_stop)
                        return Completed(
                            argv=tuple(argv),
                            returncode=None,
                            stdout=_read(out),
                            stderr=_read(err),
                            timed_out=True,
                            stopped=reason,
                        )
        except BaseException:
            _stop(process, on_stop)  # Ctrl-C: take the child's whole group down with us
            raise
        return Completed(
            argv=tuple(argv), returncode=process.returncode, stdout=_read(out), stderr=_read(err)
        )


def _popen(
    argv: Sequence[str],
    out: IO[bytes],
    err: IO[bytes],
    env: Mapping[str, str] | None,
    cwd: str | None,
) -> subprocess.Popen[bytes]:
    """The child in its own process group, stdin closed, dying with ptenv on Linux."""
    popen_kwargs: dict[str, object] = {}
    if sys.platform != "win32":
        popen_kwargs["start_new_session"] = True
    if sys.platform.startswith("linux"):
        popen_kwargs["preexec_fn"] = functools.partial(_die_with_parent, _libc())
    process: subprocess.Popen[bytes] = subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=out,
        stderr=err,
        env=dict(env) if env is not None else None,
        cwd=cwd,
        **popen_kwargs,  # type: ignore[call-overload]
    )
    return process


class Background:
    """A child started now and collected later, so that its run overlaps ptenv's own work
    (the venv's probe runs while ptenv loads). Raises as run() does when it cannot start."""

    def __init__(self, argv: Sequence[str], *, env: Mapping[str, str] | None = None) -> None:
        self._argv = tuple(argv)
        # closed by wait() or cancel(): the child outlives this call
        self._out = tempfile.TemporaryFile()  # noqa: SIM115
        self._err = tempfile.TemporaryFile()  # noqa: SIM115
        try:
            self._process = _popen(argv, self._out, self._err, env, None)
        except BaseException:
            self._close()
            raise

    def wait(self, timeout: float) -> Completed:
        """Its result once it ends; killed (timed_out) when it runs past `timeout`."""
        try:
            try:
                _wait(self._process, timeout)
            except subprocess.TimeoutExpired:
                _stop(self._process, None)
                return Completed(
                    argv=self._argv,
                    returncode=None,
                    stdout=_read(self._out),
                    stderr=_read(self._err),
                    timed_out=True,
                )
            except BaseException:
                _stop(self._process, None)
                raise
            return Completed(
                argv=self._argv,
                returncode=self._process.returncode,
                stdout=_read(self._out),
                stderr=_read(self._err),
            )
        finally:
            self._close()

    def cancel(self) -> None:
        """Kill it (when its answer is no longer wanted)."""
        if self._process.poll() is None:
            _stop(self._process, None)
        self._close()

    def _close(self) -> None:
        self._out.close()
        self._err.close()


def _wait(process: subprocess.Popen[bytes], seconds: float) -> None:
    """process.wait(timeout=seconds), woken the moment the child ends where a pidfd exists:
    Popen's own timed wait sleeps in steps of up to 50 ms, a fifth of a quick child's run."""
    pidfd_open = getattr(os, "pidfd_open", None)
    if pidfd_open is not None and process.poll() is None:
        try:
            descriptor = pidfd_open(process.pid)
        except OSError:  # an old kernel, or a sandbox without the call
            pass
        else:
            try:
                select.select([descriptor], [], [], seconds)
            finally:
                os.close(descriptor)
            if process.poll() is None:
                raise subprocess.TimeoutExpired(process.args, seconds)
            return
    process.wait(timeout=seconds)


class _StallWatch:
    """Has the child's process group done anything (I/O or output) in the last `seconds`?"""

    def __init__(
        self,
        pgid: int,
        outputs: tuple[IO[bytes], ...],
        seconds: float,
        on_activity: Callable[[int], None] | None = None,
    ) -> None:
        self._pgid = pgid
        self._outputs = outputs
        self._seconds = seconds
        self._on_activity = on_activity
        self._written = 0
        self._last = -1
        self._since = self._checked = time.monotonic()

    def stalled(self) -> bool:
        now = time.monotonic()
        if now - self._checked < 1.0:  # a /proc walk per second is plenty
            return False
        self._checked = now
        read, written = _group_io(self._pgid)
        # Processes of the group come and go: count what the group has written so far as
        # the most it ever reported (a finished child's bytes do not vanish from progress).
        self._written = max(self._written, written)
        if self._on_activity is not None:
            self._on_activity(self._written)
        activity = read + written + sum(os.fstat(o.fileno()).st_size for o in self._outputs)
        if activity != self._last:
            self._last, self._since = activity, now
            return False
        return now - self._since >= self._seconds


def _group_io(pgid: int) -> tuple[int, int]:
    """Bytes (read, written) so far by the live processes of one group (0 without /proc)."""
    totals = {"rchar": 0, "wchar": 0}
    try:
        entries = list(Path("/proc").iterdir())
    except OSError:
        return 0, 0
    for entry in entries:
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text("ascii", "replace").rpartition(")")[2].split()
            if int(fields[2]) != pgid:  # after the command name: state, ppid, pgrp
                continue
            for line in (entry / "io").read_text("ascii").splitlines():
                key, _, value = line.partition(":")
                if key in totals:
                    totals[key] += int(value)
        except (OSError, ValueError, IndexError):
            continue
    return totals["rchar"], totals["wchar"]


_PR_SET_PDEATHSIG = 1  # linux/prctl.h


@functools.cache
def _libc() -> ctypes.CDLL:
    """libc, loaded in the parent: dlopen in a freshly forked child could deadlock."""
    return ctypes.CDLL(None, use_errno=True)


def _die_with_parent(libc: ctypes.CDLL) -> None:
    """In the child, before exec: SIGKILL it when ptenv dies, even by SIGKILL (Linux only)."""
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _stop(process: subprocess.Popen[bytes], on_stop: Callable[[], None] | None) -> None:
    _kill_group(process)
    if on_stop is not None:
        on_stop()
    process.wait()


def _read(handle: IO[bytes]) -> str:
    handle.seek(0)
    return handle.read().decode("utf-8", errors="replace")


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    if sys.platform == "win32":
        process.kill()
        return
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        process.kill()

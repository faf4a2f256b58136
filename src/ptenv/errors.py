"""Errors a user can cause, each with a stable code, an exit status and a hint.

The core raises these; only the CLI turns them into exit statuses and messages.
"""

from __future__ import annotations

import signal
from enum import IntEnum


class ExitCode(IntEnum):
    """Every exit status ptenv uses, in one place (documented in docs/reference/exit-codes.md)."""

    OK = 0
    FINDINGS = 1  # doctor: at least one error finding (with --strict, warnings too)
    USAGE = 2  # bad flag value, missing venv, malformed version
    NO_COMPATIBLE_BUILD = 3  # no torch build fits the request and machine
    INSTALL_FAILED = 4  # network, index, disk or installer failure
    CHECK_FAILED = 5  # a smoke-test stage failed
    NO_GPU = 6  # --require-gpu and no usable GPU
    UNREADABLE = 7  # data: a wheel or an index page could not be read
    INTERNAL = 70  # a bug in ptenv (EX_SOFTWARE); the message asks for a report
    INTERRUPTED = 130  # Ctrl-C


class PtenvError(Exception):
    """Base of every error that ends a command with a clear sentence and a hint."""

    code = "ptenv-error"
    exit_code = ExitCode.USAGE

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(PtenvError):
    """The user asked for something malformed or impossible to interpret."""

    code = "usage"
    exit_code = ExitCode.USAGE


class NoCompatibleBuild(PtenvError):
    """No torch build satisfies the request on the target machine."""

    code = "no-compatible-build"
    exit_code = ExitCode.NO_COMPATIBLE_BUILD


class InstallFailed(PtenvError):
    """The installer, the index, the network or the disk failed us."""

    code = "install-failed"
    exit_code = ExitCode.INSTALL_FAILED


class SourceUnreadable(PtenvError):
    """A wheel or index page that `ptenv data` reads could not be read."""

    code = "unreadable"
    exit_code = ExitCode.UNREADABLE


class Stopped(BaseException):
    """SIGTERM or SIGHUP arrived: unwind like Ctrl-C (children killed, staging removed)."""

    def __init__(self, number: int) -> None:
        super().__init__(number)
        self.number = number
        self.name = signal.Signals(number).name


def _raise_stopped(number: int, _frame: object) -> None:
    raise Stopped(number)


def stop_on_signals() -> None:
    """CI cancels, `timeout` and Slurm send SIGTERM; a closed terminal sends SIGHUP."""
    for name in ("SIGTERM", "SIGHUP"):
        number = getattr(signal, name, None)
        if number is not None:
            signal.signal(number, _raise_stopped)

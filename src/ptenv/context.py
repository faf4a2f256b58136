"""What a command takes from the world besides its arguments: environment, folder, the
NVIDIA library, and the two ways it talks back while it works (progress, a yes/no question).

One frozen value handed down, so workflows never read os.environ or the terminal themselves
and tests pass their own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ptenv.models import Transfer
from ptenv.probe.nvidia import Nvml, load_nvml


def _silent(_message: str) -> None:
    """Progress nobody watches."""


def _unwatched(_transfer: Transfer) -> None:
    """A transfer nobody watches."""


def _decline(_question: str) -> bool:
    """No one to ask: the answer is no."""
    return False


@dataclass(frozen=True, kw_only=True)
class Context:
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path = field(default_factory=Path.cwd)
    nvml_loader: Callable[[], Nvml | None] = load_nvml
    progress: Callable[[str], None] = _silent
    transfer: Callable[[Transfer], None] = _unwatched
    # Worth a few range reads of each wheel's zip directory to know the total: a live bar.
    wants_totals: bool = False
    confirm: Callable[[str], bool] = _decline
    verbose: bool = False  # progress also shows each installer command

    @property
    def echo(self) -> Callable[[str], None] | None:
        """Where commands are shown, if anywhere."""
        return self.progress if self.verbose else None

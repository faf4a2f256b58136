"""The installer backends (uv, pip) behind one small protocol: argv lists, nothing else.

ptenv drives the venv from outside: `uv pip install --python <venv python>` and
`<venv python> -m pip`. Both ignore the user's own configuration (uv --no-config, pip
--isolated) unless --use-pip-config asked for it, so only the planned source is used.
"""

from __future__ import annotations

import os
import shlex
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ptenv import _proc
from ptenv.errors import InstallFailed, UsageError
from ptenv.install.sources import Source

INSTALL_TIMEOUT_S = 3600.0  # CUDA builds are ~3 GB; slow links take long
VENV_TIMEOUT_S = 300.0
# Variables that would point an installer at sources other than the planned one.
INSTALLER_VARIABLES = (
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_FIND_LINKS",
    "PIP_NO_INDEX",
    "PIP_CONSTRAINT",
    "PIP_REQUIRE_HASHES",
    "UV_INDEX_URL",
    "UV_INDEX",
    "UV_DEFAULT_INDEX",
    "UV_EXTRA_INDEX_URL",
    "UV_FIND_LINKS",
    "UV_NO_INDEX",
    "UV_CONSTRAINT",
    "UV_PYTHON",
    "VIRTUAL_ENV",
    "CONDA_PREFIX",
)


class Installer(Protocol):
    @property
    def name(self) -> str: ...

    def venv_argv(self, path: Path, python: str) -> list[str]: ...

    def install_argv(
        self,
        venv_python: Path,
        requirements: Path,
        source: Source,
        *,
        locked: bool,
        use_config: bool,
    ) -> list[str]: ...

    def environment(self, use_config: bool) -> dict[str, str]: ...


def _source_flags(source: Source) -> list[str]:
    flags: list[str] = []
    if source.index_url is not None:
        flags += ["--index-url", source.index_url]
    elif source.offline:
        flags.append("--no-index")  # a wheelhouse: nothing but the find-links
    # Otherwise without an index the installer's default one stays on, as pip's does: torch
    # itself is pinned with its local tag (+cu126), which no default index carries, so only
    # its dependencies can come from there (a flat-listing mirror holds torch wheels only).
    for url in source.extra_index_urls:
        flags += ["--extra-index-url", url]
    for link in source.find_links:
        flags += ["--find-links", link]
    return flags


@dataclass(frozen=True)
class UvInstaller:
    uv: str
    name: str = "uv"

    def venv_argv(self, path: Path, python: str) -> list[str]:
        return [self.uv, "venv", "--no-project", "--no-config", "--python", python, str(path)]

    def install_argv(
        self,
        venv_python: Path,
        requirements: Path,
        source: Source,
        *,
        locked: bool,
        use_config: bool,
    ) -> list[str]:
        argv = [self.uv, "pip", "install", "--python", str(venv_python)]
        if not use_config:
            argv.append("--no-config")
        argv += _source_flags(source)
        if locked:
            argv += ["--require-hashes", "--no-deps"]
        return [*argv, "-r", str(requirements)]

    def environment(self, use_config: bool) -> dict[str, str]:
        return {}  # --no-config, and the UV_* source variables are dropped for every run


@dataclass(frozen=True)
class PipInstaller:
    name: str = "pip"

    def venv_argv(self, path: Path, python: str) -> list[str]:
        return [python, "-m", "venv", str(path)]

    def install_argv(
        self,
        venv_python: Path,
        requirements: Path,
        source: Source,
        *,
        locked: bool,
        use_config: bool,
    ) -> list[str]:
        argv = [
            str(venv_python),
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--no-input",
        ]
        if not use_config:
            argv.append("--isolated")
        argv += _source_flags(source)
        if locked:
            argv += ["--require-hashes", "--no-deps"]
        return [*argv, "-r", str(requirements)]

    def environment(self, use_config: bool) -> dict[str, str]:
        # --isolated skips only the user's config; os.devnull as the config file makes pip
        # load none at all (site-wide files and constraints included).
        return {} if use_config else {"PIP_CONFIG_FILE": os.devnull}


def find_uv() -> str | None:
    try:
        from uv import find_uv_bin  # noqa: PLC0415 - the uv package ptenv depends on

        return str(find_uv_bin())
    except (ImportError, FileNotFoundError):
        return shutil.which("uv")


def choose(name: str) -> Installer:
    """auto (uv when present, else pip), uv or pip."""
    if name not in ("auto", "uv", "pip"):
        raise UsageError(
            f"--installer {name!r} is not one of auto, uv, pip.",
            hint="Use --installer uv or --installer pip.",
        )
    if name in ("auto", "uv"):
        uv = find_uv()
        if uv is not None:
            return UvInstaller(uv)
        if name == "uv":
            raise UsageError(
                "--installer uv: uv is not installed.",
                hint="pip install uv, or use --installer pip.",
            )
    return PipInstaller()


def run_installer(
    argv: list[str],
    what: str,
    extra_env: dict[str, str] | None = None,
    echo: Callable[[str], None] | None = None,
) -> _proc.Completed:
    """Run one installer step; InstallFailed with its last stderr lines when it fails."""
    if echo is not None:
        echo("$ " + shlex.join(argv))
    env = {k: v for k, v in _proc.clean_env().items() if k not in INSTALLER_VARIABLES}
    env.update(extra_env or {})
    try:
        done = _proc.run(
            argv, timeout=INSTALL_TIMEOUT_S if "install" in argv else VENV_TIMEOUT_S, env=env
        )
    except OSError as error:
        raise InstallFailed(
            f"Cannot start {argv[0]}: {error.strerror}.",
            hint="Check that the installer is installed.",
        ) from None
    if not done.ok:
        reason = "timed out" if done.timed_out else f"failed (exit {done.returncode})"
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-8:])
        raise InstallFailed(
            f"{what} {reason}:\n{tail}",
            hint="The previous environment is unchanged; fix the cause and "
            "run ptenv install again.",
        )
    return done

"""A real venv holding the real CPU torch wheel, for end-to-end tests.

The wheel comes from pip's configured find-links (`pip download torch==VERSION --no-deps
--no-index`), never from an index: a bare download could pull a multi-GB CUDA build. Tests
that need it skip with the reason when no such wheel can be had for this interpreter.
Set PTENV_TEST_TORCH_VENV to reuse a venv that already has torch (saves ~25 s locally).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

TORCH_VERSION = "2.13.0"


class NoTorchWheel(Exception):
    pass


def local_torch_wheel(cache: Path) -> Path:
    cache.mkdir(parents=True, exist_ok=True)
    found = sorted(cache.glob(f"torch-{TORCH_VERSION}*.whl"))
    if found:
        return found[0]
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            f"torch=={TORCH_VERSION}",
            "--no-deps",
            "--no-index",
            "--only-binary",
            ":all:",
            "-d",
            str(cache),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    found = sorted(cache.glob(f"torch-{TORCH_VERSION}*.whl"))
    if done.returncode != 0 or not found:
        raise NoTorchWheel(
            f"no local torch {TORCH_VERSION} wheel for Python "
            f"{sys.version_info[0]}.{sys.version_info[1]} in pip's find-links "
            f"({done.stderr.strip().splitlines()[-1:]})"
        )
    return found[0]


def build_torch_venv(folder: Path, wheel_cache: Path) -> Path:
    reuse = os.environ.get("PTENV_TEST_TORCH_VENV")
    if reuse:
        return Path(reuse)
    wheel = local_torch_wheel(wheel_cache)
    venv.EnvBuilder(with_pip=True).create(folder)
    subprocess.run(
        [str(folder / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return folder


def real_wheelhouse(cache: Path) -> Path:
    """The CPU torch wheel and every wheel it depends on, for a loopback index.

    torch comes from pip's find-links only (see local_torch_wheel); its dependencies are
    small pure-Python wheels that pip fetches from its configured indexes.
    """
    wheel = local_torch_wheel(cache / "torch")
    deps = cache / "deps"
    deps.mkdir(parents=True, exist_ok=True)
    if not any(deps.glob("*.whl")):
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                str(wheel),
                "--only-binary",
                ":all:",
                "-d",
                str(deps),
            ],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if done.returncode != 0:
            raise NoTorchWheel("cannot fetch torch's dependencies: " + done.stderr.strip()[-300:])
    for extra in deps.glob("torch-*.whl"):
        extra.unlink()  # the copy pip made of the torch wheel itself
    return wheel


def fill_index_folder(folder: Path, cache: Path) -> None:
    """The real CPU torch wheel and its dependencies (real_wheelhouse) in one index folder."""
    wheel = real_wheelhouse(cache)
    folder.mkdir(parents=True, exist_ok=True)
    for found in (wheel, *(cache / "deps").glob("*.whl")):
        shutil.copy(found, folder)

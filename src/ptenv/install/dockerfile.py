"""A Dockerfile for the target the plan flags describe, built on a plain Python image: the
torch wheels bring their CUDA libraries, so no CUDA base image is needed, only a driver on the
host. The build replays the exported lock (hash-checked) with ptenv and proves the build with
`ptenv check` on the build machine's CPU; `docker run --gpus all IMAGE ptenv check` proves
it on the GPU."""

from __future__ import annotations

from pathlib import Path

from ptenv.errors import UsageError
from ptenv.models import Plan, VariantKind

MARKER = "# Written by ptenv export dockerfile"
DOCKER_PLATFORMS = {"linux-x86_64": "linux/amd64", "linux-aarch64": "linux/arm64"}
VENV = "/opt/venv"
LOCK_NAME = "pylock.venv.toml"  # the lock of a venv named `venv`: /opt/venv replays it


def base_image(plan: Plan) -> str:
    """python:3.12-slim-bookworm for a 3.12 plan (free-threaded builds have no such image)."""
    if plan.python.endswith("t"):
        raise UsageError(
            f"There is no official python image for free-threaded Python {plan.python}.",
            hint="Give --base an image that has it, or plan for --python "
            f"{plan.python.rstrip('t')}.",
        )
    return f"python:{plan.python}-slim-bookworm"


def render(plan: Plan, wheel_name: str, base: str | None = None) -> str:
    platform = DOCKER_PLATFORMS.get(plan.platform)
    if platform is None:
        raise UsageError(
            f"ptenv writes Dockerfiles for Linux images, not for {plan.platform}.",
            hint="Plan for --os linux --arch x86_64 (or aarch64).",
        )
    image = base or base_image(plan)
    pins = " ".join(map(str, plan.packages))
    cuda = plan.variant.kind is VariantKind.CUDA
    about = (
        ["# The wheels bring their CUDA libraries: a plain Python base, and on the host only the",
         "# NVIDIA driver and the NVIDIA Container Toolkit."]
        if cuda
        else []
    )  # fmt: skip
    run = "docker run --rm --gpus all torch-app" if cuda else "docker run --rm torch-app"
    return "\n".join(
        [
            f"{MARKER}: {pins}",
            f"# for Python {plan.python} on {plan.platform}.",
            *about,
            f"# Build: docker build --platform {platform} -t torch-app .",
            f"# Prove: {run} ptenv check",
            f"FROM {image}",
            "",
            "# torch.compile (Inductor, Triton) compiles small C/C++ files at run time",
            "# hadolint ignore=DL3008",
            "RUN apt-get update \\",
            " && apt-get install -y --no-install-recommends gcc g++ libc6-dev \\",
            " && rm -rf /var/lib/apt/lists/*",
            "",
            "ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 UV_NO_CACHE=1",
            f"COPY {wheel_name} {LOCK_NAME} /opt/ptenv/",
            "# ptenv replays the lock: every wheel hash-checked, nothing resolved again",
            f"RUN python -m pip install --no-cache-dir /opt/ptenv/{wheel_name} \\",
            f" && ptenv install --venv {VENV} --lock /opt/ptenv/{LOCK_NAME} --no-check --yes",
            f"ENV VIRTUAL_ENV={VENV} PATH={VENV}/bin:$PATH",
            "",
            "# the build machine lends no GPU: prove the build on its CPU, eager and compiled",
            f"RUN ptenv check --venv {VENV} --device cpu",
            'CMD ["python"]',
            "",
        ]
    )


def dockerignore(wheel_name: str) -> str:
    """Only the two files the Dockerfile copies go into the build context."""
    return f"# Written by ptenv export dockerfile\n*\n!{wheel_name}\n!{LOCK_NAME}\n"


def refuse_foreign(folder: Path) -> None:
    """UsageError when folder holds a Dockerfile that ptenv did not write (it is the user's)."""
    existing = folder / "Dockerfile"
    if not existing.is_file():
        return
    try:
        first = existing.read_text(encoding="utf-8", errors="replace").split("\n", 1)[0]
    except OSError:
        first = ""
    if not first.startswith(MARKER):
        raise UsageError(
            f"{existing} exists and was not written by ptenv; it is left as it is.",
            hint="Give --out another folder (ptenv writes Dockerfile, .dockerignore, the lock "
            "and its own wheel there).",
        )

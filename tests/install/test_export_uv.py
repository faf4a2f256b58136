"""`ptenv export uv`: the plan written into a uv project, then the real `uv lock` against a
loopback index gets the planned build; a second run changes nothing; --check finds drift."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ptenv.cli import app
from ptenv.install import uvproject
from ptenv.install.sources import Source, SourceKind
from ptenv.models import Pin, Plan, Variant
from tests.index_server import Index, serve

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

runner = CliRunner()
PY = f"cp{sys.version_info[0]}{sys.version_info[1]}"
TAG = f"{PY}-{PY}-manylinux_2_28_x86_64"
MINOR = f"{sys.version_info[0]}.{sys.version_info[1]}"
PROJECT = f"""# the team's project
[project]
name = "demo"
version = "0.1.0"
requires-python = "=={MINOR}.*"
dependencies = [
    "torch>=2.0",  # any torch, said the first draft
]

[tool.ruff]
line-length = 100  # ours
"""


@pytest.fixture
def index(tmp_path: Path) -> Iterator[Index]:
    with serve(tmp_path / "served") as served:
        served.add("cpu", f"torch-2.15.0+cpu-{TAG}.whl")
        served.add("cpu", f"torch-2.14.1+cpu-{TAG}.whl")
        yield served


def _export(index: Index, project: Path, *more: str) -> tuple[int, str]:
    done = runner.invoke(
        app,
        ["export", "uv", "--project", str(project), "--index-base", index.url, "--cuda", "cpu",
         "--platforms", "linux-x86_64", *more],
    )  # fmt: skip
    return done.exit_code, done.stdout + done.stderr


def _uv_lock(project: Path, index: Index, tmp_path: Path) -> dict[str, object]:
    """The real uv, kept on 127.0.0.1: its default index is the loopback server's root."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "PIP_"))}
    env |= {
        "UV_CACHE_DIR": str(tmp_path / "uv-cache"),
        "UV_DEFAULT_INDEX": index.url.rsplit("/", 1)[0] + "/nothing",
        "XDG_CONFIG_HOME": str(tmp_path / "no-config"),
        "UV_PYTHON": sys.executable,
    }
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or "uv"
    done = subprocess.run(
        [uv, "lock", "--directory", str(project)],
        capture_output=True, text=True, env=env, check=False, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    document: dict[str, object] = tomllib.loads((project / "uv.lock").read_text())
    return document


def test_uv_lock_gets_the_planned_build_from_the_exported_project(
    index: Index, tmp_path: Path
) -> None:
    project = tmp_path / "demo"
    project.mkdir()
    (project / "pyproject.toml").write_text(PROJECT)
    code, said = _export(index, project, "--torch", "2.15.0")
    assert code == 0, said
    text = (project / "pyproject.toml").read_text()
    assert "# the team's project" in text and "line-length = 100  # ours" in text
    assert '"torch==2.15.0"' in text and "torch>=2.0" not in text
    locked = _uv_lock(project, index, tmp_path)
    packages = locked["package"]
    assert isinstance(packages, list)
    (torch,) = [p for p in packages if p["name"] == "torch"]
    assert torch["version"] == "2.15.0+cpu"
    assert torch["source"] == {"registry": f"{index.url}/cpu"}

    code, said = _export(index, project, "--torch", "2.15.0")
    assert code == 0 and "nothing changed" in said
    assert (project / "pyproject.toml").read_text() == text

    code, said = _export(index, project, "--torch", "2.15.0", "--check")
    assert code == 0, said
    code, said = _export(index, project, "--torch", "2.14.1", "--check")
    assert code == 1 and "torch==2.14.1" in said and "uv lock" in said
    assert (project / "pyproject.toml").read_text() == text  # --check writes nothing


def test_a_folder_without_a_project_is_refused_with_a_hint(index: Index, tmp_path: Path) -> None:
    code, said = _export(index, tmp_path)
    assert code == 2 and "uv init" in said
    (tmp_path / "pyproject.toml").write_text("[project\nname = 'x'\n")
    code, said = _export(index, tmp_path)
    assert code == 2 and "not valid TOML" in said
    (tmp_path / "pyproject.toml").write_text("[tool.black]\n")
    code, said = _export(index, tmp_path)
    assert code == 2 and "[project]" in said


def _plan(variant: str, platform: str = "linux-x86_64") -> Plan:
    pins = (Pin.parse(f"torch==2.15.0+{variant}"), Pin.parse(f"torchvision==0.30.0+{variant}"))
    return Plan(
        torch="2.15.0", variant=Variant.parse(variant), index_url=f"https://h/{variant}",
        packages=pins, python="3.12", platform=platform, reasons=(), warnings=(),
    )  # fmt: skip


def test_cuda_on_linux_beside_pypi_on_macos_routes_only_linux_to_the_variant_index() -> None:
    source = Source(kind=SourceKind.INDEX, label="official index", index_url="https://h/cu128")
    config = uvproject.config_for(_plan("cu128"), source, ["linux-x86_64", "macos-arm64"])
    text = uvproject.apply(PROJECT, config)
    document = tomllib.loads(text)
    uv = document["tool"]["uv"]
    assert uv["index"] == [{"name": "pytorch-cu128", "url": "https://h/cu128", "explicit": True}]
    linux = "sys_platform == 'linux' and platform_machine == 'x86_64'"
    assert uv["sources"]["torch"] == [{"index": "pytorch-cu128", "marker": linux}]
    assert uv["environments"] == [linux, "sys_platform == 'darwin' and platform_machine == 'arm64'"]
    assert uvproject.drift(text, config) == []
    assert uvproject.apply(text, config) == text
    # the next driver needs cu126: the cu128 index is replaced, not kept beside it
    older = Source(kind=SourceKind.INDEX, label="official index", index_url="https://h/cu126")
    config126 = uvproject.config_for(_plan("cu126"), older)
    assert "index pytorch-cu126 (https://h/cu126) is missing" in uvproject.drift(text, config126)
    moved = tomllib.loads(uvproject.apply(text, config126))["tool"]["uv"]
    assert [i["name"] for i in moved["index"]] == ["pytorch-cu126"]


def test_a_flat_mirror_becomes_a_flat_index_and_pypi_builds_need_no_index() -> None:
    flat = Source(kind=SourceKind.MIRROR, label="mirror aliyun", index_url=None,
                  find_links=("https://m/pytorch-wheels/cu128/",))  # fmt: skip
    config = uvproject.config_for(_plan("cu128"), flat)
    index = tomllib.loads(uvproject.apply(PROJECT, config))["tool"]["uv"]["index"]
    assert index[0]["format"] == "flat" and index[0]["url"] == "https://m/pytorch-wheels/cu128/"
    pypi = Source(kind=SourceKind.PYPI, label="PyPI", index_url=None)
    plain = tomllib.loads(uvproject.apply(PROJECT, uvproject.config_for(_plan("cu128"), pypi)))
    assert "index" not in plain.get("tool", {}).get("uv", {})
    assert plain["project"]["dependencies"] == ["torch==2.15.0", "torchvision==0.30.0"]


def test_the_dockerfile_context_holds_what_it_copies_and_passes_hadolint(
    index: Index, tmp_path: Path
) -> None:
    out = tmp_path / "image"
    done = runner.invoke(
        app, ["export", "dockerfile", "--out", str(out), "--index-base", index.url, "--cuda",
              "cpu", "--torch", "2.15.0"],
    )  # fmt: skip
    assert done.exit_code == 0, done.stderr
    dockerfile = (out / "Dockerfile").read_text()
    assert f"FROM python:{MINOR}-slim-bookworm" in dockerfile
    copied = next(line for line in dockerfile.splitlines() if line.startswith("COPY "))
    names = copied.split()[1:-1]
    ignored = (out / ".dockerignore").read_text().splitlines()
    for name in names:  # each copied file is there, and the .dockerignore lets it in
        assert (out / name).is_file() and f"!{name}" in ignored
    assert "--lock /opt/ptenv/pylock.venv.toml" in dockerfile and "ptenv check" in dockerfile
    locked = tomllib.loads((out / "pylock.venv.toml").read_text())
    assert [p["version"] for p in locked["packages"] if p["name"] == "torch"] == ["2.15.0+cpu"]
    hadolint = shutil.which("hadolint")
    if hadolint is not None:
        linted = subprocess.run([hadolint, str(out / "Dockerfile")], capture_output=True,
                                text=True, check=False)  # fmt: skip
        assert linted.returncode == 0, linted.stdout
    # a Dockerfile of the user's own is never overwritten
    (out / "Dockerfile").write_text("FROM scratch\n")
    again = runner.invoke(
        app, ["export", "dockerfile", "--out", str(out), "--index-base", index.url, "--cuda", "cpu"]
    )
    assert again.exit_code == 2 and "not written by ptenv" in again.stderr
    assert (out / "Dockerfile").read_text() == "FROM scratch\n"


def test_ptenvs_own_wheel_installs_and_runs(tmp_path: Path) -> None:
    """The packed wheel, installed with pip into a venv that sees this Python's packages."""
    from ptenv.install import selfwheel

    wheel = selfwheel.build(tmp_path)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_") and k != "PYTHONPATH"}
    env["PIP_CONFIG_FILE"] = os.devnull
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True, env=env,
    )  # fmt: skip
    shown = subprocess.run(
        [str(venv / "bin" / "ptenv"), "--version"], capture_output=True, text=True, env=env,
        check=False, cwd=tmp_path,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    where = subprocess.run(
        [str(python), "-c", "import ptenv; print(ptenv.__file__)"], capture_output=True,
        text=True, check=True, cwd=tmp_path, env=env,
    )  # fmt: skip
    assert where.stdout.startswith(str(venv)), where.stdout
    assert selfwheel.build(tmp_path).read_bytes() == wheel.read_bytes()  # reproducible

"""The CI templates work as written: the composite GitHub Action's steps (action.yml) and the
GitLab template's script (ci/gitlab-ptenv.yml) run here, in order, with a throwaway HOME:
bootstrap, doctor, install of the real CPU wheel, check with JUnit.

This machine reaches packages only through pip's configuration, hence --use-pip-config as the
templates' install-args (an input both templates have for mirrors and the like).
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).parent.parent

pytestmark = pytest.mark.slow


def _stock_env(home: Path) -> dict[str, str]:
    keep = ("LANG", "SSL_CERT_FILE", "SSL_CERT_DIR", "PIP_CERT", "PIP_FIND_LINKS", "TMPDIR")
    env = {k: v for k, v in os.environ.items() if k in keep}
    return {**env, "HOME": str(home), "PATH": "/usr/bin:/bin"}


def _run(script: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", script],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def _expand(text: str, inputs: dict[str, str]) -> str:
    return re.sub(r"\$\{\{\s*inputs\.([\w-]+)\s*\}\}", lambda m: inputs[m.group(1)], text)


def test_the_github_action_steps_install_and_check(tmp_path: Path) -> None:
    action: Any = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
    inputs = {name: str(spec.get("default", "")) for name, spec in action["inputs"].items()}
    inputs.update(cuda="cpu", **{"install-args": "--use-pip-config"})
    workspace, home = tmp_path / "workspace", tmp_path / "home"
    workspace.mkdir()
    home.mkdir()
    github_path = tmp_path / "GITHUB_PATH"
    github_path.touch()
    uploads = []
    for step in action["runs"]["steps"]:
        if "uses" in step:
            uploads.append(_expand(step["with"]["path"], inputs))
            continue
        env = _stock_env(home)
        added = github_path.read_text(encoding="utf-8").split()
        env["PATH"] = ":".join([*added, env["PATH"]])
        env.update(GITHUB_ACTION_PATH=str(ROOT), GITHUB_PATH=str(github_path))
        env.update({k: _expand(v, inputs) for k, v in step.get("env", {}).items()})
        done = _run(step["run"], env, workspace)
        assert done.returncode == 0, f"{step['name']}: {done.stdout}\n{done.stderr}"
    assert uploads == ["ptenv-check.xml"]
    assert "<testsuite" in (workspace / "ptenv-check.xml").read_text(encoding="utf-8")
    assert (workspace / ".venv" / "pyvenv.cfg").is_file()


def test_the_gitlab_template_script_installs_and_checks(tmp_path: Path) -> None:
    template: Any = yaml.safe_load((ROOT / "ci" / "gitlab-ptenv.yml").read_text(encoding="utf-8"))
    job = template[".ptenv-check"]
    workspace, home = tmp_path / "workspace", tmp_path / "home"
    workspace.mkdir()
    home.mkdir()
    env = _stock_env(home)
    env.update({k: str(v) for k, v in job["variables"].items()})
    env.update(
        CI_PROJECT_DIR=str(workspace),
        PTENV_SOURCE=str(ROOT),
        PTENV_CUDA="cpu",
        PTENV_INSTALL_ARGS="--use-pip-config",
    )
    env["XDG_CACHE_HOME"] = env["XDG_CACHE_HOME"].replace("$CI_PROJECT_DIR", str(workspace))
    done = _run("\n".join(job["script"]), env, workspace)
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    report = job["artifacts"]["reports"]["junit"]
    assert "<testsuite" in (workspace / report).read_text(encoding="utf-8")

"""The GPU proof: benchmarks/gpu_session.sh runs cleanly here (no GPU: every GPU step says so),
and the documents recorded on real GPU machines (tests/data/real-gpu/) keep passing the JSON
contracts and the renderers.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ptenv.schema import DOCUMENTS
from tests.test_contracts import problems

ROOT = Path(__file__).parent.parent
SCRIPT = ROOT / "benchmarks" / "gpu_session.sh"
RECORDED = sorted((ROOT / "tests" / "data" / "real-gpu").rglob("*.json"))


def test_the_gpu_session_script_parses_and_passes_shellcheck() -> None:
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed")
    subprocess.run(["shellcheck", str(SCRIPT)], check=True)


def test_without_a_gpu_every_gpu_step_says_so_and_the_script_exits_0(tmp_path: Path) -> None:
    done = subprocess.run(
        ["bash", str(SCRIPT), str(tmp_path / "out")],
        env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable, "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    summary = (tmp_path / "out" / "summary.txt").read_text(encoding="utf-8").splitlines()
    for name in ("check-cold", "check-warm", "check-eager", "gpu-figures", "check-nproc"):
        assert f"{name}: no GPU (doctor sees none; nothing to measure)" in summary
    assert "doctor-cold: exit 0" in "\n".join(summary)
    doctor = json.loads((tmp_path / "out" / "doctor.json").read_text(encoding="utf-8"))
    assert problems(doctor, DOCUMENTS["ptenv.doctor/1"]) == []
    plan = json.loads((tmp_path / "out" / "plan.json").read_text(encoding="utf-8"))
    assert problems(plan, DOCUMENTS["ptenv.plan/1"]) == []


def _schema(document: Any) -> str | None:
    return document.get("schema") if isinstance(document, dict) else None


@pytest.mark.skipif(not RECORDED, reason="no documents from a real GPU machine recorded yet")
@pytest.mark.parametrize("path", RECORDED, ids=lambda p: str(p.relative_to(ROOT / "tests")))
def test_a_recorded_real_gpu_document_keeps_its_contract(path: Path) -> None:
    document = json.loads(path.read_text(encoding="utf-8"))
    schema = _schema(document)
    if schema is None:
        pytest.skip("not a ptenv document (gpu-figures.json)")
    assert problems(document, DOCUMENTS[schema]) == []
    if schema == "ptenv.check/1":
        _render_check(document)


def _render_check(document: Any) -> None:
    from ptenv import report
    from ptenv.check import from_document

    report.render_check(from_document(document, document["venv"], document["seconds"]), [])

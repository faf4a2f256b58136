"""Environment -> CheckReport: run the smoke script with the venv's interpreter and judge it.

The child writes each stage's name to a progress file as it starts; the parent enforces each
stage's deadline, so a crash (signal) or hang is reported against the stage it happened in.
"""

from __future__ import annotations

import json
import os
import signal
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ptenv import _proc
from ptenv.models import CheckReport, StageResult
from ptenv.smoke import script

SENTINEL = "PTENV_JSON="
# Seconds each stage may take before it counts as hung (a cold CPU compile takes 20-30 s on
# 2 cores; a GPU's first CUDA call can take tens of seconds without persistence mode).
STAGE_TIMEOUTS = {
    "import": 120.0,
    "device": 120.0,
    "numerics": 60.0,
    "train_eager": 120.0,
    "compile_prerequisites": 30.0,
    "train_compiled": 600.0,
    "figures": 120.0,
}


@dataclass(frozen=True)
class CheckOptions:
    device: str = "auto"  # auto | cuda | cpu | mps
    steps: int = 50
    batch: int = 256
    compile: bool = True
    compile_mode: str = "default"
    timeout: float = 900.0  # the whole check
    cache_dir: Path | None = None  # None: no persistent compile cache


def default_cache_dir(env: Mapping[str, str]) -> Path:
    """$XDG_CACHE_HOME/ptenv/compile, else ~/.cache/ptenv/compile."""
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ptenv" / "compile"


class _StageClock:
    """Reads the progress file; says when the running stage has outlived its deadline."""

    def __init__(self, progress: Path, limits: Mapping[str, float]) -> None:
        self.progress = progress
        self.limits = limits
        self.current: str | None = None
        self.started = time.monotonic()

    def poll(self) -> str | None:
        try:
            names = self.progress.read_text(encoding="utf-8").split()
        except OSError:
            names = []
        if names and names[-1] != self.current:
            self.current, self.started = names[-1], time.monotonic()
        stage = self.current or "start"
        limit = self.limits.get(stage, 120.0)
        if time.monotonic() - self.started > limit:
            return f"stage {stage} hung past its {limit:.0f} s limit"
        return None


def run_check(
    python: Path,
    venv: Path,
    options: CheckOptions,
    env: Mapping[str, str] | None = None,
    stage_timeouts: Mapping[str, float] = STAGE_TIMEOUTS,
) -> CheckReport:
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ptenv-check-") as scratch:
        progress = Path(scratch) / "progress"
        progress.touch()
        argv = [
            str(python),
            "-X",
            "utf8",
            str(script("check.py")),
            "--progress",
            str(progress),
            "--device",
            options.device,
            "--steps",
            str(options.steps),
            "--batch",
            str(options.batch),
            "--compile-mode",
            options.compile_mode,
        ]
        if not options.compile:
            argv.append("--no-compile")
        if options.cache_dir is not None:
            argv += ["--cache-dir", str(options.cache_dir)]
        child_env = _proc.clean_env({"PYTHONUNBUFFERED": "1", **(env or {})})
        clock = _StageClock(progress, stage_timeouts)
        done = _proc.run(argv, timeout=options.timeout, env=child_env, should_stop=clock.poll)
        reached = progress.read_text(encoding="utf-8").split()
    return interpret(done, reached, str(venv), time.monotonic() - began)


def interpret(done: _proc.Completed, reached: list[str], venv: str, seconds: float) -> CheckReport:
    """The child's outcome -> a report; every way of dying names its stage."""
    document = _document(done.stdout)
    if document is not None and not done.timed_out:
        return _from_document(document, venv, seconds)
    stage = reached[-1] if reached else "import"
    if done.timed_out:
        message = done.stopped or f"the check hung past its {seconds:.0f} s limit"
        fix = "Kill stuck processes; for a GPU, check `nvidia-smi` and dmesg for Xid errors."
    elif done.returncode is not None and done.returncode < 0:
        name = _signal_name(-done.returncode)
        message = f"the interpreter died by {name} in stage {stage}"
        fix = (
            "SIGKILL is most often the out-of-memory killer: see dmesg."
            if name == "SIGKILL"
            else "A native crash: run `ptenv doctor` and report it."
        )
    elif done.stdout.strip() and document is None:
        message = (
            f"the interpreter printed no report (exit {done.returncode}); last output: "
            f"{_last_line(done.stdout)}"
        )
        fix = "A sitecustomize, .pth file or wrapper may print on start-up."
    else:
        message = (
            f"the interpreter exited with {done.returncode} before reporting; "
            f"stderr: {_last_line(done.stderr)}"
        )
        fix = "Run the venv's python by hand to see why."
    stages = [StageResult(name, True, 0.0, {}) for name in reached[:-1]]
    stages.append(
        StageResult(
            stage, False, 0.0, {"stderr_tail": done.stderr[-2000:]}, message=message, fix=fix
        )
    )
    return CheckReport(False, None, venv, tuple(stages), {}, None, None, seconds)


def _document(stdout: str) -> dict[str, Any] | None:
    for line in reversed(stdout.splitlines()):
        if line.startswith(SENTINEL):
            try:
                value = json.loads(line[len(SENTINEL) :])
            except json.JSONDecodeError:
                return None
            return value if isinstance(value, dict) and "stages" in value else None
    return None


def _from_document(document: dict[str, Any], venv: str, seconds: float) -> CheckReport:
    stages = tuple(
        StageResult(
            name=str(raw.get("name")),
            ok=raw.get("ok"),
            seconds=float(raw.get("seconds") or 0.0),
            detail=raw.get("detail") if isinstance(raw.get("detail"), dict) else {},
            message=str(raw.get("message") or ""),
            fix=str(raw.get("fix") or ""),
        )
        for raw in document.get("stages", [])
    )
    figures = next((s.detail for s in stages if s.name == "figures" and s.ok), {})
    eager = next((s.detail for s in stages if s.name == "train_eager" and s.ok), {})
    compiled = next((s.detail for s in stages if s.name == "train_compiled" and s.ok), {})
    summary = dict(figures)
    for key in ("loss_first", "loss_last", "accuracy"):
        if key in eager:
            summary[key] = eager[key]
    if compiled:
        summary["compiled_loss_last"] = compiled.get("loss_last")
    cache = document.get("cache") or {}
    ok = bool(document.get("ok")) and all(s.ok is not False for s in stages)
    return CheckReport(
        ok,
        document.get("device"),
        venv,
        stages,
        summary,
        cache.get("dir"),
        cache.get("warm"),
        seconds,
    )


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else "(nothing)"


def junit_xml(report: CheckReport) -> str:
    """One testcase per stage, for CI dashboards."""
    from xml.etree import ElementTree as ET  # noqa: PLC0415 - we write XML, never parse it

    failures = sum(1 for s in report.stages if s.ok is False)
    skipped = sum(1 for s in report.stages if s.ok is None)
    suite = ET.Element(
        "testsuite",
        name="ptenv.check",
        tests=str(len(report.stages)),
        failures=str(failures),
        skipped=str(skipped),
        time=f"{report.seconds:.3f}",
    )
    for stage in report.stages:
        case = ET.SubElement(
            suite, "testcase", classname="ptenv.check", name=stage.name, time=f"{stage.seconds:.3f}"
        )
        if stage.ok is False:
            failure = ET.SubElement(case, "failure", message=stage.message)
            failure.text = stage.fix
        elif stage.ok is None:
            ET.SubElement(case, "skipped", message=str(stage.detail.get("skipped", "")))
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + os.linesep

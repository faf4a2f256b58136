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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ptenv import _proc
from ptenv.check import fleet
from ptenv.models import CheckReport, FleetReport, RankResult, StageResult
from ptenv.scripts import script

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
    # Under a launcher only:
    "process_group": 300.0,
    "fingerprint": 120.0,
    "train_ddp": 300.0,
    "allreduce": 300.0,
}
LAUNCH_TIMEOUT = 120.0  # until a rank writes its first progress line (one node)


@dataclass(frozen=True, kw_only=True)
class CheckOptions:
    venv: Path | None = None  # None: $VIRTUAL_ENV, else ./.venv
    require_gpu: bool = False  # exit 6 unless the check ran on an NVIDIA GPU
    device: str = "auto"  # auto | cuda | cpu | mps
    steps: int = 50
    batch: int = 256
    compile: bool = True
    compile_mode: str = "default"
    timeout: float = 900.0  # the whole check
    spent_s: float = 0.0  # of the timeout, what the command's probes before the check used
    cache_dir: Path | None = None  # None: no persistent compile cache
    # torch.distributed: ranks started by the venv's torchrun when nproc > 1 or nnodes is set.
    nproc: int = 1
    nnodes: str | None = None  # "2", or elastic "1:4"
    rdzv_endpoint: str | None = None  # HOST:PORT of the rendezvous, for several nodes
    rdzv_id: str = "ptenv"
    dist_timeout: float = 120.0  # a collective or an agreement waits this long for the others

    @property
    def several_nodes(self) -> bool:
        return self.nnodes not in (None, "1")

    @property
    def launches_ranks(self) -> bool:
        return self.nproc > 1 or self.several_nodes


def default_cache_dir(env: Mapping[str, str]) -> Path:
    """$XDG_CACHE_HOME/ptenv/compile, else ~/.cache/ptenv/compile."""
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ptenv" / "compile"


@dataclass(kw_only=True)
class RankProgress:
    """What one rank's progress file says: its stage, and whether it waits for the others."""

    stage: str = "start"
    waiting: bool = False  # it finished `stage` and waits for the other ranks
    pid: int | None = None
    started: float = 0.0  # monotonic time the stage began (as first seen)
    reached: tuple[str, ...] = ()  # every stage begun, in order


def read_progress(path: Path, previous: RankProgress | None, now: float) -> RankProgress:
    try:
        lines = path.read_text(encoding="utf-8").split()
    except OSError:
        lines = []
    pid = next((int(line[4:]) for line in lines if line.startswith("pid:")), None)
    steps = [line for line in lines if not line.startswith("pid:")]
    last = steps[-1] if steps else "start"
    waiting = last.startswith("sync:")
    stage = last[5:] if waiting else last
    reached = tuple(line for line in steps if not line.startswith("sync:") and line != "done")
    started = previous.started if previous is not None and previous.stage == stage else now
    return RankProgress(stage=stage, waiting=waiting, pid=pid, started=started, reached=reached)


class _StageClock:
    """Reads the progress file(s); says when a rank's stage has outlived its deadline.

    With several local ranks each writes PROGRESS.<rank>. When the deadline passes, ranks
    still busy in the stage are named as hung; ranks that finished it and wait are not.
    """

    def __init__(
        self, progress: Path, limits: Mapping[str, float], per_rank: bool, launch_limit: float
    ) -> None:
        self.progress = progress
        self.limits = limits
        self.per_rank = per_rank
        self.launch_limit = launch_limit
        self.began = time.monotonic()
        self.ranks: dict[int, RankProgress] = {}
        self.first_done: float | None = None
        # Once one rank has finished, the others have this long (they may still be waiting
        # out a collective's timeout) before they count as hung.
        self.after_done_limit = limits.get("after_done", 60.0)

    def files(self) -> dict[int, Path]:
        if not self.per_rank:
            return {0: self.progress}
        found = {}
        for path in self.progress.parent.glob(self.progress.name + ".*"):
            suffix = path.name.rsplit(".", 1)[-1]
            if suffix.isdigit():
                found[int(suffix)] = path
        return found

    def poll(self) -> str | None:
        now = time.monotonic()
        for rank, path in self.files().items():
            self.ranks[rank] = read_progress(path, self.ranks.get(rank), now)
        if not self.ranks:
            if now - self.began > self.launch_limit:
                return f"no rank started within {self.launch_limit:.0f} s"
            return None
        late = {
            rank: state
            for rank, state in self.ranks.items()
            if state.stage != "done" and now - state.started > self.limits.get(state.stage, 120.0)
        }
        if late:
            return describe_hang(late, self.limits, self.per_rank)
        finished = [rank for rank, state in self.ranks.items() if state.stage == "done"]
        if finished and self.first_done is None:
            self.first_done = now
        if self.first_done is not None and now - self.first_done > self.after_done_limit:
            behind = {r: s for r, s in self.ranks.items() if s.stage != "done"}
            if behind:
                stages = sorted({state.stage for state in behind.values()})
                return (
                    f"{_ranks(sorted(behind))} still in stage {', '.join(stages)} "
                    f"{self.after_done_limit:.0f} s after {_ranks(sorted(finished))} finished"
                )
        return None


class _StageReporter:
    """Polls the stage clock and says, as each stage of rank 0 ends, how long it took."""

    def __init__(self, clock: _StageClock, progress: Callable[[str], None] | None) -> None:
        self.clock = clock
        self.progress = progress
        self.stage: str | None = None
        self.since = time.monotonic()

    def poll(self) -> str | None:
        verdict = self.clock.poll()
        first = self.clock.ranks.get(min(self.clock.ranks)) if self.clock.ranks else None
        if self.progress is None or first is None or first.stage == self.stage:
            return verdict
        now = time.monotonic()
        if self.stage is not None:
            self.progress(f"check: {self.stage} ✓ {now - self.since:.1f} s")
        if first.stage != "done":
            self.progress(f"check: {first.stage} …")
        self.stage, self.since = first.stage, now
        return verdict


def describe_hang(
    late: Mapping[int, RankProgress], limits: Mapping[str, float], per_rank: bool
) -> str:
    busy = sorted(rank for rank, state in late.items() if not state.waiting)
    waiting = sorted(rank for rank, state in late.items() if state.waiting)
    first = late[(busy or waiting)[0]]
    limit = limits.get(first.stage, 120.0)
    if not per_rank:
        if first.waiting:
            return f"waited past {limit:.0f} s for the other ranks after stage {first.stage}"
        return f"stage {first.stage} hung past its {limit:.0f} s limit"
    if busy:
        message = f"{_ranks(busy)} hung in stage {late[busy[0]].stage} past its {limit:.0f} s limit"
        return message + (f" ({_ranks(waiting)} waited for it)" if waiting else "")
    return f"{_ranks(waiting)} waited past {limit:.0f} s after stage {first.stage} for other ranks"


def _ranks(numbers: list[int]) -> str:
    return ("rank " if len(numbers) == 1 else "ranks ") + ", ".join(map(str, numbers))


def run_check(
    python: Path,
    venv: Path,
    options: CheckOptions,
    env: Mapping[str, str] | None = None,
    stage_timeouts: Mapping[str, float] = STAGE_TIMEOUTS,
    on_stage: Callable[[str], None] | None = None,
) -> CheckReport:
    """`on_stage` hears of each stage as it ends (the first rank's, under a launch)."""
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ptenv-check-") as scratch:
        progress = Path(scratch) / "progress"
        per_rank = options.launches_ranks
        if not per_rank:
            progress.touch()
        argv = [*_launcher(python, options), *_script_arguments(progress, options)]
        child_env = _proc.clean_env({"PYTHONUNBUFFERED": "1", "PYTHONUTF8": "1", **(env or {})})
        clock = _StageClock(
            progress,
            {"after_done": options.dist_timeout + 30.0, **stage_timeouts},
            per_rank,
            launch_limit=min(options.timeout, 900.0 if options.several_nodes else LAUNCH_TIMEOUT),
        )

        def reap_ranks() -> None:
            # torchrun starts each rank in a session of its own: the group kill misses them.
            clock.poll()
            fleet.reap(rank.pid for rank in clock.ranks.values())

        stages = _StageReporter(clock, on_stage)
        done = _proc.run(
            argv,
            timeout=max(options.timeout - options.spent_s, 1.0),
            env=child_env,
            should_stop=stages.poll,
            on_stop=reap_ranks if per_rank else None,
        )
        stages.poll()  # the last stage ended as the child exited
        ranks = dict(clock.ranks)
    seconds = time.monotonic() - began + options.spent_s
    if per_rank:
        return interpret_launch(done, ranks, str(venv), seconds)
    return interpret(done, ranks[0].reached if ranks else (), str(venv), seconds)


def _launcher(python: Path, options: CheckOptions) -> list[str]:
    if not options.launches_ranks:
        return [str(python), "-X", "utf8"]
    argv = [str(python), "-m", "torch.distributed.run", "--nproc-per-node", str(options.nproc)]
    if not options.several_nodes:
        return [*argv, "--standalone"]
    return [
        *argv,
        "--nnodes",
        str(options.nnodes),
        "--rdzv-backend",
        "c10d",
        "--rdzv-endpoint",
        str(options.rdzv_endpoint),
        "--rdzv-id",
        options.rdzv_id,
    ]


def _script_arguments(progress: Path, options: CheckOptions) -> list[str]:
    argv = [
        str(script("smoke.py")),
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
        "--dist-timeout",
        str(options.dist_timeout),
    ]
    if options.launches_ranks:
        argv.append("--progress-per-rank")
    if not options.compile:
        argv.append("--no-compile")
    if options.cache_dir is not None:
        argv += ["--cache-dir", str(options.cache_dir)]
    return argv


def interpret(
    done: _proc.Completed, reached: Sequence[str], venv: str, seconds: float
) -> CheckReport:
    """The child's outcome -> a report; every way of dying names its stage."""
    document = find_document(done.stdout)
    if document is not None and not done.timed_out:
        return from_document(document, venv, seconds)
    return _failed_report(venv, died_stages(done, reached, seconds), seconds)


def _failed_report(
    venv: str, stages: tuple[StageResult, ...], seconds: float, fleet: FleetReport | None = None
) -> CheckReport:
    """A check that produced no document of its own: only what the parent saw."""
    return CheckReport(
        ok=False,
        device=None,
        venv=venv,
        stages=stages,
        figures={},
        cache_dir=None,
        cache_warm=None,
        seconds=seconds,
        fleet=fleet,
    )


def died_stages(
    done: _proc.Completed, reached: Sequence[str], seconds: float
) -> tuple[StageResult, ...]:
    """Stages a child began before it died: the last one failed, the earlier ones passed."""
    stage, message, fix = death(done, reached[-1] if reached else "import", seconds)
    detail = {"stderr_tail": done.stderr[-2000:]}
    passed = [StageResult(name=name, ok=True, seconds=0.0, detail={}) for name in reached[:-1]]
    died = StageResult(name=stage, ok=False, seconds=0.0, detail=detail, message=message, fix=fix)
    return (*passed, died)


def death(done: _proc.Completed, stage: str, seconds: float) -> tuple[str, str, str]:
    """(stage, message, fix) for a child that ended without a report."""
    if done.timed_out:
        message = done.stopped or f"the check hung: still running after {seconds:.0f} s (--timeout)"
        fix = "Kill stuck processes; for a GPU, check `nvidia-smi` and dmesg for Xid errors."
    elif done.returncode is not None and done.returncode < 0:
        name = signal_name(-done.returncode)
        message = f"the interpreter died by {name} in stage {stage}"
        fix = (
            "SIGKILL is most often the out-of-memory killer: see dmesg."
            if name == "SIGKILL"
            else "A native crash: run `ptenv doctor` and report it."
        )
    elif done.stdout.strip() and find_document(done.stdout) is None:
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
    return stage, message, fix


def _well_formed(value: Any) -> bool:
    """A smoke document's shape: anything else on that line (a wrapper, a fake, a newer
    script) counts as no report rather than crashing the parent."""
    if not isinstance(value, dict) or not isinstance(value.get("stages"), list):
        return False
    for key in ("distributed", "cache"):
        if value.get(key) is not None and not isinstance(value[key], dict):
            return False
    number = (int, float, type(None))
    return all(
        isinstance(stage, dict)
        and isinstance(stage.get("name"), str)
        and isinstance(stage.get("seconds"), number)
        and isinstance(stage.get("detail", {}), dict)
        for stage in value["stages"]
    )


def find_document(stdout: str) -> dict[str, Any] | None:
    """The report on stdout; under torchrun every local rank prints one: rank 0's wins."""
    documents: list[dict[str, Any]] = []
    for line in stdout.splitlines():
        if line.startswith(SENTINEL):
            try:
                value = json.loads(line[len(SENTINEL) :])
            except json.JSONDecodeError:
                continue
            if _well_formed(value):
                documents.append(value)
    for document in documents:
        if (document.get("distributed") or {}).get("rank") == 0:
            return document
    return documents[-1] if documents else None


def from_document(document: dict[str, Any], venv: str, seconds: float) -> CheckReport:
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
        ok=ok,
        device=document.get("device"),
        venv=venv,
        stages=stages,
        figures=summary,
        cache_dir=cache.get("dir"),
        cache_warm=cache.get("warm"),
        seconds=seconds,
        fleet=fleet.fleet_report(document.get("distributed")),
    )


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else "(nothing)"


def junit_xml(report: CheckReport) -> str:
    """One testcase per stage (and per rank under a launch), for CI dashboards."""
    from xml.etree import ElementTree as ET  # noqa: PLC0415 - we write XML, never parse it

    # (name, seconds, ok, message, text): ok None is skipped (a stage) or unknown (a rank).
    cases = [
        (s.name, s.seconds, s.ok, s.message or str(s.detail.get("skipped", "")), s.fix)
        for s in report.stages
    ]
    if report.fleet is not None:
        cases += [
            (f"rank {r.rank}", r.seconds, r.ok, r.message, f"stage {r.stage}")
            for r in report.fleet.ranks
        ]
    suite = ET.Element(
        "testsuite",
        name="ptenv.check",
        tests=str(len(cases)),
        failures=str(sum(1 for case in cases if case[2] is False)),
        skipped=str(sum(1 for case in cases if case[2] is None)),
        time=f"{report.seconds:.3f}",
    )
    for name, seconds, ok, message, text in cases:
        case = ET.SubElement(
            suite, "testcase", classname="ptenv.check", name=name, time=f"{seconds:.3f}"
        )
        if ok is False:
            failure = ET.SubElement(case, "failure", message=message)
            failure.text = text
        elif ok is None:
            ET.SubElement(case, "skipped", message=message)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + os.linesep


def interpret_launch(
    done: _proc.Completed,
    ranks: Mapping[int, RankProgress],
    venv: str,
    seconds: float,
) -> CheckReport:
    """torchrun's outcome -> a report: rank 0's fleet document, else what each rank reached."""
    document = find_document(done.stdout)
    if document is not None and (document.get("distributed") or {}).get("rank", 0) == 0:
        report = from_document(document, venv, seconds)
        return _with_hangs(report, ranks, done.stopped) if done.timed_out else report
    root, exits = fleet.torchrun_failures(done.stderr)
    results = [_rank_result(rank, ranks[rank], done, root, exits) for rank in sorted(ranks)]
    culprit = next((r for r in results if r.ok is False), results[0] if results else None)
    if culprit is None:  # torchrun itself failed before starting any rank
        stages = died_stages(done, ("start",), seconds)
    else:
        stages = died_stages(done, ranks[culprit.rank].reached or ("import",), seconds)
        last = stages[-1]
        message = done.stopped or f"rank {culprit.rank} {culprit.message}"
        stages = (*stages[:-1], replace(last, message=message))
    first = culprit.rank if culprit is not None else None
    seen = FleetReport(
        world_size=len(ranks),
        rank=0,
        launcher="torchrun",
        backend=None,
        ranks=tuple(results),
        allreduce=(),
        differences={},
        first_failed=first,
    )
    return _failed_report(venv, stages, seconds, seen)


def _with_hangs(
    report: CheckReport, ranks: Mapping[int, RankProgress], stopped: str | None
) -> CheckReport:
    """Rank 0 reported, but ranks that never finished were stopped: name them as hung."""
    if report.fleet is None:
        return replace(report, ok=False)
    results = []
    for reported in report.fleet.ranks:
        state = ranks.get(reported.rank)
        if reported.ok is not True and state is not None and state.stage != "done":
            message = f"hung in stage {state.stage}"
            results.append(replace(reported, ok=False, stage=state.stage, message=message))
        else:
            results.append(reported)
    hung = next((r.rank for r in results if r.message.startswith("hung")), None)
    first = hung if hung is not None else report.fleet.first_failed
    fleet_report = replace(report.fleet, ranks=tuple(results), first_failed=first)
    stages = report.stages
    if stopped and report.failed_stage is None:
        launch = StageResult(name="launch", ok=False, seconds=0.0, detail={}, message=stopped)
        stages = (*stages, launch)
    return replace(report, ok=False, fleet=fleet_report, stages=stages)


def _rank_result(
    rank: int, state: RankProgress, done: _proc.Completed, root: int | None, exits: dict[int, int]
) -> RankResult:
    def result(ok: bool | None, message: str) -> RankResult:
        stage = None if ok else state.stage
        return RankResult(rank=rank, host=None, ok=ok, stage=stage, message=message)

    if state.stage == "done":
        return result(True, "finished (its report was lost)")
    code = exits.get(rank)
    if code is not None and (root is None or rank == root):
        how = f"died by {signal_name(-code)}" if code < 0 else f"exited with {code}"
        return result(False, f"{how} in stage {state.stage}")
    if code is not None:
        return result(None, f"stopped by torchrun after rank {root}")
    if done.timed_out and not state.waiting:
        return result(False, f"hung in stage {state.stage}")
    if state.waiting:
        return result(None, f"waited for the others after {state.stage}")
    return result(None, f"stopped in stage {state.stage}")

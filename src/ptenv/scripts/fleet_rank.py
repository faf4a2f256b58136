"""The torch.distributed half of ptenv's smoke test. Imports torch lazily; never ptenv.

smoke.py loads this file when it was started by a launcher (torchrun, srun, or plain
RANK/WORLD_SIZE variables). Ranks agree on every stage's outcome through the rendezvous
key-value store rather than through collectives, so a rank that raises or hangs in the middle
of a collective cannot wedge the agreement: the others learn who failed and skip the rest of
the check together, and rank 0 still collects everyone's results.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import re
import socket
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional

# Fields every rank must share; the host name is reported but naturally differs.
COMPARED_FIELDS = ("torch", "git", "cuda", "hip", "python", "device", "gpu", "capability", "driver")
CPU_SIZES = (4 << 10, 64 << 10, 1 << 20, 4 << 20, 16 << 20)
GPU_SIZES = (64 << 10, 1 << 20, 16 << 20, 64 << 20, 256 << 20, 1 << 30)
TARGET_SECONDS_PER_SIZE = 0.2  # timing loop length per message size (after warm-up)


class FleetError(Exception):
    """The ranks could not coordinate (store unreachable, a rank gone)."""


@dataclass(frozen=True)
class Launch:
    rank: int
    world_size: int
    local_rank: int
    local_world_size: int
    launcher: str  # torchrun | slurm | env
    master_addr: str
    master_port: int


def detect(env: Mapping[str, str]) -> Optional[Launch]:
    """The launch this process is part of, from the launcher's variables; None when alone.

    torchrun (and any launcher that sets RANK and WORLD_SIZE) wins over Slurm's variables, so
    `srun torchrun ...` is read as torchrun. Slurm counts only inside an srun step
    (SLURM_STEP_ID), so a batch script running ptenv once is not mistaken for rank 0 of many.
    PTENV_DISTRIBUTED=0 turns detection off.
    """
    if env.get("PTENV_DISTRIBUTED") == "0":
        return None
    if "RANK" in env and "WORLD_SIZE" in env:
        world = int(env["WORLD_SIZE"])
        if world < 2:
            return None
        launcher = "torchrun" if "TORCHELASTIC_RUN_ID" in env else "env"
        return Launch(
            rank=int(env["RANK"]),
            world_size=world,
            local_rank=int(env.get("LOCAL_RANK", "0")),
            local_world_size=int(env.get("LOCAL_WORLD_SIZE", "1")),
            launcher=launcher,
            master_addr=env.get("MASTER_ADDR", "127.0.0.1"),
            master_port=int(env.get("MASTER_PORT", "29500")),
        )
    if "SLURM_PROCID" in env and "SLURM_STEP_ID" in env:
        world = int(env.get("SLURM_STEP_NUM_TASKS") or env.get("SLURM_NTASKS") or "1")
        if world < 2:
            return None
        nodelist = env.get("SLURM_STEP_NODELIST") or env.get("SLURM_JOB_NODELIST") or ""
        job = env.get("SLURM_JOB_ID", "0")
        return Launch(
            rank=int(env["SLURM_PROCID"]),
            world_size=world,
            local_rank=int(env.get("SLURM_LOCALID", "0")),
            local_world_size=int(_first_count(env.get("SLURM_STEP_TASKS_PER_NODE", "1"))),
            launcher="slurm",
            master_addr=env.get("MASTER_ADDR") or first_host(nodelist) or "127.0.0.1",
            # One port per job, so two jobs sharing a first node do not collide.
            master_port=int(env.get("MASTER_PORT") or 29500 + int(job) % 10000),
        )
    return None


def _first_count(tasks_per_node: str) -> str:
    """'4(x2),3' -> '4' (Slurm's compressed tasks-per-node list)."""
    match = re.match(r"\d+", tasks_per_node)
    return match.group(0) if match else "1"


def first_host(nodelist: str) -> str:
    """The first host of a Slurm node list: 'gpu[07-09,12],cpu1' -> 'gpu07'."""
    match = re.match(r"([^,\[]+)(?:\[([^\]]+)\])?", nodelist.strip())
    if not match:
        return ""
    prefix, ranges = match.group(1), match.group(2)
    if not ranges:
        return prefix
    return prefix + ranges.split(",")[0].split("-")[0]


def bus_bandwidth(algbw: float, world_size: int) -> float:
    """nccl-tests' all_reduce bus bandwidth: algbw * 2(n-1)/n, comparable across world sizes."""
    return algbw * 2 * (world_size - 1) / world_size


def driver_version() -> Optional[str]:
    try:
        with open("/proc/driver/nvidia/version", encoding="utf-8") as handle:
            match = re.search(r"Kernel Module\s+(?:for \S+\s+)?(\d+\.\d+(?:\.\d+)?)", handle.read())
    except OSError:
        return None
    return match.group(1) if match else None


class Fleet:
    """One rank's view of the launch: the process group, the store, the agreements."""

    def __init__(self, launch: Launch, timeout_s: float, progress: Callable[[str], None]):
        self.launch = launch
        self.timeout = datetime.timedelta(seconds=timeout_s)
        self.progress = progress
        self.dist: Any = None
        self.store: Any = None
        self.backend: Optional[str] = None
        self.broken: Optional[str] = None  # why coordination stopped working
        self.failures: List[Dict[str, Any]] = []  # every rank's first failure, in order seen

    @property
    def ready(self) -> bool:
        return self.store is not None and self.broken is None

    # --- stages -----------------------------------------------------------------------------
    def init_process_group(self, torch: Any, device: str) -> Dict[str, Any]:
        import torch.distributed as dist

        launch = self.launch
        # Slurm and bare launches give no MASTER_* of their own: env:// needs them.
        os.environ.setdefault("MASTER_ADDR", launch.master_addr)
        os.environ.setdefault("MASTER_PORT", str(launch.master_port))
        os.environ["RANK"], os.environ["WORLD_SIZE"] = str(launch.rank), str(launch.world_size)
        os.environ.setdefault("LOCAL_RANK", str(launch.local_rank))
        self.backend = "nccl" if device == "cuda" and dist.is_nccl_available() else "gloo"
        began = time.perf_counter()
        kwargs: Dict[str, Any] = {}
        if self.backend == "nccl":
            kwargs["device_id"] = torch.device("cuda", torch.cuda.current_device())
        try:
            dist.init_process_group(self.backend, timeout=self.timeout, **kwargs)
        except TypeError:  # torch < 2.3 has no device_id
            dist.init_process_group(self.backend, timeout=self.timeout)
        self.dist = dist
        self.store = dist.PrefixStore("ptenv/", dist.distributed_c10d._get_default_store())
        probe = torch.ones(1, device=device)
        dist.all_reduce(probe)
        if int(probe.item()) != launch.world_size:
            raise RuntimeError(f"all_reduce of ones gave {probe.item()}, not {launch.world_size}")
        return {
            "backend": self.backend,
            "world_size": launch.world_size,
            "rank": launch.rank,
            "local_rank": launch.local_rank,
            "launcher": launch.launcher,
            "master": f"{launch.master_addr}:{launch.master_port}",
            "init_seconds": round(time.perf_counter() - began, 4),
        }

    def fingerprint(self, state: Dict[str, Any]) -> Dict[str, Any]:
        """Publish this rank's fingerprint; fail when it differs from rank 0's."""
        torch = state["torch"]
        mine = {
            "host": socket.gethostname(),
            "torch": torch.__version__,
            "git": getattr(torch.version, "git_version", None),
            "cuda": torch.version.cuda,
            "hip": getattr(torch.version, "hip", None),
            "python": ".".join(str(part) for part in sys.version_info[:3]),
            "device": state["device"],
            "gpu": state.get("gpu_name"),
            "capability": state.get("capability_text"),
            "driver": driver_version(),
        }
        state["fingerprint"] = mine
        self.store.set(f"fingerprint/{self.launch.rank}", json.dumps(mine))
        self.store.wait(["fingerprint/0"], self.timeout)
        reference = json.loads(self.store.get("fingerprint/0"))
        differing = {
            field: {"rank 0": reference.get(field), "here": mine.get(field)}
            for field in COMPARED_FIELDS
            if reference.get(field) != mine.get(field)
        }
        if differing:
            words = "; ".join(
                f"{field} {values['here']} (rank 0: {values['rank 0']})"
                for field, values in differing.items()
            )
            raise StageFailed(
                f"rank {self.launch.rank} on {mine['host']} differs from rank 0: {words}.",
                fix="Install the same build on every node: ptenv install --lock ptenv.lock",
                detail={"fingerprint": mine, "differs": differing},
            )
        return {"fingerprint": mine}

    def train_ddp(self, state: Dict[str, Any], new_model: Callable[..., Any]) -> Dict[str, Any]:
        """DistributedDataParallel training; every rank must end with identical parameters."""
        torch, dist = state["torch"], self.dist
        device, steps, batch = state["device"], state["steps"], state["batch"]
        inputs, labels = state["data"]
        rank, world = self.launch.rank, self.launch.world_size
        # Different starting weights per rank: DDP's broadcast from rank 0 must unify them.
        model = new_model(torch, seed=rank).to(device)
        device_ids = [torch.cuda.current_device()] if device == "cuda" else None
        ddp = torch.nn.parallel.DistributedDataParallel(model, device_ids=device_ids)
        optimizer = torch.optim.SGD(ddp.parameters(), lr=0.05)
        loss_fn = torch.nn.CrossEntropyLoss()
        losses, times = [], []
        for step in range(steps):
            start = ((step * world + rank) * batch) % inputs.shape[0]  # each rank its own shard
            x = inputs[start : start + batch].to(device)
            y = labels[start : start + batch].to(device)
            began = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(ddp(x), y)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            times.append(time.perf_counter() - began)
        flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
        highest, lowest = flat.clone(), flat.clone()
        dist.all_reduce(highest, op=dist.ReduceOp.MAX)
        dist.all_reduce(lowest, op=dist.ReduceOp.MIN)
        differing = int((highest != lowest).sum().item())
        with torch.no_grad():
            accuracy = (model(inputs.to(device)).argmax(dim=1).cpu() == labels).float().mean()
        steady = sorted(times[1:] or times)
        detail = {
            "steps": steps,
            "loss_first": losses[0],
            "loss_last": losses[-1],
            "accuracy": accuracy.item(),
            "step_ms": steady[len(steady) // 2] * 1000,
            "parameters": flat.numel(),
            "parameters_differing": differing,
            "max_parameter_spread": float((highest - lowest).abs().max().item()),
            "checksum": float(flat.double().sum().item()),
        }
        if differing:
            raise StageFailed(
                f"after {steps} DDP steps {differing} of {flat.numel()} parameters differ "
                f"across ranks (largest spread {detail['max_parameter_spread']:.3e}).",
                fix="Gradients were not averaged identically: suspect the interconnect or NCCL.",
                detail=detail,
            )
        if not losses[-1] < losses[0] * 0.5:
            raise StageFailed(
                f"DDP training: the loss fell from {losses[0]:.3f} to {losses[-1]:.3f}, "
                "not below half of it.",
                detail=detail,
            )
        return detail

    def allreduce_sweep(self, state: Dict[str, Any]) -> Dict[str, Any]:
        """all_reduce (sum, float32) over message sizes; figures as nccl-tests define them."""
        torch, dist = state["torch"], self.dist
        device, world, rank = state["device"], self.launch.world_size, self.launch.rank
        sizes = GPU_SIZES if device == "cuda" else CPU_SIZES
        expected = world * (world + 1) / 2
        rows = []
        for size in sizes:
            tensor = torch.full((size // 4,), float(rank + 1), device=device)
            dist.all_reduce(tensor)
            if not bool((tensor == expected).all().item()):
                raise StageFailed(
                    f"all_reduce of {size} bytes gave a wrong sum (expected {expected}).",
                    fix="Silent corruption on the interconnect: run nccl-tests and dcgmi diag.",
                )
            seconds = self._time_all_reduce(torch, tensor, device, iterations=2)  # warm-up
            iterations = max(3, min(50, int(TARGET_SECONDS_PER_SIZE / max(seconds, 1e-6))))
            agreed = torch.tensor([iterations], device=device)
            dist.all_reduce(agreed, op=dist.ReduceOp.MAX)  # every rank must loop equally often
            iterations = int(agreed.item())
            seconds = self._time_all_reduce(torch, tensor, device, iterations)
            slowest = torch.tensor([seconds], dtype=torch.float64, device=device)
            dist.all_reduce(slowest, op=dist.ReduceOp.MAX)
            seconds = float(slowest.item())
            algbw = size / seconds / 1e9
            rows.append(
                {
                    "bytes": size,
                    "iterations": iterations,
                    "time_us": seconds * 1e6,
                    "algbw_gbps": algbw,
                    "busbw_gbps": bus_bandwidth(algbw, world),
                }
            )
            del tensor
        return {
            "op": "all_reduce",
            "dtype": "float32",
            "backend": self.backend,
            "world_size": world,
            "rows": rows,
            "peak_busbw_gbps": max(row["busbw_gbps"] for row in rows),
        }

    def _time_all_reduce(self, torch: Any, tensor: Any, device: str, iterations: int) -> float:
        """Mean seconds per all_reduce on this rank, started together after a barrier."""
        self.dist.barrier()
        if device == "cuda":
            torch.cuda.synchronize()
        began = time.perf_counter()
        for _ in range(iterations):
            self.dist.all_reduce(tensor)
        if device == "cuda":
            torch.cuda.synchronize()
        return (time.perf_counter() - began) / iterations

    # --- coordination -----------------------------------------------------------------------
    def agree(self, stage: str, failure: Optional[Dict[str, Any]]) -> List[Dict[str, Any]]:
        """Wait for every rank to finish `stage`; return the failures first posted in it.

        `failure` is this rank's first failure when it has not been posted yet. Raises
        FleetError when the store stops answering (a rank died, the network went).
        """
        store = self.store
        try:
            if failure is not None:
                number = store.add(f"{stage}/failures", 1)
                store.set(f"{stage}/failure/{number}", json.dumps(failure))
            if store.add(f"{stage}/arrived", 1) == self.launch.world_size:
                store.set(f"{stage}/done", "1")
            self.progress("sync:" + stage)  # the parent: this rank now waits for the others
            store.wait([f"{stage}/done"], self.timeout)
            count = store.add(f"{stage}/failures", 0)
            posted = [
                json.loads(store.get(f"{stage}/failure/{number}")) for number in range(1, count + 1)
            ]
        except Exception as error:  # the store's errors differ across torch versions
            self.broken = f"{type(error).__name__}: {error}"
            raise FleetError(self.broken) from None
        self.failures.extend(posted)
        return posted

    def publish_and_collect(self, document: Dict[str, Any]) -> List[Dict[str, Any]]:
        """Every rank posts its document; rank 0 returns all of them (None-free, rank order)."""
        rank, world = self.launch.rank, self.launch.world_size
        if self.store is None:
            return [document] if rank == 0 else []
        try:
            self.store.set(f"result/{rank}", json.dumps(_compact(document)))
        except Exception as error:
            self.broken = self.broken or f"{type(error).__name__}: {error}"
            return [document] if rank == 0 else []
        if rank != 0:
            return []
        collected = [document]
        # After a breakdown the others may be gone: wait briefly rather than the full timeout.
        wait = datetime.timedelta(seconds=10) if self.broken else self.timeout
        for other in range(1, world):
            try:
                self.store.wait([f"result/{other}"], wait)
                collected.append(json.loads(self.store.get(f"result/{other}")))
            except Exception:
                collected.append({"rank": other, "missing": True})
        return collected

    def close(self) -> None:
        if self.dist is not None and self.broken is None:
            with contextlib.suppress(Exception):  # the others may already be gone
                self.dist.destroy_process_group()


class StageFailed(Exception):
    """smoke.py's Runner reads `fix` and `detail` from any exception that carries them."""

    def __init__(self, message: str, fix: str = "", detail: Optional[Dict[str, Any]] = None):
        super().__init__(message)
        self.fix = fix
        self.detail = detail or {}


def _compact(document: Dict[str, Any]) -> Dict[str, Any]:
    """A rank's document without per-step curves: rank 0 gathers one from every rank."""
    stages = []
    for stage in document.get("stages", []):
        detail = {k: v for k, v in stage.get("detail", {}).items() if k != "losses"}
        stages.append({**stage, "detail": detail})
    return {**document, "stages": stages}


def aggregate(documents: List[Dict[str, Any]], world_size: int) -> Dict[str, Any]:
    """Rank 0's view of the fleet: one entry per rank, the all_reduce table, differences."""
    ranks = []
    for document in documents:
        info = document.get("distributed") or {}
        rank = info.get("rank", document.get("rank"))
        if document.get("missing"):
            ranks.append(
                {"rank": rank, "ok": None, "host": None, "message": "sent no result", "stage": None}
            )
            continue
        failed = next((s for s in document["stages"] if s.get("ok") is False), None)
        ranks.append(
            {
                "rank": rank,
                "host": info.get("host"),
                "local_rank": info.get("local_rank"),
                "ok": failed is None,
                "stage": failed["name"] if failed else None,
                "message": failed.get("message", "") if failed else "",
                "fingerprint": info.get("fingerprint") or {},
                "seconds": sum(float(s.get("seconds") or 0) for s in document["stages"]),
            }
        )
    return {
        "ranks": ranks,
        "fingerprint_differences": _differences(ranks),
        "world_size": world_size,
    }


def _differences(ranks: List[Dict[str, Any]]) -> Dict[str, Dict[str, List[int]]]:
    """field -> {value: ranks} for every compared field on which the ranks disagree."""
    result: Dict[str, Dict[str, List[int]]] = {}
    for field in COMPARED_FIELDS:
        groups: Dict[str, List[int]] = {}
        for entry in ranks:
            if entry.get("fingerprint"):
                value = str(entry["fingerprint"].get(field))
                groups.setdefault(value, []).append(entry["rank"])
        if len(groups) > 1:
            result[field] = groups
    return result

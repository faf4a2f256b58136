"""The real CUDA stack from loopback: ptenv install, its lock replay and its no-op beside bare
uv doing the same, each with an empty cache; several runs, interleaved, medians.

    pip download --isolated torch==2.7.1 --python-version 3.11 --only-binary=:all: \\
        --platform manylinux_2_28_x86_64 ... --platform manylinux1_x86_64 -d WHEELS
    python benchmarks/install_cuda.py --wheels WHEELS [--torch 2.7.1 --variant cu126]

PyPI's torch 2.7.1 is the cu126 build (untagged); its 20 dependencies (the nvidia-* wheels,
one of them manylinux2010-tagged, triton) come with it: about 2.8 GB of wheels, 5 GB
installed. Without the folder it says so and stops: the stack is fetched by hand, once.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from statistics import median

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _timing import machine_line, seconds_of  # noqa: E402

from ptenv.install import lock as lockfile  # noqa: E402
from tests.index_server import serve  # noqa: E402


def timed(argv: list[str], env: dict[str, str]) -> float:
    return seconds_of(argv, env, timeout=1800)  # a cold CUDA install on a slow disk


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--wheels", type=Path, required=True)
    parser.add_argument("--torch", default="2.7.1")
    parser.add_argument("--variant", default="cu126")
    parser.add_argument("--driver", default="560.35.03")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-ranges", action="store_true", help="an index without Range support")
    args = parser.parse_args()
    if not any(args.wheels.glob(f"torch-{args.torch}-*.whl")):
        print(f"skipped: no torch {args.torch} wheel in {args.wheels} (fetch the stack first)")
        return
    bin_dir = Path(sys.executable).parent
    ptenv, uv = str(bin_dir / "ptenv"), str(bin_dir / "uv")
    results: dict[str, list[float]] = {}

    def add(label: str, seconds: float) -> None:
        results.setdefault(label, []).append(seconds)

    with serve(Path(tempfile.mkdtemp(prefix="ptenv-bench-served-"))) as index:
        index.ranges = not args.no_ranges
        folder = index.root / args.variant
        folder.mkdir(parents=True)
        for wheel in args.wheels.glob("*.whl"):
            try:
                os.link(wheel, folder / wheel.name)  # same disk: no 2.8 GB copy
            except OSError:
                shutil.copy(wheel, folder)
        packages: tuple[lockfile.LockedPackage, ...] = ()
        for _ in range(args.runs):  # each run: all five, back to back, so drift hits all
            packages = _one_run(args, index.url, ptenv, uv, add)
    print(f"Machine: {machine_line()}")
    print(f"Stack: torch {args.torch} ({args.variant}), {len(packages)} wheels, "
          f"index {'without' if args.no_ranges else 'with'} range requests\n")  # fmt: skip
    print("| command | median (s) | min (s) | max (s) | runs |\n|---|---|---|---|---|")
    for label, runs in results.items():
        spread = f"{median(runs):.1f} | {min(runs):.1f} | {max(runs):.1f}"
        print(f"| `{label}` | {spread} | {len(runs)} |")
    medians = [median(runs) for runs in results.values()]
    print(f"\nptenv cold / bare uv: {medians[0] / medians[1]:.2f}x (budget 1.05x); "
          f"replay / uv hash-pinned: {medians[2] / medians[3]:.2f}x (budget 1.05x); "
          f"no-op {medians[4]:.2f} s (budget 0.5 s)")  # fmt: skip


def _one_run(
    args: argparse.Namespace, base: str, ptenv: str, uv: str, add: Callable[[str, float], None]
) -> tuple[lockfile.LockedPackage, ...]:
    work = Path(tempfile.mkdtemp(prefix="ptenv-bench-cuda-"))

    def fresh_env(name: str) -> dict[str, str]:
        return {**os.environ, "UV_CACHE_DIR": str(work / f"cache-{name}")}

    plan = ["--torch", args.torch, "--cuda", args.variant, "--driver", args.driver]
    common = ["--index-base", base, "--no-check", "--yes", *plan]
    add("ptenv install (cold cache)", timed(
        [ptenv, "install", "--venv", str(work / "a" / ".venv"), *common], fresh_env("a")
    ))  # fmt: skip
    lock = work / "a" / "pylock.venv.toml"
    packages = lockfile.read(lock).packages
    start = time.perf_counter()
    env = fresh_env("uv")
    timed([uv, "venv", "--python", sys.executable, str(work / "uv")], env)
    variant_index = f"{base}/{args.variant}"
    timed([uv, "pip", "install", "--python", str(work / "uv" / "bin" / "python"),
           "--index-url", variant_index, f"torch=={args.torch}"], env)  # fmt: skip
    add("uv venv + uv pip install (cold cache)", time.perf_counter() - start)
    add("ptenv install --lock, replay (cold cache)", timed(
        [ptenv, "install", "--venv", str(work / "b"), "--lock", str(lock), "--no-check"],
        fresh_env("b"),
    ))  # fmt: skip
    pinned = work / "pinned.txt"
    pinned.write_text(
        "".join(f"{p.name}=={p.version} --hash=sha256:{p.sha256}\n" for p in packages)
    )
    start = time.perf_counter()
    env = fresh_env("uv-pinned")
    timed([uv, "venv", "--python", sys.executable, str(work / "uv-pinned")], env)
    timed([uv, "pip", "install", "--python", str(work / "uv-pinned" / "bin" / "python"),
           "--index-url", variant_index, "--require-hashes", "--no-deps",
           "-r", str(pinned)], env)  # fmt: skip
    add("uv venv + uv pip install, same hash-pinned set (cold)", time.perf_counter() - start)
    add("ptenv install, already installed (no-op)", timed(
        [ptenv, "install", "--venv", str(work / "a" / ".venv"), *common], fresh_env("a")
    ))  # fmt: skip
    shutil.rmtree(work, ignore_errors=True)
    return packages


if __name__ == "__main__":
    main()

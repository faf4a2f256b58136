"""`ptenv install --cuda cpu` vs bare `uv venv` + `uv pip install` vs `python -m venv` +
`pip install`, same loopback index, same real CPU torch wheel, cold and warm caches.

    python benchmarks/install.py [--runs 3]

The index serves torch and its dependencies on 127.0.0.1 (see tests/index_server.py).
`ptenv install` runs with --no-check so that the same work is timed on both sides.
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _timing import seconds_of, Timing, machine_line, markdown_table  # noqa: E402

from ptenv.install import lock as lockfile  # noqa: E402
from tests.index_server import serve  # noqa: E402
from tests.torch_venv import TORCH_VERSION, fill_index_folder  # noqa: E402


def _replay_pair(
    ptenv: str, uv: str, base: Path, url: str, add: Callable[[str, float], None]
) -> None:
    """ptenv replaying the cold install's lock beside uv installing the same hash-pinned set."""
    lock = base / "pylock.ptenv-cold.toml"
    replay_env = {**os.environ, "UV_CACHE_DIR": str(base / "uv-cache-replay")}
    argv = [ptenv, "install", "--venv", str(base / "replayed"), "--lock", str(lock), "--no-check"]
    add("ptenv install --lock, replay (cold cache)", seconds_of(argv, replay_env))
    pinned = base / "pinned.txt"
    pinned.write_text(
        "".join(
            f"{p.name}=={p.version} --hash=sha256:{p.sha256}\n"
            for p in lockfile.read(lock).packages
        )
    )
    env = {**os.environ, "UV_CACHE_DIR": str(base / "uv-cache-pinned")}
    python = str(base / "uv-pinned" / "bin" / "python")
    start = time.perf_counter()
    seconds_of([uv, "venv", "--python", sys.executable, str(base / "uv-pinned")], env)
    seconds_of([uv, "pip", "install", "--python", python, "--index-url", url, "--require-hashes",
         "--no-deps", "-r", str(pinned)], env)  # fmt: skip
    add("uv venv + uv pip install, same hash-pinned set (cold)", time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-pip", action="store_true", help="skip the (slow) bare pip rows")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ptenv-bench-install-"))
    bin_dir = Path(sys.executable).parent
    ptenv, uv = str(bin_dir / "ptenv"), str(bin_dir / "uv")
    pin = f"torch=={TORCH_VERSION}+cpu"
    results: dict[str, list[float]] = {}

    def add(label: str, seconds: float) -> None:
        results.setdefault(label, []).append(seconds)

    with serve(work / "served") as index:
        fill_index_folder(index.root / "cpu", ROOT / ".bench" / "wheelhouse")
        url = f"{index.url}/cpu"
        for attempt in range(args.runs):
            base = work / f"run{attempt}"
            env = {**os.environ, "UV_CACHE_DIR": str(base / "uv-cache")}
            pip_env = {
                **os.environ,
                "PIP_CACHE_DIR": str(base / "pip-cache"),
                "PIP_CONFIG_FILE": os.devnull,
            }
            for temperature in ("cold", "warm"):
                target = base / f"ptenv-{temperature}"
                add(
                    f"ptenv install ({temperature} uv cache)",
                    seconds_of(
                        [
                            ptenv,
                            "install",
                            "--venv",
                            str(target),
                            "--index-base",
                            index.url,
                            "--torch",
                            TORCH_VERSION,
                            "--cuda",
                            "cpu",
                            "--no-check",
                            "--yes",
                        ],
                        env,
                    ),
                )
            add(
                "ptenv install, already installed (no-op)",
                seconds_of(
                    [
                        ptenv,
                        "install",
                        "--venv",
                        str(base / "ptenv-warm"),
                        "--index-base",
                        index.url,
                        "--torch",
                        TORCH_VERSION,
                        "--cuda",
                        "cpu",
                        "--no-check",
                    ],
                    env,
                ),
            )
            _replay_pair(ptenv, uv, base, url, add)
            uv_env = {**os.environ, "UV_CACHE_DIR": str(base / "uv-cache-bare")}
            for temperature in ("cold", "warm"):
                target = base / f"uv-{temperature}"
                start = time.perf_counter()
                seconds_of([uv, "venv", "--python", sys.executable, str(target)], uv_env)
                seconds_of(
                    [
                        uv,
                        "pip",
                        "install",
                        "--python",
                        str(target / "bin" / "python"),
                        "--index-url",
                        url,
                        pin,
                    ],
                    uv_env,
                )
                add(f"uv venv + uv pip install ({temperature} cache)", time.perf_counter() - start)
            for temperature in () if args.no_pip else ("cold", "warm"):
                target = base / f"pip-{temperature}"
                start = time.perf_counter()
                seconds_of([sys.executable, "-m", "venv", str(target)], pip_env)
                seconds_of(
                    [
                        str(target / "bin" / "python"),
                        "-m",
                        "pip",
                        "install",
                        "--disable-pip-version-check",
                        "--index-url",
                        url,
                        pin,
                    ],
                    pip_env,
                )
                add(
                    f"python -m venv + pip install ({temperature} cache)",
                    time.perf_counter() - start,
                )
            shutil.rmtree(base, ignore_errors=True)
    shutil.rmtree(work, ignore_errors=True)
    timings = [Timing(label, (), tuple(samples)) for label, samples in results.items()]
    cold_uv = next(t.median for t in timings if t.label == "uv venv + uv pip install (cold cache)")
    pinned_s = next(t.median for t in timings if "hash-pinned" in t.label)
    budgets = {  # issue #13: 1.05x bare uv cold and hash-pinned, a 0.5 s no-op
        "ptenv install (cold uv cache)": round(cold_uv * 1.05, 2),
        "ptenv install --lock, replay (cold cache)": round(pinned_s * 1.05, 2),
        "ptenv install, already installed (no-op)": 0.5,
    }
    print(f"Machine: {machine_line()}\n")
    print(markdown_table(timings, budgets))
    print("\nBudgets: 1.05 x bare uv cold / hash-pinned, measured in this same run; no-op 0.5 s.")


if __name__ == "__main__":
    main()

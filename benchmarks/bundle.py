"""`ptenv bundle` of the real CPU torch stack beside `pip download` of the same set, from the
same loopback index: seconds (median of several runs, each into an empty folder) and size.

    python benchmarks/bundle.py [--runs 3]

The index serves the real CPU torch wheel and its dependencies on 127.0.0.1
(tests/index_server.py). pip runs isolated (no user configuration, no cache).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _timing import seconds_of, Timing, machine_line, markdown_table  # noqa: E402

from tests.index_server import serve  # noqa: E402
from tests.torch_venv import TORCH_VERSION, fill_index_folder  # noqa: E402


def _size(folder: Path) -> tuple[int, int]:
    wheels = list(folder.glob("*.whl"))
    return len(wheels), sum(w.stat().st_size for w in wheels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ptenv-bench-bundle-"))
    ptenv = str(Path(sys.executable).parent / "ptenv")
    minor = f"{sys.version_info[0]}.{sys.version_info[1]}"
    results: dict[str, list[float]] = {}
    sizes: dict[str, tuple[int, int]] = {}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env["PIP_CONFIG_FILE"] = os.devnull
    with serve(work / "served") as index:
        fill_index_folder(index.root / "cpu", ROOT / ".bench" / "wheelhouse")
        bundle_flags = [
            "--index-base",
            index.url,
            "--torch",
            TORCH_VERSION,
            "--cuda",
            "cpu",
            "--gpu",
            "none",
            "--python",
            minor,
            "--os",
            "linux",
            "--arch",
            "x86_64",
        ]
        for attempt in range(args.runs):
            base = work / f"run{attempt}"
            out = base / "bundle"
            bundle = [ptenv, "bundle", "--out", str(out), *bundle_flags]
            uv_env = {**env, "UV_CACHE_DIR": str(base / "uv-cache")}
            label = "ptenv bundle (target: linux-x86_64, this Python, cpu)"
            results.setdefault(label, []).append(seconds_of(bundle, uv_env))
            sizes[label] = _size(out)
            label = "ptenv bundle again (everything there: a resumed run)"
            results.setdefault(label, []).append(seconds_of(bundle, uv_env))
            downloaded = base / "pip-download"
            pip = [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-cache-dir",
                "--disable-pip-version-check",
                "--only-binary=:all:",
                "--index-url",
                f"{index.url}/cpu",
                "-d",
                str(downloaded),
                f"torch=={TORCH_VERSION}+cpu",
            ]
            label = "pip download, same pins and index (no cache)"
            results.setdefault(label, []).append(seconds_of(pip, env))
            sizes[label] = _size(downloaded)
            shutil.rmtree(base, ignore_errors=True)
    shutil.rmtree(work, ignore_errors=True)
    timings = [Timing(label, (), tuple(samples)) for label, samples in results.items()]
    print(f"Machine: {machine_line()}\n")
    print(markdown_table(timings, {}))
    print()
    for label, (count, total) in sizes.items():
        print(f"- {label}: {count} wheels, {total / 1e6:.1f} MB")


if __name__ == "__main__":
    main()

"""The lock: the installer's own record (pip --report, uv's pylock), PEP 751 on disk, one per
venv, validated when read, replayed hash-checked from its wheels' URLs; against a loopback
index shaped like the real CUDA one (nvidia-* wheels with manylinux1 / manylinux2010 tags)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ptenv.cli import app
from tests.index_server import Index, serve

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

runner = CliRunner()
PY = f"cp{sys.version_info[0]}{sys.version_info[1]}"
TAG = f"{PY}-{PY}-manylinux_2_28_x86_64"
NVTX = "nvidia_nvtx_cu12-12.6.77-py3-none-manylinux1_x86_64.manylinux_2_5_x86_64.whl"
NVRTC = "nvidia_cuda_nvrtc_cu12-12.6.77-py3-none-manylinux2010_x86_64.manylinux_2_12_x86_64.whl"
CUDA_ARGS = ("--torch", "2.7.1", "--cuda", "cu126", "--driver", "560.35.03")


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))


@pytest.fixture
def cuda_index(tmp_path: Path) -> Iterator[Index]:
    """torch 2.7.1+cu126 needing two nvidia-* wheels with the real, old platform tags."""
    with serve(tmp_path / "served") as index:
        requires = ("nvidia-nvtx-cu12==12.6.77", "nvidia-cuda-nvrtc-cu12==12.6.77")
        index.add("cu126", f"torch-2.7.1+cu126-{TAG}.whl", requires=requires)
        index.add("cu126", NVTX)
        index.add("cu126", NVRTC)
        yield index


def install(*args: str) -> tuple[int, dict[str, Any], str]:
    result = runner.invoke(app, ["install", "--json", "--no-check", *args])
    document = json.loads(result.stdout) if result.stdout.strip() else {}
    return result.exit_code, document, result.stderr


def read(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    return document


@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_a_cuda_shaped_install_locks_every_wheel_and_replays_it(
    cuda_index: Index, tmp_path: Path, installer: str
) -> None:
    code, document, err = install(
        "--venv", ".venv", "--index-base", cuda_index.url, "--installer", installer, *CUDA_ARGS
    )
    assert code == 0, err
    lock = tmp_path / "pylock.venv.toml"
    assert document["lock"] == str(lock)
    packages = {p["name"]: p for p in read(lock)["packages"]}
    assert set(packages) == {"torch", "nvidia-nvtx-cu12", "nvidia-cuda-nvrtc-cu12"}
    for package in packages.values():
        (wheel,) = package["wheels"]
        assert wheel["url"].startswith(cuda_index.url) and len(wheel["hashes"]["sha256"]) == 64
    assert packages["nvidia-nvtx-cu12"]["wheels"][0]["name"] == NVTX
    served = len(cuda_index.requests)
    code, document, err = install("--venv", "copy", "--lock", str(lock), "--installer", installer)
    assert code == 0, err
    names = {item["name"] for item in document["installed"]}
    assert names == {"torch", "nvidia-nvtx-cu12", "nvidia-cuda-nvrtc-cu12"}
    replay = cuda_index.requests[served:]
    assert replay and not any(path.endswith("/") for path in replay)  # wheels only, no pages
    assert (tmp_path / "pylock.copy.toml").is_file()  # the copy has its own lock
    assert read(lock)["tool"]["ptenv"]["venv"] == ".venv"  # the lock it read is unchanged


def test_sibling_venvs_get_a_lock_each(cuda_index: Index, tmp_path: Path) -> None:
    assert install("--venv", "a", "--index-base", cuda_index.url, *CUDA_ARGS)[0] == 0
    assert install("--venv", "b", "--index-base", cuda_index.url, *CUDA_ARGS)[0] == 0
    assert read(tmp_path / "pylock.a.toml")["tool"]["ptenv"]["venv"] == "a"
    assert read(tmp_path / "pylock.b.toml")["tool"]["ptenv"]["venv"] == "b"
    assert not (tmp_path / "ptenv.lock").exists()
    (tmp_path / "pylock.a.toml").write_text("broken")
    doctor = runner.invoke(app, ["doctor", "--venv", "b", "--json", "--driver", "560.35.03"])
    codes = [f["code"] for f in json.loads(doctor.stdout)["findings"]]
    assert "lock-drift" not in codes  # a's broken lock is not b's business


def test_the_venvs_own_lock_is_honoured_until_upgrade(tmp_path: Path) -> None:
    args = ("--torch", "2.7", "--cuda", "cu126", "--driver", "560.35.03", "--yes")
    with serve(tmp_path / "lagging") as index:
        index.add("cu126", f"torch-2.7.0+cu126-{TAG}.whl")
        code, document, err = install("--venv", ".venv", "--index-base", index.url, *args)
        assert code == 0 and document["plan"]["torch"] == "2.7.0", err
        index.add("cu126", f"torch-2.7.1+cu126-{TAG}.whl")  # the index catches up
        code, document, err = install("--venv", ".venv", "--index-base", index.url, *args)
        assert code == 0 and document["action"] == "already-installed", err
        assert any("Reproducing the lock" in r for r in document["plan"]["reasons"])
        code, document, err = install(
            "--venv", ".venv", "--index-base", index.url, *args, "--upgrade"
        )
        assert code == 0 and document["plan"]["torch"] == "2.7.1", err
        plan = read(tmp_path / "pylock.venv.toml")["tool"]["ptenv"]["plan"]
        assert plan["torch"] == "2.7.1"
        pinned = ("--torch", "2.7.0", "--cuda", "cu126", "--driver", "560.35.03", "--yes")
        code, document, err = install("--venv", ".venv", "--index-base", index.url, *pinned)
        assert code == 0 and document["plan"]["torch"] == "2.7.0", err  # another ask: resolved


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda t: t[: len(t) // 2], "is not valid TOML"),
        (lambda t: t.replace('lock-version = "1.0"', 'lock-version = "2.0"'), "lock-version"),
        (lambda t: t.replace('schema = "ptenv.pylock/1"', 'schema = "other"'), "not a ptenv lock"),
        (lambda t: t.replace("[tool.ptenv]", "[tool.other]"), "tool.ptenv is missing"),
        (
            lambda t: t.replace('name = "torch"', 'name = "torch\\nevil @ file:///x.tar.gz"'),
            "not a distribution name",
        ),
        (lambda t: t.replace('version = "2.7.1+cu126"', 'version = "two"'), "not a version"),
        (lambda t: t.replace("http://127.0.0.1", "http://192.0.2.7", 1), "only https"),
        (lambda t: t.replace('.whl", hashes', '.tar.gz", hashes', 1), "not a wheel"),
        (lambda t: t.replace('sha256 = "', 'sha256 = "zz', 1), "not 64 hex digits"),
        (lambda t: t.replace("[[packages]]", "[[nothing]]"), "packages is missing"),
    ],
)
def test_a_damaged_lock_is_exit_2_naming_the_file_and_the_problem(
    cuda_index: Index, tmp_path: Path, change: Any, problem: str
) -> None:
    assert install("--venv", ".venv", "--index-base", cuda_index.url, *CUDA_ARGS)[0] == 0
    bad = tmp_path / "pylock.bad.toml"
    bad.write_text(change((tmp_path / "pylock.venv.toml").read_text()))
    code, _document, err = install("--venv", "other", "--lock", str(bad))
    assert code == 2, err
    assert str(bad) in err and problem in err
    assert "Traceback" not in err and not (tmp_path / "other").exists()


def test_doctor_turns_a_damaged_own_lock_into_a_finding(cuda_index: Index, tmp_path: Path) -> None:
    assert install("--venv", ".venv", "--index-base", cuda_index.url, *CUDA_ARGS)[0] == 0
    (tmp_path / "pylock.venv.toml").write_text("lock-version = [")
    result = runner.invoke(app, ["doctor", "--venv", ".venv", "--json"])
    assert result.exit_code in (0, 1), result.output
    findings = {f["code"]: f for f in json.loads(result.stdout)["findings"]}
    assert "is not valid TOML" in findings["lock-drift"]["message"]


def test_an_old_ptenv_lock_is_read_with_a_deprecation_note() -> None:
    golden = Path(__file__).parent.parent / "data" / "golden" / "ptenv.lock"
    old = json.loads(golden.read_text())
    assert old["schema"] == "ptenv.lock/1"
    code, document, err = install("--venv", "old", "--lock", str(golden), "--dry-run")
    assert code == 0, err
    assert any("old JSON format" in w for w in document["warnings"])

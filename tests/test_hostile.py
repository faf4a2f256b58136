"""Hostile and unlucky input, as an attacker or a bad day would give it: index pages that lie,
crafted locks, odd paths and flags. Each case must end in one sentence, a hint and exit 2, 3
or 4 — never a traceback or exit 70, never a half-made venv, never a secret printed.

More of this pass lives beside the code it hardens: redirects, proxies, drip feeds and
stalls in tests/install/test_network.py, URL vetting in test_vetting.py, damaged locks in
test_lock.py, malformed flags in tests/cli/test_rough_edges.py.
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from ptenv.cli import app
from tests.index_server import Index, serve

runner = CliRunner()
PY = f"cp{sys.version_info[0]}{sys.version_info[1]}"
TORCH = f"torch-2.15.0+cpu-{PY}-{PY}-manylinux_2_28_x86_64.whl"
MINOR = f"{sys.version_info[0]}.{sys.version_info[1]}"


@pytest.fixture
def index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Index]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))
    with serve(tmp_path / "served") as served:
        served.add("cpu", TORCH, requires=("filelock",))
        served.add("cpu", "filelock-3.20.0-py3-none-any.whl")
        yield served


def _clean_failure(result: Result, codes: tuple[int, ...]) -> str:
    """The error line, after checking the failure is one of `codes` and told cleanly."""
    said = result.output
    assert result.exit_code in codes, said
    assert "Traceback" not in said and "internal error" not in said, said
    assert re.search(r"^error: .+", said, re.MULTILINE), said
    assert "hint: " in said, said
    return said


def _install(index: Index, *more: str) -> Result:
    return runner.invoke(
        app, ["install", "--no-check", "--venv", "env", "--index-base", index.url, *more]
    )


# --- index pages that lie ---------------------------------------------------------------------


def test_a_page_larger_than_any_index_page_is_refused(index: Index, tmp_path: Path) -> None:
    index.pages["cpu/torch"] = b"<html>" + b"<!-- padding -->" * (5 * 2**20)  # 80 MB
    result = runner.invoke(app, ["plan", "--verify-index", "--index-base", index.url, "--gpu",
                                 "none", "--cuda", "cpu"])  # fmt: skip
    assert "larger than 64 MB" in _clean_failure(result, (4,))


@pytest.mark.parametrize(
    "page",
    [
        b"\x00\x01\x02 not html at all \xff\xfe",
        b'<a href="torch.whl">torch-2.15.0+cpu-cp3x\n--extra-index-url http://evil/ .whl</a>',
        b'<a href="javascript:alert(1)">' + TORCH.encode() + b"</a>",
        b'<a href="' + b"x" * 100_000 + b'">' + TORCH.encode() + b"</a>",
    ],
    ids=["binary", "newline-in-a-name", "javascript-link", "huge-link"],
)
def test_a_page_of_garbage_is_no_torch_not_a_crash(index: Index, page: bytes) -> None:
    index.pages["cpu/torch"] = page
    result = _install(index, "--cuda", "cpu")
    _clean_failure(result, (3, 4))
    assert not Path("env").exists()
    assert not any("evil" in r for r in index.requests)


def test_a_page_linking_a_device_file_neither_hangs_nor_installs(index: Index) -> None:
    """file:///dev/zero read as a wheel would never end; it must not be read at all."""
    index.pages["cpu/filelock"] = (
        b'<a href="file:///dev/zero#sha256=' + b"0" * 64 + b'">filelock-3.20.0-py3-none-any.whl</a>'
    )
    result = _install(index, "--cuda", "cpu")
    said = _clean_failure(result, (4,))
    assert "local file" in said or "filelock" in said
    assert not Path("env").exists()


class _Tripwire:
    """A FIFO named like a wheel: whoever opens it to read is recorded (a regular file's
    reads leave no trace to test; relatime hides them)."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir()
        self.path = folder / "filelock-3.20.0-py3-none-any.whl"
        os.mkfifo(self.path)
        self.opened = threading.Event()
        threading.Thread(target=self._wait, daemon=True).start()

    def _wait(self) -> None:
        fd = os.open(self.path, os.O_WRONLY)  # blocks until a reader opens it
        self.opened.set()
        os.close(fd)

    def release(self) -> None:
        """Open it ourselves so the waiting thread ends."""
        if not self.opened.is_set():
            os.close(os.open(self.path, os.O_RDONLY | os.O_NONBLOCK))
            time.sleep(0.05)


@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_a_local_file_linked_by_a_remote_page_is_never_opened(
    index: Index, tmp_path: Path, installer: str
) -> None:
    """The resolver used to open it (for its metadata) before ptenv vetted the resolution:
    the pages reach the installer through ptenv's gate, without that link."""
    wire = _Tripwire(tmp_path / "elsewhere")
    index.pages["cpu/filelock"] = (
        f'<a href="file://{wire.path}#sha256={"0" * 64}">{wire.path.name}</a>'.encode()
    )
    try:
        result = _install(index, "--cuda", "cpu", "--installer", installer)
        said = _clean_failure(result, (4,))
    finally:
        opened = wire.opened.is_set()
        wire.release()
    assert not opened, "the installer opened a file a remote page pointed at"
    assert "left out 1 link" in said and "a local file in no folder named" in said, said
    assert "localhost:" not in said, said  # no gate URL shown
    assert not Path("env").exists()


def test_the_gate_keeps_a_page_s_attributes_and_serves_only_vetted_links(
    index: Index, tmp_path: Path
) -> None:
    """What the installer reads: the same files, each behind the gate (which follows only
    redirects ptenv allows), Requires-Python and metadata hashes kept, plain http elsewhere
    dropped (never contacted: the page is only parsed); the record maps back to real URLs."""
    from ptenv import _http
    from ptenv.install import gate
    from ptenv.install.sources import Source, SourceKind

    index.pages["cpu/filelock"] = (
        b'<a href="../../files/filelock-3.20.0-py3-none-any.whl#sha256=' + b"a" * 64 + b'" '
        b'data-requires-python="&gt;=3.9" data-dist-info-metadata="sha256=' + b"b" * 64 + b'">'
        b"filelock-3.20.0-py3-none-any.whl</a>\n"
        b'<a href="http://192.0.2.7/filelock-3.19.0-py3-none-any.whl">'
        b"filelock-3.19.0-py3-none-any.whl</a>"
    )
    source = Source(kind=SourceKind.INDEX, label="index", index_url=f"{index.url}/cpu")
    _http.configure(None)
    with gate.gated(source, insecure=False, env={"PTENV_DATA_DIR": str(tmp_path)}) as front:
        assert front.source.index_url and front.source.index_url.startswith("http://localhost:")
        served = _http.get_page(f"{front.source.index_url}filelock/").text
        gate_link = f"{front.prefix}w0/filelock-3.20.0-py3-none-any.whl"
        restored = front.restore(f'url = "{gate_link}"')
    assert f'href="{gate_link}#sha256={"a" * 64}"' in served  # the file, through the gate too
    assert restored == f'url = "{index.url}/files/filelock-3.20.0-py3-none-any.whl"'
    assert 'data-requires-python="&gt;=3.9"' in served
    assert f'data-dist-info-metadata="sha256={"b" * 64}"' in served
    assert "192.0.2.7" not in served and "3.19.0" not in served
    assert [r.why for r in front.refused] == [
        "plain http on another host (it could be tampered with on the way)"
    ]
    assert not any("192.0.2.7" in r for r in index.requests)


@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_a_wheel_url_that_redirects_to_plain_http_elsewhere_is_refused_before_any_fetch(
    index: Index, installer: str
) -> None:
    """The page is clean; the file's own server sends the installer elsewhere. ptenv asks
    where each chosen wheel leads before the installer does (192.0.2.7 is never contacted:
    the refusal comes from reading the Location header)."""
    index.redirect_files["filelock-3.20.0-py3-none-any.whl"] = (
        "http://192.0.2.7/filelock-3.20.0-py3-none-any.whl"
    )
    result = _install(index, "--cuda", "cpu", "--installer", installer)
    said = _clean_failure(result, (4,))
    assert "filelock" in said and "plain http on another host" in said, said
    assert not Path("env").exists()


# --- crafted locks ----------------------------------------------------------------------------


@pytest.fixture
def locked(index: Index, tmp_path: Path) -> str:
    """A real lock, written by a real install, as text to tamper with."""
    done = _install(index, "--cuda", "cpu", "--torch", "2.15.0")
    assert done.exit_code == 0, done.output
    return (tmp_path / "pylock.env.toml").read_text(encoding="utf-8")


def _replay(text: str, *more: str) -> Result:
    Path("crafted.toml").write_text(text, encoding="utf-8")
    return runner.invoke(
        app, ["install", "--no-check", "--venv", "other", "--lock", "crafted.toml", *more]
    )


def _without_package(text: str, name: str) -> str:
    head, *entries = text.split("[[packages]]")
    tail = entries[-1][entries[-1].index("[tool.ptenv]") :]
    entries[-1] = entries[-1][: entries[-1].index("[tool.ptenv]")]
    kept = [e for e in entries if f'name = "{name}"' not in e]
    return head + "".join("[[packages]]" + e for e in kept) + tail


def test_a_lock_that_plans_torch_but_lists_none_is_refused(locked: str) -> None:
    """It used to replay as "Installed torch" into a venv that then had no torch."""
    said = _clean_failure(_replay(_without_package(locked, "torch")), (2,))
    assert "lists no such package" in said and not Path("other").exists()


@pytest.mark.parametrize("key", ["plan", "machine", "source", "schema"], ids=lambda k: f"no-{k}")
def test_a_lock_missing_a_key_is_exit_2_naming_it(locked: str, key: str) -> None:
    crafted = re.sub(rf"\n{key} = .*\n", "\n", locked, count=1)
    said = _clean_failure(_replay(crafted), (2,))
    assert "crafted.toml" in said and not Path("other").exists()


def test_a_lock_from_a_newer_ptenv_with_extra_keys_still_replays(locked: str) -> None:
    crafted = locked.replace("[tool.ptenv]\n", "[tool.ptenv]\nfuture-table = { a = 1 }\n")
    crafted = crafted.replace('name = "torch"\n', 'name = "torch"\nfuture-key = "x"\n', 1)
    result = _replay(crafted)
    assert result.exit_code == 0, result.output
    assert (Path("other") / "bin" / "python").exists()


def test_a_lock_whose_name_injects_a_requirement_line_is_refused(locked: str) -> None:
    crafted = locked.replace(
        'name = "filelock"', 'name = "filelock\\nevil @ file:///tmp/evil-1.0.tar.gz"', 1
    )
    said = _clean_failure(_replay(crafted), (2,))
    assert "not a distribution name" in said and not Path("other").exists()


def test_a_lock_with_a_tampered_hash_installs_nothing(locked: str) -> None:
    digest = re.search(r'sha256 = "([0-9a-f]{64})"', locked)
    assert digest is not None
    crafted = locked.replace(digest.group(1), "0" * 64, 1)
    _clean_failure(_replay(crafted), (4,))
    assert not Path("other").exists()


def test_doctor_reports_a_lock_missing_a_key_as_a_finding(locked: str, tmp_path: Path) -> None:
    lock = tmp_path / "pylock.env.toml"
    lock.write_text(re.sub(r"\nmachine = .*\n", "\n", locked, count=1), encoding="utf-8")
    result = runner.invoke(app, ["doctor", "--venv", "env"])
    assert result.exit_code in (0, 1), result.output
    assert "Traceback" not in result.output and "machine is missing" in result.output


# --- paths and flags --------------------------------------------------------------------------


def test_full_width_digits_are_not_a_driver_version() -> None:
    full_width = "\uff15\uff15\uff10.\uff15\uff14"  # 550.54 in full-width digits
    result = runner.invoke(app, ["plan", "--driver", full_width, "--gpu", "8.6"])
    assert "not an NVIDIA driver version" in _clean_failure(result, (2,))


def test_python_dot_slash_names_that_file_not_one_on_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    script = tmp_path / "x"
    script.write_text("#!/bin/sh\necho not a python\n")
    script.chmod(0o755)
    result = runner.invoke(app, ["install", "--python", "./x", "--venv", "v", "--dry-run",
                                 "--cuda", "cpu"])  # fmt: skip
    said = _clean_failure(result, (2,))
    assert str(script) in said and "No such file" not in said


def test_a_cache_dir_that_cannot_be_made_is_said_before_the_check_runs(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("")
    venv = tmp_path / "venv"
    venv.mkdir()
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (venv / "bin").mkdir()
    (venv / "bin" / "python").symlink_to(sys.executable)
    result = runner.invoke(app, ["check", "--venv", str(venv), "--cache-dir",
                                 str(tmp_path / "afile" / "cache"), "--device", "cpu"])  # fmt: skip
    said = _clean_failure(result, (2,))
    assert "--cache-dir" in said and "import" not in said.split("error:")[0]


def test_a_venv_that_is_a_mount_point_is_refused_up_front() -> None:
    mount = next((p for p in ("/dev/shm", "/proc", "/sys") if os.path.ismount(p)), None)
    if mount is None:
        pytest.skip("no mount point to try")
    result = runner.invoke(app, ["install", "--venv", mount, "--dry-run", "--cuda", "cpu"])
    assert "mount point" in _clean_failure(result, (2,))


def test_a_symlinked_venv_is_updated_at_its_target_and_keeps_the_link(
    index: Index, tmp_path: Path
) -> None:
    assert _install(index, "--cuda", "cpu", "--torch", "2.15.0").exit_code == 0
    (tmp_path / "link").symlink_to(tmp_path / "env")
    result = runner.invoke(app, ["install", "--no-check", "--venv", "link", "--index-base",
                                 index.url, "--cuda", "cpu", "--reinstall"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (tmp_path / "link").is_symlink() and (tmp_path / "link" / "bin" / "python").exists()
    leftovers = [p.name for p in tmp_path.iterdir() if "ptenv-" in p.name]
    assert leftovers == [], leftovers


def test_a_venv_under_proc_is_refused_with_a_sentence() -> None:
    result = runner.invoke(app, ["install", "--venv", "/proc/self/xx", "--cuda", "cpu",
                                 "--find-links", "/nonexistent"])  # fmt: skip
    _clean_failure(result, (2, 4))


def test_check_timeout_bounds_the_whole_command_probes_included(tmp_path: Path) -> None:
    """A venv whose interpreter hangs: the static probe used to wait its own 30 s first."""
    venv = tmp_path / "hanging"
    (venv / "bin").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    python = venv / "bin" / "python"
    python.write_text("#!/bin/sh\nexec sleep 120\n")
    python.chmod(0o755)
    began = time.monotonic()
    result = runner.invoke(app, ["check", "--venv", str(venv), "--timeout", "4", "--device",
                                 "cpu"])  # fmt: skip
    took = time.monotonic() - began
    assert result.exit_code == 5, result.output
    assert "--timeout" in result.output and took < 12, took

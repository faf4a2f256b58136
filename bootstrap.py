"""Set up ptenv with nothing but a stock python3: no pip, no venv module, PEP 668 honoured.

    python3 bootstrap.py [--index-url URL] [--prefix DIR] [--bin-dir DIR] [--no-doctor]

It finds uv (on PATH, else it fetches the uv wheel: from --index-url / PIP_INDEX_URL /
UV_DEFAULT_INDEX, else with a pip it finds — python3 -m pip or the pip wheel the distribution
ships — else from the indexes and find-links of pip's configuration files), makes ptenv's own
environment in the user data folder with `uv venv` (which needs no ensurepip), installs this
checkout into it with the same sources, links `ptenv` into ~/.local/bin, and runs
`ptenv doctor`. It never installs into the system Python. Standard library only.
"""

from __future__ import annotations

import argparse
import configparser
import html.parser
import json
import os
import platform
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

MINIMUM_PYTHON = (3, 10)
ROOT = Path(__file__).resolve().parent
TIMEOUT_S = 60


class BootstrapError(Exception):
    """One sentence for the user, and a hint."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


class Sources(NamedTuple):
    """Where packages come from: an index (None: the installer's default), extras, folders."""

    index_url: str | None
    extra_index_urls: tuple[str, ...]
    find_links: tuple[str, ...]
    cert: str | None

    def uv_flags(self) -> list[str]:
        flags: list[str] = []
        if self.index_url:
            flags += ["--index-url", self.index_url]
        for url in self.extra_index_urls:
            flags += ["--extra-index-url", url]
        for link in self.find_links:
            flags += ["--find-links", link]
        return flags


# --- where packages come from --------------------------------------------------------------


def pip_config_files(env: dict[str, str]) -> list[Path]:
    """pip's configuration files, lowest priority first (global, user, site ignored)."""
    if env.get("PIP_CONFIG_FILE"):
        return [Path(env["PIP_CONFIG_FILE"])]
    xdg_dirs = env.get("XDG_CONFIG_DIRS", "/etc/xdg").split(":")
    home = Path(env.get("HOME", str(Path.home())))
    config_home = Path(env.get("XDG_CONFIG_HOME", str(home / ".config")))
    files = [Path("/etc/pip.conf"), *(Path(d) / "pip" / "pip.conf" for d in reversed(xdg_dirs))]
    return [*files, home / ".pip" / "pip.conf", config_home / "pip" / "pip.conf"]


def read_sources(explicit: str | None, env: dict[str, str]) -> Sources:
    """The index the user named, else PIP_*/UV_* variables, else pip's configuration files."""
    values: dict[str, str] = {}
    for path in pip_config_files(env):
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read(path, encoding="utf-8")
        except (configparser.Error, OSError):
            continue
        for section in ("global", "install", "download"):
            if parser.has_section(section):
                values.update(parser.items(section))
    for key in ("index-url", "extra-index-url", "find-links", "cert"):
        variable = "PIP_" + key.upper().replace("-", "_")
        if env.get(variable):
            values[key] = env[variable]
    index = explicit or env.get("UV_DEFAULT_INDEX") or env.get("UV_INDEX_URL")
    return Sources(
        index_url=index or values.get("index-url") or None,
        extra_index_urls=tuple(values.get("extra-index-url", "").split()),
        find_links=tuple(link for link in values.get("find-links", "").split() if _usable(link)),
        cert=values.get("cert") or None,
    )


def _usable(link: str) -> bool:
    """A find-links folder that is not there is skipped (with a word), as pip skips it."""
    if "://" in link and not link.startswith("file:"):
        return True
    folder = Path(urllib.parse.urlsplit(link).path if link.startswith("file:") else link)
    if folder.exists():
        return True
    say(f"find-links {link} does not exist here; skipped")
    return False


# --- which uv wheel fits this machine ------------------------------------------------------


def platform_tags(system: str, machine: str, libc: tuple[str, int, int] | None) -> list[str]:
    """Platform tags this machine accepts, most specific first (what uv publishes for)."""
    arch = {"amd64": "x86_64", "arm64": "aarch64"}.get(machine.lower(), machine.lower())
    if system == "Linux":
        if libc is None:
            return [f"linux_{arch}"]
        name, major, minor = libc
        if name == "musl":
            return [f"musllinux_{major}_{m}_{arch}" for m in range(minor, -1, -1)]
        tags = [f"manylinux_{major}_{m}_{arch}" for m in range(minor, 4, -1)]
        legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
        return tags + [f"{alias}_{arch}" for m, alias in legacy.items() if m <= minor]
    if system == "Darwin":
        mac_arch = "arm64" if arch == "aarch64" else arch
        arches = (mac_arch, "universal2")
        modern = [f"macosx_{v}_0_{a}" for v in range(16, 10, -1) for a in arches]
        return modern + [f"macosx_10_{v}_{a}" for v in range(16, 8, -1) for a in arches]
    if system == "Windows":
        return [{"x86_64": "win_amd64", "aarch64": "win_arm64"}.get(arch, "win32")]
    return []


def this_libc() -> tuple[str, int, int] | None:
    try:
        text = os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (ValueError, OSError, AttributeError):
        text = ""
    match = re.match(r"glibc (\d+)\.(\d+)", text)
    if match:
        return ("glibc", int(match.group(1)), int(match.group(2)))
    if any(Path("/lib").glob("ld-musl-*")):
        return ("musl", 1, 2)
    return None


_WHEEL = re.compile(r"^uv-(?P<version>[0-9][^-]*)-py3-none-(?P<platforms>[^-]+)\.whl$")


def pick_uv_wheel(filenames: list[str], accepted: list[str]) -> str | None:
    """The newest uv wheel built for one of the accepted platform tags."""
    best: tuple[tuple[int, ...], int, str] | None = None
    for name in filenames:
        match = _WHEEL.match(name)
        if not match:
            continue
        ranks = [accepted.index(t) for t in match.group("platforms").split(".") if t in accepted]
        numbers = re.findall(r"\d+", match.group("version"))
        if not ranks or not re.fullmatch(r"[0-9.]+", match.group("version")):
            continue  # no fitting platform, or a pre-release
        key = (tuple(int(n) for n in numbers), -min(ranks), name)
        if best is None or key > best:
            best = key
    return best[2] if best else None


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href")
        if tag == "a" and href:
            self.hrefs.append(href)


def _get(url: str, accept: str | None = None) -> tuple[str, bytes]:
    if urllib.parse.urlsplit(url).scheme not in ("http", "https", "file"):
        raise BootstrapError(f"{url} is not an http(s) or file URL.", "Give an index URL.")
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            return response.geturl(), response.read()
    except urllib.error.HTTPError as error:
        raise BootstrapError(f"{url} answered HTTP {error.code}.", "Check the index URL.") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        if "CERTIFICATE_VERIFY_FAILED" in str(reason):
            raise BootstrapError(
                f"The certificate of {url} is not trusted: {reason}.",
                "Behind a company proxy or CA? Point SSL_CERT_FILE at its CA bundle and run again.",
            ) from None
        raise BootstrapError(
            f"Cannot reach {url}: {reason}.",
            "Check the network, or pass --index-url with a PyPI mirror you can reach.",
        ) from None


def uv_links(index_url: str) -> dict[str, str]:
    """filename -> URL of the uv files on a PEP 691 / PEP 503 index."""
    page = index_url.rstrip("/") + "/uv/"
    final, body = _get(page, "application/vnd.pypi.simple.v1+json, text/html;q=0.1")
    text = body.decode("utf-8", errors="replace")
    if text.lstrip().startswith("{"):
        files = json.loads(text).get("files", [])
        return {f["filename"]: urllib.parse.urljoin(final, f["url"]) for f in files}
    parser = _Links()
    parser.feed(text)
    links = {}
    for href in parser.hrefs:
        url = urllib.parse.urljoin(final, href).split("#", 1)[0]
        links[urllib.parse.unquote(url.rsplit("/", 1)[-1])] = url
    return links


def folder_links(folder: str) -> dict[str, str]:
    path = Path(urllib.parse.urlsplit(folder).path if folder.startswith("file:") else folder)
    return {p.name: p.resolve().as_uri() for p in path.glob("uv-*.whl")}


def extract_uv(wheel: Path, into: Path) -> Path:
    """The uv executable from a uv wheel (its .data/scripts/uv member)."""
    name = "uv.exe" if os.name == "nt" else "uv"
    with zipfile.ZipFile(wheel) as archive:
        member = next((m for m in archive.namelist() if m.endswith(f".data/scripts/{name}")), None)
        if member is None:
            raise BootstrapError(f"{wheel.name} holds no {name}.", "Use another index.")
        into.mkdir(parents=True, exist_ok=True)
        target = into / name
        fresh = target.with_name(name + ".tmp")
        fresh.write_bytes(archive.read(member))
        fresh.chmod(fresh.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        fresh.replace(target)
    return target


def fetch_uv_from(links: dict[str, str], into: Path) -> Path | None:
    chosen = pick_uv_wheel(
        list(links), platform_tags(platform.system(), platform.machine(), this_libc())
    )
    if chosen is None:
        return None
    say(f"fetching {chosen}")
    with tempfile.TemporaryDirectory(prefix="ptenv-bootstrap-") as scratch:
        wheel = Path(scratch) / chosen
        wheel.write_bytes(_get(links[chosen])[1])
        return extract_uv(wheel, into)


def bundled_pip() -> list[str] | None:
    """A pip to run: this Python's own, else the pip wheel the distribution or CPython ships."""
    probe = subprocess.run(
        [sys.executable, "-m", "pip", "--version"], capture_output=True, check=False
    )
    if probe.returncode == 0:
        return [sys.executable, "-m", "pip"]
    folders = [Path("/usr/share/python-wheels")]  # Debian/Ubuntu ship pip's wheel here
    try:
        import ensurepip  # noqa: PLC0415 - only when there is no pip module

        folders.append(Path(ensurepip.__file__).parent / "_bundled")  # CPython's own builds
    except ImportError:
        pass
    wheels = sorted(w for folder in folders for w in folder.glob("pip-*.whl"))
    return [sys.executable, str(wheels[-1]) + "/pip"] if wheels else None


def fetch_uv_with_pip(pip: list[str], into: Path) -> Path | None:
    with tempfile.TemporaryDirectory(prefix="ptenv-bootstrap-") as scratch:
        say("fetching uv with " + ("pip" if pip[1] == "-m" else Path(pip[1]).parent.name))
        done = subprocess.run(
            [*pip, "download", "--no-deps", "--only-binary", ":all:", "--dest", scratch, "uv"],
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        wheels = sorted(Path(scratch).glob("uv-*.whl"))
        if done.returncode != 0 or not wheels:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            say("pip could not fetch uv: " + " / ".join(tail))
            return None
        return extract_uv(wheels[-1], into)


def _fetched_uv(sources: Sources, into: Path) -> Iterator[Path | None]:
    """Each way of fetching uv, tried lazily in order until one gives it."""
    if sources.index_url:
        yield fetch_uv_from(uv_links(sources.index_url), into)
    pip = bundled_pip()
    if pip is not None:
        yield fetch_uv_with_pip(pip, into)
    for url in sources.extra_index_urls:
        yield fetch_uv_from(uv_links(url), into)
    for folder in sources.find_links:
        yield fetch_uv_from(folder_links(folder), into)


def find_uv(sources: Sources, home: Path) -> Path:
    """uv on PATH, one fetched before, else fetched: named index, a pip, pip's other sources."""
    on_path = shutil.which("uv")
    if on_path:
        return Path(on_path)
    kept = home / "bin" / ("uv.exe" if os.name == "nt" else "uv")
    if kept.is_file():
        return kept
    found = next((path for path in _fetched_uv(sources, kept.parent) if path), None)
    if found is not None:
        return found
    raise BootstrapError(
        "No uv on PATH, no pip to fetch it with, and no index configured that holds a uv "
        "wheel for this machine.",
        "Pass --index-url URL (PyPI's simple index, or a mirror of it), or install uv.",
    )


# --- ptenv's own environment ---------------------------------------------------------------


def data_home(env: dict[str, str]) -> Path:
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "ptenv"
    if os.name == "nt":
        return Path(env.get("LOCALAPPDATA", str(Path.home()))) / "ptenv"
    return Path(env.get("XDG_DATA_HOME", str(Path.home() / ".local" / "share"))) / "ptenv"


def run(argv: list[str], env: dict[str, str], what: str) -> None:
    say(what)
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False, timeout=1800)
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-8:])
        raise BootstrapError(f"{what} failed (exit {done.returncode}):\n{tail}", _network_hint())


def _network_hint() -> str:
    return "Behind a PyPI mirror? Pass --index-url URL or set PIP_INDEX_URL, then run again."


def install(uv: Path, sources: Sources, home: Path, env: dict[str, str]) -> Path:
    """A new venv for ptenv, made current only when the install worked.

    Each venv keeps the folder it was built in (its scripts name that path), so a new one
    gets a new name and `current` is repointed at it; older ones are removed afterwards.
    """
    fresh = home / f"venv-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    uv_env = {k: v for k, v in env.items() if not k.startswith(("UV_INDEX", "UV_DEFAULT_INDEX"))}
    if sources.cert and "SSL_CERT_FILE" not in uv_env:
        uv_env["SSL_CERT_FILE"] = sources.cert  # pip's `cert`, for uv's own TLS
    try:
        run(
            [str(uv), "venv", "--no-project", "--python", sys.executable, str(fresh)],
            uv_env,
            f"creating ptenv's environment with Python {platform.python_version()}",
        )
        python = fresh / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
        run(
            [str(uv), "pip", "install", "--python", str(python), *sources.uv_flags(), str(ROOT)],
            uv_env,
            f"installing ptenv from {ROOT}",
        )
    except BaseException:
        shutil.rmtree(fresh, ignore_errors=True)
        raise
    current = home / "current"
    pointer = home / "current.new"
    if pointer.is_symlink() or pointer.exists():
        pointer.unlink()
    pointer.symlink_to(fresh.name)
    pointer.replace(current)  # atomic: `current` is the old venv or the new one, never neither
    for old in home.glob("venv-*"):
        if old != fresh:
            shutil.rmtree(old, ignore_errors=True)
    return current


def link(venv: Path, bin_dir: Path, env: dict[str, str]) -> Path:
    name = "ptenv.exe" if os.name == "nt" else "ptenv"
    real = venv / ("Scripts" if os.name == "nt" else "bin") / name
    bin_dir.mkdir(parents=True, exist_ok=True)
    target = bin_dir / name
    if target.is_symlink() or target.exists():
        target.unlink()
    try:
        target.symlink_to(real)
    except OSError:
        shutil.copy2(real, target)
    folders = [os.path.realpath(p) for p in env.get("PATH", "").split(os.pathsep) if p]
    if os.path.realpath(bin_dir) in folders:
        say(f"ptenv is on your PATH: {target}")
    else:
        home = str(Path.home())
        shown = "$HOME" + str(bin_dir)[len(home) :] if str(bin_dir).startswith(home) else bin_dir
        say(f"ptenv is at {target}; {bin_dir} is not on your PATH. Add it, e.g.:")
        say(f"    echo 'export PATH=\"{shown}:$PATH\"' >> ~/.bashrc")
    return target


def say(line: str) -> None:
    sys.stderr.write(f"bootstrap: {line}\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index-url", help="PyPI or a mirror of it (default: pip's config)")
    parser.add_argument("--prefix", type=Path, help="ptenv's own folder (default: data folder)")
    parser.add_argument("--bin-dir", type=Path, help="where to link ptenv (~/.local/bin)")
    parser.add_argument("--no-doctor", action="store_true", help="skip `ptenv doctor` at the end")
    args = parser.parse_args(argv)
    env = dict(os.environ)
    if sys.version_info < MINIMUM_PYTHON:
        say(f"error: ptenv needs Python {'.'.join(map(str, MINIMUM_PYTHON))} or newer.")
        say("hint: run this with a newer python3, e.g. python3.12 bootstrap.py")
        return 2
    home = args.prefix or data_home(env)
    bin_dir = args.bin_dir or Path.home() / ".local" / "bin"
    try:
        sources = read_sources(args.index_url, env)
        uv = find_uv(sources, home)
        say(f"uv: {uv}")
        venv = install(uv, sources, home, env)
        ptenv = link(venv, bin_dir, env)
    except BootstrapError as error:
        say(f"error: {error}")
        say(f"hint: {error.hint}")
        return 4
    except KeyboardInterrupt:
        say("interrupted; nothing was changed outside " + str(home))
        return 130
    if args.no_doctor:
        return 0
    return subprocess.run([str(ptenv), "doctor"], check=False).returncode


if __name__ == "__main__":
    sys.exit(main())

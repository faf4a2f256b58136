"""The installer backends (uv, pip) behind one small protocol: argv lists, nothing else.

ptenv drives the venv from outside: `uv pip install --python <venv python>` and
`<venv python> -m pip`. The user's configuration is read, not loaded: the installers run
isolated (uv --no-config, pip --isolated with no config file) and get back, as flags, only
the user's *network* settings (CA, client certificate, proxy, trusted hosts, keyring,
timeouts), so nothing in a config file can change where wheels come from. Neither ever
builds from source (uv --no-build, pip --only-binary :all:): an sdist's build backend is a
stranger's code, and torch and its dependencies all publish wheels.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ptenv import _proc, redact
from ptenv.errors import InstallFailed, UsageError
from ptenv.install.sources import Source

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

VENV_TIMEOUT_S = 300.0
STALL_TIMEOUT_S = 180.0  # no byte read, written or printed for this long: the link is dead
# Variables that would point an installer at sources other than the planned one.
INSTALLER_VARIABLES = (
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_FIND_LINKS",
    "PIP_NO_INDEX",
    "PIP_CONSTRAINT",
    "PIP_REQUIRE_HASHES",
    "UV_INDEX_URL",
    "UV_INDEX",
    "UV_DEFAULT_INDEX",
    "UV_EXTRA_INDEX_URL",
    "UV_FIND_LINKS",
    "UV_NO_INDEX",
    "UV_CONSTRAINT",
    "UV_PYTHON",
    "UV_NO_BUILD",
    "UV_NO_BINARY",
    "PIP_NO_BINARY",
    "PIP_ONLY_BINARY",
    "VIRTUAL_ENV",
    "CONDA_PREFIX",
)


@dataclass(frozen=True, kw_only=True)
class UserNetwork:
    """The user's installer settings that say *how* to reach an index, never *which* one."""

    cert: str | None = None  # a CA bundle (pip `cert`)
    client_cert: str | None = None
    proxy: str | None = None
    trusted_hosts: tuple[str, ...] = ()  # pip trusted-host, uv allow-insecure-host
    keyring_provider: str | None = None
    timeout: str | None = None  # pip `timeout` (seconds per read)
    retries: str | None = None
    system_certs: bool = False  # uv native-tls / system-certs


def pip_network(config: Mapping[str, str], env: Mapping[str, str] | None = None) -> UserNetwork:
    """From `pip config list` (its `:env:` lines are PIP_* variables, which --isolated drops);
    without a `cert` there, the CA bundle the environment names (as uv and ptenv read it)."""
    env = env or {}
    bundle = env.get("REQUESTS_CA_BUNDLE") or env.get("SSL_CERT_FILE")
    return UserNetwork(
        cert=config.get("cert") or bundle or None,
        client_cert=config.get("client-cert") or None,
        proxy=config.get("proxy") or None,
        trusted_hosts=tuple(config.get("trusted-host", "").split()),
        keyring_provider=config.get("keyring-provider") or None,
        timeout=config.get("timeout") or config.get("default-timeout") or None,
        retries=config.get("retries") or None,
    )


def uv_config_files(env: Mapping[str, str]) -> list[Path]:
    """uv's user and system uv.toml (or UV_CONFIG_FILE), as uv itself finds them."""
    if env.get("UV_CONFIG_FILE"):
        return [Path(env["UV_CONFIG_FILE"])]
    home = env.get("HOME", "")
    user = Path(env.get("XDG_CONFIG_HOME") or Path(home) / ".config") / "uv" / "uv.toml"
    system = [
        Path(folder) / "uv" / "uv.toml"
        for folder in (env.get("XDG_CONFIG_DIRS") or "/etc").split(":")
        if folder
    ]
    return [user, *system]


def uv_network(env: Mapping[str, str]) -> UserNetwork:
    """The network keys of uv's config files (the first file that sets a key wins)."""
    found: dict[str, Any] = {}
    for path in uv_config_files(env):
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            continue
        for key, value in raw.items():
            found.setdefault(key, value)
    hosts = found.get("allow-insecure-host", [])
    provider = found.get("keyring-provider")
    return UserNetwork(
        trusted_hosts=tuple(str(h) for h in hosts) if isinstance(hosts, list) else (),
        keyring_provider=str(provider) if provider else None,
        system_certs=found.get("native-tls") is True or found.get("system-certs") is True,
    )


class Installer(Protocol):
    @property
    def name(self) -> str: ...

    def venv_argv(self, path: Path, python: str) -> list[str]: ...

    def install_argv(
        self,
        venv_python: Path,
        requirements: Path,
        source: Source,
        *,
        locked: bool,
        network: UserNetwork,
        report: Path | None = None,
        reinstall: tuple[str, ...] = (),
    ) -> list[str]: ...

    def environment(self, network: UserNetwork) -> dict[str, str]: ...


def _source_flags(source: Source) -> list[str]:
    flags: list[str] = []
    if source.index_url is not None:
        flags += ["--index-url", source.index_url]
    elif source.offline:
        flags.append("--no-index")  # a wheelhouse: nothing but the find-links
    elif source.default_index is not None:
        flags += ["--index-url", source.default_index]  # a PyPI mirror, for the dependencies
    # Otherwise without an index the installer's default one stays on, as pip's does: torch
    # itself is pinned with its local tag (+cu126), which no default index carries, so only
    # its dependencies can come from there (a flat-listing mirror holds torch wheels only).
    for url in source.extra_index_urls:
        flags += ["--extra-index-url", url]
    for link in source.find_links:
        flags += ["--find-links", link]
    return flags


@dataclass(frozen=True)
class UvInstaller:
    uv: str
    name: str = "uv"

    def venv_argv(self, path: Path, python: str) -> list[str]:
        return [self.uv, "venv", "--no-project", "--no-config", "--python", python, str(path)]

    def seed_argv(self, venv_python: Path, wheels: Path) -> list[str]:
        """pip into a uv venv from the interpreter's own bundled wheel (ensurepip's): offline,
        so that `source .venv/bin/activate && pip install x` stays in the venv."""
        return [
            self.uv, "pip", "install", "--python", str(venv_python), "--no-config",
            "--no-index", "--find-links", str(wheels), "--quiet", "pip",
        ]  # fmt: skip

    def install_argv(
        self,
        venv_python: Path,
        requirements: Path,
        source: Source,
        *,
        locked: bool,
        network: UserNetwork,
        report: Path | None = None,
        reinstall: tuple[str, ...] = (),
    ) -> list[str]:
        del report  # uv's record is the pylock.toml of compile_argv, installed from
        argv = [self.uv, "pip", "install", *self._common(venv_python, source, network)]
        for name in reinstall:  # the same version again, its files written afresh
            argv += ["--reinstall-package", name]
        if requirements.name.endswith(".toml"):
            # a pylock.toml (uv >= 0.8): exactly its wheels, each checked against its hash
            argv += ["--preview-features", "pylock"]
        elif locked:
            argv += ["--require-hashes", "--no-deps"]
        return [*argv, "-r", str(requirements)]

    def compile_argv(
        self, venv_python: Path, requirements: Path, source: Source, *, network: UserNetwork,
        output: Path,
    ) -> list[str]:  # fmt: skip
        """Resolve for the venv's Python into a PEP 751 file: the URL and sha256 of every
        wheel, which becomes ptenv's lock and is what the install step installs."""
        return [
            self.uv, "pip", "compile", *self._common(venv_python, source, network),
            "--format", "pylock.toml", "--preview-features", "pylock", "--quiet",
            "-o", str(output), str(requirements),
        ]  # fmt: skip

    def target_compile_argv(
        self, requirements: Path, source: Source, *, network: UserNetwork, output: Path,
        python_version: str, python_platform: str,
    ) -> list[str]:  # fmt: skip
        """Resolve for another machine's Python and platform (no interpreter of its own)."""
        common = self._common(Path("python"), source, network)[2:]  # without --python
        return [
            self.uv, "pip", "compile", *common,
            "--python-version", python_version, "--python-platform", python_platform,
            "--format", "pylock.toml", "--preview-features", "pylock", "--quiet",
            "-o", str(output), str(requirements),
        ]  # fmt: skip

    @staticmethod
    def _common(venv_python: Path, source: Source, network: UserNetwork) -> list[str]:
        argv = ["--python", str(venv_python), "--no-config", "--no-build", *_source_flags(source)]
        if network.system_certs:
            argv.append("--native-tls")
        for host in network.trusted_hosts:
            argv += ["--allow-insecure-host", host]
        if network.keyring_provider:
            argv += ["--keyring-provider", network.keyring_provider]
        return argv

    def environment(self, network: UserNetwork) -> dict[str, str]:
        del network  # uv gets its settings as flags
        # uv reads SSL_CERT_FILE, the *_PROXY variables, UV_HTTP_TIMEOUT and netrc itself:
        # they pass through; only the UV_* source variables are dropped for every run.
        return {}


@dataclass(frozen=True)
class PipInstaller:
    name: str = "pip"

    def venv_argv(self, path: Path, python: str) -> list[str]:
        return [python, "-m", "venv", str(path)]  # with pip, from the interpreter's own copy

    def install_argv(
        self,
        venv_python: Path,
        requirements: Path,
        source: Source,
        *,
        locked: bool,
        network: UserNetwork,
        report: Path | None = None,
        reinstall: tuple[str, ...] = (),
    ) -> list[str]:
        argv = [
            str(venv_python),
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--no-input",
            "--isolated",
            "--only-binary",
            ":all:",
        ]
        argv += _source_flags(source)
        for flag, value in (
            ("--cert", network.cert),
            ("--client-cert", network.client_cert),
            ("--proxy", network.proxy),
            ("--keyring-provider", network.keyring_provider),
            ("--timeout", network.timeout),
            ("--retries", network.retries),
        ):
            if value:
                argv += [flag, value]
        for host in network.trusted_hosts:
            argv += ["--trusted-host", host]
        if report is not None:
            argv += ["--report", str(report)]  # pip's record: URL and sha256 of each wheel
        if locked:
            argv += ["--require-hashes", "--no-deps"]
        if reinstall:
            argv += ["--force-reinstall"]  # pip has no per-package form: all of them again
        return [*argv, "-r", str(requirements)]

    def environment(self, network: UserNetwork) -> dict[str, str]:
        # --isolated skips only the user's config; os.devnull as the config file makes pip
        # load none at all (site-wide files and constraints included).
        env = {"PIP_CONFIG_FILE": os.devnull}
        if network.cert:
            # pip's requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE win over --cert.
            env |= {"REQUESTS_CA_BUNDLE": network.cert, "CURL_CA_BUNDLE": network.cert}
        return env


def find_uv() -> str | None:
    try:
        from uv import find_uv_bin  # noqa: PLC0415 - the uv package ptenv depends on

        return str(find_uv_bin())
    except (ImportError, FileNotFoundError):
        return shutil.which("uv")


def choose(name: str) -> Installer:
    """auto (uv when present, else pip), uv or pip."""
    if name not in ("auto", "uv", "pip"):
        raise UsageError(
            f"--installer {name!r} is not one of auto, uv, pip.",
            hint="Use --installer uv or --installer pip.",
        )
    if name in ("auto", "uv"):
        uv = find_uv()
        if uv is not None:
            return UvInstaller(uv)
        if name == "uv":
            raise UsageError(
                "--installer uv: uv is not installed.",
                hint="pip install uv, or use --installer pip.",
            )
    return PipInstaller()


def run_installer(
    argv: list[str],
    what: str,
    extra_env: dict[str, str] | None = None,
    echo: Callable[[str], None] | None = None,
    *,
    stall_s: float | None = None,
    source: Source | None = None,
    on_activity: Callable[[int], None] | None = None,
) -> _proc.Completed:
    """Run one installer step; InstallFailed with its last stderr lines when it fails.

    No total time limit for an install (a CUDA build is ~3 GB on whatever link there is):
    it ends when nothing at all happens for `stall_s` seconds."""
    if echo is not None:
        echo("$ " + shlex.join(argv))
    env = {k: v for k, v in _proc.clean_env().items() if k not in INSTALLER_VARIABLES}
    env.update(extra_env or {})
    try:
        if stall_s is None:
            done = _proc.run(argv, timeout=VENV_TIMEOUT_S, env=env)
        else:
            done = _proc.run(
                argv, timeout=float("inf"), env=env, stall_s=stall_s, on_activity=on_activity
            )
    except OSError as error:
        raise InstallFailed(
            f"Cannot start {argv[0]}: {error.strerror}.",
            hint="Check that the installer is installed.",
        ) from None
    if done.ok:
        return done
    output = (done.stderr + "\n" + done.stdout).strip()
    if done.stopped == _proc.STALLED:
        raise InstallFailed(
            f"{what} stalled: nothing arrived for {stall_s:g} s"
            + (f" from {source.label}" if source else "")
            + f" ({_last_download(output) or 'while resolving'}).",
            hint="The link or the server stopped; run ptenv install again (the cache keeps "
            "what arrived), try a mirror (--mirror, --pypi-mirror), or raise --stall-timeout.",
        )
    tail = redact.text("\n".join((done.stderr or done.stdout).strip().splitlines()[-8:]))
    if _CERTIFICATE.search(output):
        raise InstallFailed(
            f"{what} could not verify the index's TLS certificate:\n{tail}",
            hint="Point SSL_CERT_FILE at your company's CA bundle (PEM); with pip, its `cert` "
            "setting (pip config) is used and wins over SSL_CERT_FILE.",
        )
    if _UNAUTHORIZED.search(output):
        raise InstallFailed(
            f"{what}: the index wants credentials:\n{tail}",
            hint="Put them in ~/.netrc (machine HOST login USER password TOKEN) or in the URL.",
        )
    unbuilt = _needs_a_build(output)
    if unbuilt:
        raise InstallFailed(
            f"{what}: no wheel of {unbuilt} fits this Python and platform"
            + (f" on {source.label}" if source else "")
            + "; ptenv installs wheels only and never runs a package's build code (an sdist)."
            + f"\n{tail}",
            hint="Use a source that has a wheel of it for this Python and platform, or "
            "install that package yourself first.",
        )
    reason = "timed out" if done.timed_out else f"failed (exit {done.returncode})"
    raise InstallFailed(
        f"{what} {reason}:\n{tail}",
        hint="The previous environment is unchanged; fix the cause and run ptenv install again.",
    )


_CERTIFICATE = re.compile(
    r"CERTIFICATE_VERIFY_FAILED|invalid peer certificate|UnknownIssuer|"
    r"certificate verify failed",
    re.IGNORECASE,
)
_UNAUTHORIZED = re.compile(r"\b401\b|Unauthorized")
_DOWNLOADING = re.compile(r"Downloading\s+(\S+(?:\s+\([^)]*\))?)")
# uv: "... has no usable wheels ..." / "... building from source is disabled";
# pip (--only-binary): "Could not find a version that satisfies the requirement NAME".
_NO_WHEEL = (
    re.compile(
        r"(?:because|Because) (?:only )?(?P<name>[A-Za-z0-9._-]+)(?:[=<>!~]=?[^\s]+)? "
        r"(?:is available and \S+ )?has no usable wheels"
    ),
    re.compile(r"Failed to build `?(?P<name>[A-Za-z0-9._-]+)"),
    re.compile(r"satisfies the requirement (?P<name>[A-Za-z0-9._-]+)"),
)


def _last_download(output: str) -> str | None:
    found = _DOWNLOADING.findall(output)
    return f"last download: {redact.text(found[-1])}" if found else None


def _needs_a_build(output: str) -> str | None:
    if not re.search(
        r"no usable wheels|building from source is disabled|"
        r"source distributions? (?:is|are) disabled|--only-binary|"
        r"satisfies the requirement",
        output,
    ):
        return None
    for pattern in _NO_WHEEL:
        match = pattern.search(output)
        if match:
            return match.group("name")
    return None

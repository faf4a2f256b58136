"""The lock: `pylock.<venv>.toml` (PEP 751) beside the venv, one per venv.

Every wheel the installer itself resolved for the torch install, with its URL (credentials
masked) and sha256, taken from the installer's own record (pip --report, uv's pylock
output); `[tool.ptenv]` holds the request, the plan, the source and the machine fingerprint.
`ptenv install --lock FILE` replays it hash-checked from those URLs; doctor reads the venv's
own lock for drift. Everything read back is validated (a lock can come from anywhere): a
name, version, URL or hash that is not what it should be is exit 2 naming the file and the
key. The JSON `ptenv.lock` of earlier releases is still read, with a deprecation note.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from ptenv import __version__, redact
from ptenv.errors import UsageError
from ptenv.models import Machine, Pin, Plan, Variant

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

if TYPE_CHECKING:  # sources pulls in the network modules; doctor reads locks without them
    from ptenv.install.sources import Source, SourceKind

TOOL_SCHEMA = "ptenv.pylock/1"
OLD_SCHEMA = "ptenv.lock/1"
OLD_NAME = "ptenv.lock"
_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, kw_only=True)
class LockedPackage:
    name: str
    version: str
    filename: str | None
    url: str | None
    sha256: str | None


@dataclass(frozen=True, kw_only=True)
class Lock:
    plan: Plan
    source: Source
    fingerprint: dict[str, Any]
    packages: tuple[LockedPackage, ...]
    request: dict[str, Any] = field(default_factory=dict)  # torch, cuda, with
    venv: str | None = None  # the venv it belongs to, as written
    old_format: bool = False  # a JSON ptenv.lock
    text: str = ""  # the file as read (validated): uv installs a pylock as it is


def default_path(venv: Path) -> Path:
    """Beside the venv, named for it: ./pylock.venv.toml for ./.venv, pylock.env.toml for env
    (a symlinked venv's lock is beside the folder it points at, where install builds it)."""
    try:
        if venv.is_symlink():
            venv = venv.resolve()
    except OSError:
        pass  # an unusable path: the install refuses it before any lock is written
    name = venv.name.lstrip(".") or "venv"
    return venv.parent / f"pylock.{name}.toml"


def fingerprint(machine: Machine) -> dict[str, Any]:
    """The facts a torch build depends on."""
    return {
        "platform": machine.platform,
        "os": machine.os.system,
        "python": machine.python.minor_version + ("t" if machine.python.free_threaded else ""),
        "driver": str(machine.nvidia.driver_version) if machine.nvidia.driver_version else None,
        "gpus": [
            str(g.compute_capability)
            for g in machine.nvidia.visible_gpus
            if g.compute_capability is not None
        ],
    }


# --- writing ---------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class LockContents:
    plan: Plan
    source: Source
    machine: Machine
    packages: tuple[LockedPackage, ...]
    request: Mapping[str, Any]
    venv: Path


def write(path: Path, contents: LockContents) -> None:
    """Atomically (a temp file renamed into place): a full disk leaves no half lock."""
    fresh = path.with_name(path.name + ".tmp")
    try:
        fresh.write_text(render(contents, path), encoding="utf-8")
        fresh.replace(path)
    except OSError:
        fresh.unlink(missing_ok=True)
        raise


def render(contents: LockContents, path: Path) -> str:
    plan, source = contents.plan, contents.source
    python = plan.python.rstrip("t")
    lines = [
        "# Written by ptenv install: the exact wheels of this venv's torch (PEP 751).",
        f"# Replay, hash-checked: ptenv install --lock {path.name} --venv {contents.venv.name}",
        'lock-version = "1.0"',
        'created-by = "ptenv"',
        f"requires-python = {_toml(f'=={python}.*')}",
        "",
    ]
    for package in sorted(contents.packages, key=lambda p: canonicalize_name(p.name)):
        lines += [
            "[[packages]]",
            f"name = {_toml(package.name)}",
            f"version = {_toml(package.version)}",
        ]
        if package.url and package.sha256:
            wheel = {
                "name": package.filename or _filename(package.url),
                "url": redact.url(package.url),
                "hashes": {"sha256": package.sha256},
            }
            lines.append(f"wheels = [{_toml(wheel)}]")
        lines.append("")
    tool = {
        "schema": TOOL_SCHEMA,
        "ptenv": __version__,
        "venv": _relative(contents.venv, path.parent),
        "request": dict(contents.request),
        "plan": {**plan.summary(), "index_url": redact.url(plan.index_url)},
        "source": _source_table(source),
        "machine": fingerprint(contents.machine),
    }
    lines += ["[tool.ptenv]", *(f"{key} = {_toml(value)}" for key, value in tool.items())]
    return "\n".join(lines) + "\n"


def _source_table(source: Source) -> dict[str, Any]:
    return {
        "kind": source.kind.value,
        "label": redact.text(source.label),
        "index_url": redact.url(source.index_url) if source.index_url else None,
        "find_links": [redact.url(u) for u in source.find_links],
        "extra_index_urls": [redact.url(u) for u in source.extra_index_urls],
        "default_index": redact.url(source.default_index) if source.default_index else None,
    }


def _relative(venv: Path, folder: Path) -> str:
    try:
        return str(venv.relative_to(folder.absolute()))
    except ValueError:
        return str(venv)


def _toml(value: Any) -> str:
    """One TOML value (None-valued keys are dropped from tables: TOML has no null)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, Mapping):
        items = [f"{_key(k)} = {_toml(v)}" for k, v in value.items() if v is not None]
        return "{ " + ", ".join(items) + " }" if items else "{}"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


# --- the installers' own records --------------------------------------------------------------


def from_pip_report(text: str) -> list[LockedPackage]:
    """pip install --report: every distribution pip installed, its URL and sha256."""
    report = json.loads(text)
    packages = []
    for item in report.get("install", []):
        info = item.get("download_info", {})
        archive = info.get("archive_info", {})
        sha256 = (archive.get("hashes") or {}).get("sha256")
        if sha256 is None and str(archive.get("hash", "")).startswith("sha256="):
            sha256 = archive["hash"].split("=", 1)[1]
        url = info.get("url")
        packages.append(
            LockedPackage(
                name=item["metadata"]["name"],
                version=item["metadata"]["version"],
                filename=_filename(url),
                url=url,
                sha256=sha256,
            )
        )
    return packages


def from_uv_pylock(text: str) -> list[LockedPackage]:
    """uv pip compile --format pylock.toml: the resolution, one wheel per package here."""
    raw = tomllib.loads(text)
    packages = []
    for entry in raw.get("packages", []):
        wheels = entry.get("wheels") or [{}]
        wheel = wheels[0]
        packages.append(
            LockedPackage(
                name=entry["name"],
                version=entry["version"],
                filename=wheel.get("name") or _filename(wheel.get("url")),
                url=wheel.get("url"),
                sha256=(wheel.get("hashes") or {}).get("sha256"),
            )
        )
    return packages


def _filename(url: str | None) -> str | None:
    if not url:
        return None
    return urllib.parse.unquote(urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1]) or None


# --- reading ---------------------------------------------------------------------------------


class _Bad(Exception):
    """What is wrong with a lock, as one phrase (the caller names the file)."""


def read(path: Path) -> Lock:
    """The lock at `path`, validated; UsageError (exit 2) naming the file and the problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise _unusable(path, f"cannot be read ({error})") from None
    try:
        if text.lstrip().startswith("{"):
            return _old_lock(json.loads(text))
        return replace(_pylock(tomllib.loads(text)), text=text)
    except json.JSONDecodeError as error:
        raise _unusable(path, f"is not valid JSON ({error.msg}, line {error.lineno})") from None
    except tomllib.TOMLDecodeError as error:
        raise _unusable(path, f"is not valid TOML ({error})") from None
    except _Bad as problem:
        raise _unusable(path, str(problem)) from None


def _unusable(path: Path, problem: str) -> UsageError:
    return UsageError(
        f"The lock {path} {problem}.",
        hint="Recreate it with `ptenv install --upgrade`, or restore it from version control.",
    )


def _need(table: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    value = table.get(key)
    if not isinstance(value, kind):
        found = "is missing" if value is None else f"is a {type(value).__name__}"
        raise _Bad(f"is damaged: {where}{key} {found}, not a {kind.__name__}")
    return value


def _pylock(raw: Mapping[str, Any]) -> Lock:
    version = _need(raw, "lock-version", str, "")
    if not version.startswith("1."):
        raise _Bad(f"has lock-version {version!r}; ptenv reads 1.x")
    tool = _need(_need(raw, "tool", dict, ""), "ptenv", dict, "tool.")
    schema = tool.get("schema")
    if schema != TOOL_SCHEMA:
        raise _Bad(f"is not a ptenv lock ([tool.ptenv] schema is {schema!r}, not {TOOL_SCHEMA!r})")
    entries = _need(raw, "packages", list, "")
    packages = tuple(_package(entry, n) for n, entry in enumerate(entries))
    if not packages:
        raise _Bad("is damaged: it lists no packages")
    plan = _plan(_need(tool, "plan", dict, "tool.ptenv."))
    locked = {(canonicalize_name(p.name), Version(p.version)) for p in packages}
    for pin in plan.packages:
        if (canonicalize_name(pin.name), pin.version) not in locked:
            raise _Bad(f"plans {pin} but lists no such package: replaying it would not install it")
    return Lock(
        plan=plan,
        source=_source(_need(tool, "source", dict, "tool.ptenv.")),
        fingerprint=dict(_need(tool, "machine", dict, "tool.ptenv.")),
        packages=packages,
        request=dict(tool.get("request") or {}),
        venv=tool.get("venv") if isinstance(tool.get("venv"), str) else None,
    )


def _package(entry: Any, n: int) -> LockedPackage:
    where = f"packages[{n}]."
    if not isinstance(entry, dict):
        raise _Bad(f"is damaged: packages[{n}] is not a table")
    name = _need(entry, "name", str, where)
    if not _NAME.fullmatch(name):
        raise _Bad(f"names a package {name!r}, which is not a distribution name")
    version = _need(entry, "version", str, where)
    try:
        Version(version)
    except InvalidVersion:
        raise _Bad(f"gives {name} the version {version!r}, which is not a version") from None
    wheels = _need(entry, "wheels", list, where)
    if len(wheels) != 1 or not isinstance(wheels[0], dict):
        raise _Bad(f"is damaged: {where}wheels must hold exactly one wheel table")
    wheel = wheels[0]
    url = _need(wheel, "url", str, f"{where}wheels[0].")
    _check_url(name, url)
    sha256 = _need(_need(wheel, "hashes", dict, f"{where}wheels[0]."), "sha256", str, "hashes.")
    if not _SHA256.fullmatch(sha256):
        raise _Bad(f"gives {name} a sha256 that is not 64 hex digits")
    filename = wheel.get("name") if isinstance(wheel.get("name"), str) else _filename(url)
    return LockedPackage(name=name, version=version, filename=filename, url=url, sha256=sha256)


def _check_url(name: str, url: str) -> None:
    """A wheel URL only: https, http on loopback, or a local file; never an sdist."""
    if any(c.isspace() or ord(c) < 32 for c in url):
        raise _Bad(f"gives {name} a URL with spaces or control characters")
    parts = urllib.parse.urlsplit(url)
    loopback = parts.hostname in ("127.0.0.1", "::1", "localhost")
    if not (parts.scheme in ("https", "file") or (parts.scheme == "http" and loopback)):
        raise _Bad(f"gives {name} the URL {redact.url(url)}: only https (or local) wheels replay")
    if not urllib.parse.unquote(parts.path).endswith(".whl"):
        raise _Bad(f"gives {name} the URL {redact.url(url)}, which is not a wheel")


def _old_lock(document: Any) -> Lock:
    """The JSON ptenv.lock of earlier releases: read once, the next install writes a pylock."""
    if not isinstance(document, dict) or document.get("schema") != OLD_SCHEMA:
        raise _Bad(f"is not a {OLD_SCHEMA} file")
    try:
        packages = tuple(LockedPackage(**p) for p in document["packages"])
        return Lock(
            plan=_plan(document["plan"]),
            source=_source(document["source"]),
            fingerprint=dict(document.get("machine", {})),
            packages=packages,
            old_format=True,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise _Bad(f"is damaged ({type(error).__name__}: {error})") from None


def _plan(raw: Mapping[str, Any]) -> Plan:
    where = "tool.ptenv.plan."
    try:
        return Plan(
            torch=_need(raw, "torch", str, where),
            variant=Variant.parse(_need(raw, "variant", str, where)),
            index_url=_usable(_need(raw, "index_url", str, where)) or "",
            packages=tuple(Pin.parse(p) for p in _need(raw, "packages", list, where)),
            python=_need(raw, "python", str, where),
            platform=_need(raw, "platform", str, where),
            reasons=(),
            warnings=(),
        )
    except (ValueError, TypeError) as error:
        raise _Bad(f"is damaged: {where} ({error})") from None


def _source(raw: Mapping[str, Any]) -> Source:
    from ptenv.install.sources import Source, SourceKind  # noqa: PLC0415 - off doctor's path

    label = _need(raw, "label", str, "tool.ptenv.source.")
    try:
        kind = SourceKind(raw["kind"]) if "kind" in raw else _kind_of_old_label(label)
    except ValueError:
        raise _Bad(f"is damaged: tool.ptenv.source.kind {raw['kind']!r} is unknown") from None
    return Source(
        kind=kind,
        label=label,
        index_url=_usable(raw.get("index_url")),
        find_links=tuple(_usable(u) or u for u in raw.get("find_links", ())),
        extra_index_urls=tuple(_usable(u) or u for u in raw.get("extra_index_urls", ())),
        default_index=_usable(raw.get("default_index")),
    )


def _usable(url: str | None) -> str | None:
    """A URL read back from a lock: a masked one loses its user info (netrc supplies it)."""
    return redact.strip_credentials(url) if url and redact.is_redacted(url) else url


def _kind_of_old_label(label: str) -> SourceKind:
    """Locks written before the source kind was recorded: their label says it, once."""
    from ptenv.install.sources import SourceKind  # noqa: PLC0415 - off doctor's path

    for prefix, kind in (
        ("wheelhouse ", SourceKind.WHEELHOUSE),
        ("mirror ", SourceKind.MIRROR),
        ("pip config", SourceKind.PIP_CONFIG),
    ):
        if label.startswith(prefix):
            return kind
    return SourceKind.INDEX


# --- replaying -------------------------------------------------------------------------------


def as_pylock(lock: Lock) -> str:
    """The validated file for uv to install as it is (masked user info dropped: netrc)."""
    return redact.strip_credentials(lock.text)


def requirements(lock: Lock) -> str:
    """One hash-pinned line per wheel, by its own URL: the replay reads no index at all."""
    lines = []
    for package in lock.packages:
        if not package.sha256 or not package.url:
            raise UsageError(
                f"The lock has no URL and sha256 for {package.name}; it cannot be replayed "
                "hash-checked.",
                hint="Recreate it with `ptenv install --upgrade`.",
            )
        url = _usable(package.url)
        lines.append(f"{package.name} @ {url} --hash=sha256:{package.sha256}")
    return "\n".join(lines) + "\n"


def drift(locked: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Human sentences for each fingerprint fact that changed."""
    changes = []
    for key, label in (
        ("driver", "NVIDIA driver"),
        ("gpus", "GPUs (compute capability)"),
        ("python", "Python"),
        ("platform", "platform"),
    ):
        if locked.get(key) != current.get(key):
            changes.append(
                f"{label}: {locked.get(key) or 'none'} when locked, "
                f"{current.get(key) or 'none'} now"
            )
    return changes


def sha256_of_file(path: Path) -> str:
    """A file's sha256, read in 1 MB blocks (a 3 GB wheel never sits in memory)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()

"""An air-gapped wheelhouse: every wheel the *target* needs, hash-checked, resumable.

The plan is resolved for the target's Python and platform (export.resolve_for_target), so
the folder holds the target's wheels (nvidia-* and triton with it), not this machine's. A
wheel already in the folder with the locked sha256 is kept; a partial download goes to a
`.part` file and is checked before it takes its name, so a re-run fetches only the wheels
that are missing (a wheel cut short is fetched again whole). On the target:
`ptenv install --find-links DIR` (no network at all).
"""

from __future__ import annotations

import json
import shutil
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ptenv import redact
from ptenv.errors import InstallFailed
from ptenv.install.export import Resolution
from ptenv.install.lock import sha256_of_file

MANIFEST = "ptenv-bundle.json"
BUNDLE_SCHEMA = "ptenv.bundle/1"


@dataclass(frozen=True)
class BundleResult:
    folder: Path
    wheels: int
    fetched: int  # wheels downloaded this run (the others were already there)
    bytes_total: int
    seconds: float
    install: str  # the command that installs it on the target


def build(resolution: Resolution, folder: Path, progress: Callable[[str], None]) -> BundleResult:
    began = time.monotonic()
    folder.mkdir(parents=True, exist_ok=True)
    fetched = 0
    entries = []
    for package in sorted(resolution.packages, key=lambda p: p.name.lower()):
        if not package.url or not package.sha256:
            raise InstallFailed(
                f"The resolution gave no URL and sha256 for {package.name}; it cannot be bundled "
                "hash-checked.",
                hint="Use an index that publishes hashes (PEP 503 #sha256= or PEP 691).",
            )
        name = package.filename or urllib.parse.unquote(package.url.rsplit("/", 1)[-1])
        target = folder / name
        if not (target.is_file() and sha256_of_file(target) == package.sha256):
            progress(f"bundle: {name}")
            _fetch(package.url, target, package.sha256)
            fetched += 1
        entries.append(
            {
                "name": package.name,
                "version": package.version,
                "filename": name,
                "sha256": package.sha256,
                "size": target.stat().st_size,
                "url": redact.url(package.url),
            }
        )
    plan = resolution.plan
    manifest = {
        "schema": BUNDLE_SCHEMA,
        "plan": [str(pin) for pin in plan.packages],
        "python": plan.python,
        "platform": plan.platform,
        "source": resolution.source.label,
        "wheels": entries,
        "install": f"ptenv install --find-links {folder} --torch {plan.torch} "
        f"--cuda {plan.variant.tag}",
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return BundleResult(
        folder=folder,
        wheels=len(entries),
        fetched=fetched,
        bytes_total=sum(int(e["size"]) for e in entries),  # type: ignore[call-overload]
        seconds=time.monotonic() - began,
        install=str(manifest["install"]),
    )


def _fetch(url: str, target: Path, sha256: str) -> None:
    partial = target.with_name(target.name + ".part")
    try:
        if url.startswith("file://"):
            shutil.copyfile(urllib.parse.unquote(urllib.parse.urlsplit(url).path), partial)
        else:
            from ptenv import _http  # noqa: PLC0415 - the network stack only to download

            try:
                with partial.open("wb") as out:
                    _http.download(url, out)
            except _http.HttpError as error:
                raise InstallFailed(
                    f"Cannot download {error.url}: {error.reason}.", hint=error.hint
                ) from None
        found = sha256_of_file(partial)
        if found != sha256:
            raise InstallFailed(
                f"{target.name} arrived with sha256 {found}, not the {sha256} the index "
                "announced; it was not kept.",
                hint="Run the bundle again; if it repeats, the index or a proxy alters files.",
            )
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)

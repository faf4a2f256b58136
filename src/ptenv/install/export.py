"""The plan as files another tool installs: hash-pinned requirements, a PEP 751 pylock.

The plan is resolved for the *target* (its Python and platform, from the plan flags), not
for this machine: uv resolves with --python-version / --python-platform, and its pylock is
the record of every wheel (URL and sha256) both files are written from. Every URL is vetted
as an install's are.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from ptenv.errors import InstallFailed, UsageError
from ptenv.install import backends as installers
from ptenv.install import gate, vetting
from ptenv.install import lock as lockfile
from ptenv.install.sources import Source
from ptenv.models import Plan

# ptenv platform -> uv's --python-platform (the manylinux floor torch's wheels need)
UV_PLATFORMS = {
    "linux-x86_64": "x86_64-manylinux_2_28",
    "linux-aarch64": "aarch64-manylinux_2_28",
    "windows-x86_64": "x86_64-pc-windows-msvc",
    "macos-arm64": "aarch64-apple-darwin",
}


@dataclass(frozen=True)
class Resolution:
    plan: Plan
    source: Source
    packages: tuple[lockfile.LockedPackage, ...]


def resolve_for_target(
    plan: Plan, source: Source, *, insecure: bool, env: dict[str, str]
) -> Resolution:
    """Every wheel the target needs, resolved by uv for its Python and platform."""
    platform = UV_PLATFORMS.get(plan.platform)
    if platform is None:
        raise UsageError(
            f"ptenv cannot export for {plan.platform}.",
            hint="Supported: " + ", ".join(UV_PLATFORMS) + ".",
        )
    found = installers.find_uv()
    if found is None:
        raise UsageError("ptenv export needs uv, and none was found.", hint="pip install uv")
    uv = installers.UvInstaller(found)
    network = installers.uv_network(env)
    with tempfile.TemporaryDirectory(prefix="ptenv-export-") as scratch:
        wanted = Path(scratch) / "requirements.in"
        wanted.write_text("".join(f"{pin}\n" for pin in plan.packages), encoding="utf-8")
        output = Path(scratch) / "pylock.toml"
        with gate.gated(source, insecure=insecure, env=env) as front:
            argv = uv.target_compile_argv(
                wanted, front.source, network=network, output=output,
                python_version=plan.python.rstrip("t"), python_platform=platform,
            )  # fmt: skip
            try:
                installers.run_installer(
                    argv,
                    "uv resolve",
                    uv.environment(network) | front.installer_env(env),
                    source=source,
                )
            except InstallFailed as failed:
                raise gate.as_seen_by_ptenv(failed, front) from None
            resolved = front.restore(output.read_text(encoding="utf-8"))
        packages = tuple(lockfile.from_uv_pylock(resolved))
    vetting.vet(packages, source, insecure=insecure)
    vetting.vet_redirects(packages)
    return Resolution(plan=plan, source=source, packages=packages)


def requirements_text(resolution: Resolution) -> str:
    """`pip install --require-hashes -r` input: the indexes, then one pinned line per wheel."""
    source = resolution.source
    lines = [
        f"# Written by ptenv export requirements: {', '.join(map(str, resolution.plan.packages))}",
        f"# for Python {resolution.plan.python} on {resolution.plan.platform}, from "
        f"{source.label}. Install: pip install --require-hashes -r THIS_FILE",
    ]
    if source.index_url:
        lines.append(f"--index-url {source.index_url}")
    default = source.default_index
    if default and default != source.index_url:
        lines.append(f"--extra-index-url {default}")
    lines += [f"--extra-index-url {url}" for url in source.extra_index_urls]
    lines += [f"--find-links {link}" for link in source.find_links]
    for package in sorted(resolution.packages, key=lambda p: p.name.lower()):
        if not package.sha256:
            raise InstallFailed(
                f"The index gave no sha256 for {package.name} {package.version}, so it cannot "
                "be pinned by hash.",
                hint="Use an index that publishes hashes (PEP 503 #sha256= fragments or PEP 691).",
            )
        lines.append(f"{package.name}=={package.version} --hash=sha256:{package.sha256}")
    return "\n".join(lines) + "\n"

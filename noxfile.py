"""Developer sessions: tests, lint, typecheck, bench. Python versions come from pyproject.toml."""

from __future__ import annotations

import shutil
import ssl
import tempfile
from pathlib import Path

import nox

PYPROJECT = nox.project.load_toml("pyproject.toml")
PYTHONS = nox.project.python_versions(PYPROJECT)

nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.default_venv_backend = "uv|virtualenv"


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """Run the test suite on every supported Python that is installed."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: lint rules (layering included) and formatting."""
    session.install("-e", ".[lint]")
    session.run("ruff", "check", "src", "tests", "benchmarks", "noxfile.py")
    session.run("ruff", "format", "--check", "src", "tests", "benchmarks", "noxfile.py")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the package, the tests and the benchmarks."""
    session.install("-e", ".[typecheck]")
    session.run("mypy")


@nox.session
def docs(session: nox.Session) -> None:
    """Regenerate the reference pages and build the site with --strict (broken links fail)."""
    session.install("-e", ".[docs]")
    session.run("python", "docs/gen_reference.py")
    session.run("mkdocs", "build", "--strict", "--site-dir", "site")


@nox.session
def bench(session: nox.Session) -> None:
    """Time whole ptenv processes against their peers; writes docs/benchmarks.md tables."""
    session.install("-e", ".")
    session.run("python", "benchmarks/startup.py", *session.posargs)


@nox.session(name="fresh-debian", python=False)
def fresh_debian(session: nox.Session) -> None:
    """The README's first command on a really fresh machine: a minimal Debian made with
    debootstrap (python3 only: no pip, no python3-venv, no uv), this tree copied in.

    Needs root, debootstrap and network; takes minutes, so it is not part of CI. The chroot
    has no pip configuration, so give the PyPI index (or your mirror) to use:

        nox -s fresh-debian -- --index-url URL
    """
    if shutil.which("debootstrap") is None:
        session.error("debootstrap is not installed (apt-get install debootstrap).")
    if "--index-url" not in session.posargs:
        session.error("give the index: nox -s fresh-debian -- --index-url URL")
    root = Path(tempfile.mkdtemp(prefix="ptenv-fresh-debian-"))
    try:
        session.run(
            "debootstrap",
            "--variant=minbase",
            "--include=python3,ca-certificates",
            "bookworm",
            str(root),
            external=True,
        )
        tree = root / "ptenv"
        tree.mkdir()
        session.run("sh", "-c", f"git archive HEAD | tar -x -C '{tree}'", external=True)
        shutil.copy("/etc/resolv.conf", root / "etc" / "resolv.conf")
        # The host's trusted CAs (a company proxy's among them) as the chroot's SSL_CERT_FILE.
        paths = ssl.get_default_verify_paths()
        shutil.copy(paths.cafile or paths.openssl_cafile, root / "host-ca.pem")
        index = session.posargs[session.posargs.index("--index-url") + 1]
        script = (
            "cd /ptenv && python3 -c 'import pip' 2>/dev/null && echo 'pip is present!'; "
            f"HOME=/root SSL_CERT_FILE=/host-ca.pem python3 bootstrap.py --index-url {index} && "
            "/root/.local/bin/ptenv --version"
        )
        # A fresh machine's environment: nothing of this one's (PIP_*, UV_*, pyenv) leaks in.
        session.run("mount", "-t", "proc", "proc", str(root / "proc"), external=True)
        session.run(
            "env",
            "-i",
            "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
            "chroot",
            str(root),
            "/bin/sh",
            "-c",
            script,
            external=True,
        )
    finally:
        session.run("umount", str(root / "proc"), external=True, success_codes=[0, 1, 32])
        shutil.rmtree(root, ignore_errors=True)


@nox.session(name="data-audit")
def data_audit(session: nox.Session) -> None:
    """Network (maintainers, before a release): what the index has that torch.toml lacks.

    Runs `ptenv data refresh` into a scratch data folder, so the learned overlay it prints is
    exactly the set of facts the built-in data is missing (new patches, variants, Pythons,
    architecture lists), with each fact's URL; its notes are where the index disagrees.
    `nox -s data-audit -- --index-base URL --variant cu134` passes flags on.
    """
    session.install("-e", ".")
    with tempfile.TemporaryDirectory(prefix="ptenv-audit-") as scratch:
        session.run("ptenv", "data", "refresh", *session.posargs, env={"PTENV_DATA_DIR": scratch})
        learned = Path(scratch) / "learned.toml"
        session.log("Facts to add to src/ptenv/releases/torch.toml (check each source first):")
        print(learned.read_text(encoding="utf-8"))  # noqa: T201 - the session's report

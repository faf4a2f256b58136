"""Safe venv replacement: build beside the target, swap in only on success; one install at a
time per venv.

A venv records its own path in pyvenv.cfg-adjacent scripts (bin/activate, console-script
shebangs). After building at `.NAME.ptenv-staging` those references are rewritten to the final
path before the swap; files are always replaced, never edited in place, so a hard-linked clone
never writes through to the environment it was cloned from.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

from ptenv.errors import InstallFailed, UsageError

MAX_SCRIPT_BYTES = 1 << 20


def refuse_unsafe_target(target: Path) -> None:
    """UsageError unless target is a path ptenv may build a venv at and swap in."""
    try:
        _check_target(target)
    except OSError as error:  # a name too long, a path through a file, no permission
        raise UsageError(
            f"--venv {target}: {error.strerror or error}.",
            hint="Choose a shorter path in a folder you can write to.",
        ) from None


def real_target(venv: Path) -> Path:
    """The venv's own folder: a symlinked --venv is built and swapped at its target (the
    link stays and points at the new venv), never replaced by a folder of its own."""
    path = venv.absolute()
    try:
        return path.resolve() if path.is_symlink() else path
    except OSError:  # a name too long, a path through a file: refuse_unsafe_target says so
        return path


def _check_target(target: Path) -> None:
    if target.is_dir() and os.path.ismount(target):
        raise UsageError(
            f"--venv {target} is a mount point (a Docker volume?): ptenv builds the new venv "
            "beside it and swaps it in, and a mount point cannot be swapped.",
            hint="Mount the volume one level up and use --venv MOUNT/.venv, or give a venv "
            "path inside the volume.",
        )
    folder = target.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise UsageError(
            f"--venv {target}: {folder} is a file, not a folder.",
            hint="Choose a path whose parents are folders.",
        )
    if any(len(part.encode()) > 255 for part in target.parts):
        raise UsageError(
            f"--venv {str(target)[:60]}...: a name in it is longer than 255 bytes.",
            hint="Choose a shorter name.",
        )
    own = Path(sys.prefix).absolute()
    if target == own or own.is_relative_to(target):
        raise UsageError(
            f"{target} is the environment ptenv itself runs from.",
            hint="Install torch into another venv (--venv PATH); replacing the "
            "running environment could break ptenv midway.",
        )
    if target.exists() and not target.is_dir():
        raise UsageError(f"--venv {target} is a file.", hint="Choose a folder for the venv.")
    if target.is_dir() and not (target / "pyvenv.cfg").is_file() and any(target.iterdir()):
        raise UsageError(
            f"--venv {target} is a non-empty folder that is not a venv.",
            hint="ptenv only replaces virtual environments; choose another path.",
        )


def staging_path(target: Path, pid: int | None = None) -> Path:
    """This run's staging folder: named for its process, so no two runs ever share one."""
    return target.parent / f".{target.name}.ptenv-staging-{os.getpid() if pid is None else pid}"


def stagings(target: Path) -> list[Path]:
    """Every staging folder beside the target, this run's and any other's."""
    return sorted(target.parent.glob(f".{target.name}.ptenv-staging*"))


def _owner_alive(staging: Path) -> bool:
    """Whether the process a staging folder is named for still runs (it may be finishing)."""
    suffix = staging.name.rsplit("-", 1)[-1]
    if not suffix.isdigit():
        return False  # the fixed name older ptenv versions used
    try:
        os.kill(int(suffix), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # a live process of another user
    return True


def backup_path(target: Path) -> Path:
    return target.parent / f".{target.name}.ptenv-previous"


def lock_path(target: Path) -> Path:
    return target.parent / f".{target.name}.ptenv-lock"


@contextlib.contextmanager
def install_lock(target: Path) -> Iterator[None]:
    """An exclusive, non-blocking lock per target venv; InstallFailed when already held.

    The lock file is removed again before it is released, so no run leaves it behind.
    """
    path = lock_path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open("a+")
    except OSError as error:  # /proc/self/x, a read-only or full folder
        raise UsageError(
            f"--venv {target}: ptenv cannot write in {target.parent} ({error.strerror or error}).",
            hint="Choose a venv path in a folder you can write to.",
        ) from None
    try:
        if sys.platform == "win32":  # pragma: no cover
            import msvcrt  # noqa: PLC0415 - exists on Windows only

            try:
                msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
            except OSError:
                raise _busy(target) from None
        else:
            import fcntl  # noqa: PLC0415 - exists on POSIX only

            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise _busy(target) from None
            if os.fstat(handle.fileno()).st_ino != _inode(path):
                raise _busy(target)  # the holder removed it just now: it is still finishing
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                path.unlink()  # while still held: a waiting run then makes a fresh one
    finally:
        handle.close()


def _inode(path: Path) -> int | None:
    try:
        return path.stat().st_ino
    except OSError:
        return None


@contextlib.contextmanager
def venv_lock(venv: Path, *, shared: bool) -> Iterator[bool]:
    """flock on the venv folder itself: shared for `ptenv check`, exclusive for an install
    (which holds it until its swap is done), so neither runs under the other. Yields False
    when the other side holds it; nothing on Windows or where the folder is not there."""
    if sys.platform == "win32" or not venv.is_dir():  # pragma: no cover - Windows
        yield True
        return
    import fcntl  # noqa: PLC0415 - exists on POSIX only

    try:
        handle = os.open(venv, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        yield True  # unreadable: the check or install will say why
        return
    try:
        try:
            fcntl.flock(handle, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(handle)  # closing releases the lock


def _busy(target: Path) -> InstallFailed:
    return InstallFailed(
        f"Another ptenv install into {target} is running.",
        hint="Wait for it to finish; its lock is " + str(lock_path(target)),
    )


def clear_leftovers(target: Path) -> None:
    """Remove staging folders whose run is gone; restore a stranded backup."""
    for staging in stagings(target):
        if not _owner_alive(staging):
            shutil.rmtree(staging, ignore_errors=True)
    backup = backup_path(target)
    if backup.exists() and not target.exists():
        backup.rename(target)
    elif backup.exists():
        shutil.rmtree(backup, ignore_errors=True)


def clone(source: Path, destination: Path) -> None:
    """Hard-link `source` into `destination` (copy where links are impossible)."""

    def link(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(source, destination, symlinks=True, copy_function=link)


def retarget(venv: Path, old: Path, new: Path) -> None:
    """Rewrite `old` to `new` in the venv's scripts and pyvenv.cfg (replacing each file)."""
    old_bytes, new_bytes = str(old).encode(), str(new).encode()
    candidates = [venv / "pyvenv.cfg"]
    for folder in (venv / "bin", venv / "Scripts"):
        if folder.is_dir():
            candidates += [p for p in folder.iterdir() if p.is_file() and not p.is_symlink()]
    for path in candidates:
        try:
            if path.stat().st_size > MAX_SCRIPT_BYTES:
                continue
            data = path.read_bytes()
        except OSError:
            continue
        if old_bytes not in data:
            continue
        fresh = path.with_name(path.name + ".ptenv-tmp")
        fresh.write_bytes(data.replace(old_bytes, new_bytes))
        shutil.copymode(path, fresh)
        fresh.replace(path)


def swap_in(staging: Path, target: Path) -> None:
    """Move the finished venv into place; the previous one is removed only afterwards.

    On Linux the two folders trade places in one renameat2(RENAME_EXCHANGE) call, so at every
    instant the target path holds a whole venv (old or new), whatever signal arrives.
    Elsewhere, or where the filesystem cannot exchange, two renames with a backup between.
    """
    if target.exists() and _exchange(staging, target):
        shutil.rmtree(staging, ignore_errors=True)  # now the previous venv
        return
    backup = backup_path(target)
    had_previous = target.exists()
    if had_previous:
        target.rename(backup)
    try:
        staging.rename(target)
    except OSError:
        if had_previous:
            backup.rename(target)
        raise
    if had_previous:
        shutil.rmtree(backup, ignore_errors=True)


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2  # linux/fs.h


def _exchange(one: Path, other: Path) -> bool:
    """Atomically swap two paths (Linux renameat2); False where that is not possible."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes  # noqa: PLC0415 - only for the swap, never on doctor's path

    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:  # glibc before 2.28
        return False
    done = renameat2(_AT_FDCWD, os.fsencode(one), _AT_FDCWD, os.fsencode(other), _RENAME_EXCHANGE)
    return bool(done == 0)

"""Static facts of the interpreter that runs this script: never imports torch.

Run by ptenv as `<venv python> -X utf8 static_probe.py`; prints one JSON document.
Works on Python 3.8+ with the standard library only (the venv may hold nothing else).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import sysconfig

_GENCODE = re.compile(r"arch=compute_(\d+)[a-z]?,code=(sm|compute)_(\d+)[a-z]?")
_VERSION_FIELDS = ("__version__", "cuda", "hip", "rocm", "xpu", "git_version")


def _headers(path: str) -> dict[str, list[str]]:
    """A METADATA / PKG-INFO file's header fields (up to the first blank line)."""
    fields: dict[str, list[str]] = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if not line.strip():
                    break
                key, sep, value = line.partition(":")
                if sep and not line[0].isspace():
                    fields.setdefault(key.strip().lower(), []).append(value.strip())
    except OSError:
        pass
    return fields


def _installed() -> list[tuple[str, str, str, str]]:
    """(normalised name, version, metadata file, folder) of every distribution on sys.path.

    Read from the .dist-info / .egg-info folders themselves: importlib.metadata would parse
    every METADATA with the email package, two thirds of this probe's time."""
    found = []
    for entry in sys.path:
        try:
            names = sorted(os.listdir(entry or "."))
        except OSError:
            continue
        for folder in names:
            stem, dot, kind = folder.rpartition(".")
            if not dot or kind not in ("dist-info", "egg-info"):
                continue
            path = os.path.join(entry or ".", folder)
            meta = os.path.join(path, "METADATA" if kind == "dist-info" else "PKG-INFO")
            if not os.path.isdir(path):
                meta = path  # an egg-info file rather than a folder
            name, sep, version = stem.partition("-")
            if kind == "egg-info" or not sep or "-" in version:
                headers = _headers(meta)
                name = (headers.get("name") or [""])[0]
                version = (headers.get("version") or [""])[0]
            name = re.sub(r"[-_.]+", "-", name).lower()
            if name:
                found.append((name, version, meta, entry or "."))
    return found


def _distributions(installed: list[tuple[str, str, str, str]]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for name, version, _, _ in installed:
        found.setdefault(name, []).append(version)
    return found


def _torch_files(torch: tuple[str, str, str, str]) -> tuple[str, list[str], str, str]:
    """(version.py text, requires, arch flags text, torch location) without importing torch.

    A torch distribution without torch/version.py (a broken install) still reports its
    metadata version, as `__version__ = '<version>'`.
    """
    _, version, meta, entry = torch
    requires = _headers(meta).get("requires-dist", [])
    root = os.path.join(entry, "torch")
    texts = []
    for relative in (
        "version.py",
        "include/ATen/cuda/CUDAConfig.h",
        "include/caffe2/core/macros.h",
    ):
        path = os.path.join(root, relative)
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                texts.append(handle.read())
        except OSError:
            texts.append("")
    version_text = texts[0] or "__version__ = '%s'\n" % version
    return version_text, requires, texts[1] + "\n" + texts[2], root


_LIBRARY = re.compile(r"\.(so(\.\d+)*|pyd|dll|dylib)$")
_ENTRY_MODULES = ("torch/__init__.py", "torch/version.py")


def _damaged(meta: str, entry: str) -> list[str]:
    """torch's files that RECORD lists but that are gone or of another size: its shared
    libraries and its two entry modules (a stat each; the hashes would take seconds)."""
    record = os.path.join(os.path.dirname(meta), "RECORD")
    try:
        with open(record, encoding="utf-8", errors="replace") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return []
    damaged: list[str] = []
    for line in lines:
        path, _, rest = line.partition(",")
        # cheap tests first: 12,000 lines in a CUDA wheel's RECORD, ~150 of them libraries
        if path not in _ENTRY_MODULES and not (
            (".so" in path or path.endswith((".pyd", ".dll", ".dylib"))) and _LIBRARY.search(path)
        ):
            continue
        size = rest.rpartition(",")[2]
        if not size.isdigit() or path.startswith(".."):
            continue
        try:
            if os.path.getsize(os.path.join(entry, path)) != int(size):
                damaged.append(path)
        except OSError:
            damaged.append(path)
    return damaged


def _version_fields(text: str) -> dict[str, str | None]:
    fields: dict[str, str | None] = {}
    for name in _VERSION_FIELDS:
        match = re.search(
            r"^%s\s*(?::[^=]*)?=\s*['\"]([^'\"]*)['\"]" % re.escape(name), text, re.MULTILINE
        )
        fields[name] = match.group(1) if match else None
    return fields


def _arch_list(flags_text: str) -> list[str]:
    arches: list[str] = []
    for _, kind, number in _GENCODE.findall(flags_text):
        entry = "%s_%s" % (kind, number)
        if entry not in arches:
            arches.append(entry)
    return arches


def main() -> None:
    installed = _installed()
    torch = next((item for item in installed if item[0] == "torch"), None)
    include = sysconfig.get_paths().get("include") or ""
    document: dict[str, object] = {
        "python": {
            "version": "%d.%d.%d" % sys.version_info[:3],
            "executable": sys.executable,
            "prefix": sys.prefix,
            "in_venv": sys.prefix != sys.base_prefix,
            "free_threaded": bool(sysconfig.get_config_var("Py_GIL_DISABLED")),
            "is_64bit": sys.maxsize > 2**32,
            "python_h": os.path.isfile(os.path.join(include, "Python.h")),
        },
        "distributions": _distributions(installed),
        "torch": None,
        "compilers": {name: shutil.which(name) for name in ("cc", "gcc", "c++", "g++", "clang")},
    }
    if torch is not None:
        version_text, requires, flags_text, torch_root = _torch_files(torch)
        document["torch"] = {
            "location": torch_root,
            "version_py": _version_fields(version_text),
            "requires": requires,
            "arch_list": _arch_list(flags_text),
            "damaged": _damaged(torch[2], torch[3]),
        }
    sys.stdout.write(json.dumps(document) + "\n")


if __name__ == "__main__":
    main()

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
from importlib import metadata

_GENCODE = re.compile(r"arch=compute_(\d+)[a-z]?,code=(sm|compute)_(\d+)[a-z]?")
_VERSION_FIELDS = ("__version__", "cuda", "hip", "rocm", "xpu", "git_version")


def _distributions() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for dist in metadata.distributions():
        name = re.sub(r"[-_.]+", "-", dist.metadata["Name"] or "").lower()
        if name:
            found.setdefault(name, []).append(dist.version)
    return found


def _torch_files() -> tuple[str | None, list[str], str, str | None]:
    """(version.py text, requires, arch flags text, torch location) without importing torch.

    A torch distribution without torch/version.py (a broken install) still reports its
    metadata version, as `__version__ = '<version>'`.
    """
    try:
        dist = metadata.distribution("torch")
    except metadata.PackageNotFoundError:
        return None, [], "", None
    requires = list(dist.requires or [])
    root = dist.locate_file("torch")
    texts = []
    for relative in (
        "version.py",
        "include/ATen/cuda/CUDAConfig.h",
        "include/caffe2/core/macros.h",
    ):
        path = os.path.join(str(root), relative)
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                texts.append(handle.read())
        except OSError:
            texts.append("")
    version_text = texts[0] or "__version__ = '%s'\n" % dist.version
    return version_text, requires, texts[1] + "\n" + texts[2], str(root)


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
    version_text, requires, flags_text, torch_root = _torch_files()
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
        "distributions": _distributions(),
        "torch": None,
        "compilers": {name: shutil.which(name) for name in ("cc", "gcc", "c++", "g++", "clang")},
    }
    if version_text is not None:
        document["torch"] = {
            "location": torch_root,
            "version_py": _version_fields(version_text),
            "requires": requires,
            "arch_list": _arch_list(flags_text),
        }
    sys.stdout.write(json.dumps(document) + "\n")


if __name__ == "__main__":
    main()

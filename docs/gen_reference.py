"""Regenerate the generated reference pages: python docs/gen_reference.py.

tests/test_docs.py fails when a generated page is stale.
"""

from __future__ import annotations

from pathlib import Path

from ptenv import matrix, releases, report
from ptenv.diagnose import CATALOG
from ptenv.errors import ExitCode

DOCS = Path(__file__).parent


def matrix_page() -> str:
    data = releases.load()
    parts = [
        "# Release matrix\n\n",
        "Generated from `src/ptenv/releases/` by `docs/gen_reference.py`; do not edit.\n",
        "Cells give the GPU architectures compiled into each CUDA build (SASS range; `+PTX` "
        "when PTX is included). `?` = architecture list unknown, `*` = UNVERIFIED in the data, "
        "`(x.y.z)` = only in those patches, `yes` = published (cpu, ROCm, XPU).\n\n",
    ]
    for platform in releases.PLATFORMS:
        rows = matrix.matrix(data, platform, None)
        parts.append(report.matrix_markdown(platform, rows, matrix.variant_order(rows)) + "\n")
    return "".join(parts)


def findings_page() -> str:
    lines = [
        "# Finding codes\n",
        "Generated from `ptenv.diagnose.CATALOG` by `docs/gen_reference.py`; do not edit.\n",
        "| code | severity | what | fix |",
        "|---|---|---|---|",
    ]
    for code, rule in CATALOG.items():
        lines.append(f"| `{code}` | {rule.severity.value} | {rule.title} | {rule.fix} |")
    return "\n".join(lines) + "\n"


def exit_codes_page() -> str:
    lines = [
        "# Exit codes\n",
        "Generated from `ptenv.errors.ExitCode` by `docs/gen_reference.py`; do not edit.\n",
        "| code | name |",
        "|---|---|",
    ]
    lines += [f"| {code.value} | `{code.name}` |" for code in ExitCode]
    return "\n".join(lines) + "\n"


PAGES = {
    "reference/matrix.md": matrix_page,
    "reference/findings.md": findings_page,
    "reference/exit-codes.md": exit_codes_page,
}


def main() -> None:
    for name, build in PAGES.items():
        (DOCS / name).write_text(build(), encoding="utf-8")


if __name__ == "__main__":
    main()

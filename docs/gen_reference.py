"""Regenerate the generated reference pages: python docs/gen_reference.py.

tests/test_docs.py fails when a generated page is stale.
"""

from __future__ import annotations

from pathlib import Path

from ptenv import releases, report
from ptenv.diagnose import CATALOG
from ptenv.errors import ExitCode
from ptenv.releases import matrix

DOCS = Path(__file__).parent


def matrix_page() -> str:
    data = releases.load()
    parts = [
        "# Release matrix\n\n",
        "Generated from `src/ptenv/releases/` by `docs/gen_reference.py`; do not edit.\n",
        "Cells give the GPU architectures compiled into each CUDA build (SASS range; `+PTX` "
        "when PTX is included); for ROCm the gfx targets (first-last and how many: "
        "`ptenv matrix --json` lists them), for xpu how many Intel GPU families the build is "
        "made for. `?` = architecture list unknown, `*` = UNVERIFIED in the data, "
        "`(x.y.z)` = only in those patches, `yes` = published (cpu).\n\n",
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


def cli_page() -> str:
    """Every command and option, read from the Typer app's parameters (not its rendering)."""
    import typer.main

    from ptenv.cli import app

    group = typer.main.get_command(app)
    parts = [
        "# Command-line reference\n\n",
        "Generated from the Typer app by `docs/gen_reference.py`; do not edit. "
        "`ptenv COMMAND --help` prints the same.\n",
    ]
    for name, command in _commands(group):
        doc = (command.help or "").strip()
        parts.append(f"\n## `ptenv {name}`\n\n{doc}\n\n")
        if not command.params or all("--help" in getattr(p, "opts", []) for p in command.params):
            continue
        parts.append("| option | default | environment | meaning |\n|---|---|---|---|\n")
        for param in command.params:
            opts = getattr(param, "opts", [])
            if not opts or "--help" in opts:
                continue
            if getattr(param, "param_type_name", "") == "argument":
                opts = [param.metavar or param.name or ""]
            flag = ", ".join(f"`{o}`" for o in opts)
            default = param.default
            shown = (
                ""
                if default in (None, False, "") or getattr(param, "is_flag", False)
                else f"`{default}`"
            )
            envvar = param.envvar if isinstance(param.envvar, str) else ""
            help_text = (getattr(param, "help", "") or "").replace("|", "\\|")
            parts.append(f"| {flag} | {shown} | {envvar} | {help_text} |\n")
    return "".join(parts)


def _commands(group: object, prefix: str = "") -> list[tuple[str, object]]:
    """(name, command) of every command, sub-commands of a group (ptenv data ...) included."""
    found: list[tuple[str, object]] = []
    commands = getattr(group, "commands", {})
    for name in sorted(commands):
        command = commands[name]
        found.append((f"{prefix}{name}", command))
        if getattr(command, "commands", None):
            found += _commands(command, f"{prefix}{name} ")
    return found


def _json_type(annotation: object) -> str:
    """A JSON type name for a TypedDict field's type."""
    import types
    import typing

    args = typing.get_args(annotation)
    if isinstance(annotation, types.UnionType):
        named = [_json_type(a) for a in args if a is not type(None)]
        return " or ".join(named) + (" or null" if type(None) in args else "")
    origin = typing.get_origin(annotation) or annotation
    names = {str: "string", bool: "boolean", int: "integer", float: "number", list: "array"}
    return names.get(origin, "object")  # type: ignore[call-overload]


def _nested_keys(annotation: object) -> list[str]:
    """The keys of a TypedDict inside a field (itself, a list of it, or it-or-null)."""
    import typing

    for candidate in (annotation, *typing.get_args(annotation)):
        if typing.is_typeddict(candidate):
            return list(typing.get_type_hints(candidate))
    return []


def _json_rows(document: type) -> list[str]:
    import typing

    rows = []
    for key, hint in typing.get_type_hints(document, include_extras=True).items():
        annotation, *notes = typing.get_args(hint) or (hint,)
        meaning = str(notes[0]) if notes else ""
        nested = _nested_keys(annotation)
        if nested:
            meaning += " — " + ", ".join(f"`{k}`" for k in nested)
        rows.append(f"| `{key}` | {_json_type(annotation)} | {meaning} |")
    return rows


def json_page() -> str:
    """The JSON reference, from the TypedDicts in ptenv.schema."""
    from ptenv.schema import DOCUMENTS, ErrorDocument

    header = "| key | type | meaning |\n|---|---|---|"
    parts = [
        "# JSON documents\n",
        "Generated from `ptenv.schema` by `docs/gen_reference.py`; do not edit. With `--json` "
        "every command prints exactly one JSON document on stdout (progress and errors go to "
        "stderr). Each document names its schema; a field is added without changing the "
        "schema name, and removed or renamed only with a new one (`/2`). "
        "`tests/test_contracts.py` holds the code's documents to these types and to a golden "
        "document per schema.\n",
        "## Errors (every command)\n",
        "When a command fails before it has a result (bad usage, no compatible build, an "
        'install that failed), the document is `{"schema": ..., "error": {...}}` and the '
        "exit status says which kind ([exit codes](exit-codes.md)).\n",
        header,
        *_json_rows(ErrorDocument),
    ]
    for schema, document in DOCUMENTS.items():
        parts += ["", f"## {schema}\n", header, *_json_rows(document)]
    parts.append(
        "\n`ptenv.pylock/1` is the lock `ptenv install` writes beside the venv "
        "(`pylock.<venv>.toml`, PEP 751, TOML), not a `--json` document; its `tool` table is "
        "`[tool.ptenv]`."
    )
    return "\n".join(parts) + "\n"


PAGES = {
    "reference/json.md": json_page,
    "reference/matrix.md": matrix_page,
    "reference/findings.md": findings_page,
    "reference/exit-codes.md": exit_codes_page,
    "reference/cli.md": cli_page,
}


def main() -> None:
    for name, build in PAGES.items():
        (DOCS / name).write_text(build(), encoding="utf-8")


if __name__ == "__main__":
    main()

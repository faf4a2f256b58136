"""Run the commands the docs show and write their real output to docs/captured/*.txt.

    python docs/capture.py            # needs ptenv installed, about a minute

The getting-started page, the Chinese quickstart, the README and the cluster guide include
these files, so what they show is what ptenv printed on the machine named in machine.txt.
The install uses `--use-pip-config` because the machine the docs are captured on reaches
PyPI only through pip's configuration, not the PyTorch index. A fresh XDG_CACHE_HOME makes
the first check's compile as cold as a newcomer's.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "captured"
PTENV = str(Path(sys.executable).parent / "ptenv")

COMMANDS = {
    "bootstrap": "python3 bootstrap.py --no-doctor",
    "doctor": "ptenv doctor",
    "plan": "ptenv plan",
    "plan-other-machine": "ptenv plan --gpu 8.9 --driver 550.54.15 --python 3.12",
    "install": "ptenv install --cuda auto --use-pip-config",
    "check": "ptenv check",
    "check-nproc2": "ptenv check --device cpu --nproc 2",
}


def main() -> None:
    OUT.mkdir(exist_ok=True)
    demo = Path(tempfile.mkdtemp(prefix="ptenv-demo-"))
    cache = Path(tempfile.mkdtemp(prefix="ptenv-cache-"))
    env = {
        **os.environ,
        "COLUMNS": "100",
        "NO_COLOR": "1",
        "TERM": "dumb",
        "XDG_CACHE_HOME": str(cache),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("VIRTUAL_ENV", None)
    try:
        home = demo / "home"
        home.mkdir()
        for name, command in COMMANDS.items():
            argv = [PTENV, *command.split()[1:]]
            run_env = env
            if name == "bootstrap":  # a stock user's set-up: their python3, a fresh HOME
                stock = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else "python3"
                argv = [stock, str(HERE.parent / "bootstrap.py"), *command.split()[2:]]
                run_env = {**env, "HOME": str(home), "PATH": "/usr/bin:/bin"}
            done = subprocess.run(
                argv,
                cwd=demo,
                env=run_env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,  # interleaved as on a terminal
                text=True,
                check=False,
                timeout=900,
            )
            text = f"$ {command}\n{done.stdout}"
            if done.returncode:
                text += f"(exit status {done.returncode})\n"
            text = text.replace(str(home), "~").replace(str(HERE.parent), "~/ptenv")
            text = text.replace(str(demo), "~/project").replace(str(cache), "~/.cache")
            lines = [line.rstrip() for line in text.splitlines()]
            (OUT / f"{name}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
            sys.stdout.write(f"{name}: exit {done.returncode}\n")
    finally:
        shutil.rmtree(demo, ignore_errors=True)
        shutil.rmtree(cache, ignore_errors=True)
    write_readme_demo()
    (OUT / "machine.txt").write_text(
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} logical CPUs, no GPU, "
        f"Python {platform.python_version()}\n",
        encoding="utf-8",
    )


README = HERE.parent / "README.md"
README_DEMO = ("doctor", "install")  # the captures the README shows, in order


def readme_demo() -> str:
    """The README's demo section, built from the captured files."""
    blocks = [(OUT / f"{name}.txt").read_text(encoding="utf-8") for name in README_DEMO]
    return "".join(f"```console\n{block}```\n" for block in blocks)


def write_readme_demo() -> None:
    text = README.read_text(encoding="utf-8")
    head, _, rest = text.partition("<!-- demo:start -->\n")
    _, _, tail = rest.partition("<!-- demo:end -->")
    README.write_text(
        f"{head}<!-- demo:start -->\n{readme_demo()}<!-- demo:end -->{tail}", encoding="utf-8"
    )


if __name__ == "__main__":
    main()

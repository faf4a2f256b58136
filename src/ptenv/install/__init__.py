"""Installing: Plan -> Environment (the workflow is ptenv.install.workflow).

The rooms: workflow (the order of work), backends (uv, pip argv), sources (where wheels come
from), availability (what a source really holds), index (reading index pages), staging
(build beside, swap in), lock (pylock.<venv>.toml, PEP 751).
This file stays empty on purpose: doctor reads locks through ptenv.install.lock, and a
package's __init__ runs on every submodule import, so the installer machinery and the
network stack must not live here.
"""

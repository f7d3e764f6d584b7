"""Running the real `mentormatch` command line in a subprocess, as a coordinator would, for the CLI tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

WIDE = {"COLUMNS": "250"}  # tables wide enough that no id is folded across lines


def cli_command(*args: str | Path) -> list[str]:
    """The command line of `mentormatch ARGS` with this interpreter (the project as the tests import it)."""
    return [sys.executable, "-m", "server.cli", *map(str, args)]


def cli_env(**extra: str) -> dict[str, str]:
    return {**os.environ, **WIDE, **extra}


def run_cli(*args: str | Path, timeout: float = 120, **popen: Any) -> subprocess.CompletedProcess[str]:
    """`mentormatch ARGS`, its output captured as text; `popen` passes on (preexec_fn, cwd, ...)."""
    return subprocess.run(cli_command(*args), capture_output=True, text=True, timeout=timeout, env=cli_env(),
                          check=False, **popen)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used, from /proc: how far it got, whatever the machine's load."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

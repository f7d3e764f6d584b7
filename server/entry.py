"""The `mentormatch` console script: the collector's thresholds for a command's run, then the command line.

A command's run is short and its heap large: the cyclic collector, at its default of a pass per 700 new objects,
spent ~0.15 s in ~280 passes of a kvinfo `solve --explain` (imports included), 0.04 s in 3 at the thresholds set
here before anything else is imported. `serve` keeps Python's defaults (a server's heap lives long) and
freezes the heap it starts with instead (`server.app.settle_heap`).
"""

from __future__ import annotations

import gc
import sys

from server.argv import LINGERING_COMMANDS, command_of

COMMAND_GC_THRESHOLD = (50_000, 20, 10)


def main() -> None:
    if command_of(sys.argv[1:]) not in LINGERING_COMMANDS:
        gc.set_threshold(*COMMAND_GC_THRESHOLD)
    from server.cli import main as command_line

    command_line()

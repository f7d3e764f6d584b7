"""What a command line names, read from its arguments before anything else is imported (by the console script
`server.entry` and by `server.cli`)."""

from __future__ import annotations

from collections.abc import Sequence

LINGERING_COMMANDS = frozenset({"serve"})
"""Commands whose process ends the usual way (its exit handlers run, the collector as Python sets it): a server's,
which has its own shutdown."""


def command_of(args: Sequence[str]) -> str | None:
    """The command named in the arguments (the first that is not an option)."""
    return next((arg for arg in args if not arg.startswith("-")), None)

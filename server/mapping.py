"""Kept only for `server.service` and `server.client` (`from server import mapping`): use `server.convert`."""

from server.convert import *  # noqa: F403

"""``cairn monitor``: the group; the loop's commands come from :mod:`cairn.cli.monitor_loop`."""

from __future__ import annotations

from cairn.cli._group import Group
from cairn.cli.monitor_loop import add_loop_commands

app = Group("monitor", help="Watch served models: drift, quality, performance; alerts that act.")
add_loop_commands(app)

"""The command group every ``cairn`` group is built from."""

from __future__ import annotations

import click


class Group(click.Group):
    """A click group that lists its commands in the order they were added.

    click sorts a group's commands by name; Cairn lists them as the module defines them,
    which puts the everyday commands (``add``, ``status``, ``ls``) first.

    Example:
        >>> app = Group("data")
        >>> @app.command("status")
        ... def status() -> None: ...
        >>> @app.command("add")
        ... def add() -> None: ...
        >>> app.list_commands(None)
        ['status', 'add']
    """

    def list_commands(self, ctx: click.Context | None) -> list[str]:
        return list(self.commands)

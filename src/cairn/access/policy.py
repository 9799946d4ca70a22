"""Who may do what, as settings: the level everyone gets, what creators get, and which
aliases need ``manage``.

Read from the ``[access]`` table of ``cairn.toml``::

    [access]
    default_level = "read"              # what every user may do to any resource: none, read, edit
    creator_level = "manage"            # what the creator of a resource gets
    protected_aliases = ["production"]  # promoting to these needs manage on the model
    allow_create = true                 # may every (non read-only) user create resources
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cairn.access.types import ACTIONS, Action
from cairn.errors import ConfigError

#: The default level for everyone: an action, or ``None`` for no access without a grant.
DefaultLevel = Action | None


def rank(level: str | None) -> int:
    """0 for no access, then read < edit < manage."""
    return ACTIONS.index(level) + 1 if level in ACTIONS else 0


@dataclass(frozen=True, slots=True)
class AccessPolicy:
    default_level: DefaultLevel = "read"
    creator_level: Action = "manage"
    protected_aliases: tuple[str, ...] = ("production",)
    allow_create: bool = True

    def action_for_alias(self, alias: str) -> Action:
        """What moving ``alias`` of a model needs: ``manage`` for a protected alias,
        ``edit`` for any other. The server asks this for alias routes."""
        return "manage" if alias in self.protected_aliases else "edit"


def load_policy(config_file: Path | None) -> AccessPolicy:
    """The ``[access]`` table of ``config_file`` (defaults for what it leaves out)."""
    if config_file is None or not config_file.is_file():
        return AccessPolicy()
    try:
        table = tomllib.loads(config_file.read_text("utf-8")).get("access", {})
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{config_file} is not valid TOML: {exc}") from None
    return policy_from(table, str(config_file))


def policy_from(table: Any, where: str = "cairn.toml") -> AccessPolicy:
    if not isinstance(table, dict):
        raise ConfigError(f"[access] in {where} must be a table")
    known = {"default_level", "creator_level", "protected_aliases", "allow_create"}
    unknown = sorted(set(table) - known)
    if unknown:
        raise ConfigError(
            f"unknown setting {unknown[0]!r} in [access] of {where}; "
            f"known: {', '.join(sorted(known))}"
        )
    default = table.get("default_level", "read")
    if default not in (*ACTIONS, "none"):
        raise ConfigError(
            f"[access] default_level = {default!r} in {where}: use none, read, edit or manage"
        )
    creator = table.get("creator_level", "manage")
    if creator not in ACTIONS:
        raise ConfigError(
            f"[access] creator_level = {creator!r} in {where}: use read, edit or manage"
        )
    aliases = table.get("protected_aliases", ["production"])
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        raise ConfigError(
            f"[access] protected_aliases in {where} must be a list of alias names, "
            'as in ["production"]'
        )
    allow = table.get("allow_create", True)
    if not isinstance(allow, bool):
        raise ConfigError(f"[access] allow_create in {where} must be true or false")
    return AccessPolicy(
        default_level=None if default == "none" else default,
        creator_level=creator,
        protected_aliases=tuple(aliases),
        allow_create=allow,
    )

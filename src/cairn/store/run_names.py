"""Readable names for runs started without one (``swift-otter-042``), made wherever the
run is made: in the SQL store, or in a client that starts runs itself."""

from __future__ import annotations

import random

_ADJECTIVES = (
    "amber", "bold", "brisk", "calm", "clever", "dusty", "eager", "fuzzy", "gentle", "glad",
    "honest", "jolly", "keen", "lucky", "mellow", "nimble", "proud", "quiet", "rapid", "rustic",
    "shiny", "silent", "steady", "sunny", "swift", "tidy", "vivid", "warm", "wild", "witty",
)  # fmt: skip
_NOUNS = (
    "badger", "basalt", "beacon", "brook", "canyon", "cedar", "comet", "delta", "falcon", "fern",
    "glacier", "harbor", "heron", "lichen", "meadow", "moss", "otter", "pebble", "pine", "quartz",
    "raven", "ridge", "river", "slate", "summit", "thistle", "tundra", "willow", "wren", "zephyr",
)  # fmt: skip


def generate_run_name() -> str:
    """A readable name such as ``swift-otter-042`` for runs started without one."""
    return f"{random.choice(_ADJECTIVES)}-{random.choice(_NOUNS)}-{random.randrange(1000):03d}"

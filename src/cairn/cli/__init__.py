"""The ``cairn`` command: thin click adapters over the domain modules."""

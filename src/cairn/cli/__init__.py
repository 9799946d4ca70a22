"""The ``cairn`` command: thin Typer adapters over the domain modules."""

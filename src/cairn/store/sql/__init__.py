"""SQL implementation of the metadata protocols (SQLAlchemy 2 Core + Alembic)."""

"""Pipelines: cached DAGs of typed steps, run in-process, on local processes or Ray."""

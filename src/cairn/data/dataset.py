"""The :class:`Dataset` handle: one version, its schema and profile, its bytes on demand."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cairn.data import tabular
from cairn.errors import InvalidInput
from cairn.store.datasets import DatasetVersion

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from cairn.workspace import Workspace

CACHE_DIR = "cache/datasets"


@dataclass(frozen=True)
class Dataset:
    """A dataset version with its workspace: read its schema, profile and data.

    Pass it to ``run.log_input(dataset)`` to record that a run used it; lineage then
    answers "which runs used churn@v3" (``cairn data log churn``).

    Example:
        >>> ds = cairn.data.get("churn@v3")  # doctest: +SKIP
        >>> ds.rows, ds.schema["tenure"], ds.profile["columns"]["tenure"]["mean"]  # doctest: +SKIP
        (7043, 'int64', 32.4)
        >>> with cairn.start_run() as run:  # doctest: +SKIP
        ...     run.log_input(ds)
    """

    version: DatasetVersion
    workspace: Workspace = field(repr=False, compare=False)
    #: For :func:`cairn.data.add`: whether a new version was made (False: unchanged).
    created: bool | None = None
    #: For :func:`cairn.data.add`: why a folder was stored as bytes, if it was.
    note: str = ""

    #: What lineage records this as (``RunIO.kind``).
    kind = "dataset"

    @property
    def name(self) -> str:
        return self.version.name

    @property
    def number(self) -> int:
        return self.version.version

    @property
    def ref(self) -> str:
        """``name@vN``."""
        return self.version.ref

    @property
    def digest(self) -> str:
        return self.version.digest

    @property
    def size(self) -> int:
        return self.version.size

    @property
    def format(self) -> str:
        return self.version.format

    @property
    def rows(self) -> int | None:
        return self.version.rows

    @property
    def schema(self) -> dict[str, str]:
        """Column name -> Arrow type name; empty for non-tabular versions."""
        return {c.name: c.dtype for c in self.version.columns}

    @cached_property
    def profile(self) -> dict[str, Any] | None:
        """The column profile (see :mod:`cairn.data.profile`); ``None`` for bytes."""
        if self.version.profile_digest is None:
            return None
        data = self.workspace.artifacts.read_bytes(self.version.profile_digest, verify=True)
        return json.loads(data)  # type: ignore[no-any-return]

    @cached_property
    def path(self) -> Path:
        """A local copy of the exact bytes (checked out once into ``.cairn/cache``)."""
        base = self.workspace.root / ".cairn" if self.workspace.root else Path.cwd() / ".cairn"
        dest = base / CACHE_DIR / self.digest / (Path(self.version.source).name or self.name)
        if not dest.exists():
            self.workspace.artifacts.checkout(self.digest, dest, verify=True)
        return dest

    def checkout(self, dest: str | Path, overwrite: bool = False) -> Path:
        """Restore the exact bytes (verified against the digest) to ``dest``."""
        return self.workspace.artifacts.checkout(
            self.digest, Path(dest), verify=True, overwrite=overwrite
        )

    def sources(self) -> list[tabular.Source]:
        """The data files of this version in the artifact store, in order."""
        store = self.workspace.artifacts
        if self.version.kind == "file":
            label = Path(self.version.source).name or self.ref
            return [tabular.Source(label, opener=lambda: store.open(self.digest))]
        entries = [e for e in store.read_tree(self.digest) if tabular.is_data_file(e.path)]
        return [tabular.Source(e.path, opener=lambda e=e: store.open(e)) for e in entries]

    def arrow_schema(self) -> pa.Schema:
        self._require_tabular()
        return tabular.schema_of(self.sources(), self.format)

    def batches(self, columns: Sequence[str] | None = None) -> Iterator[pa.RecordBatch]:
        """Record batches of the data, read from the artifact store as a stream."""
        sources = self.sources()
        schema = self.arrow_schema()
        return tabular.iter_batches(sources, self.format, schema, columns)

    def load(self, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """The whole version (or ``columns``) as a pandas DataFrame.

        ``df.attrs["cairn.dataset"]`` holds the ref and digest, so
        :func:`cairn.data.split` can record where its rows came from.
        """
        import pyarrow as pa

        schema = self.arrow_schema()
        if columns is not None:
            missing = [c for c in columns if c not in schema.names]
            if missing:
                have = ", ".join(schema.names)
                raise InvalidInput(
                    f"{self.ref} has no column(s) {', '.join(missing)}; it has {have}"
                )
            schema = pa.schema([schema.field(c) for c in columns])
        table = pa.Table.from_batches(list(self.batches(columns)), schema=schema)
        frame = table.to_pandas()
        frame.attrs["cairn.dataset"] = {"ref": self.ref, "digest": self.digest}
        return frame

    def to_dict(self) -> dict[str, Any]:
        return self.version.to_dict()

    def _require_tabular(self) -> None:
        if not self.version.is_tabular:
            raise InvalidInput(
                f"{self.ref} is not tabular (stored as bytes); use `cairn data checkout {self.ref}`"
            )

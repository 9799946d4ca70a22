"""Recognising tabular content (CSV, Parquet) and reading it in Arrow record batches.

A file is tabular by its extension: ``.csv`` (``.csv.gz`` too) or ``.parquet``/``.pq``.
A directory is tabular when every data file in it (names starting with ``.`` or ``_``,
such as ``_SUCCESS``, are skipped) has the same tabular format and the same columns;
otherwise it is versioned as plain bytes. Reading never loads a whole file: Parquet is
read one record batch at a time, CSV through Arrow's streaming reader, whose column
types come from the first block (``CSV_BLOCK_SIZE``) and then hold for the whole file.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from cairn.errors import InvalidInput

if TYPE_CHECKING:
    import pyarrow as pa

BATCH_ROWS = 131_072
CSV_BLOCK_SIZE = 16 << 20


class SchemaMismatch(InvalidInput):
    """Files of one directory that do not share their columns."""


_SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def format_of(name: str) -> str:
    """``csv``, ``parquet`` or ``bytes`` from a file name."""
    # String operations, not pathlib: this runs once per file of a folder being added.
    lower = name.lower()
    if lower.endswith(".csv.gz"):
        return "csv"
    base = lower.rpartition("/")[2]
    dot = base.rfind(".")
    return _SUFFIXES.get(base[dot:], "bytes") if dot > 0 else "bytes"


def is_data_file(relpath: str) -> bool:
    """Whether a file inside a directory counts as data (not ``.hidden`` or ``_SUCCESS``)."""
    return not any(part.startswith((".", "_")) for part in relpath.split("/") if part)


@dataclass(frozen=True)
class Source:
    """One file to read: a label for messages and either a local path or an opener."""

    label: str
    path: Path | None = None
    opener: Any = None  # () -> binary file object, for content in the artifact store

    @contextmanager
    def opened(self) -> Iterator[BinaryIO | str]:
        """The local path (Arrow opens and closes it), or the opened stored file, closed
        afterwards: Arrow's readers do not close a Python file object handed to them, so
        a reader abandoned early (validation stopping at a bad row, an error) would leave
        it open until collected."""
        if self.path is not None:
            yield str(self.path)
            return
        handle: BinaryIO = self.opener()
        try:
            yield handle
        finally:
            handle.close()


def schema_of(sources: Sequence[Source], fmt: str) -> pa.Schema:
    """The common Arrow schema of ``sources``; ``InvalidInput`` if unreadable or unequal."""
    first: pa.Schema | None = None
    for source in sources:
        schema = _read_schema(source, fmt, None)
        if first is None:
            first = schema
        elif not schema.equals(first):
            raise SchemaMismatch(
                f"{source.label} has columns {_describe(schema)}, unlike {sources[0].label} "
                f"({_describe(first)})"
            )
    if first is None:
        raise InvalidInput("no data files to read")
    return first


def iter_batches(
    sources: Sequence[Source],
    fmt: str,
    schema: pa.Schema,
    columns: Sequence[str] | None = None,
    batch_rows: int = BATCH_ROWS,
) -> Iterator[pa.RecordBatch]:
    """Record batches of every source in order, restricted to ``columns`` if given."""
    import pyarrow as pa

    for source in sources:
        try:
            if fmt == "parquet":
                yield from _parquet_batches(source, columns, batch_rows)
            else:
                yield from _csv_batches(source, schema, columns)
        except (pa.ArrowException, OSError) as exc:
            raise InvalidInput(
                f"cannot read {source.label} as {fmt.upper()}: {_first_line(exc)}"
            ) from None


def _read_schema(source: Source, fmt: str, _columns: Sequence[str] | None) -> pa.Schema:
    import pyarrow as pa

    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            with source.opened() as raw, pq.ParquetFile(raw) as handle:
                return handle.schema_arrow.remove_metadata()
        with source.opened() as raw:
            reader = _open_csv(raw, source.label, None, None)
            try:
                return reader.schema
            finally:
                reader.close()
    except (pa.ArrowException, OSError) as exc:
        raise InvalidInput(
            f"cannot read {source.label} as {fmt.upper()}: {_first_line(exc)}"
        ) from None


def _parquet_batches(
    source: Source, columns: Sequence[str] | None, batch_rows: int
) -> Iterator[pa.RecordBatch]:
    import pyarrow.parquet as pq

    # A buffered stream without pre-buffering reads column chunks page by page, and one
    # row group at a time keeps Arrow from reading ahead: memory stays near one batch.
    with (
        source.opened() as raw,
        pq.ParquetFile(raw, buffer_size=1 << 20, pre_buffer=False) as handle,
    ):
        for group in range(handle.metadata.num_row_groups):
            yield from handle.iter_batches(
                batch_size=batch_rows, row_groups=[group], columns=columns, use_threads=False
            )


def _csv_batches(
    source: Source, schema: pa.Schema, columns: Sequence[str] | None
) -> Iterator[pa.RecordBatch]:
    with source.opened() as raw:
        reader = _open_csv(raw, source.label, schema, columns)
        try:
            yield from reader
        finally:
            reader.close()


def _open_csv(
    raw: BinaryIO | str, label: str, schema: pa.Schema | None, columns: Sequence[str] | None
) -> Any:
    import pyarrow.csv as pcsv

    convert = pcsv.ConvertOptions(
        column_types=None if schema is None else {f.name: f.type for f in schema},
        include_columns=list(columns) if columns is not None else None,
    )
    read = pcsv.ReadOptions(block_size=CSV_BLOCK_SIZE)
    stream: Any = raw
    if label.lower().endswith(".gz"):
        import pyarrow as pa

        stream = pa.input_stream(stream, compression="gzip")
    return pcsv.open_csv(stream, read_options=read, convert_options=convert)


def _describe(schema: pa.Schema) -> str:
    return ", ".join(f"{f.name}:{f.type}" for f in schema)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def dtype_name(arrow_type: pa.DataType) -> str:
    """A stable text name for an Arrow type: ``int64``, ``double``, ``string``...

    ``large_string`` and ``string_view`` read as ``string``; dictionaries as their values.
    """
    import pyarrow as pa

    if pa.types.is_dictionary(arrow_type):
        return dtype_name(arrow_type.value_type)
    if pa.types.is_large_string(arrow_type) or str(arrow_type) == "string_view":
        return "string"
    return str(arrow_type)

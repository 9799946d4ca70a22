"""The two spellings of column types, and a hint when one is used where the other belongs.

Data schemas (``cairn data infer-schema``, ``cairn data validate``) name column types as
Arrow does, because datasets are stored as Arrow/Parquet: ``int64``, ``double``,
``string``, ``bool``, ``timestamp[us]``. Model signatures name them as numpy and pandas
do, because models are called with DataFrames and arrays: ``int64``, ``float64``,
``str``, ``bool``, ``datetime64[ns]``. Integer and boolean names are the same in both;
floats, text and times differ. :func:`arrow_spelling` and :func:`numpy_spelling` say
what the other family calls a name, so an error can point at the right one.

Pure text, no imports: the data and models layers both use it.
"""

from __future__ import annotations

import re

#: Arrow name -> numpy name, for the names that differ.
_ARROW_TO_NUMPY = {
    "double": "float64",
    "halffloat": "float16",
    "string": "str",
    "large_string": "str",
    "utf8": "str",
    "large_utf8": "str",
}
#: numpy name -> Arrow name, for the names that differ. ``float`` is left out: Arrow
#: reads it as float32 and numpy as float64, so it is valid (and different) in both.
_NUMPY_TO_ARROW = {
    "float64": "double",
    "float32": "float",
    "float16": "halffloat",
    "str": "string",
    "object": "string",
    "category": "string",
}
_ARROW_TIME = re.compile(r"(timestamp|duration)\[(s|ms|us|ns)(?:, tz=.*)?\]")
_NUMPY_TIME = re.compile(r"(datetime64|timedelta64)\[(s|ms|us|ns)\]")


def numpy_spelling(arrow_name: str) -> str | None:
    """The numpy name for an Arrow-only name (``double`` -> ``float64``), else None."""
    name = arrow_name.strip().lower()
    if name in _ARROW_TO_NUMPY:
        return _ARROW_TO_NUMPY[name]
    time = _ARROW_TIME.fullmatch(name)
    if time:
        kind = "datetime64" if time.group(1) == "timestamp" else "timedelta64"
        return f"{kind}[{time.group(2)}]"
    return None


def arrow_spelling(numpy_name: str) -> str | None:
    """The Arrow name for a numpy-only name (``float64`` -> ``double``), else None."""
    name = numpy_name.strip().lower()
    if name in _NUMPY_TO_ARROW:
        return _NUMPY_TO_ARROW[name]
    time = _NUMPY_TIME.fullmatch(name)
    if time:
        kind = "timestamp" if time.group(1) == "datetime64" else "duration"
        return f"{kind}[{time.group(2)}]"
    return None

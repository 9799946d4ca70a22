"""Datasets: content-addressed versions, profiles, validation and reproducible splits.

Example::

    import cairn

    ds = cairn.data.add("data/churn.csv", name="churn", message="May export")
    ds.ref                                  # 'churn@v1'
    df = cairn.data.load("churn@latest")    # pandas.DataFrame
    report = cairn.data.validate("churn", "schema.yaml")
    with cairn.start_run(experiment="churn") as run:
        run.log_input(cairn.data.get("churn@v1"))
        train, test = cairn.data.split(df, 0.2, stratify="churned", seed=7)

Modules: :mod:`~cairn.data.versions` (adding), :mod:`~cairn.data.dataset` (the handle),
:mod:`~cairn.data.profile` and :mod:`~cairn.data.sketches` (profiles),
:mod:`~cairn.data.schema` (validation), :mod:`~cairn.data.split`, :mod:`~cairn.data.diff`,
:mod:`~cairn.data.remote` (push and pull), :mod:`~cairn.data.changes` (are the source files
still the latest version?). Importing this package loads neither pandas
nor pyarrow; the functions do when they need them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

# Loaded first so that ``cairn.data.diff`` stays the function defined below: importing
# the submodule later (as that function does) would rebind the package's attribute to it.
from cairn.data import diff as _diff_module  # noqa: F401
from cairn.data.split import split
from cairn.store.datasets import DatasetSummary, DatasetVersion, parse_ref

if TYPE_CHECKING:
    import pandas as pd

    from cairn.data.changes import DatasetStatus
    from cairn.data.dataset import Dataset
    from cairn.data.diff import DatasetDiff
    from cairn.data.schema import ValidationReport
    from cairn.store.artifacts import TransferReport
    from cairn.types import Run
    from cairn.workspace import Workspace

__all__ = [
    "Dataset",
    "DatasetSummary",
    "DatasetVersion",
    "VersionUsage",
    "add",
    "checkout",
    "diff",
    "get",
    "infer_schema",
    "list_versions",
    "load",
    "log",
    "ls",
    "pull",
    "push",
    "split",
    "status",
    "validate",
]


def _ws(workspace: Workspace | None) -> Workspace:
    from cairn.workspace import resolve

    return resolve(workspace)


def add(
    path: str | os.PathLike[str],
    name: str,
    message: str = "",
    *,
    workspace: Workspace | None = None,
    progress: Any = None,
) -> Dataset:
    """Version a file or folder as the next version of ``name``.

    Unchanged content (the latest version has the same digest) makes no new version:
    the returned handle is that version, with ``created`` False.

    Example:
        >>> ds = cairn.data.add("data/churn.csv", name="churn")  # doctest: +SKIP
        >>> ds.ref, ds.created  # doctest: +SKIP
        ('churn@v1', True)
    """
    from cairn.data.versions import add_version

    ws = _ws(workspace)
    result, note = add_version(ws, path, name, message, progress=progress)
    from cairn.data.dataset import Dataset

    return Dataset(result.version, ws, created=result.created, note=note)


def get(ref: str, *, workspace: Workspace | None = None) -> Dataset:
    """The handle of ``name``, ``name@latest`` or ``name@vN``; ``NotFound`` if absent.

    Example:
        >>> cairn.data.get("churn@v3").rows  # doctest: +SKIP
        7043
    """
    ws = _ws(workspace)
    name, number = parse_ref(ref)
    from cairn.data.dataset import Dataset

    return Dataset(ws.datasets.get_version(name, number), ws)


def load(
    ref: str, columns: list[str] | None = None, *, workspace: Workspace | None = None
) -> pd.DataFrame:
    """The data of a tabular version as a pandas DataFrame (``churn@latest`` works)."""
    return get(ref, workspace=workspace).load(columns)


def ls(*, workspace: Workspace | None = None) -> list[DatasetSummary]:
    """Every dataset with its version count and latest version."""
    from cairn.data.lookup import list_datasets

    return list_datasets(_ws(workspace))


def list_versions(name: str, *, workspace: Workspace | None = None) -> list[DatasetVersion]:
    """Every version of ``name``, oldest first."""
    found: list[DatasetVersion] = _ws(workspace).datasets.list_versions(parse_ref(name)[0])
    return found


@dataclass(frozen=True)
class VersionUsage:
    """A version and the runs that recorded it (or its content) as an input."""

    version: DatasetVersion
    runs: tuple[Run, ...]


def log(name: str, *, workspace: Workspace | None = None) -> list[VersionUsage]:
    """Versions of ``name``, oldest first, each with the runs that used it.

    Models are reached through these runs: a registered model version records the run
    it came from.
    """
    ws = _ws(workspace)
    out = []
    for version in ws.datasets.list_versions(parse_ref(name)[0]):
        runs = ws.tracking.runs_for_digest(version.digest, direction="input")
        out.append(VersionUsage(version, tuple(runs)))
    return out


def checkout(
    ref: str,
    dest: str | os.PathLike[str] | None = None,
    *,
    overwrite: bool = False,
    workspace: Workspace | None = None,
) -> Path:
    """Restore the exact bytes of a version (verified) to ``dest``.

    The default destination is the file or folder name the version was added from, in
    the current directory.
    """
    ds = get(ref, workspace=workspace)
    target = Path(dest) if dest is not None else Path(Path(ds.version.source).name or ds.name)
    return ds.checkout(target, overwrite=overwrite)


def diff(old: str, new: str, *, workspace: Workspace | None = None) -> DatasetDiff:
    """Schema, row-count and per-column distribution changes from ``old`` to ``new``."""
    from cairn.data.diff import binned_counts, compared_columns, diff_profiles

    a, b = get(old, workspace=workspace), get(new, workspace=workspace)
    counts = None
    columns = compared_columns(a.profile, b.profile)
    if columns and a.profile is not None and b.version.is_tabular:
        counts = binned_counts(a.profile, columns, b.batches(columns))
    return diff_profiles(a.version, b.version, a.profile, b.profile, counts)


def validate(
    ref: str, schema: str | os.PathLike[str], *, workspace: Workspace | None = None
) -> ValidationReport:
    """Check a version against a YAML schema file; see :mod:`cairn.data.schema`.

    The schema file is checked first, so a bad file fails before any data is read.
    """
    from cairn.data.schema import load_schema
    from cairn.data.schema import validate as run_checks

    spec = load_schema(Path(schema))
    return run_checks(get(ref, workspace=workspace), spec)


def infer_schema(ref: str, *, format: str = "cairn", workspace: Workspace | None = None) -> str:
    """A starting schema file describing a version: Cairn YAML, or ``format="frictionless"``
    for a Table Schema (JSON); see :func:`cairn.data.schema.infer_schema`."""
    from cairn.data.schema import infer_schema as infer

    return infer(get(ref, workspace=workspace), format)


def status(
    names: list[str] | None = None, *, workspace: Workspace | None = None
) -> list[DatasetStatus]:
    """For each dataset (or ``names``), whether its source files still match its latest version.

    Unchanged files are recognised by their metadata (the stat cache) without reading
    them; anything else is hashed and compared. See :mod:`cairn.data.changes`.

    Example:
        >>> [(s.version.ref, s.state) for s in cairn.data.status(["churn"])]  # doctest: +SKIP
        [('churn@v3', 'unchanged')]
    """
    from cairn.data.changes import status as check

    return check(_ws(workspace), names)


def push(
    refs: list[str] | None = None, remote: str | None = None, *, workspace: Workspace | None = None
) -> TransferReport:
    """Copy versions' objects that the remote lacks to it (all versions by default)."""
    from cairn.data.remote import push as do_push

    return do_push(_ws(workspace), refs, remote)


def pull(
    refs: list[str] | None = None, remote: str | None = None, *, workspace: Workspace | None = None
) -> TransferReport:
    """Copy versions' objects that the workspace lacks from the remote."""
    from cairn.data.remote import pull as do_pull

    return do_pull(_ws(workspace), refs, remote)


def __getattr__(name: str) -> Any:
    # ``Dataset`` loads on first use: `cairn data status` does not need it.
    if name == "Dataset":
        from cairn.data.dataset import Dataset

        return Dataset
    raise AttributeError(f"module 'cairn.data' has no attribute {name!r}")

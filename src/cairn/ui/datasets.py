"""The data behind the dataset pages: datasets, one version's schema and column
statistics (from the profile stored with it), and the diff between two versions.

Nothing here reads the data itself except the diff, which calls :func:`cairn.data.diff`
(the same numbers as ``cairn data diff``). Histograms come from the stored profile's
bins and are drawn as plain SVG bars, computed here so the page needs no script.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cairn.errors import InvalidInput

if TYPE_CHECKING:
    from cairn.workspace import Workspace

#: Histogram drawing box (SVG user units).
HIST_W, HIST_H = 240, 60
STAT_KEYS = ("count", "nulls", "distinct", "min", "max", "mean", "std")


def datasets_list(ws: Workspace) -> dict[str, Any]:
    from cairn.data import ls

    return {
        "datasets": [
            {"name": s.name, "versions": s.versions, "latest": s.latest.to_dict()}
            for s in ls(workspace=ws)
        ]
    }


def dataset_detail(ws: Workspace, name: str, version: str | None) -> dict[str, Any]:
    """Every version of ``name`` (newest first, with the runs that read it) and the
    schema and column statistics of ``version`` (default: the newest)."""
    from cairn.data import get, log

    usages = log(name, workspace=ws)
    if not usages:
        from cairn.errors import NotFound

        raise NotFound(f"no dataset {name!r}; see cairn data ls")
    numbers = [u.version.version for u in usages]
    chosen = _number(version, numbers) if version else numbers[-1]
    ds = get(f"{name}@v{chosen}", workspace=ws)
    profile = ds.profile or {}
    columns = []
    for column in ds.version.columns:
        info = (profile.get("columns") or {}).get(column.name) or {}
        columns.append(
            {
                "name": column.name,
                "dtype": column.dtype,
                "kind": info.get("kind", ""),
                "stats": {k: info.get(k) for k in STAT_KEYS},
                "histogram": _histogram(info),
            }
        )
    versions = [
        {**u.version.to_dict(), "runs": [{"id": r.id, "name": r.name} for r in u.runs]}
        for u in reversed(usages)
    ]
    return {
        "name": name,
        "versions": versions,
        "version": ds.version.to_dict(),
        "columns": columns,
        "profiled": bool(profile),
    }


def dataset_diff(ws: Workspace, name: str, old: str, new: str) -> dict[str, Any]:
    """:func:`cairn.data.diff` between versions ``old`` and ``new`` of ``name``."""
    from cairn.data import diff, list_versions

    numbers = [v.version for v in list_versions(name, workspace=ws)]
    if not numbers:
        from cairn.errors import NotFound

        raise NotFound(f"no dataset {name!r}; see cairn data ls")
    a, b = _number(old, numbers), _number(new, numbers)
    result = diff(f"{name}@v{a}", f"{name}@v{b}", workspace=ws).to_dict()
    result["name"] = name
    result["versions"] = sorted(numbers, reverse=True)
    result["old_version"], result["new_version"] = a, b
    return result


def _number(text: str, numbers: list[int]) -> int:
    """A version number of this dataset, from ``3`` or ``v3``."""
    digits = text.strip().removeprefix("v")
    if not digits.isdigit() or int(digits) not in numbers:
        raise InvalidInput(
            f"version {text[:20]!r} is not a version of this dataset; pick one of "
            + ", ".join(f"v{n}" for n in numbers[-10:])
        )
    return int(digits)


def _histogram(info: dict[str, Any]) -> dict[str, Any] | None:
    """SVG bars of the profile's histogram (numbers) or top values (categories)."""
    hist = info.get("histogram")
    if hist and hist.get("counts"):
        counts = [int(c) for c in hist["counts"]]
        edges = hist["edges"]
        labels = [f"{edges[i]:.4g} to {edges[i + 1]:.4g}" for i in range(len(counts))]
        low, high = edges[0], edges[-1]
        return {"kind": "num", **_bars(counts, labels), "low": low, "high": high}
    top = info.get("top")
    if top:
        counts = [int(t["count"]) for t in top]
        labels = [str(t["value"]) for t in top]
        other = int(info.get("other") or 0)
        if other:
            counts.append(other)
            labels.append("(other)")
        return {"kind": "cat", **_bars(counts, labels), "low": labels[0], "high": labels[-1]}
    return None


def _bars(counts: list[int], labels: list[str]) -> dict[str, Any]:
    peak = max(counts) or 1
    width = HIST_W / len(counts)
    bars = [
        {
            "x": round(i * width, 2),
            "w": round(max(width - 1, 0.5), 2),
            "h": round(HIST_H * c / peak, 2),
            "y": round(HIST_H - HIST_H * c / peak, 2),
            "title": f"{label}: {c}",
        }
        for i, (c, label) in enumerate(zip(counts, labels, strict=True))
    ]
    return {"bars": bars, "width": HIST_W, "height": HIST_H}

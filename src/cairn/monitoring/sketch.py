"""Mergeable summaries of prediction-log rows, sized by bins, never by rows.

A :class:`WindowSketch` summarizes any set of logged rows of one model version against
that version's reference (:mod:`cairn.monitoring.reference`). Per feature (and for the
prediction):

- numbers: exact counts in the reference histogram's bins (so PSI is exact), counts of
  nulls/NaN, infinities and values below the reference minimum or above its maximum,
  and an Apache DataSketches KLL sketch (k=200) for quantiles: its rank error is at
  most 1.33% of the rows with 99% confidence, whatever the row count;
- categories: exact counts of each reference category plus one "(other)" count, nulls,
  and a DataSketches frequent-strings sketch (64 counters at most) naming the most
  frequent values the reference never saw (counts low by at most its ``error``).

Plus service health (requests, failed requests, a KLL sketch of latency), the rows whose
logged column type does not match the signature, and the sums of confidence-based
performance estimation (:mod:`cairn.monitoring.cbpe`). Two sketches of disjoint rows
:meth:`~WindowSketch.merge` into the sketch of their union: counts add, KLL and
frequent-items sketches merge. :meth:`~WindowSketch.to_dict` is the small JSON form
cached per hour of the log.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pyarrow as pa

SKETCH_FORMAT = "cairn.monitoring.sketch/1"
KLL_K = 200
FREQUENT_LG_K = 6  # 2**6 = 64 counters
OTHER = "(other)"


def _kll() -> Any:
    from datasketches import kll_doubles_sketch

    return kll_doubles_sketch(KLL_K)


def _freq() -> Any:
    from datasketches import frequent_strings_sketch

    return frequent_strings_sketch(FREQUENT_LG_K)


def _pack(sketch: Any) -> str:
    return base64.b64encode(sketch.serialize()).decode("ascii")


@dataclass
class FeatureSketch:
    """One column's summary; ``kind`` is ``numeric`` or ``categorical``."""

    kind: str
    count: int = 0  # non-null (and, for numbers, finite) values
    nulls: int = 0
    infinite: int = 0
    below: int = 0
    above: int = 0
    unseen: int = 0
    bins: list[int] = field(default_factory=list)
    sketch: Any = None  # KLL (numeric) or frequent strings of unseen values (categorical)

    @classmethod
    def empty(cls, reference: Mapping[str, Any]) -> FeatureSketch:
        kind = reference.get("kind", "numeric")
        if kind == "numeric":
            edges = (reference.get("histogram") or {}).get("edges") or []
            return cls("numeric", bins=[0] * max(len(edges) - 1, 1), sketch=_kll())
        top = reference.get("top") or []
        return cls("categorical", bins=[0] * (len(top) + 1), sketch=_freq())

    def update(self, reference: Mapping[str, Any], array: pa.Array) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        if pa.types.is_dictionary(array.type):
            array = array.dictionary_decode()
        self.nulls += array.null_count
        present = pc.drop_null(array) if array.null_count else array
        if self.kind == "numeric":
            self._numbers(reference, present)
        else:
            self._categories(reference, present)

    def _numbers(self, reference: Mapping[str, Any], present: pa.Array) -> None:
        try:
            values = np.asarray(present.to_numpy(zero_copy_only=False), dtype=np.float64)
        except (TypeError, ValueError):  # text where a number belongs: counted as nulls
            self.nulls += len(present)
            return
        nan = np.isnan(values)
        self.nulls += int(nan.sum())
        values = values[~nan]
        finite = np.isfinite(values)
        self.infinite += int(values.size - finite.sum())
        values = values[finite]
        if values.size == 0:
            return
        self.count += int(values.size)
        low, high = reference.get("min"), reference.get("max")
        if low is not None:
            self.below += int((values < low).sum())
        if high is not None:
            self.above += int((values > high).sum())
        edges = (reference.get("histogram") or {}).get("edges")
        if edges:
            # The binning of cairn.data.profile.bin_counts, on the finite values at hand
            # (one search per value, no round trip through Arrow).
            grid = np.asarray(edges, dtype=np.float64)
            size = max(grid.size - 1, 1)
            slots = np.clip(np.searchsorted(grid, values, side="right") - 1, 0, size - 1)
            self.bins = (np.asarray(self.bins) + np.bincount(slots, minlength=size)).tolist()
        self.sketch.update(values)

    def _categories(self, reference: Mapping[str, Any], present: pa.Array) -> None:
        import pyarrow.compute as pc

        from cairn.monitoring.reference import norm_label

        if len(present) == 0:
            return
        counted = pc.value_counts(present)
        slots = {norm_label(t["value"]): i for i, t in enumerate(reference.get("top") or [])}
        other = len(slots)
        complete = _complete(reference)
        for value, n in zip(
            counted.field("values").to_pylist(), counted.field("counts").to_pylist(), strict=True
        ):
            key = norm_label(value)
            slot = slots.get(key, other)
            self.bins[slot] += int(n)
            self.count += int(n)
            if slot == other and complete:
                self.unseen += int(n)
                self.sketch.update(key[:200], int(n))

    def merge(self, other: FeatureSketch) -> None:
        self.count += other.count
        self.nulls += other.nulls
        self.infinite += other.infinite
        self.below += other.below
        self.above += other.above
        self.unseen += other.unseen
        if len(self.bins) == len(other.bins):
            self.bins = [a + b for a, b in zip(self.bins, other.bins, strict=True)]
        self.sketch.merge(other.sketch)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "count": self.count,
            "nulls": self.nulls,
            "infinite": self.infinite,
            "below": self.below,
            "above": self.above,
            "unseen": self.unseen,
            "bins": list(self.bins),
            "sketch": _pack(self.sketch),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureSketch:
        from datasketches import frequent_strings_sketch, kll_doubles_sketch

        raw = base64.b64decode(data["sketch"])
        kind = data["kind"]
        loader = kll_doubles_sketch if kind == "numeric" else frequent_strings_sketch
        return cls(
            kind=kind,
            count=int(data["count"]),
            nulls=int(data["nulls"]),
            infinite=int(data["infinite"]),
            below=int(data["below"]),
            above=int(data["above"]),
            unseen=int(data["unseen"]),
            bins=[int(b) for b in data["bins"]],
            sketch=loader.deserialize(raw),
        )

    def unseen_values(self, n: int = 5) -> list[str]:
        if self.kind != "categorical" or self.unseen == 0:
            return []
        from datasketches import frequent_items_error_type

        items = self.sketch.get_frequent_items(frequent_items_error_type.NO_FALSE_NEGATIVES)
        return [item[0] for item in items[:n]]


def _complete(reference: Mapping[str, Any]) -> bool:
    """Whether the reference lists every category it saw (so others are truly new)."""
    return bool(reference.get("top_exact", True)) and int(reference.get("other", 0) or 0) == 0


@dataclass
class WindowSketch:
    """The merged summary of some logged rows of one model version."""

    reference: str  # digest of the reference the bins come from
    rows: int = 0
    requests: int = 0
    failed: int = 0  # requests answered with an error status
    since_ms: int | None = None  # first and last logged time seen
    until_ms: int | None = None
    features: dict[str, FeatureSketch] = field(default_factory=dict)
    prediction: FeatureSketch | None = None
    missing: dict[str, int] = field(default_factory=dict)  # feature -> rows without it
    schema: dict[str, int] = field(default_factory=dict)  # feature -> rows of another type
    #: feature -> "excluded" or "hashed": the prediction log's privacy settings kept its
    #: values out of the log, so it is not compared (and not reported missing).
    private: dict[str, str] = field(default_factory=dict)
    latency: Any = None
    cbpe: dict[str, float] = field(default_factory=dict)

    @classmethod
    def empty(cls, digest: str, reference: Mapping[str, Any]) -> WindowSketch:
        out = cls(reference=digest, latency=_kll())
        for name, info in reference["features"].items():
            out.features[name] = FeatureSketch.empty(info)
        if reference.get("prediction"):
            out.prediction = FeatureSketch.empty(reference["prediction"])
        return out

    def update(self, reference: Mapping[str, Any], batch: pa.RecordBatch) -> None:
        """Add one record batch of the log (already restricted to the wanted rows)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        from cairn.data.profile import column_kind

        n = batch.num_rows
        if n == 0:
            return
        self.rows += n
        names = batch.schema.names
        times = batch.column("time")
        lo, hi = pc.min_max(times).values()
        lo_ms, hi_ms = _ms(lo), _ms(hi)
        if lo_ms is not None:
            self.since_ms = lo_ms if self.since_ms is None else min(self.since_ms, lo_ms)
        if hi_ms is not None:
            self.until_ms = hi_ms if self.until_ms is None else max(self.until_ms, hi_ms)
        # One row per request has row == 0: it carries the request's status and latency.
        first = pc.equal(batch.column("row"), 0) if "row" in names else pa.array([True] * n)
        heads = pc.fill_null(first, False)
        self.requests += int(pc.sum(heads).as_py() or 0)
        if "status" in names:
            bad = pc.and_(heads, pc.fill_null(pc.greater_equal(batch.column("status"), 400), False))
            self.failed += int(pc.sum(bad).as_py() or 0)
        if "latency_ms" in names:
            lat = pc.filter(batch.column("latency_ms"), heads).drop_null()
            values = np.asarray(lat.to_numpy(zero_copy_only=False), dtype=np.float64)
            values = values[np.isfinite(values)]
            if values.size:
                self.latency.update(values)
        private = _private_columns(batch)
        for name, sketch in self.features.items():
            info = reference["features"][name]
            if name in private:
                self.private[name] = private[name]
                continue
            column = _find(names, name)
            if column is None:
                self.missing[name] = self.missing.get(name, 0) + n
                continue
            array = batch.column(column)
            if column_kind(array.type) not in (info.get("kind"), "other") and not (
                info.get("kind") == "categorical" and column_kind(array.type) == "numeric"
            ):
                self.schema[name] = self.schema.get(name, 0) + n
            sketch.update(info, array)
        if self.prediction is not None and "prediction" in names:
            self.prediction.update(reference["prediction"], batch.column("prediction"))
        calibration = reference.get("calibration")
        if calibration and "proba" in names:
            self._cbpe(calibration, batch.column("proba"))

    def _cbpe(self, calibration: Mapping[str, Any], proba: pa.Array) -> None:
        import pyarrow as pa

        from cairn.monitoring.cbpe import sums

        if isinstance(proba, pa.ChunkedArray):
            proba = proba.combine_chunks()
        proba = proba.drop_null()
        if len(proba) == 0:
            return
        width = proba.type.list_size
        flat = np.asarray(proba.flatten().to_numpy(zero_copy_only=False), dtype=np.float64)
        probs = flat.reshape(-1, width)
        for key, value in sums(calibration, probs).items():
            self.cbpe[key] = self.cbpe.get(key, 0.0) + value

    def merge(self, other: WindowSketch) -> None:
        self.rows += other.rows
        self.requests += other.requests
        self.failed += other.failed
        for mine, theirs, pick in (
            ("since_ms", other.since_ms, min),
            ("until_ms", other.until_ms, max),
        ):
            current = getattr(self, mine)
            if theirs is not None:
                setattr(self, mine, theirs if current is None else pick(current, theirs))
        for name, sketch in other.features.items():
            if name in self.features:
                self.features[name].merge(sketch)
            else:
                self.features[name] = sketch
        if other.prediction is not None:
            if self.prediction is None:
                self.prediction = other.prediction
            else:
                self.prediction.merge(other.prediction)
        self.private.update(other.private)
        for target, source in ((self.missing, other.missing), (self.schema, other.schema)):
            for key, count in source.items():
                target[key] = target.get(key, 0) + count
        self.latency.merge(other.latency)
        for key, value in other.cbpe.items():
            self.cbpe[key] = self.cbpe.get(key, 0.0) + value

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": SKETCH_FORMAT,
            "reference": self.reference,
            "rows": self.rows,
            "requests": self.requests,
            "failed": self.failed,
            "since_ms": self.since_ms,
            "until_ms": self.until_ms,
            "features": {k: v.to_dict() for k, v in self.features.items()},
            "prediction": None if self.prediction is None else self.prediction.to_dict(),
            "missing": dict(self.missing),
            "schema": dict(self.schema),
            "private": dict(self.private),
            "latency": _pack(self.latency),
            "cbpe": dict(self.cbpe),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WindowSketch:
        from datasketches import kll_doubles_sketch

        if data.get("format") != SKETCH_FORMAT:
            raise ValueError(f"not a {SKETCH_FORMAT} document")
        prediction = data.get("prediction")
        return cls(
            reference=str(data["reference"]),
            rows=int(data["rows"]),
            requests=int(data["requests"]),
            failed=int(data["failed"]),
            since_ms=data.get("since_ms"),
            until_ms=data.get("until_ms"),
            features={k: FeatureSketch.from_dict(v) for k, v in data["features"].items()},
            prediction=None if prediction is None else FeatureSketch.from_dict(prediction),
            missing={k: int(v) for k, v in data["missing"].items()},
            schema={k: int(v) for k, v in data["schema"].items()},
            private={k: str(v) for k, v in (data.get("private") or {}).items()},
            latency=kll_doubles_sketch.deserialize(base64.b64decode(data["latency"])),
            cbpe={k: float(v) for k, v in data["cbpe"].items()},
        )


def _find(names: list[str], feature: str) -> str | None:
    """The log column holding ``feature`` (features clashing with log columns are
    stored as ``input:<name>``)."""
    if f"input:{feature}" in names:
        return f"input:{feature}"
    return feature if feature in names else None


def _ms(value: Any) -> int | None:
    if value is None or not value.is_valid:
        return None
    raw = value.value  # an int in the timestamp's unit
    unit = value.type.unit
    scale = {"s": 1000, "ms": 1, "us": 1e-3, "ns": 1e-6}[unit]
    result = raw * scale
    return None if math.isnan(result) else int(result)


def _private_columns(batch: pa.RecordBatch) -> dict[str, str]:
    """The features a log file's privacy settings dropped or hashed (its schema metadata,
    written by :mod:`cairn.serving.privacy`)."""
    from cairn.serving.privacy import EXCLUDED_META, HASHED_META

    meta = batch.schema.metadata or {}
    out: dict[str, str] = {}
    for key, what in ((EXCLUDED_META, "excluded"), (HASHED_META, "hashed")):
        for name in (meta.get(key) or b"").decode().split(","):
            if name:
                out[name] = what
    return out

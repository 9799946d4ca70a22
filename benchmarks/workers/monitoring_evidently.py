"""Evidently side of the monitoring benchmark; runs in benchmarks/.venvs/evidently.

Usage: ``python monitoring_evidently.py REF CUR``: loads both Parquet files as pandas
frames, then times ``Report([DataDriftPreset()]).run(current, reference)`` with the
numeric (``num_*``) and categorical (``cat_*``) columns declared. Reports wall time, the
RSS after loading, the peak RSS of the run, and the columns the preset flagged. A small
warm-up run first keeps one-time imports out of the figures. Prints one JSON object.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import pandas as pd
from _rss import peak_mb, reset_peak, rss_mb
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset


def drift(reference: pd.DataFrame, current: pd.DataFrame) -> dict[str, Any]:
    columns = list(reference.columns)
    definition = DataDefinition(
        numerical_columns=[c for c in columns if c.startswith("num_")],
        categorical_columns=[c for c in columns if c.startswith("cat_")],
    )
    snapshot = Report([DataDriftPreset()]).run(
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition),
    )
    out: dict[str, Any] = {}
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if not config["type"].endswith("ValueDrift"):
            continue
        value, threshold = float(metric["value"]), float(config["threshold"])
        method = config["method"]
        drifted = value < threshold if "p_value" in method else value >= threshold
        out[config["column"]] = {"method": method, "score": value, "drifted": drifted}
    return out


def main() -> None:
    ref_path, cur_path = sys.argv[1], sys.argv[2]
    small = pd.read_parquet(ref_path).iloc[:2_000]
    drift(small, small)
    reference = pd.read_parquet(ref_path)
    current = pd.read_parquet(cur_path)
    loaded = rss_mb()
    reset_peak()
    start = time.perf_counter()
    cpu = time.process_time()
    results = drift(reference, current)
    cpu = time.process_time() - cpu
    seconds = time.perf_counter() - start
    print(
        json.dumps(
            {
                "seconds": seconds,
                "cpu_seconds": cpu,
                "loaded_mb": loaded,
                "peak_mb": peak_mb(),
                "drifted": sorted(n for n, r in results.items() if r["drifted"]),
                "scores": {n: r["score"] for n, r in results.items()},
                "tests": sorted({r["method"] for r in results.values()}),
            }
        )
    )


if __name__ == "__main__":
    main()

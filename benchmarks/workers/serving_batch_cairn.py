"""Batch scoring of a large Parquet file with ``cairn.serving.predict_file``.

Usage:
    serving_batch_cairn.py make PATH ROWS    write ROWS rows of the 30 breast-cancer
                                             columns (resampled with noise), in chunks
    serving_batch_cairn.py score WORKSPACE PATH OUT BATCH
Runs in the project venv. ``score`` prints rows/s and the process's peak RSS (and the
RSS before scoring, after imports and model load), as one JSON object.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def make(path: str, rows: int) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    from sklearn.datasets import load_breast_cancer

    X = load_breast_cancer(as_frame=True).data
    rng = np.random.default_rng(0)
    writer = None
    chunk = 100_000
    for start in range(0, rows, chunk):
        n = min(chunk, rows - start)
        base = X.to_numpy()[rng.integers(0, len(X), n)]
        noisy = base * rng.normal(1.0, 0.02, base.shape)
        table = pa.table({c: noisy[:, j] for j, c in enumerate(X.columns)})
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table, row_group_size=50_000)
    assert writer is not None
    writer.close()
    print(json.dumps({"rows": rows, "bytes": os.path.getsize(path)}))


def score(workspace: str, path: str, out: str, batch: int) -> None:
    os.chdir(workspace)
    import cairn.serving.batch as batch_mod
    from cairn.serving.predictor import make_predictor
    from cairn.serving.reload import load_model

    make_predictor(load_model("models:/bc@production"), "bc")  # imports + first load, untimed
    before = _rss_mb()
    start = time.perf_counter()
    result = batch_mod.predict_file("bc@production", path, out, batch_size=batch)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "rows": result.rows,
                "seconds": seconds,
                "rows_per_s": result.rows / seconds,
                "rss_before_mb": before,
                "peak_rss_mb": peak,
                "input_mb": os.path.getsize(path) / 2**20,
            }
        )
    )


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2], int(sys.argv[3]))
    else:
        score(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))

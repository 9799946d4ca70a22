"""whylogs side of the monitoring benchmark; runs in benchmarks/.venvs/whylogs.

Usage: ``python monitoring_whylogs.py PATH REPEATS``: loads the Parquet file as a pandas
frame and times ``whylogs.log(pandas=frame)`` (its dataset profile: counts, types,
distribution and frequent-items sketches per column). Prints one JSON object.
"""

from __future__ import annotations

import json
import sys
import time

import pandas as pd
import whylogs


def main() -> None:
    path, repeats = sys.argv[1], int(sys.argv[2])
    frame = pd.read_parquet(path)
    whylogs.log(pandas=frame.iloc[:2_000])  # imports and first-call costs
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        whylogs.log(pandas=frame).view()
        seconds.append(time.perf_counter() - start)
    print(json.dumps({"rows": len(frame), "seconds": seconds}))


if __name__ == "__main__":
    main()

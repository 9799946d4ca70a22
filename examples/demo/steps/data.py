"""Version the demo's dataset, profile and validate it, and split it reproducibly.

The breast-cancer data that ships with scikit-learn is written as a CSV file and added
as dataset ``breast-cancer`` (v1, with its schema and column profile). Adding it again
makes no new version. A schema is inferred, tightened by hand, and checked with
``cairn data validate``; a deliberately wrong schema shows what a failing check looks
like. The train step then loads ``breast-cancer@v1``, splits it with
``cairn.data.split`` and records the version as each run's input.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from steps import Context, StepFailed, heading

DATASET = "breast-cancer"


def _write_csv(path: Path) -> None:
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)


def run(ctx: Context) -> None:
    import cairn.data

    csv = ctx.workspace / "data" / "breast_cancer.csv"
    _write_csv(csv)
    ctx.cairn("data", "add", "data/breast_cancer.csv", "--name", DATASET, "-m", "sklearn copy")
    ctx.cairn("data", "add", "data/breast_cancer.csv", "--name", DATASET)  # unchanged
    ctx.cairn("data", "ls")
    ctx.cairn("data", "show", DATASET)

    heading("validate against a schema")
    schema = ctx.workspace / "schema.yaml"
    schema.write_text(cairn.data.infer_schema(f"{DATASET}@v1"), encoding="utf-8")
    print(f"wrote {schema.name} from `cairn data infer-schema {DATASET}@v1`")
    ctx.cairn("data", "validate", DATASET, "--schema", "schema.yaml")
    strict = ctx.workspace / "schema-strict.yaml"
    strict.write_text(
        "rows: {min: 1000}\ncolumns:\n  mean_radius: {max: 20}\n  target: {allowed: [1]}\n",
        encoding="utf-8",
    )
    print("\n$ cairn data validate breast-cancer --schema schema-strict.yaml   # expected to fail")
    proc = subprocess.run(
        [sys.executable, "-m", "cairn", "data", "validate", DATASET, "--schema", strict.name],
        cwd=ctx.workspace,
        capture_output=True,
        text=True,
        check=False,
    )
    print(proc.stdout, end="")
    if proc.returncode != 1:
        raise StepFailed(f"a failing schema should exit 1, got {proc.returncode}: {proc.stderr}")

    heading("a reproducible split")
    frame = cairn.data.load(f"{DATASET}@v1")
    train, test = cairn.data.split(frame, 0.3, stratify="target", seed=42)
    again, _ = cairn.data.split(frame, 0.3, stratify="target", seed=42)
    if not train.index.equals(again.index):
        raise StepFailed("the same seed gave a different split")
    print(f"train {len(train)} rows, test {len(test)} rows; same seed, same rows: yes")
    ctx.results.update(dataset=f"{DATASET}@v1", target="target")

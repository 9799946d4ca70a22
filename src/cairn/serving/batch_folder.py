"""Batch scoring of a folder of Parquet files on an executor (this process, a local
process pool, or Ray).

Each file is scored by :func:`cairn.serving.batch.predict_file` where the executor runs
it, into a file of the same name in the output folder, with the same output as scoring
it alone. The alias is resolved once, before any file is scored, so every file is scored
by the same model version even if the alias moves during the job. The job is one run
(experiment ``batch-scoring``) with the model version and every input and output file's
digest as lineage, like a single-file job.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cairn.errors import CairnError, InvalidInput
from cairn.serving.batch import DEFAULT_BATCH_SIZE, EXPERIMENT, predictor_digest
from cairn.serving.reload import ModelRef, pin


@dataclass(frozen=True)
class FileScored:
    input: str
    output: str
    rows: int
    input_digest: str
    input_size: int
    output_digest: str
    output_size: int
    version: str


@dataclass(frozen=True)
class FolderResult:
    model: str
    version: str
    files: tuple[FileScored, ...]
    seconds: float
    run_id: str | None = None

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)


@dataclass
class _ScoreFile:
    """One file, scored where the executor runs it (picklable)."""

    model: str
    src: str
    dst: str
    batch_size: int
    keep: tuple[str, ...]
    cwd: str
    env: dict[str, str] = field(default_factory=dict)
    method: str = "predict"

    def __call__(self) -> FileScored:
        if os.path.isdir(self.cwd) and os.getcwd() != self.cwd:
            os.chdir(self.cwd)  # a Ray worker starts in Ray's folder: find the workspace
        os.environ.update(self.env)
        from cairn.serving.batch import predict_file

        result = predict_file(
            self.model,
            self.src,
            self.dst,
            batch_size=self.batch_size,
            keep_columns=self.keep,
            record_run=False,
            method=self.method,
        )
        return FileScored(
            self.src,
            self.dst,
            result.rows,
            result.input_digest,
            Path(self.src).stat().st_size,
            result.output_digest,
            Path(self.dst).stat().st_size,
            result.version,
        )


def predict_folder(
    model: str,
    input_dir: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    *,
    executor: str = "inprocess",
    executor_options: dict[str, Any] | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    keep_columns: tuple[str, ...] = (),
    record_run: bool = True,
    method: str = "predict",
) -> FolderResult:
    """Score every ``*.parquet`` file of ``input_dir`` into ``output_dir`` on ``executor``.

    Example:
        >>> predict_folder("churn@production", "parts/", "scores/", executor="ray")
    """
    from cairn.pipelines.executors import open_executor

    src_dir, dst_dir = Path(input_dir), Path(output_dir)
    if batch_size < 1:
        raise InvalidInput(f"--batch-size {batch_size} must be at least 1")
    files = sorted(p for p in src_dir.glob("*.parquet") if p.is_file())
    if not files:
        raise InvalidInput(f"input folder {src_dir} holds no .parquet files")
    if dst_dir.exists() and not dst_dir.is_dir():
        raise InvalidInput(f"output {dst_dir} must be a folder when the input is a folder")
    if dst_dir.resolve() == src_dir.resolve():
        raise InvalidInput("the output folder must not be the input folder")
    dst_dir.mkdir(parents=True, exist_ok=True)
    ref = ModelRef.parse(model)
    # Every file is scored by the same version: the one the reference names now.
    version = pin(ref)
    pinned = model if version is None else f"{ref.name}/{version}"
    cwd = os.getcwd()
    env = {k: v for k, v in os.environ.items() if k.startswith("CAIRN_")}
    tasks = [
        _ScoreFile(
            pinned,
            str(f.resolve()),
            str((dst_dir / f.name).resolve()),
            batch_size,
            tuple(keep_columns),
            cwd,
            env,
            method,
        )
        for f in files
    ]
    started = time.perf_counter()
    with open_executor(executor, **(executor_options or {})) as pool:
        futures = [pool.submit(task) for task in tasks]
        scored, errors = [], []
        for task, future in zip(tasks, futures, strict=True):
            try:
                scored.append(future.result())
            except CairnError as exc:
                errors.append(f"{Path(task.src).name}: {exc}")
            except Exception as exc:
                errors.append(f"{Path(task.src).name}: {type(exc).__name__}: {exc}")
    seconds = time.perf_counter() - started
    if errors:
        done = len(scored)
        raise InvalidInput(
            f"{len(errors)} of {len(tasks)} files failed ({done} scored): {errors[0]}"
        )
    version = scored[0].version
    result = FolderResult(ref.name, version, tuple(scored), seconds)
    if record_run:
        result = _record(result, ref, src_dir, batch_size, executor)
    return result


def _record(
    result: FolderResult, ref: ModelRef, src: Path, batch_size: int, executor: str
) -> FolderResult:
    from cairn.serving.batch import BatchResult
    from cairn.tracking.fluent import start_run
    from cairn.types import EXTERNAL, ObjectInfo

    run = start_run(
        experiment=EXPERIMENT,
        name=f"predict {ref.name}/{result.version}",
        params={
            "model": str(ref),
            "model_version": result.version,
            "input": str(src),
            "batch_size": batch_size,
            "executor": executor,
            "files": len(result.files),
        },
        nested=True,
    )
    probe = BatchResult(result.model, result.version, 0, 0.0, "", "", Path("."))
    model_digest = predictor_digest(probe)
    if model_digest is not None:
        run.log_input(
            model_digest, role="model", name=f"{result.model}/{result.version}", kind="model"
        )
    for item in result.files:
        run.log_input(
            ObjectInfo(item.input_digest, item.input_size),
            role="data",
            name=item.input,
            kind=EXTERNAL,
        )
        run.log_output(
            ObjectInfo(item.output_digest, item.output_size),
            role="predictions",
            name=item.output,
            kind=EXTERNAL,
        )
    rate = result.rows / result.seconds if result.seconds else 0.0
    run.log_metrics({"rows": result.rows, "seconds": result.seconds, "rows_per_second": rate})
    run.end()
    return FolderResult(result.model, result.version, result.files, result.seconds, run.id)

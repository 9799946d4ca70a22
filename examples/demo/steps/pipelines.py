"""Run the example training pipeline twice: the second time with one parameter changed.

``examples/pipelines/train.py`` chains ingest -> validate -> split -> train -> evaluate
-> register -> gate. The first run executes every step; the second, with ``C`` changed,
reuses the cached outputs of the steps before ``train`` and runs the rest.
``cairn pipeline explain`` then says why ``train`` ran, and the registered version's
lineage leads back to the pipeline run that made it.
"""

from __future__ import annotations

from pathlib import Path

from steps import Context, StepFailed

PIPELINE = Path(__file__).resolve().parents[2] / "pipelines" / "train.py"
TARGET = f"{PIPELINE}:train_pipeline"


def run(ctx: Context) -> None:
    from cairn.pipelines.history import list_runs

    ctx.cairn("pipeline", "run", TARGET)
    second = ctx.cairn("pipeline", "run", TARGET, "--param", "C=0.3")
    cached = [line.split()[1] for line in second.splitlines() if line.startswith("cached")]
    ran = [line.split()[1] for line in second.splitlines() if line.startswith("ran")]
    if cached != ["ingest", "validate", "split"] or "train" not in ran:
        raise StepFailed(f"expected the steps before train to be cached, got cached={cached}")
    print(f"\nsecond run: cached {', '.join(cached)}; ran {', '.join(ran)}")
    ctx.cairn("pipeline", "ls")
    newest = list_runs(limit=1)[0].run_id
    ctx.cairn("pipeline", "explain", newest[:12], "train")
    ctx.cairn("pipeline", "show", newest[:12])
    ctx.results["pipeline_run"] = newest

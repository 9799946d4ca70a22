"""Register the best run's model, gate it on the held-out split, promote it, then gate a
second version against it.

What this step expects from the train step (in ``ctx.results``):

- ``best_run_id`` and ``train_run_ids``: the runs, each of which logged its fitted model
  with ``cairn.log_model(model, input_example=...)`` (the default name, ``model``);
- the held-out split: ``holdout``, a CSV/Parquet path or dataset version holding the
  test rows with the label column ``target`` (``ctx.results["target"]``). Without it,
  the split is recomputed from ``dataset`` the way the data step shows
  (``cairn.data.split(frame, 0.3, stratify=target, seed=42)``).
"""

from __future__ import annotations

from steps import Context, StepFailed, heading

MODEL = "breast-cancer"
GATES = """\
data: holdout-gate.csv          # the held-out split, plus a group column for fairness
target: {target}
rules:
  - {{metric: roc_auc, min: 0.95}}
  - {{metric: roc_auc, no_worse_than: production, tolerance: 0.005}}
  - {{metric: accuracy, min: 0.90}}
  - {{latency_p95_ms: 250}}
  - {{fairness: {{metric: accuracy, by: tumour_size, max_gap: 0.15}}}}
  - {{signature_compatible_with: production}}
"""


def _holdout(ctx: Context) -> tuple[object, str]:
    import cairn.data
    from cairn.registry.evaluate import load_frame
    from cairn.workspace import current

    target = str(ctx.results.get("target", "target"))
    if "holdout" in ctx.results:
        frame, _ = load_frame(str(ctx.results["holdout"]), current())
        return frame, target
    if "dataset" not in ctx.results:
        raise StepFailed("the train step left neither 'holdout' nor 'dataset' in ctx.results")
    frame = cairn.data.load(str(ctx.results["dataset"]))
    _, test = cairn.data.split(frame, 0.3, stratify=target, seed=42)
    return test, target


def _model_uri(run_id: str) -> str:
    import cairn

    run = cairn.get_run(run_id)
    if not any(io.kind == "model" and io.name == "model" for io in run.outputs):
        raise StepFailed(
            f"run {run.name} ({run_id}) logged no model: the train step must call "
            "cairn.log_model(model, input_example=...) inside each run"
        )
    return f"runs:/{run_id}/model"


def run(ctx: Context) -> None:
    import cairn

    best = str(ctx.results["best_run_id"])
    others = [r for r in ctx.results.get("train_run_ids", []) if r != best]
    holdout, target = _holdout(ctx)
    # A group column for the fairness rule: tumours above or below the median radius.
    radius = next(c for c in holdout.columns if "radius" in str(c))  # type: ignore[attr-defined]
    cut = holdout[radius].median()  # type: ignore[index]
    holdout = holdout.assign(  # type: ignore[attr-defined]
        tumour_size=(holdout[radius] > cut).map({True: "large", False: "small"})  # type: ignore[index]
    )
    holdout.to_csv(ctx.workspace / "holdout-gate.csv", index=False)  # type: ignore[attr-defined]
    (ctx.workspace / "gates.yaml").write_text(GATES.format(target=target), encoding="utf-8")
    print(f"held-out split: {len(holdout)} rows -> holdout-gate.csv; gates in gates.yaml")  # type: ignore[arg-type]

    heading("register the best run's model and gate it")
    ctx.cairn("models", "register", _model_uri(best), "--name", MODEL, "-d", "best run of the demo")
    ctx.cairn(
        "models",
        "update",
        MODEL,
        "--description",
        "Flags malignant tumours from cell measurements (demo).",
    )
    ctx.cairn("gate", "check", MODEL, "1", "--gates", "gates.yaml", "--against", "production")
    ctx.cairn(
        "models",
        "promote",
        MODEL,
        "1",
        "--to",
        "production",
        "--gates",
        "gates.yaml",
        "--reason",
        "best AUC of the demo runs",
    )
    model = cairn.models.load(f"models:/{MODEL}@production")
    features = holdout.drop(columns=[target, "tumour_size"]).head(3)  # type: ignore[attr-defined]
    print(
        f"models:/{MODEL}@production is version {model.version}; "
        f"predictions for 3 held-out rows: {model.predict(features).tolist()}"
    )

    if not others:
        return
    heading("a second version, gated against production")
    ctx.cairn("models", "register", _model_uri(others[0]), "--name", MODEL)
    result = cairn.registry.check_gates(MODEL, 2, "gates.yaml", against="production")
    for r in result.rules:
        value = r["value"]
        shown = f"{value:.4g}" if isinstance(value, float) else value
        print(f"  {'pass' if r['passed'] else 'FAIL'}  {r['rule']:<32} {shown}  {r['limit'] or ''}")
    if result.passed:
        ctx.cairn("models", "promote", MODEL, "2", "--to", "staging", "--reason", "passed gates")
    else:
        failed = sum(not r["passed"] for r in result.rules)
        print(f"version 2 stays out of production: {failed} rule(s) failed")
    ctx.cairn("models", "history", MODEL)
    ctx.cairn("models", "card", f"{MODEL}/1")

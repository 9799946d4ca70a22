"""``cairn serve``, ``cairn predict``, ``cairn build`` and ``cairn deploy k8s``.

Thin adapters: each parses options and calls one function of :mod:`cairn.serving`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

deploy_app = typer.Typer(no_args_is_help=True, help="Write deployment manifests.")

MODEL_HELP = (
    "Model to use: NAME@ALIAS (follows the alias), NAME/VERSION, runs:/ID/model "
    "or a model directory."
)


def serve(
    model: str = typer.Argument(..., help=MODEL_HELP),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind."),
    port: int = typer.Option(8080, "--port", help="Port to bind."),
    workers: int = typer.Option(
        1, "--workers", min=1, help="Server processes (each loads the model)."
    ),
    canary: str | None = typer.Option(
        None, "--canary", help="Send a share of traffic to another model: MODEL@ALIAS:PERCENT."
    ),
    shadow: str | None = typer.Option(
        None, "--shadow", help="Also score every request with this model; log only."
    ),
    poll: float = typer.Option(
        2.0, "--poll", help="Seconds between checks of where the alias points."
    ),
    max_body: int = typer.Option(
        16 * 1024 * 1024, "--max-body", help="Largest request body in bytes (413 above)."
    ),
    no_log: bool = typer.Option(False, "--no-log", help="Do not write the prediction log."),
    log_uri: str | None = typer.Option(
        None,
        "--log-uri",
        help="Where the prediction log goes (default: <artifact root>/predictions).",
    ),
    name: str | None = typer.Option(
        None, "--name", help="Name to serve under (default: the model's)."
    ),
    model_version: str | None = typer.Option(
        None, "--model-version", help="Version to report for a model directory."
    ),
    log_level: str = typer.Option("warning", "--log-level", help="uvicorn log level."),
) -> None:
    """Serve a model over HTTP: Open Inference Protocol v2, /invocations and /metrics."""
    from cairn.serving.server import ServeConfig
    from cairn.serving.server import serve as run

    config = ServeConfig(
        model=model,
        name=name,
        model_version=model_version,
        canary=canary,
        shadow=shadow,
        poll_interval=poll,
        log_predictions=not no_log,
        log_uri=log_uri,
        max_body_bytes=max_body,
    )
    sys.stderr.write(f"loading {model}; serving on http://{host}:{port} (Ctrl+C stops)\n")
    run(config, host=host, port=port, workers=workers, log_level=log_level)


def predict(
    model: str = typer.Argument(..., help=MODEL_HELP),
    input: Path = typer.Option(
        ..., "--input", "-i", help="Rows to score: a .parquet or .csv file."
    ),
    output: Path = typer.Option(..., "--output", "-o", help="Where predictions go (.parquet)."),
    batch_size: int = typer.Option(50_000, "--batch-size", help="Rows read and scored at a time."),
    keep: list[str] = typer.Option(
        [], "--keep", help="Input column to copy to the output (repeatable)."
    ),
    no_run: bool = typer.Option(False, "--no-run", help="Do not record the job as a run."),
) -> None:
    """Score a file in batches with constant memory; record a run with input/output digests."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from cairn.serving.batch import count_rows, predict_file

    console = Console(stderr=True)
    total = count_rows(input) if input.is_file() and input.suffix.lower() == ".parquet" else None
    with Progress(
        TextColumn("scoring"),
        BarColumn(),
        TextColumn("{task.completed:,} rows"),
        TimeRemainingColumn(),
        console=console,
        disable=not console.is_terminal,
        transient=True,
    ) as bar:
        task = bar.add_task("rows", total=total)
        result = predict_file(
            model,
            input,
            output,
            batch_size=batch_size,
            keep_columns=tuple(keep),
            progress=lambda n: bar.advance(task, n),
            record_run=not no_run,
        )
    run = f", run {result.run_id}" if result.run_id else ""
    typer.echo(
        f"scored {result.rows:,} rows with {result.model}/{result.version} "
        f"in {result.seconds:.2f} s "
        f"({result.rows_per_second:,.0f} rows/s) -> {result.output}{run}"
    )


def build(
    model: str = typer.Argument(..., help="Registered model: NAME@ALIAS or NAME/VERSION."),
    out: Path = typer.Option(Path("build"), "--output", "-o", help="Folder for the build context."),
    base_image: str | None = typer.Option(
        None, "--base-image", help="Base image (default: python:<X.Y>-slim)."
    ),
    cairn_requirement: str | None = typer.Option(
        None, "--cairn", help="How the image installs Cairn: a requirement or a wheel file."
    ),
    workers: int = typer.Option(1, "--workers", min=1, help="Server processes in the container."),
    force: bool = typer.Option(False, "--force", help="Write into a non-empty folder."),
) -> None:
    """Write a Docker build context that serves one model version."""
    from cairn.serving.deploy import DEFAULT_BASE_IMAGE, write_build_context

    ctx = write_build_context(
        model,
        out,
        base_image=base_image or DEFAULT_BASE_IMAGE,
        cairn_requirement=cairn_requirement,
        workers=workers,
        overwrite=force,
    )
    typer.echo(f"wrote {len(ctx.files)} files to {ctx.directory} for {ctx.name}/{ctx.version}")
    typer.echo(f"next: docker build -t {ctx.image} {ctx.directory}")


@deploy_app.command("k8s")
def k8s(
    model: str = typer.Argument(..., help="Registered model: NAME@ALIAS or NAME/VERSION."),
    out: Path = typer.Option(Path("k8s"), "--output", "-o", help="Folder for the manifests."),
    image: str | None = typer.Option(
        None, "--image", help="Container image (default: cairn-NAME:VERSION)."
    ),
    namespace: str | None = typer.Option(None, "--namespace", help="Kubernetes namespace."),
    replicas: int = typer.Option(2, "--replicas", min=1, help="Initial replicas."),
    min_replicas: int = typer.Option(2, "--min-replicas", min=1, help="Autoscaler minimum."),
    max_replicas: int = typer.Option(10, "--max-replicas", min=1, help="Autoscaler maximum."),
    cpu_target: int = typer.Option(
        70, "--cpu-target", min=1, max=100, help="Target CPU utilization, percent."
    ),
) -> None:
    """Write Deployment, Service and HorizontalPodAutoscaler manifests."""
    from cairn.serving.deploy import write_k8s_manifests

    paths = write_k8s_manifests(
        model,
        out,
        image=image,
        namespace=namespace,
        replicas=replicas,
        min_replicas=min_replicas,
        max_replicas=max_replicas,
        cpu_target=cpu_target,
    )
    typer.echo("wrote " + ", ".join(str(p) for p in paths))
    typer.echo(f"next: kubectl apply -f {out}")

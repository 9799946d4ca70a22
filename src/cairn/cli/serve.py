"""``cairn serve``, ``cairn predict``, ``cairn build`` and ``cairn deploy k8s``.

Thin adapters: each parses options and calls one function of :mod:`cairn.serving`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from cairn.cli._group import Group

deploy_app = Group("deploy", help="Write deployment manifests.")

MODEL_HELP = (
    "Model to use: NAME@ALIAS (follows the alias), NAME/VERSION, NAME (its latest "
    "version, pinned), runs:/ID/model or a model directory."
)


@click.command("serve")
@click.argument("model", help=MODEL_HELP)
@click.option("--host", default="127.0.0.1", help="Address to bind.")
@click.option("--port", type=int, default=8080, help="Port to bind.")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    help="Server processes (each loads the model).",
)
@click.option("--canary", help="Send a share of traffic to another model: MODEL@ALIAS:PERCENT.")
@click.option("--shadow", help="Also score every request with this model; log only.")
@click.option(
    "--poll", type=float, default=2.0, help="Seconds between checks of where the alias points."
)
@click.option(
    "--max-body",
    type=int,
    default=16 * 1024 * 1024,
    help="Largest request body in bytes (413 above).",
)
@click.option("--no-log", is_flag=True, help="Do not write the prediction log.")
@click.option(
    "--log-uri",
    help="Where the prediction log goes (default: <artifact root>/predictions).",
)
@click.option(
    "--log-exclude",
    multiple=True,
    help="Input column the prediction log leaves out (repeatable).",
)
@click.option(
    "--log-hash",
    multiple=True,
    help="Input column the prediction log keeps as a keyed BLAKE3 digest (repeatable).",
)
@click.option("--name", help="Name to serve under (default: the model's).")
@click.option("--model-version", help="Version to report for a model directory.")
@click.option("--log-level", default="warning", help="uvicorn log level.")
def serve(
    model: str,
    host: str,
    port: int,
    workers: int,
    canary: str | None,
    shadow: str | None,
    poll: float,
    max_body: int,
    no_log: bool,
    log_uri: str | None,
    log_exclude: tuple[str, ...],
    log_hash: tuple[str, ...],
    name: str | None,
    model_version: str | None,
    log_level: str,
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
        log_exclude=log_exclude,
        log_hash=log_hash,
        max_body_bytes=max_body,
    )
    sys.stderr.write(f"loading {model}\n")

    def ready(url: str) -> None:
        sys.stderr.write(f"serving {model} on {url} (Ctrl+C stops)\n")
        sys.stderr.flush()

    run(config, host=host, port=port, workers=workers, log_level=log_level, ready=ready)


@click.command("predict")
@click.argument("model", help=MODEL_HELP)
@click.option(
    "--input",
    "-i",
    "input_",
    type=click.Path(path_type=Path),
    required=True,
    help="Rows to score: a .parquet or .csv file.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path),
    required=True,
    help="Where predictions go (.parquet).",
)
@click.option("--batch-size", type=int, default=50_000, help="Rows read and scored at a time.")
@click.option("--keep", multiple=True, help="Input column to copy to the output (repeatable).")
@click.option("--no-run", is_flag=True, help="Do not record the job as a run.")
@click.option(
    "--method",
    type=click.Choice(["predict", "predict_proba"]),
    default="predict",
    help="predict_proba writes a classifier's class probabilities, one proba_<class> column "
    "per class.",
)
@click.option(
    "--executor",
    type=click.Choice(["inprocess", "process", "ray"]),
    default="inprocess",
    help="For a folder of .parquet files: where the files are scored (RAY_ADDRESS for Ray).",
)
def predict(
    model: str,
    input_: Path,
    output: Path,
    batch_size: int,
    keep: tuple[str, ...],
    no_run: bool,
    method: str,
    executor: str,
) -> None:
    """Score a file in batches with constant memory; record a run with input/output digests.

    A folder of .parquet files is scored file by file on --executor into a folder."""
    if input_.is_dir():
        from cairn.serving.batch_folder import predict_folder

        done = predict_folder(
            model, input_, output, executor=executor, batch_size=batch_size,
            keep_columns=keep, record_run=not no_run, method=method,
        )  # fmt: skip
        run = f", run {done.run_id}" if done.run_id else ""
        click.echo(
            f"scored {done.rows:,} rows in {len(done.files)} files with {done.model}/"
            f"{done.version} on {executor} in {done.seconds:.2f} s -> {output}{run}"
        )
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from cairn.serving.batch import count_rows, predict_file

    console = Console(stderr=True)
    total = count_rows(input_) if input_.is_file() and input_.suffix.lower() == ".parquet" else None
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
            input_,
            output,
            batch_size=batch_size,
            keep_columns=keep,
            progress=lambda n: bar.advance(task, n),
            record_run=not no_run,
            method=method,
        )
    run = f", run {result.run_id}" if result.run_id else ""
    click.echo(
        f"scored {result.rows:,} rows with {result.model}/{result.version} "
        f"in {result.seconds:.2f} s "
        f"({result.rows_per_second:,.0f} rows/s) -> {result.output}{run}"
    )


@click.command("build")
@click.argument("model", help="Registered model: NAME@ALIAS or NAME/VERSION.")
@click.option(
    "--output",
    "-o",
    "out",
    type=click.Path(path_type=Path),
    default=Path("build"),
    help="Folder for the build context.",
)
@click.option(
    "--base-image", help="Base image with python3 and its venv module (default: python:<X.Y>-slim)."
)
@click.option(
    "--cairn",
    "cairn_requirement",
    help="Install Cairn from this cairn-mlops requirement or wheel file instead of a wheel "
    "of the running Cairn.",
)
@click.option(
    "--workers", type=click.IntRange(min=1), default=1, help="Server processes in the container."
)
@click.option("--force", is_flag=True, help="Write into a non-empty folder.")
def build(
    model: str,
    out: Path,
    base_image: str | None,
    cairn_requirement: str | None,
    workers: int,
    force: bool,
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
    click.echo(f"wrote {len(ctx.files)} files to {ctx.directory} for {ctx.name}/{ctx.version}")
    click.echo(f"next: docker build -t {ctx.image} {ctx.directory}")


@deploy_app.command("k8s")
@click.argument(
    "model", required=False, help="Registered model: NAME@ALIAS or NAME/VERSION (not --server)."
)
@click.option(
    "--server",
    "server",
    is_flag=True,
    help="Write manifests for `cairn server` (Deployment, Service, NetworkPolicy) instead.",
)
@click.option(
    "--store-secret",
    help="With --server: the Secret whose key `uri` holds the metadata store URI.",
)
@click.option(
    "--artifacts", help="With --server: the artifact store every replica reaches (s3://...)."
)
@click.option(
    "--output",
    "-o",
    "out",
    type=click.Path(path_type=Path),
    default=Path("k8s"),
    help="Folder for the manifests.",
)
@click.option(
    "--image", help="Container image with a fixed tag or digest (default: cairn-NAME:VERSION)."
)
@click.option("--namespace", help="Kubernetes namespace (default: kubectl's current one).")
@click.option("--replicas", type=click.IntRange(min=1), default=2, help="Initial replicas.")
@click.option("--min-replicas", type=click.IntRange(min=1), default=2, help="Autoscaler minimum.")
@click.option("--max-replicas", type=click.IntRange(min=1), default=10, help="Autoscaler maximum.")
@click.option(
    "--cpu-target",
    type=click.IntRange(1, 100),
    default=70,
    help="Target CPU utilization, percent.",
)
@click.option("--cpu-request", default="500m", help="CPU each pod is guaranteed.")
@click.option("--cpu-limit", default="2", help="CPU each pod may use at most.")
@click.option("--memory-request", default="512Mi", help="Memory each pod is guaranteed.")
@click.option("--memory-limit", default="1Gi", help="Memory each pod may use at most.")
@click.option(
    "--predictions-pvc",
    help="Existing PersistentVolumeClaim for the prediction log (default: an emptyDir, "
    "lost with the pod).",
)
@click.option(
    "--network-policy",
    is_flag=True,
    help="Also write a NetworkPolicy admitting ingress to the serving port only.",
)
@click.option(
    "--image-pull-policy",
    help="Always, IfNotPresent or Never (default: Always for a tag, IfNotPresent for a digest).",
)
def k8s(
    model: str | None,
    out: Path,
    image: str | None,
    server: bool,
    store_secret: str | None,
    artifacts: str | None,
    **options: Any,
) -> None:
    """Write Deployment, Service and HorizontalPodAutoscaler manifests (restricted profile)
    for a model, or with --server, for `cairn server`."""
    from cairn.serving.deploy import write_k8s_manifests
    from cairn.serving.k8s import K8sOptions

    if server:
        paths = _server_manifests(model, out, image, store_secret, artifacts, options)
    elif model is None:
        raise click.UsageError("give a MODEL (NAME@ALIAS), or --server for the server's")
    else:
        paths = write_k8s_manifests(model, out, image=image, options=K8sOptions(**options))
    click.echo("wrote " + ", ".join(str(p) for p in paths))
    click.echo(f"next: kubectl apply -f {out}")


def _server_manifests(
    model: str | None,
    out: Path,
    image: str | None,
    store_secret: str | None,
    artifacts: str | None,
    options: dict[str, Any],
) -> list[Path]:
    from cairn.serving.k8s_server import ServerDeploy, write_server_manifests

    if model is not None:
        raise click.UsageError(f"--server writes the server's manifests: drop {model!r}")
    if not (image and store_secret and artifacts):
        raise click.UsageError("--server needs --image, --store-secret and --artifacts")
    keep = ("namespace", "replicas", "cpu_request", "cpu_limit", "memory_request", "memory_limit")
    chosen = {k: options[k] for k in keep if options.get(k) is not None}
    deploy = ServerDeploy(image=image, store_secret=store_secret, artifacts=artifacts, **chosen)
    return write_server_manifests(deploy, out)

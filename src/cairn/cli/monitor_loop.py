"""``cairn monitor run/alerts/report/export/grafana/prune``: thin over
:mod:`cairn.monitoring` (runner, report, exporter, grafana, retention).

Defined as plain click commands and attached to the ``monitor`` group by
:func:`add_loop_commands`, so the group's module stays a few lines.
"""

from __future__ import annotations

import contextlib

import click

from cairn.cli import _output

CONFIG_HELP = "The rules file (see docs/monitoring-alerts.md)."


def _config(path: str) -> object:
    from cairn.monitoring.rules import load_config

    return load_config(path)


@click.command("run")
@click.option("--config", "-c", "config_path", default="monitor.yaml", help=CONFIG_HELP)
@click.option("--once", is_flag=True, help="Run one cycle and exit.")
@click.option(
    "--interval", default=None, help="Time between cycles, e.g. 5m (default: the file's)."
)
@click.option("--json", "as_json", is_flag=True, help="Print each cycle as JSON.")
def run(config_path: str, once: bool, interval: str | None, as_json: bool) -> None:
    """Check the watched models on a schedule, raise alerts once, run their actions.

    Alerts and actions are recorded in the workspace; a restarted monitor resumes the
    actions a stopped one left pending and does not raise the same alert again.
    """
    import dataclasses
    import signal
    import threading

    from cairn.monitoring.rules import MonitorConfig, parse_duration
    from cairn.monitoring.runner import Runner

    config = _config(config_path)
    assert isinstance(config, MonitorConfig)
    if interval is not None:
        config = dataclasses.replace(config, interval_ms=parse_duration(interval, "--interval"))
    runner = Runner(config)
    if once:
        _show(runner.run_once(), as_json)
        return
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    every = _output.format_duration(config.interval_ms)
    click.echo(f"monitoring {', '.join(config.models)} every {every} (Ctrl+C stops)", err=True)
    with contextlib.suppress(KeyboardInterrupt):
        while not stop.is_set():
            _show(runner.run_once(), as_json)
            stop.wait(config.interval_ms / 1000)


def _show(cycle: object, as_json: bool) -> None:
    from cairn.monitoring.runner import Cycle

    assert isinstance(cycle, Cycle)
    if as_json:
        _output.print_json(cycle.to_dict())
        return
    for alert in cycle.alerts:
        click.echo(f"alert {alert.id[:12]} {alert.message}")
    for action in cycle.actions:
        click.echo(f"  action {action.name} ({action.kind}) {action.state}: {action.detail}")
    for error in cycle.errors:
        _output.echo_err(f"warning: {error}")
    if not cycle.alerts and not cycle.actions:
        firing = [f.rule for f in cycle.findings if f.firing]
        click.echo(
            f"no new alerts ({len(cycle.findings)} rules checked, "
            f"firing: {', '.join(firing) or 'none'})"
        )


@click.command("alerts")
@click.option("--model", default=None, help="Only this model reference.")
@click.option("--limit", type=click.IntRange(min=1), default=20, help="How many, newest first.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON, with each alert's actions.")
def alerts(model: str | None, limit: int, as_json: bool) -> None:
    """List recorded alerts, what fired them and what their actions did."""
    import cairn.workspace

    store = cairn.workspace.current().metadata.alerts
    found = store.list_alerts(model=model, limit=limit)
    if as_json:
        _output.print_json(
            [
                {**a.to_dict(), "actions": [x.to_dict() for x in store.list_actions(a.id)]}
                for a in found
            ]
        )
        return
    rows = []
    for a in found:
        states = ", ".join(f"{x.name}:{x.state}" for x in store.list_actions(a.id))
        rows.append([a.id[:12], _output.short_time(a.fired_ms), a.rule, a.model, a.message, states])
    _output.print_table(["ID", "FIRED", "RULE", "MODEL", "MESSAGE", "ACTIONS"], rows)


@click.command("report")
@click.argument("model", help="Model reference, e.g. churn@production.")
@click.option("--output", "-o", required=True, help="The HTML file to write.")
@click.option("--window", default="1h", help="Length of each period, e.g. 1h or 1d.")
@click.option("--periods", type=int, default=24, help="How many periods, the newest ending now.")
def report(model: str, output: str, window: str, periods: int) -> None:
    """Write one self-contained HTML page: histograms, drift and performance over time."""
    from cairn.monitoring.report import write_report

    path = write_report(model, output, window=window, periods=periods)
    click.echo(f"Wrote {path}")


@click.command("export")
@click.option("--port", type=int, default=9108, help="Port of the /metrics endpoint.")
@click.option("--host", default="127.0.0.1", help="Address to bind.")
@click.option(
    "--config", "-c", "config_path", default=None, help="Watch the models of this rules file."
)
@click.option("--model", "models", multiple=True, help="Model reference to watch (repeatable).")
@click.option("--window", default="1h", help="The window each check reads.")
@click.option("--interval", default="1m", help="Time between checks.")
def export(
    port: int,
    host: str,
    config_path: str | None,
    models: tuple[str, ...],
    window: str,
    interval: str,
) -> None:
    """Serve drift, data-quality and performance gauges for Prometheus on /metrics."""
    from cairn.errors import InvalidInput
    from cairn.monitoring.exporter import MonitorCollector, serve
    from cairn.monitoring.rules import MonitorConfig, parse_duration

    watched = list(models)
    if config_path is not None:
        config = _config(config_path)
        assert isinstance(config, MonitorConfig)
        watched += [m for m in config.models if m not in watched]
    if not watched:
        raise InvalidInput(
            "nothing to watch: pass --model churn@production or --config monitor.yaml"
        )
    seconds = parse_duration(interval, "--interval") / 1000
    collector = MonitorCollector(watched, window=window)

    def ready(bound: int) -> None:
        click.echo(
            f"serving monitoring metrics on http://{host}:{bound}/metrics (Ctrl+C stops)", err=True
        )

    with contextlib.suppress(KeyboardInterrupt):
        serve(collector, port=port, host=host, interval=seconds, ready=ready)


@click.command("grafana")
@click.option("--output", "-o", default=None, help="Write the Grafana dashboard JSON here.")
@click.option("--alert-rules", default=None, help="Write Prometheus alerting rules here.")
@click.option("--config", "-c", "config_path", default="monitor.yaml", help=CONFIG_HELP)
def grafana(output: str | None, alert_rules: str | None, config_path: str) -> None:
    """Write a Grafana dashboard for the serving and monitoring series, and alerting rules."""
    from cairn.errors import InvalidInput
    from cairn.monitoring.grafana import write_alert_rules, write_dashboard
    from cairn.monitoring.rules import MonitorConfig

    if output is None and alert_rules is None:
        raise InvalidInput(
            "nothing to write: pass -o dashboard.json and/or --alert-rules rules.yml"
        )
    if alert_rules is not None:
        config = _config(config_path)  # checked before anything is written
        assert isinstance(config, MonitorConfig)
        write_alert_rules(alert_rules, config)
        click.echo(f"Wrote {alert_rules}")
    if output is not None:
        write_dashboard(output)
        click.echo(f"Wrote {output}")


@click.command("prune")
@click.option(
    "--older-than", required=True, help="Delete prediction-log hours older than this, e.g. 30d."
)
@click.option(
    "--model", "models", multiple=True, help="Only this model (repeatable; default: all)."
)
@click.option("--dry-run", is_flag=True, help="List what would be deleted; delete nothing.")
def prune(older_than: str, models: tuple[str, ...], dry_run: bool) -> None:
    """Delete prediction-log partitions older than a retention period."""
    from cairn.monitoring.retention import prune as run_prune
    from cairn.monitoring.rules import parse_duration

    ms = parse_duration(older_than, "--older-than")
    gone = run_prune(list(models) or None, older_than_ms=ms, dry_run=dry_run)
    verb = "Would delete" if dry_run else "Deleted"
    click.echo(f"{verb} {len(gone)} hour partition(s) older than {older_than}")


LOOP_COMMANDS = (run, alerts, report, export, grafana, prune)


def add_loop_commands(group: click.Group) -> None:
    """Attach the loop's commands to the ``monitor`` group."""
    for command in LOOP_COMMANDS:
        group.add_command(command)

"""``cairn gate``: check quality gates on a model version (exit code for CI)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from cairn.cli import _output
from cairn.cli._group import Group

app = Group("gate", help="Quality gates for CI/CD.")


def _value(value: Any) -> Any:
    return _output.format_number(value) if isinstance(value, float) else value


@app.command("check")
@click.argument("name", help="Registered model name.")
@click.argument("version", help="Candidate version number ('latest' works).")
@click.option(
    "--gates", "-g", type=click.Path(path_type=Path), required=True, help="The gates file (YAML)."
)
@click.option("--against", help="Alias to compare with, replacing the file's aliases.")
@click.option("--data", help="Evaluation data overriding the file's 'data'.")
@click.option(
    "--record/--no-record",
    default=False,
    help="Store the result on the version (shown by models show and the card). Default: not.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def check_cmd(
    name: str,
    version: str,
    gates: Path,
    against: str | None,
    data: str | None,
    record: bool,
    as_json: bool,
) -> None:
    """Evaluate the gates on a version; exit 0 only if every rule passes."""
    from cairn.registry import check_gates
    from cairn.registry.catalog import parse_version, workspace_or_current

    number = parse_version(name, version, workspace_or_current())
    result = check_gates(name, number, gates, against=against, data=data, record=record)
    if as_json:
        _output.print_json(
            {
                "name": name,
                "version": number,
                "passed": result.passed,
                "data": result.data,
                "against": result.against,
                "rules": [dict(r) for r in result.rules],
            }
        )
    else:
        _output.print_table(
            ["RULE", "VALUE", "LIMIT", "PASS", "DETAIL"],
            [
                [
                    r["rule"],
                    _value(r["value"]),
                    r["limit"],
                    "yes" if r["passed"] else "NO",
                    r["detail"],
                ]
                for r in result.rules
            ],
            title=f"{name}/{number} on {result.data or '-'}",
        )
        failed = sum(not r["passed"] for r in result.rules)
        verdict = "all gates passed" if result.passed else f"{failed} gate rule(s) failed"
        _output.echo_err(verdict)
    if not result.passed:
        raise click.exceptions.Exit(1)


@app.command("validate")
@click.argument("gates", type=click.Path(path_type=Path), help="The gates file (YAML).")
def validate_cmd(gates: Path) -> None:
    """Check a gates file without evaluating it (exit 1 on the first problem)."""
    from cairn.registry import parse_gates

    spec = parse_gates(gates)
    click.echo(f"{gates}: {len(spec.rules)} rule(s) OK")

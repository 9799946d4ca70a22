"""``cairn gate``: check quality gates on a model version (exit code for CI)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from cairn.cli import _output

app = typer.Typer(no_args_is_help=True, help="Quality gates for CI/CD.")


def _value(value: Any) -> Any:
    return _output.format_number(value) if isinstance(value, float) else value


@app.command("check")
def check_cmd(
    name: str = typer.Argument(..., help="Registered model name."),
    version: str = typer.Argument(..., help="Candidate version number ('latest' works)."),
    gates: Path = typer.Option(..., "--gates", "-g", help="The gates file (YAML)."),
    against: str = typer.Option(
        None, "--against", help="Alias to compare with, replacing the file's aliases."
    ),
    data: str = typer.Option(None, "--data", help="Evaluation data overriding the file's 'data'."),
    no_record: bool = typer.Option(False, "--no-record", help="Do not store the result."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Evaluate the gates on a version; exit 0 only if every rule passes."""
    from cairn.registry import check_gates
    from cairn.registry.catalog import parse_version, workspace_or_current

    number = parse_version(name, version, workspace_or_current())
    result = check_gates(name, number, gates, against=against, data=data, record=not no_record)
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
        raise typer.Exit(1)


@app.command("validate")
def validate_cmd(
    gates: Path = typer.Argument(..., help="The gates file (YAML)."),
) -> None:
    """Check a gates file without evaluating it (exit 1 on the first problem)."""
    from cairn.registry import parse_gates

    spec = parse_gates(gates)
    typer.echo(f"{gates}: {len(spec.rules)} rule(s) OK")

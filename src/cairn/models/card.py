"""Model cards: a Markdown page for reviewers, rendered from what the registry knows.

Sections: intended use (the descriptions), training data (dataset versions of the
source run), metrics (with slice metrics: run metrics whose key holds ``/``, such as
``accuracy/gender=F``), quality gates recorded on the version, signature, environment,
and provenance (run, git commit, digest).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any


def render_card(info: Mapping[str, Any]) -> str:
    """Markdown for a version described by :func:`cairn.registry.describe`.

    Example:
        >>> print(render_card(cairn.registry.describe("churn", 3)))  # doctest: +SKIP
        # churn, version 3
        ...
    """
    lines = [f"# {info['name']}, version {info['version']}", ""]
    facts = [
        ("Status", info["status"]),
        ("Aliases", ", ".join(info["aliases"]) or "none"),
        ("Flavor", info["flavor"]),
        ("Registered", f"{_when(info['created_at'])} by {info['created_by'] or 'unknown'}"),
    ]
    lines += [f"- **{k}:** {v}" for k, v in facts] + [""]

    lines += ["## Intended use", ""]
    description = info.get("description") or ""
    model_description = info.get("model_description") or ""
    if not description and not model_description:
        lines.append(
            "_No description recorded. Set one with `cairn models update "
            f"{info['name']} --description ...`._"
        )
    for text in dict.fromkeys(t for t in (model_description, description) if t):
        lines.append(text)
    lines.append("")

    lines += ["## Training data", ""]
    if info["datasets"]:
        lines += [
            f"- `{d['name']}` ({d['role']}, digest `{d['digest'][:12]}`)" for d in info["datasets"]
        ]
    else:
        lines.append("_The source run recorded no dataset versions._")
    lines.append("")

    overall = {k: v for k, v in info["metrics"].items() if "/" not in k}
    slices = {k: v for k, v in info["metrics"].items() if "/" in k}
    lines += ["## Metrics", ""]
    lines += _table(["metric", "value"], [[k, _num(v)] for k, v in overall.items()]) or [
        "_No metrics logged._"
    ]
    lines.append("")
    if slices:
        lines += ["### Slice metrics", ""]
        rows = [[*k.split("/", 1), _num(v)] for k, v in slices.items()]
        lines += [*_table(["metric", "slice", "value"], rows), ""]
    gates = info.get("gates") or []
    if gates:
        last = gates[-1]
        verdict = "passed" if last["passed"] else "FAILED"
        lines += [
            "## Quality gates",
            "",
            f"Last check {_when(last['created_at'])} on `{last['data'] or '-'}`"
            + (f" against `{last['against']}`" if last["against"] else "")
            + f": **{verdict}**.",
            "",
        ]
        rows = [
            [r["rule"], _num(r["value"]), str(r["limit"] or "-"), "yes" if r["passed"] else "no"]
            for r in last["rules"]
        ]
        lines += [*_table(["rule", "value", "limit", "pass"], rows), ""]
        for r in last["rules"]:
            if r["kind"] == "fairness" and r["detail"]:
                lines += [f"Groups for {r['rule']}: {r['detail']}.", ""]

    sig = info["signature"]
    lines += ["## Signature", "", f"Input is a {sig['kind']}.", ""]
    rows = [[s["name"], s["dtype"], _shape(s["shape"])] for s in sig["inputs"]]
    lines += _table(["input", "dtype", "shape"], rows) or ["_No signature recorded._"]
    lines.append("")
    if sig["outputs"]:
        rows = [[s["name"], s["dtype"], _shape(s["shape"])] for s in sig["outputs"]]
        lines += [*_table(["output", "dtype", "shape"], rows), ""]

    env = info["environment"]
    lines += ["## Environment", "", f"Python {env['python'] or 'unknown'}.", ""]
    lines += [f"- `{r}`" for r in info["requirements"]] + [""]

    lines += ["## Provenance", ""]
    lines.append(f"- Run: `{info['run_id'] or 'none'}`")
    if info.get("git_commit"):
        dirty = " (uncommitted changes)" if info.get("git_dirty") else ""
        lines.append(f"- Git commit: `{info['git_commit']}`{dirty}")
    lines.append(f"- Model digest: `{info['digest']}`")
    lines.append(f"- Source: `{info['source']}`")
    if info["params"]:
        lines += ["", "### Parameters", ""]
        lines += _table(["param", "value"], [[k, v] for k, v in info["params"].items()])
    return "\n".join(lines).rstrip() + "\n"


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    if not rows:
        return []
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return out


def _num(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "-" if value is None else str(value)


def _shape(shape: Any) -> str:
    return (
        "-" if shape is None else "(" + ", ".join("n" if d == -1 else str(d) for d in shape) + ")"
    )


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")

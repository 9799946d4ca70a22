"""Quality gates: a ``gates.yaml`` file, checked up front, evaluated on a model version.

The file::

    data: churn@v2            # dataset version to evaluate on (or a CSV/Parquet path)
    target: churned           # label column
    rules:
      - {metric: roc_auc, min: 0.90}
      - {metric: roc_auc, no_worse_than: production, tolerance: 0.005}
      - {latency_p95_ms: 20}
      - {fairness: {metric: accuracy, by: gender, max_gap: 0.05}}
      - {signature_compatible_with: production}
      - {data_validation: {schema: schema.yaml}}
      - {run_metric: cv_auc, min: 0.85}

:func:`parse_gates` validates every rule before anything runs and reports the first
problem as ``gates.yaml:7: rules[2].metric: unknown metric 'auc2' (known: ...)``.
:func:`check_gates` evaluates a version and returns a
:class:`~cairn.store.registry.GateResult`; it records the outcome on the version only when
asked (``record=True``, which ``promote(..., gates=...)`` and ``cairn gate check --record``
pass). A check is a question, not a verdict: a typo in a gates file must not replace the
result shown on the production version's card.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cairn.errors import InvalidInput

if TYPE_CHECKING:
    from cairn.store.registry import GateResult
    from cairn.workspace import Workspace

#: Rule kinds: (key that identifies the rule, the fields it accepts).
RULE_KINDS: list[tuple[str, frozenset[str]]] = [
    ("metric", frozenset({"metric", "min", "max", "no_worse_than", "tolerance"})),
    ("run_metric", frozenset({"run_metric", "min", "max"})),
    ("latency_p95_ms", frozenset({"latency_p95_ms", "repeats"})),
    ("fairness", frozenset({"fairness"})),
    ("signature_compatible_with", frozenset({"signature_compatible_with"})),
    ("data_validation", frozenset({"data_validation"})),
]
FAIRNESS_FIELDS = frozenset({"metric", "by", "max_gap", "min_rows"})
TOP_FIELDS = frozenset({"data", "target", "rules", "against"})


class GateFileError(InvalidInput):
    """A gates file that does not validate; the message points at the file, line and field."""


class GateFailed(InvalidInput):
    """A promotion refused because a gate rule failed; ``result`` holds every rule."""

    def __init__(self, message: str, result: GateResult) -> None:
        super().__init__(message)
        self.result = result


@dataclass(frozen=True)
class Rule:
    """One validated rule: its kind, its fields, and where it is in the file."""

    kind: str
    spec: Mapping[str, Any]
    index: int
    line: int | None = None

    @property
    def text(self) -> str:
        """A short label for tables: ``roc_auc >= 0.9``, ``latency_p95_ms``..."""
        s = self.spec
        if self.kind == "metric":
            if "no_worse_than" in s:
                return f"{s['metric']} vs {s['no_worse_than']}"
            return str(s["metric"])
        if self.kind == "run_metric":
            return f"run {s['run_metric']}"
        if self.kind == "fairness":
            f = s["fairness"]
            return f"fairness {f['metric']} by {f['by']}"
        if self.kind == "signature_compatible_with":
            return f"signature vs {s['signature_compatible_with']}"
        return self.kind

    @property
    def alias(self) -> str | None:
        """The alias this rule compares against, if any."""
        value = self.spec.get("no_worse_than") or self.spec.get("signature_compatible_with")
        return None if value is None else str(value)


@dataclass(frozen=True)
class GateSpec:
    rules: tuple[Rule, ...]
    data: str | None = None
    target: str | None = None
    against: str | None = None  # replaces the alias of every comparison rule
    path: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict)

    @property
    def needs_data(self) -> bool:
        return any(r.kind in ("metric", "fairness") for r in self.rules)


def parse_gates(source: str | Path | Mapping[str, Any], *, name: str = "") -> GateSpec:
    """Read and validate a gates file (a path), YAML text, or an already-parsed mapping.

    Raises:
        GateFileError: the first problem, as ``FILE:LINE: FIELD: what is wrong``.

    Example:
        >>> rules = [{"metric": "accuracy", "min": 0.8}]
        >>> spec = parse_gates({"data": "d.csv", "target": "y", "rules": rules})
        >>> spec.rules[0].text
        'accuracy'
    """
    import yaml

    lines: list[int | None] = []
    if isinstance(source, Mapping):
        data: Any = source
        label = name or "gates"
    else:
        if isinstance(source, Path) or "\n" not in str(source):
            path = Path(source)
            if not path.is_file():
                raise GateFileError(f"gates file {path} not found")
            text, label = path.read_text(encoding="utf-8"), name or str(path)
        else:
            text, label = str(source), name or "gates"
        try:
            data = yaml.safe_load(text)
            lines = _rule_lines(yaml.compose(text))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f":{mark.line + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or str(exc)
            raise GateFileError(f"{label}{where}: not valid YAML: {problem}") from None
    if not isinstance(data, Mapping):
        raise GateFileError(f"{label}: expected a mapping with 'rules' (and 'data', 'target')")
    unknown = sorted(set(data) - TOP_FIELDS)
    if unknown:
        raise GateFileError(
            f"{label}: unknown field {unknown[0]!r}; use {', '.join(sorted(TOP_FIELDS))}"
        )
    rules_data = data.get("rules")
    if not isinstance(rules_data, list) or not rules_data:
        raise GateFileError(f"{label}: 'rules' must be a non-empty list of rules")
    rules = []
    for i, item in enumerate(rules_data):
        line = lines[i] if i < len(lines) else None
        where = f"{label}:{line}" if line else label
        rules.append(_rule(item, i, line, where))
    for key in ("data", "target", "against"):
        if key in data and not isinstance(data[key], str):
            raise GateFileError(f"{label}: {key!r} must be a string, got {data[key]!r}")
    spec = GateSpec(
        tuple(rules), data.get("data"), data.get("target"), data.get("against"), label, data
    )
    if spec.needs_data and not spec.target:
        raise GateFileError(f"{label}: metric and fairness rules need 'target' (the label column)")
    return spec


def _rule_lines(node: Any) -> list[int | None]:
    """1-based line of each item of the top-level ``rules`` list, from the YAML node tree."""
    import yaml

    if not isinstance(node, yaml.MappingNode):
        return []
    for key, value in node.value:
        if getattr(key, "value", None) == "rules" and isinstance(value, yaml.SequenceNode):
            return [item.start_mark.line + 1 for item in value.value]
    return []


def _rule(item: Any, index: int, line: int | None, where: str) -> Rule:
    from cairn.registry.evaluate import METRICS

    at = f"{where}: rules[{index}]"
    if not isinstance(item, Mapping) or not item:
        raise GateFileError(f"{at}: a rule must be a mapping such as {{metric: roc_auc, min: 0.9}}")
    kind = next((k for k, _ in RULE_KINDS if k in item), None)
    if kind is None:
        known = ", ".join(k for k, _ in RULE_KINDS)
        raise GateFileError(f"{at}: unknown rule {sorted(item)[0]!r}; rule kinds: {known}")
    allowed = dict(RULE_KINDS)[kind]
    extra = sorted(set(item) - allowed)
    if extra:
        raise GateFileError(
            f"{at}.{extra[0]}: not a field of a {kind} rule (fields: {', '.join(sorted(allowed))})"
        )
    if kind == "metric":
        metric = item["metric"]
        if metric not in METRICS:
            raise GateFileError(
                f"{at}.metric: unknown metric {metric!r} (known: {', '.join(sorted(METRICS))})"
            )
        bounds = [k for k in ("min", "max", "no_worse_than") if k in item]
        if not bounds:
            raise GateFileError(f"{at}: give min, max or no_worse_than for metric {metric!r}")
        if "tolerance" in item and "no_worse_than" not in item:
            raise GateFileError(f"{at}.tolerance: only applies with no_worse_than")
        _numbers(item, ("min", "max", "tolerance"), at)
        if "no_worse_than" in item:
            _alias(item["no_worse_than"], f"{at}.no_worse_than")
    elif kind == "run_metric":
        if not isinstance(item["run_metric"], str) or not item["run_metric"]:
            raise GateFileError(f"{at}.run_metric: give the name of a metric the run logged")
        if "min" not in item and "max" not in item:
            raise GateFileError(f"{at}: give min or max for run_metric {item['run_metric']!r}")
        _numbers(item, ("min", "max"), at)
    elif kind == "latency_p95_ms":
        _numbers(item, ("latency_p95_ms", "repeats"), at, positive=True)
    elif kind == "fairness":
        f = item["fairness"]
        if not isinstance(f, Mapping):
            raise GateFileError(f"{at}.fairness: expected {{metric: ..., by: ..., max_gap: ...}}")
        missing = sorted({"metric", "by", "max_gap"} - set(f))
        if missing:
            raise GateFileError(f"{at}.fairness.{missing[0]}: required")
        extra = sorted(set(f) - FAIRNESS_FIELDS)
        if extra:
            raise GateFileError(f"{at}.fairness.{extra[0]}: unknown field")
        if f["metric"] not in METRICS:
            raise GateFileError(
                f"{at}.fairness.metric: unknown metric {f['metric']!r} "
                f"(known: {', '.join(sorted(METRICS))})"
            )
        _numbers(f, ("max_gap", "min_rows"), f"{at}.fairness")
    elif kind == "signature_compatible_with":
        _alias(item["signature_compatible_with"], f"{at}.signature_compatible_with")
    elif kind == "data_validation":
        value = item["data_validation"]
        if isinstance(value, Mapping):
            if set(value) != {"schema"} or not isinstance(value["schema"], str):
                raise GateFileError(
                    f"{at}.data_validation: expected {{schema: path/to/schema.yaml}}"
                )
        elif value not in ("passed", True):
            raise GateFileError(
                f"{at}.data_validation: use 'passed' or {{schema: path/to/schema.yaml}}"
            )
    return Rule(kind, dict(item), index, line)


def _numbers(
    item: Mapping[str, Any], keys: tuple[str, ...], at: str, positive: bool = False
) -> None:
    for key in keys:
        if key not in item:
            continue
        value = item[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise GateFileError(f"{at}.{key}: expected a number, got {value!r}")
        if positive and value <= 0:
            raise GateFileError(f"{at}.{key}: must be greater than 0, got {value!r}")


def _alias(value: Any, at: str) -> None:
    from cairn.store.registry import check_alias

    try:
        check_alias(str(value))
    except InvalidInput as exc:
        raise GateFileError(f"{at}: {exc}") from None


def check_gates(
    name: str,
    version: int,
    gates: str | Path | Mapping[str, Any] | GateSpec,
    *,
    against: str | None = None,
    data: str | None = None,
    record: bool = False,
    workspace: Workspace | None = None,
) -> GateResult:
    """Evaluate the gates on ``name``/``version``; with ``record``, store the outcome on it.

    Args:
        name: registered model name.
        version: the candidate version.
        gates: a gates file path, YAML text, a mapping, or a parsed :class:`GateSpec`.
        against: alias every comparison rule uses instead of its own (``--against``).
        data: dataset version or path overriding the file's ``data``.
        record: store the result on the version, where ``cairn models show`` and the
            model card show it. Off by default so an ad hoc or mistaken check leaves the
            version's recorded verdict alone.

    Returns:
        The :class:`~cairn.store.registry.GateResult`; ``passed`` is true only if every
        rule passed.

    Example:
        >>> result = cairn.registry.check_gates("churn", 4, "gates.yaml")  # doctest: +SKIP
        >>> result.passed, [r["rule"] for r in result.rules if not r["passed"]]  # doctest: +SKIP
        (False, ['roc_auc vs production'])
    """
    from cairn.registry.catalog import current_actor, workspace_or_current
    from cairn.registry.evaluate import Evaluation
    from cairn.store.registry import GateResult

    spec = gates if isinstance(gates, GateSpec) else parse_gates(gates)
    ws = workspace_or_current(workspace)
    ws.registry.get_version(name, version)  # NotFound before any work
    evaluation = Evaluation(ws, name, version, spec, against=against, data=data)
    outcomes = [evaluation.run(rule) for rule in spec.rules]
    result = GateResult(
        name=name,
        version=version,
        passed=all(o["passed"] for o in outcomes),
        rules=tuple(outcomes),
        data=evaluation.data_label,
        against=against or spec.against,
        gates_file=spec.path,
        actor=current_actor(ws),
    )
    if record:
        result = ws.registry.record_gate_result(result)
    return result

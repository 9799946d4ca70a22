"""``monitor.yaml``: which models to watch, the rules that raise alerts, what alerts do.

::

    model: churn@production      # default model of every rule
    window: 1h                   # the window each check reads
    interval: 5m                 # how often `cairn monitor run` checks
    retention: 30d               # prediction-log partitions older than this are deleted
    rules:
      - name: drift
        when: {drift_share: {above: 0.3}}        # share of drifted features
        cooldown: 1h                             # no new alert sooner than this
        actions: [team, retrain]
      - name: income
        when: {feature_score: {feature: income, above: 0.25}}
      - name: auc
        when: {metric: {name: roc_auc, below: 0.8}}  # realized, else estimated
      - name: slow
        when: {latency_p99_ms: {above: 250}}
      - name: errors
        when: {error_rate: {above: 0.01}}
        actions: [log]
    actions:
      team: {webhook: {url: "https://hooks.example/alerts", timeout: 5, retries: 3}}
      log: {log: {level: warning}}
      retrain:
        pipeline:
          target: pipelines/churn.py:train
          params: {data: churn@latest}
          model: churn
          alias: production
          gates: gates.yaml
          auto_promote: true

:func:`load_config` checks everything before anything runs and reports the first
problem on one line naming the key: ``monitor.yaml: rules[1].when.metric.below: expected
a number, got 'high'``. :func:`evaluate` turns one rule and one
:class:`~cairn.monitoring.types.CheckReport` into a :class:`Finding` with the evidence.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cairn.errors import InvalidInput
from cairn.monitoring.types import CheckReport

#: Condition kinds: (key under ``when``, the fields it accepts besides the bound).
CONDITIONS: dict[str, frozenset[str]] = {
    "drift_share": frozenset(),
    "feature_score": frozenset({"feature"}),
    "metric": frozenset({"name", "source"}),
    "latency_p99_ms": frozenset(),
    "error_rate": frozenset(),
}
ACTION_KINDS: dict[str, frozenset[str]] = {
    "webhook": frozenset({"url", "timeout", "retries", "headers"}),
    "log": frozenset({"level"}),
    "pipeline": frozenset(
        {"target", "params", "model", "alias", "gates", "auto_promote", "executor"}
    ),
}
TOP_FIELDS = frozenset({"model", "window", "interval", "retention", "rules", "actions"})
RULE_FIELDS = frozenset({"name", "model", "when", "cooldown", "actions"})
METRIC_SOURCES = ("either", "realized", "estimated")
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


class MonitorConfigError(InvalidInput):
    """A ``monitor.yaml`` that does not validate; the message names the file and key."""


@dataclass(frozen=True, slots=True)
class Condition:
    kind: str
    above: float | None = None
    below: float | None = None
    feature: str | None = None
    metric: str | None = None
    source: str = "either"

    @property
    def text(self) -> str:
        """``drift_share > 0.3``, ``roc_auc < 0.8``, ``income score > 0.25``."""
        what = {
            "feature_score": f"{self.feature} score",
            "metric": str(self.metric),
        }.get(self.kind, self.kind)
        return f"{what} > {self.above:g}" if self.above is not None else f"{what} < {self.below:g}"


@dataclass(frozen=True, slots=True)
class Action:
    name: str
    kind: str
    spec: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    model: str
    when: Condition
    cooldown_ms: int = 0
    actions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MonitorConfig:
    rules: tuple[Rule, ...]
    actions: Mapping[str, Action] = field(default_factory=dict)
    window: str = "1h"
    interval_ms: int = 300_000
    retention_ms: int | None = None
    path: str = ""
    #: Folder relative paths (pipeline targets, gates files) are read from.
    base: Path = Path(".")

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r.model for r in self.rules))


@dataclass(frozen=True, slots=True)
class Finding:
    """One rule evaluated on one report: ``value`` the measure (``None`` when the report
    lacks it, which never fires), ``firing`` whether the condition holds."""

    rule: str
    model: str
    firing: bool
    value: float | None
    message: str
    evidence: dict[str, Any]


def parse_duration(text: Any, at: str, *, zero: bool = False) -> int:
    """Milliseconds in ``30s``, ``5m``, ``1h30m``, ``30d``; ``InvalidInput`` naming ``at``."""
    if isinstance(text, bool) or not isinstance(text, str | int):
        raise MonitorConfigError(f"{at}: expected a duration like 5m, 1h or 30d, got {text!r}")
    if isinstance(text, int):
        text = f"{text}s"
    raw = text.replace(" ", "")
    total, pos = 0.0, 0
    for m in _DURATION.finditer(raw):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNIT_MS[m.group(2)]
        pos = m.end()
    if pos != len(raw) or not raw or total < 0 or (total == 0 and not zero):
        raise MonitorConfigError(f"{at}: expected a duration like 5m, 1h or 30d, got {text!r}")
    return int(total)


def load_config(source: str | Path | Mapping[str, Any], *, name: str = "") -> MonitorConfig:
    """Read and validate a ``monitor.yaml`` (a path, YAML text, or a parsed mapping)."""
    import yaml

    base = Path(".")
    if isinstance(source, Mapping):
        raw: Any = source
        where = name or "monitor config"
    else:
        path = Path(source) if isinstance(source, Path) or "\n" not in source else None
        if path is not None:
            if not path.is_file():
                raise MonitorConfigError(
                    f"no monitor file at {path}: write one (see docs/monitoring-alerts.md) "
                    "or pass its path with --config"
                )
            text, where, base = path.read_text(encoding="utf-8"), name or str(path), path.parent
        else:
            text, where = str(source), name or "monitor config"
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f":{mark.line + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or "not valid YAML"
            raise MonitorConfigError(f"{where}{line}: {problem}") from None
    return _config(raw, where, base)


def _config(raw: Any, where: str, base: Path) -> MonitorConfig:
    if not isinstance(raw, Mapping):
        raise MonitorConfigError(f"{where}: expected a mapping with rules: and actions:")
    _known(raw, TOP_FIELDS, where, "")
    default_model = raw.get("model")
    if default_model is not None and not isinstance(default_model, str):
        raise MonitorConfigError(
            f"{where}: model: expected a model reference like churn@production"
        )
    window = raw.get("window", "1h")
    parse_duration(window, f"{where}: window")
    interval = parse_duration(raw.get("interval", "5m"), f"{where}: interval")
    retention = raw.get("retention")
    retention_ms = None if retention is None else parse_duration(retention, f"{where}: retention")

    actions_raw = raw.get("actions") or {}
    if not isinstance(actions_raw, Mapping):
        raise MonitorConfigError(f"{where}: actions: expected a mapping of name -> action")
    actions = {str(k): _action(str(k), v, f"{where}: actions.{k}") for k, v in actions_raw.items()}

    rules_raw = raw.get("rules")
    if not isinstance(rules_raw, list) or not rules_raw:
        raise MonitorConfigError(f"{where}: rules: expected a list of at least one rule")
    rules: list[Rule] = []
    for i, item in enumerate(rules_raw):
        rule = _rule(item, f"{where}: rules[{i}]", default_model, actions)
        if any(r.name == rule.name and r.model == rule.model for r in rules):
            raise MonitorConfigError(
                f"{where}: rules[{i}].name: {rule.name!r} is used twice; rule names must differ"
            )
        rules.append(rule)
    return MonitorConfig(
        rules=tuple(rules),
        actions=actions,
        window=str(window),
        interval_ms=interval,
        retention_ms=retention_ms,
        path=where,
        base=base,
    )


def _known(raw: Mapping[str, Any], allowed: frozenset[str], where: str, prefix: str) -> None:
    for key in raw:
        if key not in allowed:
            known = ", ".join(sorted(allowed))
            raise MonitorConfigError(f"{where}: {prefix}{key}: unknown key (known: {known})")


def _rule(item: Any, at: str, default_model: Any, actions: Mapping[str, Action]) -> Rule:
    if not isinstance(item, Mapping):
        raise MonitorConfigError(f"{at}: expected a mapping with name:, when: and actions:")
    _known(item, RULE_FIELDS, at, ".")
    name = item.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise MonitorConfigError(
            f"{at}.name: expected 1-128 letters, digits, '.', '_' or '-', got {name!r}"
        )
    model = item.get("model", default_model)
    if not isinstance(model, str) or not model:
        raise MonitorConfigError(
            f"{at}.model: no model to watch: set model: at the top or in the rule, "
            "e.g. churn@production"
        )
    cooldown = item.get("cooldown")
    cooldown_ms = 0 if cooldown is None else parse_duration(cooldown, f"{at}.cooldown", zero=True)
    names = item.get("actions", [])
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise MonitorConfigError(f"{at}.actions: expected a list of action names")
    for n in names:
        if n not in actions:
            known = ", ".join(sorted(actions)) or "none defined"
            raise MonitorConfigError(f"{at}.actions: unknown action {n!r} (defined: {known})")
    return Rule(name, model, _condition(item.get("when"), f"{at}.when"), cooldown_ms, tuple(names))


def _condition(when: Any, at: str) -> Condition:
    if not isinstance(when, Mapping) or len(when) != 1:
        kinds = ", ".join(CONDITIONS)
        raise MonitorConfigError(f"{at}: expected exactly one condition, one of: {kinds}")
    ((kind, spec),) = when.items()
    if kind not in CONDITIONS:
        raise MonitorConfigError(f"{at}.{kind}: unknown condition (known: {', '.join(CONDITIONS)})")
    at = f"{at}.{kind}"
    if not isinstance(spec, Mapping):
        raise MonitorConfigError(f"{at}: expected a mapping such as {{above: 0.3}}")
    _known(spec, CONDITIONS[kind] | {"above", "below"}, at, ".")
    bounds = [b for b in ("above", "below") if b in spec]
    if len(bounds) != 1:
        raise MonitorConfigError(f"{at}: give exactly one of above: and below:")
    bound = spec[bounds[0]]
    if isinstance(bound, bool) or not isinstance(bound, int | float) or not math.isfinite(bound):
        raise MonitorConfigError(f"{at}.{bounds[0]}: expected a number, got {bound!r}")
    fields: dict[str, Any] = {bounds[0]: float(bound)}
    if kind == "feature_score":
        feature = spec.get("feature")
        if not isinstance(feature, str) or not feature:
            raise MonitorConfigError(f"{at}.feature: expected the feature's name")
        fields["feature"] = feature
    if kind == "metric":
        metric = spec.get("name")
        if not isinstance(metric, str) or not metric:
            raise MonitorConfigError(f"{at}.name: expected a metric name such as roc_auc")
        source = spec.get("source", "either")
        if source not in METRIC_SOURCES:
            raise MonitorConfigError(
                f"{at}.source: expected one of {', '.join(METRIC_SOURCES)}, got {source!r}"
            )
        fields.update(metric=metric, source=source)
    return Condition(kind, **fields)


def _action(name: str, raw: Any, at: str) -> Action:
    if not _NAME.fullmatch(name):
        raise MonitorConfigError(f"{at}: invalid action name; use letters, digits, '.', '_', '-'")
    if not isinstance(raw, Mapping) or len(raw) != 1:
        kinds = ", ".join(ACTION_KINDS)
        raise MonitorConfigError(f"{at}: expected exactly one action kind, one of: {kinds}")
    ((kind, spec),) = raw.items()
    if kind not in ACTION_KINDS:
        raise MonitorConfigError(f"{at}.{kind}: unknown action (known: {', '.join(ACTION_KINDS)})")
    at = f"{at}.{kind}"
    spec = {} if spec is None else spec
    if not isinstance(spec, Mapping):
        raise MonitorConfigError(f"{at}: expected a mapping of settings")
    _known(spec, ACTION_KINDS[kind], at, ".")
    if kind == "webhook":
        url = spec.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise MonitorConfigError(f"{at}.url: expected an http:// or https:// URL, got {url!r}")
        _number(spec, "timeout", at, 0.001, 600)
        _number(spec, "retries", at, 0, 20, integer=True)
        headers = spec.get("headers", {})
        if not isinstance(headers, Mapping) or not all(
            isinstance(v, str) for v in headers.values()
        ):
            raise MonitorConfigError(f"{at}.headers: expected a mapping of header -> text")
    elif kind == "log":
        level = spec.get("level", "warning")
        if level not in LOG_LEVELS:
            raise MonitorConfigError(
                f"{at}.level: expected one of {', '.join(LOG_LEVELS)}, got {level!r}"
            )
    else:
        target = spec.get("target")
        if not isinstance(target, str) or ":" not in target:
            raise MonitorConfigError(
                f"{at}.target: expected FILE.py:PIPELINE, e.g. pipelines/churn.py:train"
            )
        if not isinstance(spec.get("model"), str):
            raise MonitorConfigError(
                f"{at}.model: expected the registered model the pipeline makes versions of"
            )
        if not isinstance(spec.get("params", {}), Mapping):
            raise MonitorConfigError(f"{at}.params: expected a mapping of parameter -> value")
        if not isinstance(spec.get("auto_promote", False), bool):
            raise MonitorConfigError(f"{at}.auto_promote: expected true or false")
        if spec.get("auto_promote") and not isinstance(spec.get("gates"), str):
            raise MonitorConfigError(
                f"{at}.gates: auto_promote needs a gates file the new version must pass"
            )
    return Action(name, kind, dict(spec))


def _number(
    spec: Mapping[str, Any], key: str, at: str, lo: float, hi: float, integer: bool = False
) -> None:
    if key not in spec:
        return
    value = spec[key]
    ok = isinstance(value, int) if integer else isinstance(value, int | float)
    if isinstance(value, bool) or not ok or not lo <= value <= hi:
        kind = "a whole number" if integer else "a number"
        raise MonitorConfigError(
            f"{at}.{key}: expected {kind} from {lo:g} to {hi:g}, got {value!r}"
        )


# -- evaluation ----------------------------------------------------------------------


def measure(cond: Condition, report: CheckReport) -> tuple[float | None, dict[str, Any]]:
    """The value ``cond`` compares in ``report``, and the evidence behind it."""
    if cond.kind == "drift_share":
        scored = [f for f in report.features if f.score is not None]
        value = report.drift_share if scored else None
        return value, {"drifted": list(report.drifted), "features": len(scored)}
    if cond.kind == "feature_score":
        for f in report.features:
            if f.feature == cond.feature:
                return f.score, {"test": f.test, "threshold": f.threshold, "note": f.note}
        return None, {"note": f"feature {cond.feature!r} not in the report"}
    if cond.kind == "metric":
        return _metric(cond, report)
    health = report.health
    if health is None:
        return None, {"note": "no service health in the report"}
    value = health.latency_p99_ms if cond.kind == "latency_p99_ms" else health.error_rate
    return value, {"requests": health.requests}


def _metric(cond: Condition, report: CheckReport) -> tuple[float | None, dict[str, Any]]:
    # The newest window that has the metric: realized wins where labels arrived.
    for perf in sorted(report.performance, key=lambda p: p.until_ms or 0, reverse=True):
        sources = {
            "either": (("realized", perf.realized), ("estimated", perf.estimated)),
            "realized": (("realized", perf.realized),),
            "estimated": (("estimated", perf.estimated),),
        }[cond.source]
        for source, values in sources:
            value = values.get(str(cond.metric))
            if value is not None and math.isfinite(value):
                return value, {"source": source, "rows": perf.rows, "labelled": perf.labelled}
    return None, {"note": f"no {cond.source} {cond.metric} in the report"}


def evaluate(rule: Rule, report: CheckReport) -> Finding:
    """Whether ``rule`` holds on ``report``; a missing measure never fires."""
    cond = rule.when
    value, detail = measure(cond, report)
    firing = value is not None and (
        (cond.above is not None and value > cond.above)
        or (cond.below is not None and value < cond.below)
    )
    bound = cond.above if cond.above is not None else cond.below
    shown = "none" if value is None else f"{value:.4g}"
    message = f"{rule.name}: {cond.text} on {report.model} (version {report.version}): {shown}"
    evidence = {
        "condition": cond.text,
        "value": value,
        "bound": bound,
        "model": report.model,
        "version": report.version,
        "window": {
            "since_ms": report.window.since_ms,
            "until_ms": report.window.until_ms,
            "rows": report.window.rows,
        },
        "checked_ms": report.checked_ms,
        **detail,
    }
    return Finding(rule.name, rule.model, firing, value, message, evidence)

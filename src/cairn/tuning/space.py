"""Search spaces: a dict of parameter name -> distribution.

Cairn's spelling, or Optuna's distributions as they are::

    space = {
        "C": Float(1e-3, 1e2, log=True),
        "max_depth": Int(2, 12),
        "kernel": Choice(["rbf", "linear"]),        # a plain list means the same
        "gamma": optuna.distributions.FloatDistribution(1e-4, 1.0, log=True),
    }
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cairn.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class Float:
    """A real number in ``[low, high]``; ``log`` samples on a log scale, ``step`` on a grid."""

    low: float
    high: float
    log: bool = False
    step: float | None = None


@dataclass(frozen=True, slots=True)
class Int:
    """An integer in ``[low, high]`` (both included)."""

    low: int
    high: int
    log: bool = False
    step: int = 1


@dataclass(frozen=True, slots=True)
class Choice:
    """One of ``options`` (strings, numbers, booleans or ``None``)."""

    options: Sequence[Any]


def to_optuna(space: Mapping[str, Any]) -> dict[str, Any]:
    """Optuna distributions for ``space``; ``InvalidInput`` naming a parameter whose
    distribution is not one (or whose bounds are wrong)."""
    import optuna.distributions as od

    if not isinstance(space, Mapping) or not space:
        raise InvalidInput(
            "the search space must be a non-empty dict of name -> distribution, e.g. "
            "{'C': cairn.tuning.Float(1e-3, 100, log=True)}"
        )
    result: dict[str, Any] = {}
    for name, value in space.items():
        if not isinstance(name, str) or not name:
            raise InvalidInput(f"search space parameter names must be strings, got {name!r}")
        try:
            result[name] = _one(od, value)
        except (ValueError, TypeError) as exc:
            raise InvalidInput(f"bad distribution for {name!r}: {exc}") from None
        if result[name] is None:
            raise InvalidInput(
                f"search space parameter {name!r} has {type(value).__name__} {value!r}: use "
                "cairn.tuning.Float, Int or Choice (or a list of options), or an Optuna "
                "distribution"
            )
    return result


def _one(od: Any, value: Any) -> Any:
    if isinstance(value, od.BaseDistribution):
        return value
    if isinstance(value, Float):
        return od.FloatDistribution(value.low, value.high, log=value.log, step=value.step)
    if isinstance(value, Int):
        return od.IntDistribution(value.low, value.high, log=value.log, step=value.step)
    if isinstance(value, Choice):
        return od.CategoricalDistribution(list(value.options))
    if isinstance(value, list | tuple) and value:
        return od.CategoricalDistribution(list(value))
    return None

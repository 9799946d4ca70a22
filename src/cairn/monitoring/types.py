"""The results of a monitoring check: plain frozen dataclasses shared by the check, the
rules that act on it, the reports and the exporters.

Every float is finite or ``None``: no NaN ever leaves a check (an empty window, a
constant column or a missing feature gives ``None`` and a ``note`` saying why).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

FeatureKind = Literal["numeric", "categorical"]
Severity = Literal["ok", "warning", "drift"]


@dataclass(frozen=True, slots=True)
class Window:
    """The slice of the prediction log a check read: ``since <= time < until`` (epoch ms),
    ``rows`` logged rows in it."""

    since_ms: int | None
    until_ms: int | None
    rows: int


@dataclass(frozen=True, slots=True)
class FeatureDrift:
    """One feature (or ``prediction``) compared with its reference.

    ``test`` names the statistic (``psi``, ``ks``, ``wasserstein``, ``chi2``, ``jensen_shannon``),
    ``score`` its value, ``threshold`` the bound above which ``drifted`` is true, and
    ``p_value`` is set for tests that have one."""

    feature: str
    kind: FeatureKind
    test: str
    score: float | None
    threshold: float
    drifted: bool
    p_value: float | None = None
    reference_rows: int = 0
    current_rows: int = 0
    note: str = ""
    #: The histograms compared, for reports: numeric features have ``edges`` (one more
    #: than the counts), categorical ones ``categories`` (one per count, the last may be
    #: ``"(other)"``).
    edges: tuple[float, ...] = ()
    categories: tuple[str, ...] = ()
    reference_counts: tuple[int, ...] = ()
    current_counts: tuple[int, ...] = ()
    #: The Population Stability Index on the reference bins, whatever ``test`` is.
    psi: float | None = None


@dataclass(frozen=True, slots=True)
class QualityIssue:
    """A production data-quality finding: ``kind`` is ``nulls``, ``out_of_range``,
    ``unseen_category``, ``missing_feature`` or ``schema``; ``share`` the fraction of the
    window's rows affected."""

    feature: str
    kind: str
    share: float
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ServiceHealth:
    requests: int
    error_rate: float | None
    latency_p50_ms: float | None
    latency_p99_ms: float | None


@dataclass(frozen=True, slots=True)
class Performance:
    """Model performance over one window: realized from joined labels (``labelled`` rows)
    and/or estimated before labels arrive. ``metrics`` maps a metric name (``accuracy``,
    ``roc_auc``, ``f1``, ``rmse``, ``mae``) to its value."""

    since_ms: int | None
    until_ms: int | None
    version: str
    rows: int
    labelled: int
    realized: dict[str, float] = field(default_factory=dict)
    estimated: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CheckReport:
    """Everything ``cairn monitor check`` found for one model reference and window."""

    model: str
    version: str
    reference: str
    window: Window
    features: tuple[FeatureDrift, ...]
    prediction: FeatureDrift | None
    quality: tuple[QualityIssue, ...]
    health: ServiceHealth | None
    performance: tuple[Performance, ...] = ()
    checked_ms: int = 0

    @property
    def drifted(self) -> tuple[str, ...]:
        return tuple(f.feature for f in self.features if f.drifted)

    @property
    def drift_share(self) -> float:
        """The share of compared features that drifted (0.0 when none were compared)."""
        scored = [f for f in self.features if f.score is not None]
        return sum(f.drifted for f in scored) / len(scored) if scored else 0.0

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        out = asdict(self)
        out["drifted"] = list(self.drifted)
        out["drift_share"] = self.drift_share
        return out

"""Finding runs by what a person types, and comparing them.

``cairn runs show 3f9a``, ``runs:/3f9a/model`` and a future server route all resolve a
run id prefix here, with the same rules: a unique prefix names the run, an ambiguous
one is an error listing candidates, and no match is an error pointing at ``cairn runs
ls``. Run comparison (metric deltas against a base run) lives here for the same reason.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from cairn.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from cairn.types import Run
    from cairn.workspace import Workspace

SHORT_ID = 12  # characters of a run id shown in tables; any unique prefix is accepted back
RUN_ID_LENGTH = 32
MAX_AMBIGUOUS = 5  # candidates named when a prefix matches several runs
# Hex only, which also keeps the prefix safe to put inside a LIKE pattern.
_RUN_ID = re.compile(r"[0-9a-f]{1,32}")


def resolve_run(ref: str, *, workspace: Workspace | None = None) -> Run:
    """The run whose id is ``ref`` or starts with it (deleted runs included).

    Raises:
        InvalidInput: ``ref`` is not hexadecimal, or the prefix matches several runs
            (the message lists up to five of them).
        NotFound: no run id starts with ``ref``.

    Example:
        >>> cairn.tracking.lookup.resolve_run("3f9a")  # doctest: +SKIP
        Run(id='3f9a0c...', ...)
    """
    from cairn.workspace import resolve

    store = resolve(workspace).tracking
    prefix = ref.strip().lower()
    if not _RUN_ID.fullmatch(prefix):
        raise InvalidInput(
            f"{ref!r} is not a run id: ids are hexadecimal (32 characters); pass an id or a "
            "prefix of one, as `cairn runs ls` shows"
        )
    if len(prefix) == RUN_ID_LENGTH:
        return store.get_run(prefix)
    matches = store.search_runs(
        filter=f"id like '{prefix}%'", max_results=MAX_AMBIGUOUS + 1, view="all"
    ).items
    if not matches:
        raise NotFound(f"no run id starts with {prefix!r}; see `cairn runs ls`")
    if len(matches) > 1:
        shown = ", ".join(r.id[:SHORT_ID] for r in matches[:MAX_AMBIGUOUS])
        more = ", ..." if len(matches) > MAX_AMBIGUOUS else ""
        raise InvalidInput(
            f"run id prefix {prefix!r} is ambiguous ({shown}{more}); give more characters"
        )
    return store.get_run(matches[0].id)


def metric_deltas(base: Run, run: Run) -> dict[str, float]:
    """Latest metric values of ``run`` minus those of ``base``, for keys both have.

    Example:
        >>> metric_deltas(baseline, candidate)  # doctest: +SKIP
        {'auc': 0.012, 'loss': -0.03}
    """
    return {
        key: metric.value - base.metrics[key].value
        for key, metric in sorted(run.metrics.items())
        if key in base.metrics
    }


def compare_runs(refs: Sequence[str], *, workspace: Workspace | None = None) -> list[Run]:
    """The runs ``refs`` name (ids or unique prefixes), in order; at least two.

    Deltas are against the first: ``metric_deltas(runs[0], run)``.
    """
    if len(refs) < 2:
        raise InvalidInput(f"compare needs at least two runs, got {len(refs)}: add another id")
    from cairn.workspace import resolve

    ws = resolve(workspace)
    return [resolve_run(ref, workspace=ws) for ref in refs]


def experiment_names(workspace: Workspace | None = None) -> dict[str, str]:
    """Experiment id -> name, for showing runs."""
    from cairn.workspace import resolve

    return {e.id: e.name for e in resolve(workspace).tracking.list_experiments(view="all")}

"""MLflow's run statuses, spelled as names (SQL, REST) or numbers (``mlruns`` meta.yaml),
mapped to Cairn's."""

from __future__ import annotations

from cairn.types import RunStatus

#: MLflow's RunStatus enum values as the file store writes them.
_NUMBERS = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}


def run_status(value: object) -> RunStatus:
    """Cairn's status for an MLflow one; SCHEDULED (never started) counts as RUNNING."""
    name = _NUMBERS.get(value, "") if isinstance(value, int) else str(value or "").upper()
    if name.isdigit():
        name = _NUMBERS.get(int(name), "")
    try:
        return RunStatus(name)
    except ValueError:
        return RunStatus.RUNNING

"""What a pipeline run returns or raises."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from cairn.errors import CairnError
from cairn.pipelines.worker import OutputRef
from cairn.store.pipelines import StepRecord


class PipelineFailed(CairnError):
    """Some steps failed; the others' results are stored and the run can be resumed.
    ``outcome`` holds every step's record."""

    outcome: Outcome | None = None


class PipelineInterrupted(CairnError):
    """Ctrl-C: the run is recorded as interrupted and can be resumed."""

    exit_code = 130


@dataclass
class Outcome:
    run_id: str
    state: str
    steps: dict[str, StepRecord]
    workspace: Any = field(repr=False, default=None)

    def output(self, step: str) -> Any:
        """The stored output of ``step`` in this run, read back."""
        from cairn.pipelines.worker import load_output

        record = self.steps[step]
        outputs = json.loads(record.outputs)
        if not outputs:
            raise CairnError(f"step {step!r} has no output in run {self.run_id} ({record.state})")
        return load_output(self.workspace.artifacts, OutputRef.from_dict(outputs[0]))

"""Steps of the demo, one module each, run in the order of ``run.STEPS``.

A step module defines ``run(ctx: Context) -> None``. Steps share what they produce
through ``ctx.results`` (the train step leaves the ids of its runs and of the best one
there for the steps after it).
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class StepFailed(Exception):
    """A step could not finish; the message says why."""


@dataclass
class Context:
    """What every step gets: the demo workspace and the results of earlier steps."""

    workspace: Path
    results: dict[str, Any] = field(default_factory=dict)

    def cairn(self, *args: str, ok: tuple[int, ...] = (0,), echo: bool = True) -> str:
        """Run ``cairn ARGS...`` in the workspace, echo the command and its output.

        ``ok`` lists the exit codes that are expected (``cairn monitor check`` exits 3
        when it finds drift); any other code stops the demo. ``echo=False`` leaves a
        long output (a JSON report) for the step to summarize.
        """
        print(f"\n$ cairn {' '.join(_quote(a) for a in args)}", flush=True)
        proc = subprocess.run(
            [sys.executable, "-m", "cairn", *args],
            cwd=self.workspace,
            capture_output=True,
            text=True,
            env={**os.environ, "COLUMNS": "120"},
            check=False,
        )
        if echo:
            print(proc.stdout, end="", flush=True)
        else:
            print(f"({len(proc.stdout.splitlines())} lines of output, summarized below)")
        if proc.returncode != 0 and proc.returncode in ok:
            # An expected non-zero exit: its summary line goes to stderr, show it too.
            print(f"{proc.stderr}(exit code {proc.returncode})", flush=True)
        if proc.returncode not in ok:
            raise StepFailed(
                f"`cairn {' '.join(args)}` exited {proc.returncode}: {proc.stderr.strip()}"
            )
        return proc.stdout


def _quote(arg: str) -> str:
    return f'"{arg}"' if any(c in arg for c in " ()'<>|") else arg


def heading(text: str) -> None:
    print(f"\n== {text} ==", flush=True)

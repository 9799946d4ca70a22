"""Run the Cairn demo end to end in a fresh workspace.

    python examples/demo/run.py --workspace build/demo

Each step is a module of ``steps/`` named in ``STEPS``; steps that do not exist yet are
skipped, so the demo grows as Cairn does. The runner stops at the first failing step and
says which one failed and why.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from steps import Context, StepFailed, heading  # noqa: E402

#: (step name, module), in the order they run.
STEPS: list[tuple[str, str]] = [
    ("data", "steps.data"),
    ("train", "steps.train"),
    ("pipelines", "steps.pipelines"),
    ("registry", "steps.registry"),
    ("serving", "steps.serving"),
    ("monitoring", "steps.monitoring"),
    ("alerts", "steps.alerts"),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", type=Path, default=Path("build/demo"))
    parser.add_argument("--only", action="append", help="run only these steps (repeatable)")
    args = parser.parse_args(argv)

    workspace = args.workspace.resolve()
    if workspace.exists():
        shutil.rmtree(workspace)
    ctx = Context(workspace=workspace)
    started = time.perf_counter()
    try:
        heading(f"workspace {workspace}")
        workspace.mkdir(parents=True)
        ctx.cairn("init")
    except (StepFailed, OSError) as exc:
        print(f"\ndemo stopped: could not create the workspace: {exc}", file=sys.stderr)
        return 1
    os.chdir(workspace)  # the Python API and the CLI find the workspace from here

    ran = []
    for name, module_name in STEPS:
        if args.only and name not in args.only:
            continue
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue  # a step not written yet
            print(f"\ndemo stopped: step {name!r} cannot be imported: {exc}", file=sys.stderr)
            return 1
        heading(f"step: {name}")
        step_start = time.perf_counter()
        try:
            module.run(ctx)
        except StepFailed as exc:
            print(f"\ndemo stopped: step {name!r} failed: {exc}", file=sys.stderr)
            return 1
        except Exception as exc:
            traceback.print_exc()
            print(
                f"\ndemo stopped: step {name!r} failed: {type(exc).__name__}: {exc}",
                file=sys.stderr,
            )
            return 1
        ran.append(f"{name} ({time.perf_counter() - step_start:.1f}s)")

    heading("done")
    print(f"steps: {', '.join(ran) or 'none'}")
    print(f"total: {time.perf_counter() - started:.1f}s; workspace left in {workspace}")
    print(f"explore it: cd {workspace} && cairn runs ls")
    return 0


if __name__ == "__main__":
    sys.exit(main())

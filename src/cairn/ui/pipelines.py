"""The data behind the pipeline pages: pipeline runs, and one run's DAG with each step's
state, duration, attempts and cache key, laid out for an SVG drawing.

The run page polls its DAG fragment (htmx) while the run is ``running``; the fragment
stops polling once the run has ended, so a finished run's page costs nothing after load.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cairn.errors import InvalidInput

if TYPE_CHECKING:
    from cairn.workspace import Workspace

MAX_LIST = 500
NODE_W, NODE_H, GAP_X, GAP_Y = 190, 58, 60, 18


def pipelines_list(ws: Workspace, pipeline: str, limit_text: str) -> dict[str, Any]:
    from cairn.pipelines.history import list_runs

    limit_text = limit_text or "50"
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_LIST:
        raise InvalidInput(f"limit {limit_text[:20]!r} is out of range; use 1 to {MAX_LIST}")
    runs = list_runs(pipeline or None, int(limit_text), workspace=ws)
    return {
        "pipeline": pipeline,
        "runs": [
            {
                "run_id": r.run_id,
                "pipeline": r.pipeline,
                "target": r.target,
                "executor": r.executor,
                "state": r.state,
                "created_at": r.created_at,
                "updated_at": r.updated_at,
                "resumed_from": r.resumed_from,
            }
            for r in runs
        ],
    }


def pipeline_run(ws: Workspace, run_id: str) -> dict[str, Any]:
    """:func:`cairn.pipelines.history.show_run` plus the DAG's layout and a summary."""
    from cairn.pipelines.history import show_run

    data = show_run(run_id, workspace=ws)
    steps = data["steps"]
    data["layout"] = layout(steps)
    counts: dict[str, int] = {}
    for s in steps:
        counts[s["state"]] = counts.get(s["state"], 0) + 1
    data["counts"] = counts
    data["live"] = data["state"] == "running"
    return data


def layout(steps: list[dict[str, Any]]) -> dict[str, Any]:
    """Columns by depth (a step sits right of every step feeding it), rows in DAG order;
    edges from each upstream step's right side to the step's left side."""
    depth: dict[str, int] = {}
    for s in steps:  # DAG order: upstream steps come first
        ups = [depth[u] for u in s["upstream"] if u in depth]
        depth[s["step"]] = 1 + max(ups) if ups else 0
    rows: dict[int, int] = {}
    nodes = {}
    for s in steps:
        col = depth[s["step"]]
        row = rows.get(col, 0)
        rows[col] = row + 1
        nodes[s["step"]] = {
            "x": 10 + col * (NODE_W + GAP_X),
            "y": 10 + row * (NODE_H + GAP_Y),
        }
    edges = []
    for s in steps:
        to = nodes[s["step"]]
        for u in s["upstream"]:
            if u in nodes:
                frm = nodes[u]
                x1, y1 = frm["x"] + NODE_W, frm["y"] + NODE_H / 2
                x2, y2 = to["x"], to["y"] + NODE_H / 2
                mid = (x1 + x2) / 2
                edges.append(f"M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}")
    width = 20 + (max(depth.values(), default=0) + 1) * (NODE_W + GAP_X) - GAP_X
    height = 20 + max(rows.values(), default=1) * (NODE_H + GAP_Y) - GAP_Y
    return {
        "nodes": nodes,
        "edges": edges,
        "width": width,
        "height": height,
        "w": NODE_W,
        "h": NODE_H,
    }

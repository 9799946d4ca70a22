"""A second process that stores and records objects while a test runs ``gc``.

Run as ``python gc_writer.py`` in a workspace's folder. Each line on stdin is a request,
answered by one line on stdout once it is committed:

- ``put NAME TEXT``: store the bytes ``TEXT`` as the artifact ``NAME`` of this
  process's run (a re-put when that content is stored already), and record it;
- ``ref NAME DIGEST``: record the stored object ``DIGEST`` as the artifact ``NAME``
  without storing anything (what registering an existing artifact does).

The answer is ``done DIGEST``; the process prints ``ready`` once its run exists.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import cairn.workspace
from cairn.tracking.client import TrackingClient
from cairn.types import RunIO


def main() -> None:
    ws = cairn.workspace.current()
    client = TrackingClient(ws)
    run = client.create_run("writer", name="re-stores")
    print("ready", flush=True)
    scratch = Path(tempfile.mkdtemp(prefix="gc-writer-"))
    for line in sys.stdin:
        verb, name, value = line.split()
        if verb == "put":
            path = scratch / name
            path.write_bytes(value.encode())
            digest = client.log_artifact(run.id, path, name).digest
        else:
            size = ws.artifacts.info(value).size
            ws.tracking.log_io(run.id, [RunIO("output", "artifact", name, value, "file", size)])
            digest = value
        print(f"done {digest}", flush=True)
    client.close()


if __name__ == "__main__":
    main()

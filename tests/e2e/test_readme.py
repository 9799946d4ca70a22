"""The README tour runs as written: its shell and Python blocks, in order, in an empty folder.

Blocks run with the ``cairn`` command of this interpreter's environment on the PATH:
shell blocks with ``bash -euo pipefail``, Python blocks with this interpreter. A block
preceded by ``<!-- skip-test: REASON -->`` is not run (installs, ``make demo``).
``PORT`` is set to a free port so the serving block does not collide with anything.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
_FENCE = re.compile(
    r"(?P<marker><!--\s*skip-test(?P<reason>[^>]*)-->\s*\n)?```(?P<lang>\w*)\n(?P<body>.*?)^```",
    re.DOTALL | re.MULTILINE,
)
RUNNABLE = ("sh", "bash", "python")
BLOCK_TIMEOUT = 300  # seconds for one block; training and serving take far less
MAX_SKIPPED = 3  # install commands and `make` targets only; the tour itself always runs


@dataclass(frozen=True)
class Block:
    lang: str
    body: str
    line: int
    skip: str | None


def blocks(text: str) -> list[Block]:
    """The runnable fenced blocks of ``text``, in order, with their skip reasons."""
    found = []
    for match in _FENCE.finditer(text):
        if match["lang"] not in RUNNABLE:
            continue
        line = text.count("\n", 0, match.start("body"))
        skip = match["reason"].strip(" :") or "skipped" if match["marker"] else None
        found.append(Block(match["lang"], match["body"], line, skip))
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run_block(
    command: list[str], cwd: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """Run one block in its own process group, so a timeout also ends what it started
    in the background (``cairn serve ... &``)."""
    proc = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True,
    )  # fmt: skip
    try:
        out, err = proc.communicate(timeout=BLOCK_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        err += f"\n(killed after {BLOCK_TIMEOUT} s)"
    return subprocess.CompletedProcess(command, proc.returncode, out, err)


def test_readme_marks_only_a_few_blocks_skipped_and_each_says_why() -> None:
    found = blocks(README.read_text(encoding="utf-8"))
    skipped = [b for b in found if b.skip]
    assert len(skipped) <= MAX_SKIPPED, [b.line for b in skipped]
    assert all(b.skip != "skipped" for b in skipped), "give a reason after skip-test:"
    assert len([b for b in found if not b.skip]) >= 8


def test_readme_tour_runs_as_written_in_an_empty_folder(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    pytest.importorskip("skops")
    missing = [tool for tool in ("curl", "jq") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"the README tour uses {' and '.join(missing)}: apt-get install curl jq")
    venv_bin = Path(sys.executable).parent
    assert (venv_bin / "cairn").exists(), "the cairn command is not installed in this venv"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")},
        "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
        "PORT": str(_free_port()),
        "COLUMNS": "160",
        "HOME": str(tmp_path / "home"),  # no user config or caches leak in
    }
    folder = tmp_path / "tour"
    folder.mkdir()
    for block in blocks(README.read_text(encoding="utf-8")):
        if block.skip:
            continue
        if block.lang == "python":
            command = [sys.executable, "-c", block.body]
        else:
            command = ["bash", "-euo", "pipefail", "-c", block.body]
        done = _run_block(command, folder, env)
        assert done.returncode == 0, (
            f"README.md line {block.line} ({block.lang}) exited {done.returncode}:\n"
            f"{block.body}\n--- stdout ---\n{done.stdout[-3000:]}\n--- stderr ---\n"
            f"{done.stderr[-3000:]}"
        )
    # What the tour promises, checked on what it left behind.
    assert (folder / "schema.json").read_text().lstrip().startswith("{")
    assert (folder / "fetched").is_dir()

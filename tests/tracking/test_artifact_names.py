"""Artifact names with control characters are refused before anything is stored.

A NUL truncates a name in C libraries and on file systems; a newline or an escape
sequence forges lines and colours wherever the name is printed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cairn.errors import InvalidInput
from cairn.store import open_metadata
from cairn.tracking.client import TrackingClient
from cairn.types import RunIO
from cairn.workspace import Workspace

CONTROL = [("\x00", 5), ("\n", 5), ("\x1b", 5), ("\x7f", 5), ("\t", 5)]


def _objects(ws: Workspace) -> list[str]:
    return sorted(ws.artifacts.iter_objects())


@pytest.mark.parametrize(("char", "position"), CONTROL, ids=["nul", "newline", "esc", "del", "tab"])
def test_log_artifact_refuses_a_control_character_and_stores_nothing(
    workspace: Workspace, tmp_path: Path, char: str, position: int
) -> None:
    source = tmp_path / "model.pkl"
    source.write_bytes(b"weights")
    client = TrackingClient(workspace)
    try:
        run = client.create_run("names")
        with pytest.raises(InvalidInput) as caught:
            client.log_artifact(run.id, source, name=f"model{char}.pkl")
        assert str(caught.value) == (
            f"artifact name {f'model{char}.pkl'!r} has the control character {char!r} at "
            f"position {position}; use printable characters only"
        )
        assert client.get_run(run.id).outputs == ()
    finally:
        client.close()
    assert _objects(workspace) == []


def test_log_artifacts_refuses_a_directory_entry_named_with_a_newline(
    workspace: Workspace, tmp_path: Path
) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "ok.txt").write_text("fine")
    (folder / "forged\nline.txt").write_text("bad")
    client = TrackingClient(workspace)
    try:
        run = client.create_run("names")
        with pytest.raises(InvalidInput, match=r"control character '\\n' at position 6"):
            client.log_artifacts(run.id, folder)
        assert client.get_run(run.id).outputs == ()  # all or nothing: ok.txt is not logged
    finally:
        client.close()
    assert _objects(workspace) == []


def test_the_store_refuses_a_control_character_from_any_caller(workspace: Workspace) -> None:
    store = open_metadata(workspace.settings.tracking_uri)
    try:
        run = store.tracking.create_run(store.tracking.create_experiment("names").id)
        edge = RunIO("output", "artifact", "a\x00b", "0" * 64, "file", 1)
        with pytest.raises(InvalidInput, match=r"RunIO name 'a\\x00b' has the control character"):
            store.tracking.log_io(run.id, [edge])
        assert store.tracking.get_run(run.id).outputs == ()
    finally:
        store.close()


def test_printable_unicode_names_are_still_accepted(workspace: Workspace, tmp_path: Path) -> None:
    source = tmp_path / "r.txt"
    source.write_text("x")
    client = TrackingClient(workspace)
    try:
        run = client.create_run("names")
        item = client.log_artifact(run.id, source, name="plots/ROC curve été ✓.png")
        assert item.name == "plots/ROC curve été ✓.png"
    finally:
        client.close()

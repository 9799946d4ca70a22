"""The artifact fsync setting: off by default, on from cairn.toml or the environment.

One rule reads it from both places: the same spellings are accepted and the same error
names a bad value, whichever place it came from.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cairn.config import load_settings
from cairn.errors import ConfigError
from cairn.workspace import Workspace


def _with_fsync(root: Path, line: str) -> None:
    toml = root / "cairn.toml"
    toml.write_text(toml.read_text() + line + "\n")


def test_fsync_is_off_by_default_and_read_from_toml_and_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = Workspace.init(tmp_path / "ws")
    assert ws.settings.artifact_fsync is False
    assert ws.artifacts.blobs.fsync is False  # type: ignore[attr-defined]
    _with_fsync(tmp_path / "ws", "fsync = true")
    assert load_settings(tmp_path / "ws").artifact_fsync is True
    monkeypatch.setenv("CAIRN_ARTIFACT_FSYNC", "0")
    assert load_settings(tmp_path / "ws").artifact_fsync is False


@pytest.mark.parametrize(
    ("spelling", "expected"),
    [("1", True), ("TRUE", True), (" yes ", True), ("on", True), ("0", False), ("Off", False)],
)
def test_fsync_spellings_mean_the_same_in_env_and_toml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spelling: str, expected: bool
) -> None:
    Workspace.init(tmp_path / "ws")
    _with_fsync(tmp_path / "ws", f'fsync = "{spelling}"')
    assert load_settings(tmp_path / "ws").artifact_fsync is expected
    monkeypatch.setenv("CAIRN_ARTIFACT_FSYNC", spelling)
    Workspace.init(tmp_path / "plain")
    assert load_settings(tmp_path / "plain").artifact_fsync is expected


@pytest.mark.parametrize("bad", ["maybe", "", "2", "enabled"])
def test_fsync_that_is_not_a_boolean_is_refused_from_env_as_from_toml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bad: str
) -> None:
    Workspace.init(tmp_path / "ws")
    toml = tmp_path / "ws" / "cairn.toml"
    original = toml.read_text()
    _with_fsync(tmp_path / "ws", f'fsync = "{bad}"')
    with pytest.raises(ConfigError) as from_toml:
        load_settings(tmp_path / "ws")
    assert f"[artifacts] fsync in cairn.toml = {bad!r} is not a boolean" in str(from_toml.value)

    toml.write_text(original)
    monkeypatch.setenv("CAIRN_ARTIFACT_FSYNC", bad)  # was accepted (as false) before
    with pytest.raises(ConfigError) as from_env:
        load_settings(tmp_path / "ws")
    assert f"CAIRN_ARTIFACT_FSYNC = {bad!r} is not a boolean" in str(from_env.value)
    # Same rule, same advice.
    assert (
        str(from_toml.value).split("is not a boolean")[1]
        == str(from_env.value).split("is not a boolean")[1]
    )


def test_fsync_of_another_toml_type_is_refused(tmp_path: Path) -> None:
    Workspace.init(tmp_path / "ws")
    _with_fsync(tmp_path / "ws", "fsync = 1")
    with pytest.raises(ConfigError, match=r"fsync in cairn.toml = 1 is not a boolean"):
        load_settings(tmp_path / "ws")


def test_a_bad_fsync_variable_fails_the_cli_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Workspace.init(tmp_path / "ws")
    monkeypatch.setenv("CAIRN_ARTIFACT_FSYNC", "maybe")
    proc = subprocess.run(
        [sys.executable, "-m", "cairn", "verify"],
        cwd=tmp_path / "ws",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    assert proc.stderr == (
        "error: CAIRN_ARTIFACT_FSYNC = 'maybe' is not a boolean; use true or false "
        "(or 1/0, yes/no, on/off)\n"
    )

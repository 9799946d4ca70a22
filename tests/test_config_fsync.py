"""The artifact fsync setting: off by default, on from cairn.toml or the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from cairn.config import load_settings
from cairn.errors import ConfigError
from cairn.workspace import Workspace


def test_fsync_is_off_by_default_and_read_from_toml_and_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = Workspace.init(tmp_path / "ws")
    assert ws.settings.artifact_fsync is False
    assert ws.artifacts.blobs.fsync is False  # type: ignore[attr-defined]
    toml = tmp_path / "ws" / "cairn.toml"
    toml.write_text(toml.read_text() + "fsync = true\n")
    assert load_settings(tmp_path / "ws").artifact_fsync is True
    monkeypatch.setenv("CAIRN_ARTIFACT_FSYNC", "0")
    assert load_settings(tmp_path / "ws").artifact_fsync is False


def test_fsync_that_is_not_a_boolean_is_a_config_error(tmp_path: Path) -> None:
    Workspace.init(tmp_path / "ws")
    toml = tmp_path / "ws" / "cairn.toml"
    toml.write_text(toml.read_text() + 'fsync = "yes"\n')
    with pytest.raises(ConfigError, match="fsync"):
        load_settings(tmp_path / "ws")

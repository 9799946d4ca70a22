"""Package versions read from the dist-info folder names agree with importlib.metadata,
including a legacy egg-info and a folder that shadows a later one on sys.path."""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

import pytest

from cairn.tracking import environment


def test_versions_match_importlib_metadata_for_what_is_installed() -> None:
    environment.package_versions.cache_clear()
    expected = []
    for name in environment.KEY_PACKAGES:
        try:
            expected.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            continue
    assert environment.package_versions() == tuple(expected)


def test_the_first_folder_on_the_path_wins_and_egg_info_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    (first / "xgboost-9.9.9.dist-info").mkdir(parents=True)
    (second / "xgboost-1.0.0.dist-info").mkdir(parents=True)
    (second / "Torch-2.0.1-py3.11.egg-info").mkdir()
    monkeypatch.setattr(sys, "path", [str(first), str(second), str(tmp_path / "missing")])
    environment.package_versions.cache_clear()
    try:
        found = dict(environment.package_versions())
    finally:
        environment.package_versions.cache_clear()
    assert found == {"xgboost": "9.9.9", "torch": "2.0.1"}

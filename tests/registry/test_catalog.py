"""Registering, promoting, rolling back and archiving through cairn.registry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import cairn
from cairn import registry
from cairn.errors import InvalidInput, NotFound
from cairn.models import save_model

Trained = Any  # the `trained` fixture of conftest.py


def test_register_run_model_creates_next_version_with_lineage(trained: Trained) -> None:
    v = registry.register(f"runs:/{trained.runs[0]}/model", "churn", description="again")
    assert v.version == 3 and v.run_id == trained.runs[0] and v.flavor == "sklearn"
    assert v.digest == registry.get_version("churn", 1).digest  # same content, same digest
    info = registry.describe("churn", 3)
    assert info["run_id"] == trained.runs[0]
    assert info["signature"]["inputs"][0] == {"name": "f0", "dtype": "float64", "shape": None}


def test_register_local_directory_stores_it(trained: Trained, tmp_path: Path) -> None:
    model = cairn.models.load("models:/churn/1")
    save_model(model.raw, tmp_path / "m", input_example=trained.holdout.iloc[:3, :8])
    v = registry.register(str(tmp_path / "m"), "churn-local")
    assert (v.version, v.run_id) == (1, None)
    assert trained.ws.artifacts.exists(v.digest)
    assert v.digest in set(trained.ws.referenced_digests())


def test_register_unknown_run_is_refused_and_registers_nothing(trained: Trained) -> None:
    with pytest.raises(NotFound):
        registry.register("runs:/0123456789abcdef0123456789abcdef/model", "churn")
    assert registry.get_model("churn").latest_version == 2


def test_registering_from_a_deleted_run_is_refused_until_it_is_restored(
    trained: Trained,
) -> None:
    from cairn.tracking import lifecycle

    source = trained.runs[0]
    lifecycle.delete_run(source, force=True)  # churn/1 depends on it, hence force
    with pytest.raises(InvalidInput, match=rf"run {source[:12]} was deleted by tester.*restore"):
        registry.register(f"runs:/{source}/model", "churn")
    assert registry.get_model("churn").latest_version == 2  # nothing registered
    lifecycle.restore_run(source)
    assert registry.register(f"runs:/{source}/model", "churn").version == 3


def test_rollback_moves_alias_to_the_previous_holder(trained: Trained) -> None:
    registry.register(f"runs:/{trained.runs[0]}/model", "churn")  # version 3
    for version in (1, 2, 3):
        registry.promote("churn", version, "production", reason=f"ship {version}")
    event = registry.rollback("churn", "production", reason="regression")
    assert (event.from_version, event.to_version, event.action) == (3, 2, "rollback")
    assert registry.rollback("churn", "production").to_version == 1
    with pytest.raises(InvalidInput, match="nothing to roll back to"):
        registry.rollback("churn", "production")
    assert registry.resolve_alias("churn", "production") == 1
    moves = [(e.from_version, e.to_version, e.reason) for e in registry.history("churn")]
    assert moves == [
        (None, 1, "ship 1"),
        (1, 2, "ship 2"),
        (2, 3, "ship 3"),
        (3, 2, "regression"),
        (2, 1, ""),
    ]
    assert {e.actor for e in registry.history("churn")} == {"tester"}


def test_archive_refused_while_alias_holds_version(trained: Trained) -> None:
    registry.promote("churn", 1, "production")
    with pytest.raises(InvalidInput, match="cannot archive churn/1: alias production"):
        registry.archive("churn", 1)
    assert registry.archive("churn", 2).status == "ARCHIVED"
    with pytest.raises(InvalidInput, match="churn/2 is archived"):
        registry.promote("churn", 2, "production")
    assert registry.resolve_alias("churn", "production") == 1
    assert registry.archive("churn", 2, restore=True).status == "READY"


def test_resolve_alias_and_polling_lookup(trained: Trained) -> None:
    assert registry.alias_version("churn", "production") is None
    with pytest.raises(NotFound, match="no alias 'production'"):
        registry.resolve_alias("churn", "production")
    registry.promote("churn", "latest", "production")
    assert registry.resolve_alias("churn", "production") == 2
    assert registry.get_version("churn", "production").version == 2


def test_describe_reports_metrics_params_and_git_commit(trained: Trained) -> None:
    info = registry.describe("churn", 1)
    assert info["run_name"] == "logreg"
    assert "git_commit" in info and info["status"] == "READY"
    with pytest.raises(NotFound, match="no version 9"):
        registry.describe("churn", 9)

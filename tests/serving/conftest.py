"""Fixtures of the serving tests: registered, promoted real models and app factories."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from serving_helpers import (
    AsgiClient,
    Models,
    ThreadedServer,
    cancer_arrays,
    iris_estimator,
    iris_frame,
)

import cairn.workspace


@pytest.fixture
def models(workspace: cairn.workspace.Workspace) -> Models:
    return Models(workspace)


@pytest.fixture
def iris(models: Models) -> Models:
    """``iris`` v1 (logistic regression) promoted to production."""
    X, _ = iris_frame()
    models.register("iris", iris_estimator(), X.iloc[:5])
    return models


@pytest.fixture
def cancer(models: Models) -> Models:
    """``cancer``: a tensor model (one float64 array of 30 features) in production."""
    from sklearn.tree import DecisionTreeClassifier

    X, y = cancer_arrays()
    models.register("cancer", DecisionTreeClassifier(max_depth=3).fit(X, y), X[:5])
    return models


@pytest.fixture
def threaded_server() -> type[ThreadedServer]:
    return ThreadedServer


@pytest.fixture
def serve_app(workspace: cairn.workspace.Workspace) -> Iterator[Any]:
    """Factory: ``serve_app("iris@production", **options)`` -> (app, client); closed after."""
    from cairn.serving.server import ServeConfig, build_app

    apps: list[Any] = []

    def make(config: ServeConfig | str, **kwargs: Any) -> tuple[Any, AsgiClient]:
        if isinstance(config, str):
            config = ServeConfig(config, **kwargs)
        app = build_app(config)
        app.start()
        apps.append(app)
        return app, AsgiClient(app)

    yield make
    for app in apps:
        app.close()

"""Helpers shared by the serving tests: real scikit-learn models on datasets that ship
with scikit-learn, a registry helper, an in-process ASGI client and a threaded uvicorn."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import cairn.workspace
from ports import free_port  # noqa: F401  (the serving tests import it from here)

IRIS_COLUMNS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def metric_series(text: str) -> dict[str, float]:
    """Prometheus text exposition as ``{'name{labels}': value}``."""
    found = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            found[name] = float(value)
    return found


def iris_frame() -> tuple[Any, Any]:
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True, as_frame=True)
    X.columns = IRIS_COLUMNS
    return X, y


def iris_estimator(kind: str = "logreg") -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier

    X, y = iris_frame()
    est = (
        LogisticRegression(max_iter=1000)
        if kind == "logreg"
        else DecisionTreeClassifier(max_depth=2)
    )
    return est.fit(X, y)


def cancer_arrays() -> tuple[Any, Any]:
    from sklearn.datasets import load_breast_cancer

    return load_breast_cancer(return_X_y=True)


@dataclass
class Models:
    """Register and promote real models in the test workspace."""

    ws: cairn.workspace.Workspace
    registered: dict[str, list[int]] = field(default_factory=dict)

    def register(
        self, name: str, estimator: Any, example: Any, alias: str | None = "production"
    ) -> int:
        import cairn.models
        from cairn.store.registry import NewModelVersion
        from cairn.tracking.fluent import start_run

        with start_run(experiment="serving-tests"):
            info = cairn.models.log_model(estimator, input_example=example)
        version = self.ws.registry.create_version(
            NewModelVersion(
                name=name,
                digest=info.digest,
                flavor=info.manifest.flavor,
                source=info.uri,
                run_id=info.run_id,
                size=info.size,
            )
        ).version
        self.registered.setdefault(name, []).append(version)
        if alias is not None:
            self.promote(name, version, alias)
        return version

    def promote(self, name: str, version: int, alias: str = "production") -> None:
        self.ws.registry.set_alias(name, alias, version, actor="tester", reason="test")


class ThreadedServer:
    """A real uvicorn server on 127.0.0.1 in a background thread."""

    def __init__(self, app: Any, port: int) -> None:
        import uvicorn

        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.url = f"http://127.0.0.1:{port}"
        self.port = port
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ThreadedServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)


class AsgiClient:
    """Synchronous calls into an ASGI app in-process, through httpx's ASGI transport."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        import asyncio

        import httpx

        async def call() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://serving.test") as c:
                return await c.request(method, path, **kwargs)

        return asyncio.run(call())

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs)


def v2_table_body(frame: Any) -> dict[str, Any]:
    """A v2 infer request with one FP64 tensor per column."""
    return {
        "inputs": [
            {"name": str(c), "shape": [len(frame)], "datatype": "FP64", "data": frame[c].tolist()}
            for c in frame.columns
        ]
    }


class CrashOnLoad:
    """A model that predicts zeros, but whose loading kills the process with SIGSEGV, as
    a crafted native model does. Saved with the ``function`` flavor (pickle)."""

    def __getstate__(self) -> dict[str, bool]:
        return {"armed": True}

    def __setstate__(self, state: dict[str, bool]) -> None:
        import os
        import signal

        os.kill(os.getpid(), signal.SIGSEGV)

    def predict(self, X: Any) -> Any:
        import numpy as np

        return np.zeros(len(X))


def trusted_loader(uri: str) -> Any:
    """Load with ``trust=True``: a server that serves function-flavor models."""
    import cairn.models

    return cairn.models.load(uri, trust=True)


class HangOnLoad(CrashOnLoad):
    """A model whose loading never returns (a tree whose child points at its parent
    loops forever in compiled code; here, a wait on nothing)."""

    def __setstate__(self, state: dict[str, bool]) -> None:
        import threading

        threading.Event().wait()

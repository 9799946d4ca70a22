"""Serving: the model server, alias following, prediction log, batch scoring, deployment.

Modules, one concept each:

    spec         what the server knows about a model (ModelSpec, the Servable protocol)
    codec        decoded request values -> validated model input; predictions -> JSON
    predictor    a loaded model version ready for the request path
    v2           Open Inference Protocol v2 (KServe) REST codec
    invocations  MLflow-compatible /invocations codec
    app          the ASGI application
    server       build the app from model references; run it under uvicorn
    reload       follow an alias: background load, atomic swap
    routing      canary by request-id hash, shadow scoring
    metrics      Prometheus metrics in a per-app registry
    predlog      hourly-partitioned Parquet prediction log and ``read_log``
    batch        ``cairn predict``: streaming batch scoring
    deploy       ``cairn build`` (Docker context) and ``cairn deploy k8s`` (writing)
    k8s          Kubernetes manifests within the restricted Pod Security profile

Names below are imported lazily, so ``import cairn.serving`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "read_log": "cairn.serving.predlog",
    "PredictionLog": "cairn.serving.predlog",
    "ServeConfig": "cairn.serving.server",
    "build_app": "cairn.serving.server",
    "serve": "cairn.serving.server",
    "ServingApp": "cairn.serving.app",
    "ModelRef": "cairn.serving.reload",
    "ModelSlot": "cairn.serving.reload",
    "predict_file": "cairn.serving.batch",
    "write_build_context": "cairn.serving.deploy",
    "write_k8s_manifests": "cairn.serving.deploy",
    "K8sOptions": "cairn.serving.k8s",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'cairn.serving' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)

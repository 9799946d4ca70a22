"""Model packaging and loading: flavors, signatures, manifests, cards and export.

    import cairn

    with cairn.start_run(experiment="churn"):
        cairn.log_model(pipeline, input_example=X_train[:5])       # runs:/<id>/model

    model = cairn.models.load("models:/churn@production")
    model.predict(frame)          # validated against model.signature first

Importing this package loads neither pandas nor any ML library; flavors import their
library when a model of theirs is saved or loaded.
"""

from __future__ import annotations

from cairn.models.flavors import FLAVORS
from cairn.models.loading import LoadedModel, load, parse_uri
from cairn.models.manifest import Manifest, read_manifest
from cairn.models.packaging import ModelInfo, log_model, save_model
from cairn.models.signature import InputSchemaError, Signature, TensorSpec, infer_signature
from cairn.refs import ModelRef, resolve

__all__ = [
    "FLAVORS",
    "InputSchemaError",
    "LoadedModel",
    "Manifest",
    "ModelInfo",
    "ModelRef",
    "Signature",
    "TensorSpec",
    "infer_signature",
    "load",
    "log_model",
    "parse_uri",
    "read_manifest",
    "resolve",
    "save_model",
]

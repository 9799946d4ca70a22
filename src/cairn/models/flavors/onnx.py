"""ONNX models, run with onnxruntime on the CPU.

A table signature feeds one ``(n, 1)`` input per column, named after the column (the
layout ``skl2onnx`` produces for DataFrame models); a tensor signature feeds its one
input. ``predict`` returns the first output; ``predict_proba`` the second when the graph
has one (a classifier converted with ``zipmap`` disabled).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cairn.errors import InvalidInput
from cairn.models.flavors import type_module
from cairn.models.manifest import model_file

NAME = "onnx"
PACKAGES = ("onnx", "onnxruntime", "numpy")
FILE = "model.onnx"

_ORT_TYPES = {
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(bool)": "bool",
    "tensor(string)": "object",
}


def matches(model: Any) -> bool:
    return type_module(model) == "onnx" and type(model).__name__ == "ModelProto"


def save(model: Any, directory: Path) -> dict[str, Any]:
    (directory / FILE).write_bytes(model.SerializeToString())
    return {"file": FILE}


class OnnxPredictor:
    def __init__(self, path: Path) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        self.session = onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )
        self.inputs = [
            (i.name, _ORT_TYPES.get(i.type, "float32")) for i in self.session.get_inputs()
        ]
        self.outputs = [o.name for o in self.session.get_outputs()]

    def _feeds(self, data: Any) -> dict[str, Any]:
        import numpy as np

        if hasattr(data, "columns"):
            if len(self.inputs) == 1 and self.inputs[0][0] not in data.columns:
                name, dtype = self.inputs[0]
                return {name: data.to_numpy().astype(dtype)}
            feeds = {}
            for name, dtype in self.inputs:
                if name not in data.columns:
                    raise InvalidInput(f"the ONNX graph needs input column {name!r}")
                feeds[name] = data[[name]].to_numpy().astype(dtype)
            return feeds
        name, dtype = self.inputs[0]
        return {name: np.asarray(data).astype(dtype, copy=False)}

    def run(self, data: Any) -> list[Any]:
        return list(self.session.run(None, self._feeds(data)))

    def predict(self, data: Any) -> Any:
        out = self.session.run(self.outputs[:1], self._feeds(data))[0]
        return out.ravel() if out.ndim == 2 and out.shape[1] == 1 else out

    def predict_proba(self, data: Any) -> Any:
        if len(self.outputs) < 2:
            raise InvalidInput("this ONNX graph has one output; it gives no probabilities")
        return self.session.run(self.outputs[1:2], self._feeds(data))[0]


def load(directory: Path, options: Mapping[str, Any], trust: bool) -> Any:
    return OnnxPredictor(model_file(directory, options.get("file", FILE)))

"""Plain Python callables (or objects with ``predict``), stored with cloudpickle.

Unpickling runs code from the file, so loading requires ``trust=True``: the refusal
names the model and the flag. cloudpickle (when installed) stores functions defined in
``__main__`` or notebooks by value; plain pickle stores importable functions by name.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cairn.errors import InvalidInput
from cairn.models.manifest import model_file

NAME = "function"
PACKAGES = ("cloudpickle", "numpy", "pandas")
FILE = "model.pkl"


def matches(model: Any) -> bool:
    return callable(model) or callable(getattr(model, "predict", None))


def save(model: Any, directory: Path) -> dict[str, Any]:
    try:
        import cloudpickle as pickler
    except ModuleNotFoundError:  # pragma: no cover - cloudpickle ships with the models extra
        import pickle as pickler
    method = "predict" if callable(getattr(model, "predict", None)) else "__call__"
    (directory / FILE).write_bytes(pickler.dumps(model))
    return {"file": FILE, "method": method, "pickler": pickler.__name__}


class FunctionPredictor:
    def __init__(self, target: Any, method: str) -> None:
        self.target = target
        self._call = target if method == "__call__" else getattr(target, method)

    def predict(self, data: Any) -> Any:
        return self._call(data)

    def predict_proba(self, data: Any) -> Any:
        proba = getattr(self.target, "predict_proba", None)
        if proba is None:
            raise InvalidInput("this function model has no predict_proba")
        return proba(data)


def load(directory: Path, options: Mapping[str, Any], trust: bool) -> Any:
    if not trust:
        raise InvalidInput(
            "it uses the function flavor, stored with pickle, and loading it runs code from the "
            "file; pass trust=True (--trust) only if you trust its source"
        )
    import pickle  # cloudpickle output is read by the standard unpickler

    target = pickle.loads(model_file(directory, options.get("file", FILE)).read_bytes())
    return FunctionPredictor(target, str(options.get("method", "__call__")))

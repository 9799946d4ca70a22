"""How step outputs are stored: a registry of serializers chosen by the value's type.

The registry is data, ``(type name, "module:Serializer")``, searched in order; a type is
named by its import path (``pandas.DataFrame``) and only compared against when its module
is imported already, so matching a dict never imports pandas::

    SERIALIZERS = [("pandas.DataFrame", "cairn.pipelines.serializers:ParquetSerializer"), ...]

A serializer has a ``name`` and two methods: ``dump(value, path)`` writes a file or a
directory at ``path`` (which does not exist yet) and ``load(path)`` reads it back. Add
one for your own type with :func:`register_serializer`, at the top of the pipeline file
(so worker processes register it too when they import the file)::

    cairn.pipelines.register_serializer(MyType, MySerializer())
"""

from __future__ import annotations

import importlib
import inspect
import json
import sys
from pathlib import Path
from typing import Any, Protocol

from cairn.errors import InvalidInput


class Serializer(Protocol):
    name: str

    def dump(self, value: Any, path: Path) -> None: ...

    def load(self, path: Path) -> Any: ...


class ParquetSerializer:
    name = "parquet"

    def dump(self, value: Any, path: Path) -> None:
        value.to_parquet(path)

    def load(self, path: Path) -> Any:
        import pandas as pd

        return pd.read_parquet(path)


class NpySerializer:
    name = "npy"

    def dump(self, value: Any, path: Path) -> None:
        import numpy as np

        with open(path, "wb") as f:
            np.save(f, value, allow_pickle=False)

    def load(self, path: Path) -> Any:
        import numpy as np

        return np.load(path, allow_pickle=False)


class ModelSerializer:
    """A model saved with its flavor (skops, native booster formats); a directory."""

    name = "model"

    def dump(self, value: Any, path: Path) -> None:
        from cairn.models import save_model

        save_model(value, path)

    def load(self, path: Path) -> Any:
        from cairn.models import flavors
        from cairn.models.manifest import read_manifest

        manifest = read_manifest(path)
        return flavors.get(manifest.flavor).load(path, manifest.options, False)


class JsonSerializer:
    name = "json"

    def dump(self, value: Any, path: Path) -> None:
        try:
            text = json.dumps(value, sort_keys=True, allow_nan=True)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(
                f"cannot store this {type(value).__name__} as JSON ({exc}); return only "
                "JSON values inside it, or register a serializer for its type"
            ) from None
        path.write_text(text, encoding="utf-8")

    def load(self, path: Path) -> Any:
        return json.loads(path.read_text(encoding="utf-8"))


#: (type name, "module:Serializer"): first match wins; subclasses match too.
SERIALIZERS: list[tuple[str, str]] = [
    ("pandas.DataFrame", "cairn.pipelines.serializers:ParquetSerializer"),
    ("numpy.ndarray", "cairn.pipelines.serializers:NpySerializer"),
    ("sklearn.base.BaseEstimator", "cairn.pipelines.serializers:ModelSerializer"),
    ("xgboost.Booster", "cairn.pipelines.serializers:ModelSerializer"),
    ("lightgbm.Booster", "cairn.pipelines.serializers:ModelSerializer"),
    *(
        (f"builtins.{name}", "cairn.pipelines.serializers:JsonSerializer")
        for name in ("dict", "list", "tuple", "str", "int", "float", "bool", "NoneType")
    ),
]

#: Serializers registered at run time by :func:`register_serializer` (checked first).
_REGISTERED: list[tuple[type, Serializer]] = []
_LOADED: dict[str, Serializer] = {}


def register_serializer(cls: type, serializer: Serializer) -> None:
    """Store outputs of type ``cls`` (and subclasses) with ``serializer``; a later
    registration for the same type replaces the earlier one."""
    if not isinstance(cls, type):
        raise InvalidInput(f"register_serializer needs a class, got {cls!r}")
    for method in ("dump", "load"):
        if not callable(getattr(serializer, method, None)):
            raise InvalidInput(f"serializer {serializer!r} has no {method}(...) method")
    if not isinstance(getattr(serializer, "name", None), str):
        raise InvalidInput(f"serializer {serializer!r} needs a `name` string")
    _REGISTERED[:] = [(c, s) for c, s in _REGISTERED if c is not cls]
    _REGISTERED.insert(0, (cls, serializer))


def _instance(target: str) -> Serializer:
    found = _LOADED.get(target)
    if found is None:
        module_name, _, attr = target.partition(":")
        found = _LOADED[target] = getattr(importlib.import_module(module_name), attr)()
    return found


def _loaded_class(type_name: str, import_modules: bool) -> type | None:
    module_name, _, attr = type_name.rpartition(".")
    module = sys.modules.get(module_name)
    if module is None and import_modules:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            return None
    found = getattr(module, attr, None) if module is not None else None
    return found if isinstance(found, type) else None


def for_type(cls: type) -> Serializer | None:
    """The serializer for values of class ``cls``, or None."""
    for registered, serializer in _REGISTERED:
        if issubclass(cls, registered):
            return serializer
    for type_name, target in SERIALIZERS:
        # The class's own module is loaded (it exists), so a registry type that matters
        # for it is loaded too; anything else cannot be one of its bases.
        known = _loaded_class(type_name, import_modules=False)
        if known is not None and issubclass(cls, known):
            return _instance(target)
    return None


def for_value(value: Any) -> Serializer:
    """The serializer for ``value``; ``InvalidInput`` naming the type and the fix."""
    found = for_type(type(value))
    if found is None:
        raise InvalidInput(missing_message(type(value)))
    return found


def by_name(name: str) -> Serializer:
    """The serializer an output was stored with (its ``name`` in the step record)."""
    for _, serializer in _REGISTERED:
        if serializer.name == name:
            return serializer
    for _, target in SERIALIZERS:
        serializer = _instance(target)
        if serializer.name == name:
            return serializer
    raise InvalidInput(
        f"no serializer named {name!r} is registered in this process: call "
        "cairn.pipelines.register_serializer(...) at the top of the pipeline file"
    )


def check_declared(annotation: Any) -> str | None:
    """Why a declared return type cannot be stored, or None if it can (or is not a
    class: ``Any``, unions and parametrised generics are checked on the value)."""
    if annotation is inspect.Signature.empty or annotation is None or annotation is Any:
        return None
    origin = getattr(annotation, "__origin__", None)
    cls = origin if isinstance(origin, type) else annotation
    if not isinstance(cls, type) or cls is object:
        return None
    if for_type(cls) is None:
        return missing_message(cls)
    return None


def missing_message(cls: type) -> str:
    name = f"{cls.__module__}.{cls.__qualname__}"
    return (
        f"no serializer stores a {name}: register one with "
        f"cairn.pipelines.register_serializer({cls.__qualname__}, serializer) (an object with "
        "name, dump(value, path) and load(path)), or return a DataFrame, ndarray, model or "
        "JSON value"
    )

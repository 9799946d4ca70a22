"""Load ``path/to/file.py:function`` (what ``cairn pipeline run`` is given) and steps in
worker processes.

A pipeline file is loaded under a module name derived from its absolute path, so a
worker process that imports it again (to find a step) gets the same module name and the
same registered serializers. Its folder goes on ``sys.path`` first, as when running the
file as a script, so helper modules beside it import.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import traceback
from pathlib import Path
from typing import Any

from cairn.errors import InvalidInput
from cairn.hashing import hash_bytes


class PipelineLoadError(InvalidInput):
    """The pipeline file does not import, or names no pipeline."""


def module_name_for(path: Path) -> str:
    digest = hash_bytes(str(path).encode("utf-8"))[:12]
    stem = "".join(c if c.isalnum() else "_" for c in path.stem)
    return f"_cairn_pipeline_{stem}_{digest}"


def load_file(path: str | Path, module_name: str | None = None) -> Any:
    """Import the file at ``path`` (once per process) and return its module."""
    file = Path(path).resolve()
    name = module_name or module_name_for(file)
    loaded = sys.modules.get(name)
    if loaded is not None:
        return loaded
    if not file.is_file():
        raise PipelineLoadError(f"pipeline file {path} does not exist")
    folder = str(file.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise PipelineLoadError(f"{path} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:
        del sys.modules[name]
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        raise PipelineLoadError(f"cannot load pipeline file {path}: {_where(exc)}") from None
    return module


def _where(exc: BaseException) -> str:
    """``Type: message (file:line)`` for the innermost frame of the user's code."""
    if isinstance(exc, SyntaxError):
        return f"SyntaxError: {exc.msg} ({exc.filename}:{exc.lineno})"
    frames = traceback.extract_tb(exc.__traceback__)
    inner = next((f for f in reversed(frames) if "importlib" not in f.filename), None)
    location = f" ({inner.filename}:{inner.lineno})" if inner is not None else ""
    return f"{type(exc).__name__}: {exc}{location}"


def load_target(target: str) -> tuple[Any, str]:
    """The pipeline named by ``file.py:function`` (or ``package.module:function``) and the
    target in canonical form (absolute file path)."""
    from cairn.pipelines.graph import Pipeline

    location, sep, attr = target.rpartition(":")
    if not sep or not location or not attr:
        raise PipelineLoadError(
            f"{target!r} names no pipeline: write FILE.py:FUNCTION, e.g. pipelines/churn.py:train"
        )
    if location.endswith(".py") or "/" in location:
        module = load_file(location)
        canonical = f"{Path(location).resolve()}:{attr}"
    else:
        try:
            module = importlib.import_module(location)
        except ImportError as exc:
            raise PipelineLoadError(f"cannot import module {location!r}: {exc}") from None
        except Exception as exc:
            raise PipelineLoadError(f"cannot load module {location}: {_where(exc)}") from None
        canonical = target
    found = getattr(module, attr, None)
    if not isinstance(found, Pipeline):
        names = sorted(n for n, v in vars(module).items() if isinstance(v, Pipeline))
        hint = (
            f"; its pipelines: {', '.join(names)}"
            if names
            else "; decorate it with @cairn.pipeline"
        )
        what = "nothing" if found is None else f"a {type(found).__name__}"
        raise PipelineLoadError(f"{attr!r} in {location} is {what}, not a pipeline{hint}")
    return found, canonical


def resolve_step(module_name: str, file: str, qualname: str) -> Any:
    """The step function ``qualname`` of a module, importing it (by name, or by ``file``
    under the same name) when this process has not yet."""
    module = sys.modules.get(module_name)
    if module is None:
        if module_name.startswith("_cairn_pipeline_"):
            module = load_file(file, module_name)
        else:
            module = importlib.import_module(module_name)
    found: Any = module
    for part in qualname.split("."):
        found = getattr(found, part)
    return found

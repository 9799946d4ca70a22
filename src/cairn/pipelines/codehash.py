"""The code part of a step's cache key: its source plus the source of the project code
it calls.

Starting from the step function, every global name its code (nested functions and
comprehensions included) refers to is looked up in the function's globals. Functions and
classes defined in the project -- any module whose file is outside the interpreter's
installation (standard library, site-packages) and outside Cairn itself -- add their
source and are walked in turn; a project module used as ``helpers.clean(...)`` adds its
whole source. Library code is left out: upgrading pandas does not invalidate the cache
(pin the environment for that), editing a helper in the project does.
"""

from __future__ import annotations

import inspect
import sys
import sysconfig
import types
from functools import cache
from pathlib import Path
from typing import Any

from cairn.hashing import hash_bytes

_CAIRN_DIR = str(Path(__file__).resolve().parents[1])


@cache
def _library_dirs() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    dirs = {paths.get(k, "") for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    dirs |= {sys.prefix, sys.base_prefix, sys.exec_prefix, _CAIRN_DIR}
    dirs |= {p for p in sys.path if "site-packages" in p or "dist-packages" in p}
    return tuple(sorted(str(Path(d).resolve()) for d in dirs if d))


@cache
def _is_project_file(filename: str) -> bool:
    if not filename or filename.startswith("<"):
        return False
    resolved = str(Path(filename).resolve())
    return not any(resolved == d or resolved.startswith(d + "/") for d in _library_dirs())


def _module_file(obj: Any) -> str:
    module = sys.modules.get(getattr(obj, "__module__", "") or "")
    return getattr(module, "__file__", "") or ""


def _source(obj: Any) -> str:
    try:
        return inspect.getsource(obj)
    except (OSError, TypeError):
        # No source (defined in a REPL, or a C type): the compiled code still tells changes.
        code = getattr(obj, "__code__", None)
        return repr(code.co_code) if code is not None else repr(obj)


def _names(code: types.CodeType) -> set[str]:
    found = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            found |= _names(const)
    return found


def code_digest(fn: Any) -> str:
    """Digest of ``fn``'s source and the project code it reaches (memoised per function:
    the source of a loaded module does not change under a running process)."""
    return _code_digest(fn)


@cache
def _code_digest(fn: Any) -> str:
    parts: dict[str, str] = {}
    _walk(fn, parts)
    text = "\0".join(f"{key}\n{parts[key]}" for key in sorted(parts))
    return hash_bytes(text.encode("utf-8"))


def _walk(obj: Any, parts: dict[str, str]) -> None:
    target = inspect.unwrap(obj) if callable(obj) else obj
    if getattr(target, "__cairn_step__", False):  # a Step: walk its function
        target = target.fn
    key = f"{getattr(target, '__module__', '')}.{getattr(target, '__qualname__', repr(target))}"
    if key in parts:
        return
    parts[key] = _source(target)
    functions: list[types.FunctionType] = []
    if isinstance(target, types.FunctionType):
        functions = [target]
    elif isinstance(target, type):
        functions = [v for v in vars(target).values() if isinstance(v, types.FunctionType)]
    for function in functions:
        for name in sorted(_names(function.__code__)):
            value = function.__globals__.get(name)
            if value is None:
                continue
            if isinstance(value, types.ModuleType):
                file = getattr(value, "__file__", "") or ""
                if _is_project_file(file) and f"module:{value.__name__}" not in parts:
                    parts[f"module:{value.__name__}"] = _source(value)
            elif isinstance(value, (types.FunctionType, type)) or getattr(
                value, "__cairn_step__", False
            ):
                inner = value.fn if getattr(value, "__cairn_step__", False) else value
                if _is_project_file(_module_file(inner)):
                    _walk(inner, parts)

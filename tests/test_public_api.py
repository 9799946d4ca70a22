"""The curated public API of ``import cairn``, and what importing it costs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import cairn

EXPECTED = [
    "ActiveRun",
    "CairnError",
    "Experiment",
    "Metric",
    "Run",
    "RunStatus",
    "Workspace",
    "active_run",
    "autolog",
    "end_run",
    "flush",
    "get_metric_history",
    "get_run",
    "init",
    "log_artifact",
    "log_artifacts",
    "log_input",
    "log_metric",
    "log_metrics",
    "log_model",
    "log_output",
    "log_param",
    "log_params",
    "pipeline",
    "search_runs",
    "select_model",
    "set_tag",
    "set_tags",
    "start_run",
    "step",
    "tune",
    "use",
]


def _in_fresh_interpreter(code: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_all_is_sorted_and_exactly_the_curated_names() -> None:
    assert cairn.__all__ == sorted(cairn.__all__)
    assert cairn.__all__ == EXPECTED


@pytest.mark.parametrize("name", [n for n in EXPECTED if n[0].islower()])
def test_every_public_function_resolves_and_is_documented(name: str) -> None:
    value = getattr(cairn, name)
    assert callable(value)
    assert value.__doc__, f"cairn.{name} has no docstring"


def test_public_types_are_the_core_types() -> None:
    from cairn import errors, types

    assert cairn.CairnError is errors.CairnError
    assert (cairn.Run, cairn.Metric, cairn.RunStatus, cairn.Experiment) == (
        types.Run, types.Metric, types.RunStatus, types.Experiment,
    )  # fmt: skip


def test_import_cairn_loads_no_heavy_library() -> None:
    heavy = ["sqlalchemy", "pandas", "numpy", "sklearn", "pyarrow", "alembic"]
    loaded = _in_fresh_interpreter(
        f"import json, sys, cairn; print(json.dumps([m for m in {heavy!r} if m in sys.modules]))"
    )
    assert loaded == []


def test_subpackages_and_log_model_load_on_first_use() -> None:
    result = _in_fresh_interpreter(
        "import json, sys, cairn\n"
        "before = 'cairn.models' in sys.modules\n"
        "fn = cairn.log_model\n"
        "import cairn.api\n"
        "print(json.dumps({'before': before, 'same': fn is cairn.api.log_model,\n"
        "                  'data': cairn.data.__name__, 'registry': cairn.registry.__name__,\n"
        "                  'serving': cairn.serving.__name__}))"
    )
    assert result == {
        "before": False,
        "same": True,
        "data": "cairn.data",
        "registry": "cairn.registry",
        "serving": "cairn.serving",
    }


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = cairn.nope  # type: ignore[attr-defined]
    assert "models" in dir(cairn)


def test_every_name_dir_lists_imports() -> None:
    """A name in ``dir(cairn)`` (what tab completion offers) must resolve, not raise."""
    result = _in_fresh_interpreter(
        "import json, cairn\n"
        "broken = []\n"
        "for name in dir(cairn):\n"
        "    try:\n"
        "        getattr(cairn, name)\n"
        "    except Exception as exc:\n"
        "        broken.append(f'{name}: {exc}')\n"
        "print(json.dumps({'broken': broken, 'names': dir(cairn)}))"
    )
    assert result["broken"] == []
    names = result["names"]
    assert isinstance(names, list)
    assert {"data", "models", "registry", "serving", *EXPECTED} <= set(names)


def test_version_comes_from_the_installed_distribution() -> None:
    from importlib.metadata import version

    assert cairn.__version__ == version("cairn-mlops")

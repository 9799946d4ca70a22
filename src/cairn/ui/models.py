"""The data behind the model pages, and the promote and rollback forms.

Promote and rollback call :func:`cairn.registry.promote` and
:func:`cairn.registry.rollback`, the same functions as ``cairn models promote`` and
``cairn models rollback``: the gates run and the alias history records who and why the
same way whichever door the change came through.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import yaml

from cairn.errors import InvalidInput
from cairn.store.registry import check_alias

if TYPE_CHECKING:
    from cairn.store.registry import AliasEvent
    from cairn.workspace import Workspace

MAX_REASON = 500
MAX_GATES_TEXT = 20_000


def models_list(ws: Workspace) -> dict[str, Any]:
    return {"models": [m.to_dict() for m in ws.registry.list_models()]}


def model_detail(ws: Workspace, name: str) -> dict[str, Any]:
    """A registered model: its versions (newest first) with their last gate result, and
    every alias move, newest first."""
    store = ws.registry
    model = store.get_model(name)
    versions = []
    for version in sorted(store.list_versions(name), key=lambda v: -v.version):
        data = version.to_dict()
        results = store.gate_results(name, version.version)
        data["gates"] = results[-1].to_dict() if results else None
        versions.append(data)
    history = [e.to_dict() for e in reversed(store.alias_history(name))]
    return {"model": model.to_dict(), "versions": versions, "history": history}


def model_card(ws: Workspace, name: str, version: str) -> dict[str, Any]:
    """The model card of one version (what ``cairn models card`` prints): its Markdown,
    and the same as HTML with any raw HTML in it shown as text."""
    from markdown_it import MarkdownIt

    from cairn.models.card import render_card
    from cairn.registry.catalog import describe

    if not version.isdigit():
        raise InvalidInput(f"model version {version[:40]!r} must be a number such as 3")
    text = render_card(describe(name, int(version), workspace=ws))
    html = MarkdownIt("commonmark", {"html": False}).enable("table").render(text)
    return {"model": name, "version": int(version), "markdown": text, "html": html}


def promote(ws: Workspace, name: str, form: dict[str, str]) -> AliasEvent:
    """Move an alias to a version from the promote form: ``version``, ``alias``,
    ``reason`` (required), optional ``gates`` (YAML, as in a gates file) and ``data``."""
    from cairn.registry import promote as registry_promote

    version = form.get("version", "").strip()
    if not version.isdigit():
        raise InvalidInput(f"version {version[:20]!r} is not a version number; pick one")
    alias = check_alias(form.get("alias", "").strip())
    reason = _reason(form)
    gates = _gates(form.get("gates", ""))
    data = _server_safe_data(form.get("data", "").strip() or None)
    if gates is not None:
        gates = {**gates, "data": _server_safe_data(gates.get("data"))}
        if gates["data"] is None:
            del gates["data"]
        if any(isinstance(r, dict) and "data_validation" in r for r in gates.get("rules") or []):
            raise InvalidInput(
                "data_validation rules read a schema file, which a browser cannot name on "
                "the server; run them with `cairn gate check` or `cairn models promote`"
            )
    return registry_promote(
        name, int(version), alias, reason=reason, gates=gates, data=data, workspace=ws
    )


def rollback(ws: Workspace, name: str, form: dict[str, str]) -> AliasEvent:
    """Move an alias back to the version it held before (``alias``, ``reason``)."""
    from cairn.registry import rollback as registry_rollback

    alias = check_alias(form.get("alias", "").strip())
    return registry_rollback(name, alias, reason=_reason(form), workspace=ws)


def _server_safe_data(data: object) -> str | None:
    """Gate data from a browser is a dataset version (``churn@v2``), never a path: a
    path would make the server read its own files for whoever can edit a model."""
    if data is None or data == "":
        return None
    if not isinstance(data, str) or "@" not in data or "/" in data or "\\" in data:
        raise InvalidInput(
            f"gate data {str(data)[:60]!r} must be a dataset version such as churn@v2; "
            "files are for `cairn models promote --gates FILE`"
        )
    return data


def _reason(form: dict[str, str]) -> str:
    reason = " ".join(form.get("reason", "").split())
    if not reason:
        raise InvalidInput("say why in 'reason': the alias history keeps it for whoever looks")
    if len(reason) > MAX_REASON:
        raise InvalidInput(f"reason is {len(reason)} characters; keep it to {MAX_REASON}")
    return reason


def _gates(text: str) -> dict[str, Any] | None:
    """The gates of the form, parsed as a gates file would be; None when left empty."""
    if not text.strip():
        return None
    if len(text) > MAX_GATES_TEXT:
        raise InvalidInput(f"gates are {len(text)} characters; the limit is {MAX_GATES_TEXT}")
    try:
        spec = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise InvalidInput(
            f"gates are not valid YAML{where}; write them as in gates.yaml"
        ) from None
    if not isinstance(spec, dict):
        raise InvalidInput("gates must be a YAML mapping, as in gates.yaml (gates: ...)")
    return spec

"""Every route of the server, called by every kind of caller an attacker can be.

The routes come from /openapi.json itself (plus the artifact routes it lists too), so a
route added later is attacked here the day it appears; a route whose operation does not
declare its action (``x-cairn-action``) fails the test.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from auth_harness import Team, bearer, team_server

from cairn.access import AccessPolicy
from cairn.store.rest.routes import ROUTES_BY_NAME

ACTIONS = {"public", "authenticated", "read", "edit", "manage", "alias-policy"}
#: Routes anyone may call, and why: liveness, metrics, the API's description.
PUBLIC = {("GET", "/health"), ("GET", "/metrics"), ("GET", "/openapi.json")}
#: Names of the records the team server holds: a caller without read must never see them.
HIDDEN_NAMES = ("exp", "churn", "nightly", '"ds"', '"pipe"')


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    op_id: str
    action: str
    kind: str
    spec: dict[str, Any]

    @property
    def mutates(self) -> bool:
        return self.action in ("edit", "manage", "alias-policy")

    @property
    def named(self) -> bool:
        """Whether the call names one record (an unnamed read is a filtered listing)."""
        route = ROUTES_BY_NAME.get(self.op_id.replace("_", ".", 1))
        return route is not None and route.arg is not None


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Team]:
    policy = AccessPolicy(default_level=None, allow_create=False)
    with team_server(tmp_path_factory.mktemp("team"), policy) as found:
        yield found


@pytest.fixture(scope="module")
def document(team: Team) -> dict[str, Any]:
    response = httpx.get(team.url + "/openapi.json")
    assert response.status_code == 200
    found: dict[str, Any] = response.json()
    return found


def operations(document: dict[str, Any]) -> list[Operation]:
    found = []
    for path, methods in document["paths"].items():
        for method, spec in methods.items():
            action = spec.get("x-cairn-action")
            assert action in ACTIONS, (
                f"{method.upper()} {path} declares no x-cairn-action (one of {sorted(ACTIONS)}): "
                "every route must say what it needs"
            )
            if action == "public":
                assert (method.upper(), path) in PUBLIC, f"{path} is public without a reason"
            found.append(
                Operation(
                    method.upper(),
                    path,
                    spec["operationId"],
                    action,
                    spec.get("x-cairn-resource", ""),
                    spec,
                )
            )
    return found


# -- requests that name the team's records ---------------------------------------------


def _names(team: Team, kind: str) -> dict[str, Any]:
    record = {
        "experiment": "exp",
        "model": "churn",
        "dataset": "ds",
        "pipeline": "nightly",
        "user": "root",
    }.get(kind, "x")
    return {
        "name": record,
        "id_or_name": "exp",
        "experiment_id": team.experiment_id,
        "experiment_ids": [team.experiment_id],
        "run_id": team.run_id,
        "step_run_id": team.run_id,  # a cache entry names the run that made it
        "pipeline": "pipe",
        "schedule": "nightly",
        "user": "root",
        "token_id": team.token_ids["spare"],
        "kind": "model",
        "level": "read",
        "alias": "production",
        "model": "churn@production",
        "alert_id": "alert-1",
        "view": "active",
        "version": 1,
    }


def _resolve(schema: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        schema = document["components"]["schemas"][name]
    return schema


def _value(
    name: str, schema: dict[str, Any], document: dict[str, Any], names: dict[str, Any]
) -> Any:
    """A valid value of ``schema``, the team's record where the field names one."""
    schema = _resolve(schema, document)
    if "enum" in schema:
        return names[name] if names.get(name) in schema["enum"] else schema["enum"][0]
    if name in names and "properties" not in schema:
        value = names[name]
        # A field named like a team record but typed otherwise (an alert's version is
        # a string) gets the record in that type.
        return str(value) if schema.get("type") == "string" else value
    for option in schema.get("anyOf", []):
        if _resolve(option, document).get("type") != "null":
            return _value(name, option, document, names)
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        return {
            key: _value(key, sub, document, names)
            for key, sub in properties.items()
            if key in schema.get("required", []) or key in names
        }
    if kind == "array":
        items = schema.get("items", {})
        if "prefixItems" in schema:
            return [_value(name, s, document, names) for s in schema["prefixItems"]]
        return [_value(name, items, document, names)] if items else []
    return {"string": "x", "integer": 1, "number": 1.0, "boolean": False}.get(str(kind), "x")


def request_for(op: Operation, team: Team, document: dict[str, Any]) -> dict[str, Any]:
    """httpx arguments for a well-formed call of ``op`` that names the team's records."""
    names = _names(team, op.kind)
    if op.op_id == "schedules_get_schedule" or op.op_id == "schedules_remove_schedule":
        names["name"] = "nightly"
    if op.op_id.startswith("pipelines_steps") or op.op_id == "pipelines_save_steps":
        names["pipeline"] = "pipe"
    if op.kind == "pipeline" and op.op_id not in (
        "schedules_get_schedule",
        "schedules_remove_schedule",
    ):
        names["name"] = "nightly"
    path = op.path.replace("{key}", team.object_key).replace("{key:path}", team.object_key)
    out: dict[str, Any] = {"method": op.method, "url": team.url + path}
    params = {}
    for parameter in op.spec.get("parameters", []):
        if parameter["in"] != "query":
            continue
        pname = parameter["name"]
        if parameter.get("required") or pname in names:
            params[pname] = _value(pname, parameter.get("schema", {}), document, names)
    if params:
        out["params"] = params
    body = op.spec.get("requestBody", {}).get("content", {})
    if "application/json" in body:
        value = _value("body", body["application/json"]["schema"], document, names)
        out["content"] = json.dumps(value).encode()
        out["headers"] = {"Content-Type": "application/json"}
    elif "application/octet-stream" in body:
        out["content"] = b"model bytes"
    return out


def call(op: Operation, team: Team, document: dict[str, Any], token: str | None) -> httpx.Response:
    kwargs = request_for(op, team, document)
    headers = {**kwargs.pop("headers", {}), **(bearer(token) if token else {})}
    return httpx.request(**kwargs, headers=headers, timeout=30)


def _error(response: httpx.Response) -> str:
    if response.request.method == "HEAD":
        return ""
    message: str = response.json()["error"]["message"]
    return message


# -- the attacks -----------------------------------------------------------------------


def test_every_route_declares_its_action_and_the_artifact_routes_are_listed(
    document: dict[str, Any],
) -> None:
    ops = operations(document)
    assert {(o.method, o.op_id) for o in ops} >= {
        ("HEAD", "artifacts_head"),
        ("GET", "artifacts_get"),
        ("PUT", "artifacts_put"),
        ("GET", "whoami_api_whoami_get"),
    }
    assert len([o for o in ops if o.op_id.startswith("access_")]) == 10


@pytest.mark.parametrize("who", [None, "expired", "revoked", "garbage", "basic"])
def test_every_route_refuses_a_caller_without_a_valid_token(
    team: Team, document: dict[str, Any], who: str | None
) -> None:
    forged = {"garbage": "cairn_000000000000_" + "A" * 43, "basic": None}
    for op in operations(document):
        if op.action == "public":
            assert call(op, team, document, None).status_code == 200, op.path
            continue
        if who == "basic":
            kwargs = request_for(op, team, document)
            headers = {**kwargs.pop("headers", {}), "Authorization": "Basic cm9vdDpyb290"}
            response = httpx.request(**kwargs, headers=headers)
        else:
            token = forged.get(who, team.tokens.get(who or "", "")) if who else None
            response = call(op, team, document, token)
        assert response.status_code == 401, (who, op.method, op.path, response.text)
        if op.method != "HEAD":
            assert response.json()["error"]["type"] == "Unauthenticated"
            for secret in team.tokens.values():
                assert secret not in response.text


def test_a_read_only_token_cannot_make_any_mutation(team: Team, document: dict[str, Any]) -> None:
    mutations = [op for op in operations(document) if op.mutates]
    assert len(mutations) > 30
    for op in mutations:
        response = call(op, team, document, team.tokens["root_ro"])
        assert response.status_code == 403, (op.method, op.path, response.text)
        assert "read-only" in _error(response)


def test_a_user_without_access_is_refused_every_record_and_sees_none_listed(
    team: Team, document: dict[str, Any]
) -> None:
    for op in operations(document):
        if op.action in ("public", "authenticated"):
            continue
        response = call(op, team, document, team.tokens["stranger"])
        if op.kind == "artifact":
            # Shared by every record and named by digests only readable records reveal:
            # any authenticated caller reads them, any writing token uploads.
            assert response.status_code in (200, 201), (op.path, response.text)
        elif op.mutates or op.named or op.kind in ("server", "user"):
            assert response.status_code == 403, (op.method, op.path, response.text)
            assert "root" not in _error(response) or op.kind == "user"
        else:
            assert response.status_code == 200, (op.method, op.path, response.text)
            for name in HIDDEN_NAMES:
                assert name not in response.text, (op.path, name, response.text)


def test_a_denied_caller_cannot_tell_a_missing_record_from_a_hidden_one(team: Team) -> None:
    stranger = bearer(team.tokens["stranger"])
    real = httpx.get(
        f"{team.url}/api/tracking/run", params={"run_id": team.run_id}, headers=stranger
    )
    ghost = httpx.get(f"{team.url}/api/tracking/run", params={"run_id": "99999"}, headers=stranger)
    assert real.status_code == ghost.status_code == 403
    assert real.json()["error"]["message"].replace(team.run_id, "ID") == ghost.json()["error"][
        "message"
    ].replace("99999", "ID")
    assert "'exp'" not in real.text  # the run's experiment is not named to a denied caller
    model = httpx.get(f"{team.url}/api/registry/model", params={"name": "churn"}, headers=stranger)
    none = httpx.get(f"{team.url}/api/registry/model", params={"name": "nope"}, headers=stranger)
    assert model.status_code == none.status_code == 403


def test_readers_read_and_cannot_write(team: Team, document: dict[str, Any]) -> None:
    for op in operations(document):
        if not op.named or op.kind in ("server", "user"):
            continue
        response = call(op, team, document, team.tokens["reader"])
        if op.mutates:
            assert response.status_code == 403, (op.method, op.path, response.text)
            assert "reader may not" in _error(response)
        else:
            assert response.status_code not in (401, 403, 500), (op.path, response.text)


def test_an_admin_reaches_every_route_and_no_answer_is_a_server_error(
    team: Team, document: dict[str, Any]
) -> None:
    # Last: the admin's calls change records (they delete a run, a schedule, ...).
    for op in operations(document):
        response = call(op, team, document, team.tokens["root"])
        assert response.status_code not in (401, 403), (op.method, op.path, response.text)
        assert response.status_code < 500, (op.method, op.path, response.text)


def test_listings_show_a_user_only_what_they_may_read(tmp_path: Path) -> None:
    policy = AccessPolicy(default_level=None)
    with team_server(tmp_path, policy) as team:
        for who, seen in (("stranger", []), ("reader", ["exp"]), ("root", ["exp"])):
            listed = httpx.get(
                f"{team.url}/api/tracking/experiments", headers=bearer(team.tokens[who])
            )
            assert [e["name"] for e in listed.json()] == seen, who
            found = httpx.post(
                f"{team.url}/api/tracking/runs/search", json={}, headers=bearer(team.tokens[who])
            )
            assert len(found.json()["items"]) == len(seen), who
            models = httpx.get(f"{team.url}/api/registry/models", headers=bearer(team.tokens[who]))
            assert [m["name"] for m in models.json()] == (["churn"] if seen else [])

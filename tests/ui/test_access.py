"""Who may see and do what through the UI, attacked the way a careless or hostile user
would: a read-only token posting anyway, a forged cross-site form, a path as gate data."""

from __future__ import annotations

import re
from typing import Any

import httpx
from ui_populate import model_versions

from cairn.access.admin import issue_token
from cairn.access.guard import TokenGuard
from cairn.access.types import OpenGuard
from cairn.server.app import create_app
from conftest import threaded_server


def _csrf(client: httpx.Client, url: str) -> str:
    page = client.get(url)
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, page.text[:300]
    return found.group(1)


def _signed_in(base: str, token: str) -> httpx.Client:
    client = httpx.Client(base_url=base, follow_redirects=False)
    csrf = _csrf(client, "/ui/login")
    r = client.post("/ui/login", data={"csrf": csrf, "token": token, "next": "/ui/models"})
    assert r.status_code == 303, r.text[:300]
    return client


def test_read_only_user_sees_no_promote_button_and_gets_403_posting_anyway(
    workspace: Any, page: Any
) -> None:
    model_versions(workspace, "churn", None, 2)
    workspace.registry.set_alias("churn", "production", 1, actor="tester", reason="first")
    access = workspace.metadata.access
    access.create_user("viewer")
    reader = issue_token(access, "viewer", read_only=True).secret
    app = create_app(workspace.metadata, workspace.artifacts, guard=TokenGuard(workspace.metadata))
    with threaded_server(app) as base:
        # Not signed in: the page asks for a token, the JSON twin answers 401.
        assert httpx.get(f"{base}/ui/models/churn?format=json").status_code == 401
        page.goto(f"{base}/ui/models/churn")
        assert "/ui/login" in page.url
        page.fill("input[name=token]", reader)
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r"/ui/models/churn$"))
        assert page.locator("form#promote").count() == 0
        assert page.locator("form#rollback").count() == 0
        assert "viewer (read-only)" in page.locator("header").inner_text()

        client = _signed_in(base, reader)
        try:
            csrf = _csrf(client, "/ui/models/churn")
            form = {"csrf": csrf, "version": "2", "alias": "production", "reason": "sneaky"}
            r = client.post("/ui/models/churn/promote", data=form)
            assert r.status_code == 403
            assert "read-only" in r.text or "may not" in r.text
            r = client.post("/ui/models/churn/rollback?format=json", data=form)
            assert r.status_code == 403
            assert r.json()["error"]["type"] == "PermissionDenied"
        finally:
            client.close()
    assert workspace.registry.get_alias("churn", "production") == 1
    assert len(workspace.registry.alias_history("churn")) == 1


def test_a_forged_cross_site_post_moves_nothing(workspace: Any) -> None:
    model_versions(workspace, "churn", None, 2)
    workspace.registry.set_alias("churn", "production", 1, actor="tester", reason="first")
    with threaded_server(
        create_app(workspace.metadata, workspace.artifacts, guard=OpenGuard())
    ) as base:
        form = {"version": "2", "alias": "production", "reason": "evil"}
        # Another site's page posting to the loopback UI: no CSRF cookie, foreign Origin.
        r = httpx.post(
            f"{base}/ui/models/churn/promote",
            data=form,
            headers={"Origin": "http://evil.example"},
        )
        assert r.status_code == 403 and "not from this server" in r.text
        # Even with a guessed token field and no Origin header: the cookie is missing.
        r = httpx.post(f"{base}/ui/models/churn/promote", data={**form, "csrf": "x" * 43})
        assert r.status_code == 403 and "security token" in r.text
        # A sandboxed frame sends "Origin: null".
        with httpx.Client(base_url=base) as client:
            csrf = _csrf(client, "/ui/models/churn")
            r = client.post(
                "/ui/models/churn/promote", data={**form, "csrf": csrf}, headers={"Origin": "null"}
            )
            assert r.status_code == 403
    assert workspace.registry.get_alias("churn", "production") == 1


def test_gate_data_from_a_browser_cannot_name_a_server_file(workspace: Any) -> None:
    model_versions(workspace, "churn", None, 2)
    with (
        threaded_server(
            create_app(workspace.metadata, workspace.artifacts, guard=OpenGuard())
        ) as base,
        httpx.Client(base_url=base) as client,
    ):
        csrf = _csrf(client, "/ui/models/churn")
        gates = "data: /etc/passwd\ntarget: y\nrules:\n  - {metric: accuracy, min: 0.5}\n"
        form = {"csrf": csrf, "version": "2", "alias": "production", "reason": "x", "gates": gates}
        r = client.post("/ui/models/churn/promote?format=json", data=form)
        assert r.status_code == 400
        assert "must be a dataset version" in r.json()["error"]["message"]
        r = client.post(
            "/ui/models/churn/promote?format=json", data={**form, "gates": "rules: [\n"}
        )
        assert r.status_code == 400 and "not valid YAML" in r.json()["error"]["message"]
        r = client.post(
            "/ui/models/churn/promote?format=json", data={**form, "gates": "", "reason": " "}
        )
        assert r.status_code == 400 and "reason" in r.json()["error"]["message"]
    assert workspace.registry.get_alias("churn", "production") is None
    assert workspace.registry.alias_history("churn") == []

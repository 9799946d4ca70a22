"""A team server for the access tests: a TokenGuard server over SQLite, its users and
tokens, and one record of every kind for the routes to point at."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cairn.access import AccessPolicy, TokenGuard
from cairn.access.admin import issue_token
from cairn.access.tokens import digest, new_token
from cairn.store import open_metadata
from cairn.store.access import NewToken
from cairn.store.artifacts import ArtifactStore
from cairn.store.datasets import NewVersion
from cairn.store.pipelines import PipelineRun
from cairn.store.registry import NewModelVersion
from cairn.store.schedules import NewSchedule
from server_harness import threaded_server


@dataclass
class Team:
    url: str
    tokens: dict[str, str]  # who -> the whole token
    token_ids: dict[str, str]
    experiment_id: str
    run_id: str
    object_key: str  # an artifact object on the server
    db: object


def _token(db: object, user: str, **options: object) -> tuple[str, str]:
    made = issue_token(db.access, user, **options)  # type: ignore[attr-defined,arg-type]
    return made.secret, made.token.id


@contextmanager
def team_server(tmp: Path, policy: AccessPolicy) -> Iterator[Team]:
    """A server whose guard applies ``policy``, with users:

    - ``root``: an admin; ``root_ro``: a read-only token of root;
    - ``expired``, ``revoked``: tokens of ``ghost`` that no longer open anything;
    - ``stranger``: a user without any grant;
    - ``reader`` (read), ``editor`` (edit) and ``manager`` (manage) on every record.
    """
    db = open_metadata(f"sqlite:///{tmp / 'team.db'}", create=True)
    db.ensure_schema()
    access = db.access
    tokens: dict[str, str] = {}
    ids: dict[str, str] = {}
    access.create_user("root", is_admin=True)
    for name in ("ghost", "stranger", "reader", "editor", "manager"):
        access.create_user(name)
    tokens["root"], ids["root"] = _token(db, "root", expires="1d")
    tokens["root_ro"], ids["root_ro"] = _token(db, "root", read_only=True, expires="1d")
    tokens["spare"], ids["spare"] = _token(db, "root", expires="1d")  # the one routes revoke
    for name in ("stranger", "reader", "editor", "manager"):
        tokens[name], ids[name] = _token(db, name, expires="1d")
    issued = new_token()
    access.create_token(
        NewToken(
            issued.id, "ghost", digest(issued.secret), expires_at=int(time.time() * 1000) - 1000
        )
    )
    tokens["expired"], ids["expired"] = issued.secret, issued.id
    tokens["revoked"], ids["revoked"] = _token(db, "ghost", expires="1d")
    access.revoke_token(ids["revoked"])

    experiment = db.tracking.create_experiment("exp")
    run = db.tracking.create_run(experiment.id)
    artifacts = ArtifactStore(str(tmp / "artifacts"))
    info = artifacts.put_bytes(b"model bytes")
    db.registry.create_model("churn")
    db.registry.create_version(NewModelVersion(name="churn", digest=info.digest, flavor="sklearn"))
    db.datasets.add_version(
        NewVersion(name="ds", digest=info.digest, kind="file", size=11, file_count=1)
    )
    db.pipelines.create_run(
        PipelineRun(
            run_id=run.id, pipeline="pipe", target="p.py:pipe", executor="local", state="ok"
        )
    )
    db.schedules.add_schedule(NewSchedule(name="nightly", pipeline="pipe", cron="0 3 * * *"))
    for name, level in (("reader", "read"), ("editor", "edit"), ("manager", "manage")):
        for kind, resource in (
            ("experiment", "exp"),
            ("model", "churn"),
            ("dataset", "ds"),
            ("pipeline", "pipe"),
        ):
            access.set_grant(name, kind, resource, level, granted_by="root")

    from cairn.server.app import create_app

    app = create_app(db, artifacts, guard=TokenGuard(db, policy))
    try:
        with threaded_server(app) as url:
            yield Team(
                url=url,
                tokens=tokens,
                token_ids=ids,
                experiment_id=experiment.id,
                run_id=run.id,
                object_key=f"objects/{info.digest[:2]}/{info.digest[2:]}",
                db=db,
            )
    finally:
        db.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}

"""The one table of store routes, shared by ``cairn server`` and the REST client.

Each :class:`StoreRoute` maps one method of a store protocol (``tracking.create_run``)
to an HTTP verb and path, and says which action on which resource the server's guard
must allow. The server builds its endpoints from this table and the client builds its
methods from it, both reading the argument and return types from the protocol's
signature (:mod:`cairn.store.rest.codec`), so the two cannot drift apart.

Wire rules, the same for every route: a ``GET`` takes its arguments as query
parameters (scalars, omitted when ``None``); any other verb takes them as one JSON
object in the body. A write sends an ``Idempotency-Key`` header.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Verb = Literal["GET", "POST", "PUT", "DELETE"]
Action = Literal["read", "edit", "manage"]
ResourceKind = Literal["experiment", "model", "dataset", "pipeline", "server", "user"]
#: How the server finds the resource name from the arguments: the argument (dotted for a
#: field of a record argument) and how to turn it into a name: ``name`` (it is the name),
#: ``experiment`` (an experiment id or name), ``run`` (a tracking run id -> its
#: experiment), ``experiments`` (a list of experiment ids), ``pipeline_run`` (a
#: pipeline run id -> its pipeline), ``schedule`` (a schedule name -> its pipeline),
#: ``token`` (a token id -> its user), ``grant`` (the ``kind`` and ``name`` arguments),
#: ``steps`` (step records -> the pipelines of their runs), ``model_ref`` (a model
#: reference such as ``churn@production`` -> its model), ``alert`` (an alert id -> its
#: model), ``cache_entries`` (step cache entries -> the experiments of the runs that
#: made them).
Lookup = Literal[
    "name",
    "experiment",
    "run",
    "experiments",
    "pipeline_run",
    "schedule",
    "token",
    "grant",
    "steps",
    "model_ref",
    "alert",
    "cache_entries",
]

DOMAINS = ("tracking", "datasets", "registry", "pipelines", "schedules", "access", "alerts")


@dataclass(frozen=True, slots=True)
class StoreRoute:
    domain: str
    method: str
    verb: Verb
    path: str
    action: Action
    kind: ResourceKind
    arg: str | None = None
    lookup: Lookup = "name"
    #: Reads sent as POST (their arguments are lists or records) are not mutations.
    read_only: bool = False
    #: The argument naming a model alias: the server's policy decides the action it
    #: needs (moving a protected alias such as ``production`` needs ``manage``).
    alias_arg: str | None = None

    @property
    def name(self) -> str:
        return f"{self.domain}.{self.method}"

    @property
    def is_mutation(self) -> bool:
        return self.verb != "GET" and not self.read_only


def _r(
    name: str,
    verb: Verb,
    path: str,
    action: Action,
    kind: ResourceKind,
    arg: str | None = None,
    lookup: Lookup = "name",
    alias_arg: str | None = None,
) -> StoreRoute:
    domain, method = name.split(".")
    read_only = verb == "POST" and action == "read"
    return StoreRoute(domain, method, verb, path, action, kind, arg, lookup, read_only, alias_arg)


T, D, R, P, S, A, L = (
    "/api/tracking",
    "/api/datasets",
    "/api/registry",
    "/api/pipelines",
    "/api/schedules",
    "/api/access",
    "/api/alerts",
)

#: Every store method the server exposes; a later test enumerates these in /openapi.json.
STORE_ROUTES: tuple[StoreRoute, ...] = (
    # tracking
    _r("tracking.create_experiment", "POST", f"{T}/experiments", "edit", "experiment", "name"),
    _r(
        "tracking.get_experiment",
        "GET",
        f"{T}/experiment",
        "read",
        "experiment",
        "id_or_name",
        "experiment",
    ),
    _r("tracking.list_experiments", "GET", f"{T}/experiments", "read", "experiment"),
    _r(
        "tracking.set_experiment_tag",
        "POST",
        f"{T}/experiments/tags",
        "edit",
        "experiment",
        "id_or_name",
        "experiment",
    ),
    _r(
        "tracking.delete_experiment",
        "POST",
        f"{T}/experiments/delete",
        "manage",
        "experiment",
        "id_or_name",
        "experiment",
    ),
    _r(
        "tracking.restore_experiment",
        "POST",
        f"{T}/experiments/restore",
        "manage",
        "experiment",
        "id_or_name",
        "experiment",
    ),
    _r(
        "tracking.create_run",
        "POST",
        f"{T}/runs",
        "edit",
        "experiment",
        "experiment_id",
        "experiment",
    ),
    _r(
        "tracking.record_run",
        "POST",
        f"{T}/runs/record",
        "edit",
        "experiment",
        "run.experiment_id",
        "experiment",
    ),
    _r("tracking.end_run", "POST", f"{T}/runs/end", "edit", "experiment", "run_id", "run"),
    _r("tracking.get_run", "GET", f"{T}/run", "read", "experiment", "run_id", "run"),
    _r(
        "tracking.run_experiment",
        "GET",
        f"{T}/run/experiment",
        "read",
        "experiment",
        "run_id",
        "run",
    ),
    _r("tracking.delete_run", "POST", f"{T}/runs/delete", "edit", "experiment", "run_id", "run"),
    _r("tracking.restore_run", "POST", f"{T}/runs/restore", "edit", "experiment", "run_id", "run"),
    _r("tracking.purge_runs", "POST", f"{T}/runs/purge", "manage", "server"),
    _r("tracking.run_events", "GET", f"{T}/run/events", "read", "experiment", "run_id", "run"),
    _r("tracking.log_batch", "POST", f"{T}/runs/log-batch", "edit", "experiment", "run_id", "run"),
    _r(
        "tracking.get_metric_history",
        "GET",
        f"{T}/run/metric-history",
        "read",
        "experiment",
        "run_id",
        "run",
    ),
    _r(
        "tracking.search_runs",
        "POST",
        f"{T}/runs/search",
        "read",
        "experiment",
        "experiment_ids",
        "experiments",
    ),
    _r("tracking.log_io", "POST", f"{T}/runs/log-io", "edit", "experiment", "run_id", "run"),
    _r("tracking.runs_for_digest", "GET", f"{T}/runs-for-digest", "read", "experiment"),
    _r("tracking.referenced_digests", "GET", f"{T}/referenced-digests", "read", "server"),
    # datasets
    _r("datasets.add_version", "POST", f"{D}/versions", "edit", "dataset", "new.name"),
    _r("datasets.get_version", "GET", f"{D}/version", "read", "dataset", "name"),
    _r("datasets.list_versions", "GET", f"{D}/versions", "read", "dataset", "name"),
    _r("datasets.list_datasets", "GET", f"{D}", "read", "dataset"),
    _r("datasets.find_digest", "GET", f"{D}/find-digest", "read", "dataset"),
    _r("datasets.delete_version", "POST", f"{D}/versions/delete", "manage", "dataset", "name"),
    _r("datasets.referenced_digests", "GET", f"{D}/referenced-digests", "read", "server"),
    # registry
    _r("registry.create_model", "POST", f"{R}/models", "edit", "model", "name"),
    _r("registry.get_model", "GET", f"{R}/model", "read", "model", "name"),
    _r("registry.list_models", "GET", f"{R}/models", "read", "model"),
    _r("registry.update_model", "POST", f"{R}/models/update", "edit", "model", "name"),
    _r("registry.create_version", "POST", f"{R}/versions", "edit", "model", "new.name"),
    _r("registry.get_version", "GET", f"{R}/version", "read", "model", "name"),
    _r("registry.list_versions", "GET", f"{R}/versions", "read", "model", "name"),
    _r("registry.update_version", "POST", f"{R}/versions/update", "edit", "model", "name"),
    _r(
        "registry.set_alias",
        "POST",
        f"{R}/aliases",
        "edit",
        "model",
        "name",
        alias_arg="alias",
    ),
    _r("registry.get_alias", "GET", f"{R}/alias", "read", "model", "name"),
    _r("registry.alias_history", "GET", f"{R}/alias-history", "read", "model", "name"),
    _r("registry.record_gate_result", "POST", f"{R}/gate-results", "edit", "model", "result.name"),
    _r("registry.gate_results", "GET", f"{R}/gate-results", "read", "model", "name"),
    _r("registry.referenced_digests", "GET", f"{R}/referenced-digests", "read", "server"),
    # pipelines
    _r("pipelines.create_run", "POST", f"{P}/runs", "edit", "pipeline", "run.pipeline"),
    _r(
        "pipelines.set_run_state",
        "POST",
        f"{P}/runs/state",
        "edit",
        "pipeline",
        "run_id",
        "pipeline_run",
    ),
    _r("pipelines.get_run", "GET", f"{P}/run", "read", "pipeline", "run_id", "pipeline_run"),
    _r("pipelines.list_runs", "GET", f"{P}/runs", "read", "pipeline", "pipeline"),
    _r("pipelines.save_steps", "POST", f"{P}/steps", "edit", "pipeline", "records", "steps"),
    _r("pipelines.list_steps", "GET", f"{P}/steps", "read", "pipeline", "run_id", "pipeline_run"),
    _r("pipelines.previous_step", "GET", f"{P}/previous-step", "read", "pipeline", "pipeline"),
    _r("pipelines.get_cache", "POST", f"{P}/cache/lookup", "read", "pipeline"),
    _r("pipelines.recent_cache", "POST", f"{P}/cache/recent", "read", "pipeline"),
    _r("pipelines.put_cache", "POST", f"{P}/cache", "edit", "pipeline", "entries", "cache_entries"),
    # schedules
    _r("schedules.add_schedule", "POST", f"{S}", "edit", "pipeline", "new.pipeline"),
    _r("schedules.get_schedule", "GET", f"{S}/schedule", "read", "pipeline", "name", "schedule"),
    _r("schedules.list_schedules", "GET", f"{S}", "read", "pipeline"),
    _r("schedules.remove_schedule", "POST", f"{S}/remove", "edit", "pipeline", "name", "schedule"),
    _r(
        "schedules.claim_firing",
        "POST",
        f"{S}/firings/claim",
        "edit",
        "pipeline",
        "claim.schedule",
        "schedule",
    ),
    _r(
        "schedules.retake_firing",
        "POST",
        f"{S}/firings/retake",
        "edit",
        "pipeline",
        "schedule",
        "schedule",
    ),
    _r("schedules.heartbeat", "POST", f"{S}/firings/heartbeat", "edit", "pipeline"),
    _r(
        "schedules.interrupt_firing",
        "POST",
        f"{S}/firings/interrupt",
        "edit",
        "pipeline",
        "schedule",
        "schedule",
    ),
    _r(
        "schedules.finish_firing",
        "POST",
        f"{S}/firings/finish",
        "edit",
        "pipeline",
        "schedule",
        "schedule",
    ),
    _r(
        "schedules.list_firings",
        "POST",
        f"{S}/firings/list",
        "read",
        "pipeline",
        "schedule",
        "schedule",
    ),
    # access: users and the audit log are the admins'; a user's own tokens and grants
    # are theirs too (``user`` resources). Token secrets never travel: the client makes
    # the token and sends its digest. verify_token and record_audit stay on the server.
    _r("access.create_user", "POST", f"{A}/users", "manage", "server"),
    _r("access.get_user", "GET", f"{A}/user", "read", "user", "name"),
    _r("access.list_users", "GET", f"{A}/users", "read", "server"),
    _r("access.update_user", "POST", f"{A}/users/update", "manage", "server"),
    _r("access.create_token", "POST", f"{A}/tokens", "edit", "user", "new.user"),
    _r("access.list_tokens", "GET", f"{A}/tokens", "read", "user", "user"),
    _r("access.revoke_token", "POST", f"{A}/tokens/revoke", "edit", "user", "token_id", "token"),
    _r("access.set_grant", "POST", f"{A}/grants", "manage", "model", "kind", "grant"),
    _r("access.list_grants", "GET", f"{A}/grants", "read", "user", "user"),
    _r("access.list_audit", "GET", f"{A}/audit", "read", "server"),
    # alerts: a monitor's rule states and alerts belong to the model they watch (named
    # by a model reference); its work queue of actions and the workspace secret (the
    # prediction log's hashing key) are the server's: monitors run with an admin token.
    _r("alerts.rule_state", "GET", f"{L}/rule-state", "read", "model", "model", "model_ref"),
    _r("alerts.open_alert", "POST", f"{L}", "edit", "model", "new.model", "model_ref"),
    _r("alerts.resolve", "POST", f"{L}/resolve", "edit", "model", "model", "model_ref"),
    _r("alerts.pending_actions", "GET", f"{L}/actions/pending", "manage", "server"),
    _r("alerts.finish_action", "POST", f"{L}/actions/finish", "manage", "server"),
    _r("alerts.list_alerts", "GET", f"{L}", "read", "model", "model", "model_ref"),
    _r("alerts.get_alert", "GET", f"{L}/alert", "read", "model", "alert_id", "alert"),
    _r("alerts.list_actions", "GET", f"{L}/actions", "read", "model", "alert_id", "alert"),
    _r("alerts.secret", "POST", f"{L}/secret", "manage", "server"),
)

ROUTES_BY_NAME = {r.name: r for r in STORE_ROUTES}

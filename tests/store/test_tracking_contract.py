"""The tracking store contract: every backend behaves the same way.

One suite, parametrized over backends through the indirect ``tracking_store`` fixture.
A new backend (the REST client of ``cairn server``) joins by adding an entry to
``BACKENDS`` and an opener to ``_OPENERS`` that yields its ``.tracking`` store.
"""

from __future__ import annotations

import dataclasses
import math
import random
import re
import shutil
import string
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cairn.errors import AlreadyExists, FilterSyntaxError, InUse, InvalidInput, NotFound
from cairn.store import open_metadata
from cairn.store.base import RunDependent, TrackingStore
from cairn.types import EXTERNAL, Environment, Metric, Run, RunIO, RunStatus, now_ms
from server_harness import server_uri

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    pytest.param("server", id="server"),
]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database migrated to head once; each test gets a copy (migrating costs ~0.2 s)."""
    path = tmp_path_factory.mktemp("tracking-template") / "cairn.db"
    backend = open_metadata(f"sqlite:///{path}", create=True)
    backend.ensure_schema()
    backend.close()  # the last connection closing folds the WAL into the file
    return path


@pytest.fixture(scope="session")
def postgres_template(postgres_server: str) -> str:
    """A PostgreSQL database migrated to head once, copied per test with TEMPLATE."""
    name = f"tmpl_{uuid.uuid4().hex[:12]}"
    _create_pg_database(postgres_server, name)
    backend = open_metadata(f"{postgres_server}/{name}", create=True)
    backend.ensure_schema()
    backend.close()
    return name


def _create_pg_database(server: str, name: str, template: str | None = None) -> None:
    import psycopg

    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        suffix = f' TEMPLATE "{template}"' if template else ""
        conn.execute(f'CREATE DATABASE "{name}"{suffix}')  # type: ignore[arg-type]


def _sqlite_uri(request: pytest.FixtureRequest) -> str:
    path: Path = request.getfixturevalue("tmp_path") / "cairn.db"
    shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
    return f"sqlite:///{path}"


def _postgres_uri(request: pytest.FixtureRequest) -> str:
    server = request.getfixturevalue("postgres_server")
    name = f"t_{uuid.uuid4().hex[:12]}"
    _create_pg_database(server, name, template=request.getfixturevalue("postgres_template"))
    return f"{server}/{name}"


_OPENERS: dict[str, Callable[[pytest.FixtureRequest], str]] = {
    "sqlite": _sqlite_uri,
    "postgresql": _postgres_uri,
    "server": server_uri,
}


#: The backend each open tracking store belongs to, for tests that need its other domains.
_BACKEND_OF: dict[int, Any] = {}


@pytest.fixture
def tracking_store(request: pytest.FixtureRequest) -> Iterator[TrackingStore]:
    backend = open_metadata(_OPENERS[request.param](request))
    store = backend.tracking
    _BACKEND_OF[id(store)] = backend
    try:
        yield store
    finally:
        del _BACKEND_OF[id(store)]
        backend.close()


@pytest.fixture
def backend(tracking_store: TrackingStore) -> Any:
    """The metadata backend of ``tracking_store``: its registry and dataset stores."""
    return _BACKEND_OF[id(tracking_store)]


pytestmark = pytest.mark.parametrize("tracking_store", BACKENDS, indirect=True)


def _ids(runs: Any) -> list[str]:
    return [r.id for r in runs]


def _run(store: TrackingStore, **kwargs: Any) -> Run:
    exp = kwargs.pop("experiment", None) or _experiment(store)
    return store.create_run(exp, **kwargs)


def _experiment(store: TrackingStore, name: str = "exp") -> str:
    try:
        return store.get_experiment(name).id
    except NotFound:
        return store.create_experiment(name).id


# -- experiments ------------------------------------------------------------------------------


def test_create_experiment_is_listed_and_found_by_id_or_name(tracking_store: TrackingStore) -> None:
    exp = tracking_store.create_experiment("churn", description="customer churn")
    other = tracking_store.create_experiment("fraud")
    assert exp.name == "churn" and exp.description == "customer churn" and exp.created_at > 0
    assert tracking_store.get_experiment(exp.id) == exp
    assert tracking_store.get_experiment("churn") == exp
    assert tracking_store.list_experiments() == [exp, other]


def test_create_experiment_refuses_a_taken_name(tracking_store: TrackingStore) -> None:
    tracking_store.create_experiment("churn")
    with pytest.raises(AlreadyExists, match="'churn' already exists"):
        tracking_store.create_experiment("churn")
    assert len(tracking_store.list_experiments()) == 1


def test_get_experiment_unknown_names_the_value(tracking_store: TrackingStore) -> None:
    with pytest.raises(NotFound, match="'nope'"):
        tracking_store.get_experiment("nope")
    with pytest.raises(NotFound, match="'999'"):
        tracking_store.get_experiment("999")


@pytest.mark.parametrize("name", ["", " padded", "x" * 251])
def test_create_experiment_rejects_bad_names(tracking_store: TrackingStore, name: str) -> None:
    with pytest.raises(InvalidInput, match="experiment name"):
        tracking_store.create_experiment(name)
    assert tracking_store.list_experiments() == []


# -- runs -------------------------------------------------------------------------------------


def test_create_run_records_everything_it_is_given(tracking_store: TrackingStore) -> None:
    exp = tracking_store.create_experiment("e").id
    env = Environment(
        git_commit="a" * 40,
        git_dirty=True,
        python_version="3.11.7",
        packages={"numpy": "1.26.4", "scikit-learn": "1.4.2"},
        host="box",
        user="ana",
    )
    run = tracking_store.create_run(
        exp,
        name="baseline",
        start_time=1_700_000_000_000,
        environment=env,
        params={"lr": "0.1", "model": "rf"},
        tags={"team": "growth"},
    )
    stored = tracking_store.get_run(run.id)
    assert stored == run
    assert stored.status is RunStatus.RUNNING and stored.end_time is None
    assert stored.environment == env
    assert dict(stored.params) == {"lr": "0.1", "model": "rf"}
    assert stored.experiment_id == exp and stored.name == "baseline"


def test_create_run_without_a_name_gets_a_readable_generated_one(
    tracking_store: TrackingStore,
) -> None:
    names = {_run(tracking_store).name for _ in range(5)}
    assert all(re.fullmatch(r"[a-z]+-[a-z]+-\d{3}", n) for n in names), names


def test_create_run_in_a_missing_experiment_or_under_a_missing_parent_is_not_found(
    tracking_store: TrackingStore,
) -> None:
    with pytest.raises(NotFound, match="'424242'"):
        tracking_store.create_run("424242")
    exp = _experiment(tracking_store)
    with pytest.raises(NotFound, match="parent run with id 'f00'"):
        tracking_store.create_run(exp, parent_id="f00")
    assert tracking_store.search_runs().items == ()


def test_end_run_sets_a_terminal_status_and_end_time(tracking_store: TrackingStore) -> None:
    run = _run(tracking_store, start_time=1000)
    tracking_store.end_run(run.id, RunStatus.FAILED, end_time=5000)
    ended = tracking_store.get_run(run.id)
    assert ended.status is RunStatus.FAILED and ended.end_time == 5000
    assert ended.duration_ms == 4000
    with pytest.raises(InvalidInput, match="terminal status"):
        tracking_store.end_run(run.id, RunStatus.RUNNING)
    with pytest.raises(NotFound, match="'missing'"):
        tracking_store.end_run("missing", RunStatus.FINISHED)


def test_get_run_unknown_names_the_id(tracking_store: TrackingStore) -> None:
    with pytest.raises(NotFound, match="'0123abc'"):
        tracking_store.get_run("0123abc")


# -- logging ----------------------------------------------------------------------------------


def test_params_are_write_once_but_the_same_value_is_accepted(
    tracking_store: TrackingStore,
) -> None:
    run = _run(tracking_store, params={"lr": "0.1"})
    tracking_store.log_batch(run.id, params={"lr": "0.1", "depth": "3"})
    with pytest.raises(InvalidInput, match=r"param 'lr'.*'0\.1'.*'0\.2'.*write-once"):
        tracking_store.log_batch(
            run.id, metrics=[Metric("loss", 1.0)], params={"lr": "0.2", "seed": "7"}
        )
    stored = tracking_store.get_run(run.id)
    # The refused batch left nothing behind: no new param, no metric.
    assert dict(stored.params) == {"lr": "0.1", "depth": "3"}
    assert stored.metrics == {}


def test_tags_are_overwritten(tracking_store: TrackingStore) -> None:
    run = _run(tracking_store, tags={"stage": "dev"})
    tracking_store.log_batch(run.id, tags={"stage": "prod", "owner": "ana"})
    assert dict(tracking_store.get_run(run.id).tags) == {"stage": "prod", "owner": "ana"}


def test_latest_metric_is_the_highest_step_even_when_logged_out_of_order(
    tracking_store: TrackingStore,
) -> None:
    run = _run(tracking_store)
    tracking_store.log_batch(run.id, [Metric("loss", 0.5, step=5, timestamp=10)])
    tracking_store.log_batch(
        run.id, [Metric("loss", 0.9, step=1, timestamp=20), Metric("loss", 0.7, step=3)]
    )
    assert tracking_store.get_run(run.id).metrics["loss"] == Metric("loss", 0.5, 5, 10)
    # Same step, later timestamp: the later point wins.
    tracking_store.log_batch(run.id, [Metric("loss", 0.4, step=5, timestamp=11)])
    assert tracking_store.get_run(run.id).metrics["loss"].value == 0.4
    history = tracking_store.get_metric_history(run.id, "loss")
    assert [(m.step, m.value) for m in history] == [(1, 0.9), (3, 0.7), (5, 0.5), (5, 0.4)]
    assert tracking_store.search_runs(filter="metrics.loss = 0.4").items[0].id == run.id


def test_metric_timestamp_zero_means_now(tracking_store: TrackingStore) -> None:
    run = _run(tracking_store)
    tracking_store.log_batch(run.id, [Metric("acc", 0.5)])
    assert tracking_store.get_metric_history(run.id, "acc")[0].timestamp >= run.start_time


def test_nan_and_infinite_metrics_are_stored_and_nan_matches_no_comparison(
    tracking_store: TrackingStore,
) -> None:
    nan_run = _run(tracking_store, name="nan")
    inf_run = _run(tracking_store, name="inf")
    tracking_store.log_batch(nan_run.id, [Metric("loss", math.nan, 1), Metric("gain", -math.inf)])
    tracking_store.log_batch(inf_run.id, [Metric("loss", math.inf, 1)])
    assert math.isnan(tracking_store.get_run(nan_run.id).metrics["loss"].value)
    assert tracking_store.get_run(nan_run.id).metrics["gain"].value == -math.inf
    assert math.isnan(tracking_store.get_metric_history(nan_run.id, "loss")[0].value)
    assert _ids(tracking_store.search_runs(filter="metrics.loss > 0").items) == [inf_run.id]
    assert _ids(tracking_store.search_runs(filter="metrics.loss <= 0").items) == []
    assert nan_run.id in _ids(tracking_store.search_runs(filter="metrics.loss != 1").items)
    assert _ids(tracking_store.search_runs(filter="metrics.gain < -1e308").items) == [nan_run.id]


def test_logging_to_a_finished_run_is_allowed(tracking_store: TrackingStore) -> None:
    run = _run(tracking_store)
    tracking_store.end_run(run.id, RunStatus.FINISHED)
    tracking_store.log_batch(run.id, [Metric("late", 1.0, 9)], tags={"note": "buffered"})
    stored = tracking_store.get_run(run.id)
    assert stored.metrics["late"].value == 1.0 and stored.status is RunStatus.FINISHED


def test_logging_to_a_missing_run_is_not_found(tracking_store: TrackingStore) -> None:
    with pytest.raises(NotFound, match="'ghost'"):
        tracking_store.log_batch("ghost", [Metric("a", 1.0)])
    with pytest.raises(NotFound, match="'ghost'"):
        tracking_store.log_io("ghost", [RunIO("input", "data", "d.csv", "abc")])
    with pytest.raises(NotFound, match="'ghost'"):
        tracking_store.get_metric_history("ghost", "a")


@pytest.mark.parametrize(
    ("batch", "message"),
    [
        ({"params": {"": "x"}}, "param key must be a non-empty string"),
        ({"params": {"lr ": "x"}}, "leading or trailing spaces"),
        ({"tags": {"k" * 251: "x"}}, "251 characters; the limit is 250"),
        ({"params": {"lr": "x" * 6001}}, "6001 characters; the limit is 6000"),
        ({"params": {"lr": 0.1}}, "must have a string value"),
        ({"metrics": [Metric("acc", "high")]}, "must have a number value"),  # type: ignore[arg-type]
        ({"metrics": [Metric(" acc", 1.0)]}, "leading or trailing spaces"),
        ({"metrics": [Metric("acc", 1.0, step=1.5)]}, "step must be an int"),  # type: ignore[arg-type]
    ],
)
def test_log_batch_rejects_bad_input_and_writes_nothing(
    tracking_store: TrackingStore, batch: dict[str, Any], message: str
) -> None:
    run = _run(tracking_store)
    batch = {"metrics": [Metric("ok", 1.0)], "params": {"fine": "1"}, **batch}
    with pytest.raises(InvalidInput, match=re.escape(message)):
        tracking_store.log_batch(run.id, **batch)
    stored = tracking_store.get_run(run.id)
    assert stored.params == {} and stored.metrics == {}


def test_longest_allowed_param_value_round_trips(tracking_store: TrackingStore) -> None:
    # Random text does not compress: it would overflow a B-tree index entry on PostgreSQL.
    value = "".join(random.Random(1).choices(string.printable, k=6000))
    run = _run(tracking_store, params={"blob": value}, tags={"note": value})
    stored = tracking_store.get_run(run.id)
    assert stored.params["blob"] == value and stored.tags["note"] == value


def test_unicode_keys_and_values_round_trip_and_are_searchable(
    tracking_store: TrackingStore,
) -> None:
    run = _run(
        tracking_store, name="экспер 🚀", params={"学习率": "0.01"}, tags={"équipe": "données"}
    )
    tracking_store.log_batch(run.id, [Metric("точность", 0.97)])
    stored = tracking_store.get_run(run.id)
    assert stored.name == "экспер 🚀"
    assert stored.params == {"学习率": "0.01"} and stored.tags == {"équipe": "données"}
    assert stored.metrics["точность"].value == 0.97
    found = tracking_store.search_runs(
        filter="params.学习率 = '0.01' and tags.`équipe` = 'données' and metrics.точность > 0.9"
    )
    assert _ids(found.items) == [run.id]


# -- lineage ---------------------------------------------------------------------------------


def test_log_io_records_edges_and_the_same_name_replaces_an_edge(
    tracking_store: TrackingStore,
) -> None:
    run = _run(tracking_store)
    tracking_store.log_io(
        run.id,
        [
            RunIO("input", "train", "churn@v1", "d1", kind="dataset", size=10),
            RunIO("output", "model", "model", "m1", kind="tree", size=99),
        ],
    )
    tracking_store.log_io(run.id, [RunIO("input", "train", "churn@v1", "d2", kind="dataset")])
    stored = tracking_store.get_run(run.id)
    assert stored.inputs == (RunIO("input", "train", "churn@v1", "d2", kind="dataset"),)
    assert stored.outputs == (RunIO("output", "model", "model", "m1", kind="tree", size=99),)


def test_runs_for_digest_finds_readers_and_writers(tracking_store: TrackingStore) -> None:
    producer = _run(tracking_store, start_time=1)
    consumer = _run(tracking_store, start_time=2)
    _run(tracking_store)
    tracking_store.log_io(producer.id, [RunIO("output", "data", "clean.csv", "d9")])
    tracking_store.log_io(consumer.id, [RunIO("input", "data", "clean.csv", "d9")])
    assert _ids(tracking_store.runs_for_digest("d9")) == [consumer.id, producer.id]
    assert _ids(tracking_store.runs_for_digest("d9", "output")) == [producer.id]
    assert _ids(tracking_store.runs_for_digest("d9", "input")) == [consumer.id]
    assert tracking_store.runs_for_digest("unknown") == []
    assert set(tracking_store.referenced_digests()) == {"d9"}


def test_external_content_is_lineage_but_not_a_stored_reference(
    tracking_store: TrackingStore,
) -> None:
    run = _run(tracking_store)
    tracking_store.log_io(
        run.id,
        [
            RunIO("input", "data", "/data/in.csv", "e1", kind=EXTERNAL),
            RunIO("output", "model", "model", "m1", kind="tree"),
        ],
    )
    assert _ids(tracking_store.runs_for_digest("e1", "input")) == [run.id]
    assert set(tracking_store.referenced_digests()) == {"m1"}


def test_log_io_rejects_a_bad_direction(tracking_store: TrackingStore) -> None:
    run = _run(tracking_store)
    with pytest.raises(InvalidInput, match="direction"):
        tracking_store.log_io(run.id, [RunIO("sideways", "x", "y", "z")])  # type: ignore[arg-type]
    assert tracking_store.get_run(run.id).io == ()


# -- lifecycle: soft delete, restore, purge ---------------------------------------------------

DIGEST = "d" * 64


def _model_version(backend: Any, run_id: str, digest: str = DIGEST, alias: str = "") -> str:
    from cairn.store.registry import NewModelVersion

    version = backend.registry.create_version(
        NewModelVersion("churn", digest, "sklearn", source=f"runs:/{run_id}/model", run_id=run_id)
    )
    if alias:
        backend.registry.set_alias("churn", alias, version.version, actor="ana")
    return str(version.ref)


def test_delete_run_is_soft_hidden_from_search_and_kept_until_purged(
    tracking_store: TrackingStore,
) -> None:
    run = _run(tracking_store, name="old", params={"p": "1"}, tags={"t": "1"})
    keep = _run(tracking_store, name="keep")
    tracking_store.log_batch(run.id, [Metric("acc", 0.9)])
    tracking_store.log_io(run.id, [RunIO("output", "model", "m", DIGEST)])

    deletion = tracking_store.delete_run(run.id, actor="ana")

    assert (deletion.run_id, deletion.deleted_by, deletion.dependents) == (run.id, "ana", ())
    gone = tracking_store.get_run(run.id)  # lineage still resolves
    assert (gone.deleted_at, gone.deleted_by) == (deletion.deleted_at, "ana")
    assert gone.params == {"p": "1"} and gone.metrics["acc"].value == 0.9
    assert _ids(tracking_store.search_runs().items) == [keep.id]
    assert _ids(tracking_store.search_runs(filter="metrics.acc > 0").items) == []
    assert _ids(tracking_store.search_runs(view="deleted").items) == [run.id]
    assert set(_ids(tracking_store.search_runs(view="all").items)) == {run.id, keep.id}
    assert tracking_store.runs_for_digest(DIGEST) == []
    assert set(tracking_store.referenced_digests()) == {DIGEST}  # artifacts stay
    assert [(e.action, e.actor) for e in tracking_store.run_events(run.id)] == [("delete", "ana")]


def test_restore_brings_a_deleted_run_back_and_records_who(tracking_store: TrackingStore) -> None:
    run = _run(tracking_store)
    tracking_store.delete_run(run.id, actor="ana")

    restored = tracking_store.restore_run(run.id, actor="bo")

    assert not restored.is_deleted and restored.deleted_by is None
    assert _ids(tracking_store.search_runs().items) == [run.id]
    tracking_store.log_batch(run.id, [Metric("acc", 1.0)])  # open to records again
    events = tracking_store.run_events(run.id)
    assert [(e.action, e.actor) for e in events] == [("delete", "ana"), ("restore", "bo")]
    assert events[0].created_at <= events[1].created_at
    with pytest.raises(InvalidInput, match=f"run {run.id} is not deleted"):
        tracking_store.restore_run(run.id, actor="bo")


def test_deleting_a_deleted_run_again_is_refused_naming_who_deleted_it(
    tracking_store: TrackingStore,
) -> None:
    run = _run(tracking_store)
    tracking_store.delete_run(run.id, actor="ana")
    with pytest.raises(InvalidInput, match=r"already deleted \(by ana at .*cairn runs restore"):
        tracking_store.delete_run(run.id, actor="bo")
    assert len(tracking_store.run_events(run.id)) == 1
    with pytest.raises(NotFound, match="nope"):
        tracking_store.delete_run("nope", actor="ana")


def test_logging_to_a_deleted_run_is_refused_and_writes_nothing(
    tracking_store: TrackingStore,
) -> None:
    run = _run(tracking_store, params={"p": "1"})
    tracking_store.delete_run(run.id, actor="ana")
    attempts: list[Callable[[], object]] = [
        lambda: tracking_store.log_batch(run.id, [Metric("acc", 0.5)]),
        lambda: tracking_store.log_batch(run.id, params={"q": "2"}),
        lambda: tracking_store.log_batch(run.id, tags={"t": "x"}),
        lambda: tracking_store.log_batch(run.id),
        lambda: tracking_store.log_io(run.id, [RunIO("output", "a", "a", DIGEST)]),
        lambda: tracking_store.end_run(run.id, RunStatus.FINISHED, metrics=[Metric("acc", 1)]),
        lambda: _run(tracking_store, parent_id=run.id),
    ]
    for attempt in attempts:
        with pytest.raises(InvalidInput, match=f"run {run.id} was deleted by ana.*runs restore"):
            attempt()
    after = tracking_store.get_run(run.id)
    assert (after.params, after.tags, after.metrics, after.io) == ({"p": "1"}, {}, {}, ())
    assert after.status is RunStatus.RUNNING
    assert tracking_store.get_metric_history(run.id, "acc") == []
    assert _ids(tracking_store.search_runs(view="all").items) == [run.id]  # no child


def test_delete_refuses_when_a_production_model_version_depends_on_the_run(
    tracking_store: TrackingStore, backend: Any
) -> None:
    run = _run(tracking_store, name="trainer")
    tracking_store.log_batch(run.id, [Metric("auc", 0.93)])
    ref = _model_version(backend, run.id, alias="production")

    with pytest.raises(InUse) as refused:
        tracking_store.delete_run(run.id, actor="mallory")

    assert str(refused.value) == (
        f"run {run.id} (trainer) was not deleted: 1 record depends on it (model version "
        f"{ref} (aliases: production)); pass force=True (`cairn runs delete --force`) to "
        "soft-delete it anyway"
    )
    assert refused.value.dependents == (f"model version {ref} (aliases: production)",)
    assert not tracking_store.get_run(run.id).is_deleted  # nothing changed
    assert tracking_store.run_events(run.id) == []

    forced = tracking_store.delete_run(run.id, actor="mallory", force=True)

    assert [str(d) for d in forced.dependents] == [f"model version {ref} (aliases: production)"]
    version = backend.registry.get_version("churn", 1)
    assert tracking_store.get_run(version.run_id).metrics["auc"].value == 0.93
    (event,) = tracking_store.run_events(run.id)
    assert (event.action, event.actor) == ("delete", "mallory")
    assert f"model version {ref}" in event.detail


def test_dataset_versions_the_run_wrote_and_live_child_runs_are_dependents(
    tracking_store: TrackingStore, backend: Any
) -> None:
    from cairn.store.datasets import NewVersion

    parent = _run(tracking_store, name="prep")
    child = _run(tracking_store, name="fold-1", parent_id=parent.id)
    reader = _run(tracking_store, name="reader")
    tracking_store.log_io(parent.id, [RunIO("output", "dataset", "clean", DIGEST, "tree")])
    tracking_store.log_io(reader.id, [RunIO("input", "dataset", "clean", DIGEST, "dataset")])
    backend.datasets.add_version(NewVersion("clean", DIGEST, "tree", 10, 2))

    with pytest.raises(InUse) as refused:
        tracking_store.delete_run(parent.id, actor="ana")
    assert refused.value.dependents == (
        "dataset version clean@v1",
        f"child run {child.id} (fold-1)",
    )
    # A run that only read the dataset is not depended on; a deleted child is no dependent.
    tracking_store.delete_run(reader.id, actor="ana")
    tracking_store.delete_run(child.id, actor="ana")
    with pytest.raises(InUse) as again:
        tracking_store.delete_run(parent.id, actor="ana")
    assert again.value.dependents == ("dataset version clean@v1",)


def test_the_refusal_names_the_first_dependents_and_carries_them_all(
    tracking_store: TrackingStore,
) -> None:
    parent = _run(tracking_store, name="sweep")
    children = [_run(tracking_store, name=f"trial-{i}", parent_id=parent.id) for i in range(5)]

    with pytest.raises(InUse) as refused:
        tracking_store.delete_run(parent.id, actor="ana")

    message = str(refused.value)
    assert "\n" not in message
    assert "5 records depend on it" in message and "; and 2 more)" in message
    assert {d.split()[2] for d in refused.value.dependents} == {c.id for c in children}


def test_purge_removes_only_runs_deleted_before_the_cutoff(tracking_store: TrackingStore) -> None:
    old = _run(tracking_store, name="old")
    recent = _run(tracking_store, name="recent")
    live = _run(tracking_store, name="live", parent_id=old.id)
    tracking_store.log_io(old.id, [RunIO("output", "a", "a", "o" * 64)])
    tracking_store.log_io(recent.id, [RunIO("output", "a", "a", "r" * 64)])
    tracking_store.log_io(live.id, [RunIO("input", "a", "a", "o" * 64)])
    tracking_store.delete_run(old.id, actor="ana", force=True)  # past its live child
    cutoff = tracking_store.get_run(old.id).deleted_at
    assert cutoff is not None
    while now_ms() <= cutoff:  # the next delete must fall in a later millisecond
        pass
    tracking_store.delete_run(recent.id, actor="ana")

    dry = tracking_store.purge_runs(cutoff, actor="gc", dry_run=True)
    assert _ids(dry.purged) == [] and [(r.id, deps) for r, deps in dry.kept] == [
        (old.id, (RunDependent("child run", live.id, "live"),))
    ]

    forced_dry = tracking_store.purge_runs(cutoff, actor="gc", force=True, dry_run=True)
    assert _ids(forced_dry.purged) == [old.id]
    assert forced_dry.released == frozenset()  # the live run still reads "o" * 64
    assert tracking_store.get_run(old.id).is_deleted  # a dry run changes nothing

    result = tracking_store.purge_runs(cutoff, actor="gc", force=True)

    assert _ids(result.purged) == [old.id]
    with pytest.raises(NotFound):
        tracking_store.get_run(old.id)
    assert tracking_store.get_run(recent.id).is_deleted  # within retention: kept
    assert tracking_store.get_run(live.id).parent_id is None
    assert set(tracking_store.referenced_digests()) == {"o" * 64, "r" * 64}
    history = tracking_store.run_events(old.id)  # outlives the run
    assert [(e.action, e.actor) for e in history] == [("delete", "ana"), ("purge", "gc")]
    assert f"child run {live.id}" in history[1].detail


def test_purge_never_removes_a_run_a_model_version_depends_on_unless_forced(
    tracking_store: TrackingStore, backend: Any
) -> None:
    run = _run(tracking_store)
    tracking_store.log_io(run.id, [RunIO("output", "model", "model", DIGEST, "model")])
    ref = _model_version(backend, run.id)
    tracking_store.delete_run(run.id, actor="ana", force=True)
    now = 2**62

    kept = tracking_store.purge_runs(now, actor="gc")

    assert kept.purged == () and [str(d) for d in kept.kept[0][1]] == [f"model version {ref}"]
    assert tracking_store.get_run(run.id).is_deleted
    purged = tracking_store.purge_runs(now, actor="gc", force=True)
    assert _ids(purged.purged) == [run.id]
    assert backend.registry.get_version("churn", 1).digest == DIGEST  # the version stays


def test_purge_dry_run_reports_digests_only_the_purged_runs_held(
    tracking_store: TrackingStore,
) -> None:
    gone = _run(tracking_store)
    other = _run(tracking_store)
    tracking_store.log_io(gone.id, [RunIO("output", "a", "a", "1" * 64)])
    tracking_store.log_io(gone.id, [RunIO("output", "b", "b", "2" * 64)])
    tracking_store.log_io(gone.id, [RunIO("input", "c", "c", "3" * 64, EXTERNAL)])
    tracking_store.log_io(other.id, [RunIO("input", "b", "b", "2" * 64)])
    tracking_store.delete_run(gone.id, actor="ana")

    dry = tracking_store.purge_runs(2**62, actor="gc", dry_run=True)

    assert dry.released == frozenset({"1" * 64})


def test_lifecycle_rejects_bad_arguments(tracking_store: TrackingStore) -> None:
    run = _run(tracking_store)
    with pytest.raises(InvalidInput, match="view must be one of active, deleted, all"):
        tracking_store.search_runs(view="gone")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="deleted_before"):
        tracking_store.purge_runs(-1, actor="gc")
    with pytest.raises(InvalidInput, match="actor"):
        tracking_store.delete_run(run.id, actor="x" * 300)
    assert not tracking_store.get_run(run.id).is_deleted


# -- search -------------------------------------------------------------------------------------


@pytest.fixture
def zoo(tracking_store: TrackingStore) -> dict[str, str]:
    """Six runs with overlapping keys; returns name -> run id."""
    exp = tracking_store.create_experiment("zoo").id
    specs: list[tuple[str, dict[str, str], dict[str, str], dict[str, float]]] = [
        ("rf-1", {"model": "rf", "depth": "3"}, {"team": "x"}, {"auc": 0.95, "loss": 0.2}),
        ("rf-2", {"model": "rf", "depth": "8"}, {"team": "y"}, {"auc": 0.85}),
        ("gb-1", {"model": "gb"}, {"team": "y"}, {"auc": 0.92, "loss": 0.3}),
        ("GB-2", {"model": "GB"}, {}, {"auc": 0.70}),
        ("lr-1", {"model": "lr"}, {"team": "z"}, {}),
        ("bare", {}, {}, {"loss": 0.9}),
    ]
    ids = {}
    for i, (name, params, tags, metrics) in enumerate(specs):
        run = tracking_store.create_run(
            exp, name=name, start_time=1000 + i, params=params, tags=tags
        )
        tracking_store.log_batch(run.id, [Metric(k, v) for k, v in metrics.items()])
        ids[name] = run.id
    return ids


def _names(store: TrackingStore, zoo: dict[str, str], filter: str, **kw: Any) -> list[str]:
    by_id = {v: k for k, v in zoo.items()}
    return [by_id[r.id] for r in store.search_runs(filter=filter, **kw).items]


SEARCHES = [
    ("", ["bare", "lr-1", "GB-2", "gb-1", "rf-2", "rf-1"]),
    ("metrics.auc > 0.9", ["gb-1", "rf-1"]),
    ("metrics.auc >= 0.92 and metrics.loss < 0.25", ["rf-1"]),
    ("metrics.auc < 0.9 or params.model = 'lr'", ["lr-1", "GB-2", "rf-2"]),
    ("(metrics.auc > 0.9 or params.model in ('rf', 'gb')) and tags.team != 'x'", ["gb-1", "rf-2"]),
    ("metrics.auc > 0.9 or params.model in ('rf', 'gb') and tags.team != 'x'",
     ["gb-1", "rf-2", "rf-1"]),
    ("params.model not in ('rf', 'gb')", ["bare", "lr-1", "GB-2"]),
    ("tags.team != 'y'", ["bare", "lr-1", "GB-2", "rf-1"]),
    ("metrics.loss != 0.2", ["bare", "lr-1", "GB-2", "gb-1", "rf-2"]),
    ("params.model like 'g%'", ["gb-1"]),
    ("params.model ilike 'g%'", ["GB-2", "gb-1"]),
    ("name like '%-_'", ["lr-1", "GB-2", "gb-1", "rf-2", "rf-1"]),
    ("params.model not like 'r%'", ["bare", "lr-1", "GB-2", "gb-1"]),
    ("name not like 'rf%' and not name like '%1'", ["bare", "GB-2"]),
    ("not (metrics.auc > 0.9)", ["bare", "lr-1", "GB-2", "rf-2"]),
    ("params.depth is null", ["bare", "lr-1", "GB-2", "gb-1"]),
    ("tags.team = null and metrics.auc != null", ["GB-2"]),
    ("start_time >= 1004", ["bare", "lr-1"]),
    ("attributes.name in ('rf-1', 'bare')", ["bare", "rf-1"]),
    ("status = 'running' and end_time = null and parent_id is null",
     ["bare", "lr-1", "GB-2", "gb-1", "rf-2", "rf-1"]),
    ("METRICS.auc > 0.9 AND NOT params.model = 'gb'", ["rf-1"]),
    ("metrics.auc in (0.85, 0.7)", ["GB-2", "rf-2"]),
]  # fmt: skip


@pytest.mark.parametrize(("filter", "expected"), SEARCHES, ids=[f for f, _ in SEARCHES])
def test_search_filter_selects_the_expected_runs(
    tracking_store: TrackingStore, zoo: dict[str, str], filter: str, expected: list[str]
) -> None:
    assert _names(tracking_store, zoo, filter) == expected


def test_search_by_run_id_and_experiment(
    tracking_store: TrackingStore, zoo: dict[str, str]
) -> None:
    assert _names(tracking_store, zoo, f"id = '{zoo['gb-1']}'") == ["gb-1"]
    other = tracking_store.create_experiment("other").id
    lone = tracking_store.create_run(other, name="lone", params={"model": "rf"})
    found = tracking_store.search_runs([other], "params.model = 'rf'")
    assert _ids(found.items) == [lone.id]
    assert tracking_store.search_runs([], "").items == ()
    zoo_exp = tracking_store.get_experiment("zoo").id
    assert len(tracking_store.search_runs([zoo_exp, other]).items) == 7
    assert _ids(tracking_store.search_runs(filter=f"experiment_id = {other}").items) == [lone.id]


def test_search_with_a_malformed_filter_points_at_the_token(tracking_store: TrackingStore) -> None:
    with pytest.raises(FilterSyntaxError, match="unexpected token '\\)'") as info:
        tracking_store.search_runs(filter="metrics.auc > )")
    assert info.value.position == 14
    with pytest.raises(FilterSyntaxError, match=r"did you mean metrics\.auc"):
        tracking_store.search_runs(filter="metric.auc > 1")
    with pytest.raises(FilterSyntaxError, match="order_by"):
        tracking_store.search_runs(order_by=["metrics.auc sideways"])


def test_order_by_metric_puts_runs_without_it_last_in_both_directions(
    tracking_store: TrackingStore, zoo: dict[str, str]
) -> None:
    desc = _names(tracking_store, zoo, "", order_by=["metrics.auc desc"])
    asc = _names(tracking_store, zoo, "", order_by=["metrics.auc"])
    assert desc == ["rf-1", "gb-1", "rf-2", "GB-2", "bare", "lr-1"]
    assert asc == ["GB-2", "rf-2", "gb-1", "rf-1", "bare", "lr-1"]


def test_order_by_params_attributes_and_several_keys(
    tracking_store: TrackingStore, zoo: dict[str, str]
) -> None:
    assert _names(tracking_store, zoo, "", order_by=["params.depth desc"])[:2] == ["rf-2", "rf-1"]
    by_name = _names(tracking_store, zoo, "name != 'GB-2'", order_by=["name"])
    assert by_name == ["bare", "gb-1", "lr-1", "rf-1", "rf-2"]
    assert _names(tracking_store, zoo, "", order_by=["start_time asc"])[0] == "rf-1"
    by_team_then_auc = _names(tracking_store, zoo, "", order_by=["tags.team", "metrics.auc desc"])
    assert by_team_then_auc == ["rf-1", "gb-1", "rf-2", "lr-1", "GB-2", "bare"]


def test_pagination_walks_every_run_once_in_order(tracking_store: TrackingStore) -> None:
    exp = _experiment(tracking_store)
    runs = [tracking_store.create_run(exp, start_time=10 * (i // 3)) for i in range(23)]
    for i, run in enumerate(runs):
        if i % 4:
            tracking_store.log_batch(run.id, [Metric("score", float(i % 5))])
    full = _ids(tracking_store.search_runs(order_by=["metrics.score desc"]).items)
    seen: list[str] = []
    token = None
    while True:
        page = tracking_store.search_runs(
            order_by=["metrics.score desc"], max_results=5, page_token=token
        )
        assert len(page.items) <= 5
        seen += _ids(page.items)
        token = page.next_token
        if token is None:
            break
    assert seen == full and len(set(seen)) == 23


def test_page_tokens_and_max_results_are_validated(tracking_store: TrackingStore) -> None:
    exp = _experiment(tracking_store)
    for _ in range(3):
        tracking_store.create_run(exp)
    token = tracking_store.search_runs(max_results=1).next_token
    assert token is not None
    with pytest.raises(InvalidInput, match="different search"):
        tracking_store.search_runs(filter="status = 'RUNNING'", max_results=1, page_token=token)
    with pytest.raises(InvalidInput, match="invalid page_token"):
        tracking_store.search_runs(page_token="not-a-token")
    for bad in (0, 50_001):
        with pytest.raises(InvalidInput, match="max_results"):
            tracking_store.search_runs(max_results=bad)
    with pytest.raises(InvalidInput, match="experiment id 'zoo'"):
        tracking_store.search_runs(["zoo"])


def test_a_page_of_runs_gives_each_run_exactly_its_own_records(
    tracking_store: TrackingStore,
) -> None:
    # A page's params and tags travel in bulk (one document per table on SQLite): text
    # that JSON must escape, runs with nothing recorded between runs with a lot, and
    # extreme metric values must all come back to the right run, unchanged.
    rng = random.Random(5)
    awkward = ['"', "\\", "\x01\x1f", "\u2028\u2029", "é😀", "</script>", "{}", "[1]", " "]
    exp = _experiment(tracking_store, "bulk")
    expected = {}
    for i in range(120):
        params = {f"k{j}": rng.choice(awkward) + str(i) for j in range(i % 5)}
        tags = {"t": rng.choice(awkward)} if i % 3 == 0 else {}
        value = rng.choice([5e-324, 1.7976931348623157e308, 0.1 + 0.2, -1e-300, rng.random()])
        run = tracking_store.create_run(exp, start_time=1_000 + i, params=params, tags=tags)
        tracking_store.log_batch(run.id, [Metric("m", value, step=i)])
        expected[run.id] = (params, tags, value)
    found = tracking_store.search_runs([exp], max_results=1000).items
    assert [r.id for r in found] == list(reversed(expected))
    for run in found:
        params, tags, value = expected[run.id]
        assert dict(run.params) == params and dict(run.tags) == tags
        assert run.metrics["m"].value == value


# -- a run recorded whole (how a client that starts runs itself sends them) --------------------


def _whole_run(experiment: str, /, **changes: Any) -> Run:
    run = Run(
        id=uuid.uuid4().hex,
        experiment_id=experiment,
        name="",
        status=RunStatus.FINISHED,
        start_time=1_700_000_000_000,
        end_time=1_700_000_005_000,
        environment=Environment(python_version="3.11.7", host="box", user="ana"),
        params={"lr": "0.1", "db_password": "hunter2"},
        tags={"team": "growth"},
    )
    return dataclasses.replace(run, **changes)


def test_record_run_stores_a_whole_run_in_one_call(tracking_store: TrackingStore) -> None:
    exp = _experiment(tracking_store)
    run = _whole_run(exp)
    points = [Metric("loss", 0.5, 0, 1_700_000_001_000), Metric("loss", 0.25, 1, 1_700_000_002_000)]
    tracking_store.record_run(run, points)
    stored = tracking_store.get_run(run.id)
    assert (stored.status, stored.start_time, stored.end_time) == (
        RunStatus.FINISHED,
        run.start_time,
        run.end_time,
    )
    assert re.fullmatch(r"[a-z]+-[a-z]+-\d{3}", stored.name), stored.name
    assert dict(stored.params) == {"lr": "0.1", "db_password": "***"}
    assert dict(stored.tags) == {"team": "growth"} and stored.environment == run.environment
    assert stored.metrics["loss"].value == 0.25
    history = tracking_store.get_metric_history(run.id, "loss")
    assert [m.value for m in history] == [0.5, 0.25]
    with pytest.raises(AlreadyExists, match=run.id):
        tracking_store.record_run(run)
    running = _whole_run(exp, status=RunStatus.RUNNING, end_time=None, parent_id=run.id)
    tracking_store.record_run(running)
    assert tracking_store.get_run(running.id).status is RunStatus.RUNNING
    assert set(_ids(tracking_store.search_runs([exp]).items)) == {running.id, run.id}


@pytest.mark.parametrize(
    ("changes", "error", "match"),
    [
        ({"id": "not-a-run-id"}, InvalidInput, "32 lowercase hexadecimal"),
        ({"status": RunStatus.RUNNING}, InvalidInput, "RUNNING run has no end time"),
        ({"end_time": None}, InvalidInput, "an ended one"),
        ({"start_time": -1}, InvalidInput, "start_time must be milliseconds"),
        ({"experiment_id": "424242"}, NotFound, "'424242'"),
        ({"parent_id": "f00"}, NotFound, "parent run with id 'f00'"),
        ({"params": {" lr": "1"}}, InvalidInput, "leading or trailing spaces"),
    ],
)
def test_record_run_refuses_a_bad_run_and_stores_nothing_of_it(
    tracking_store: TrackingStore, changes: dict[str, Any], error: type[Exception], match: str
) -> None:
    exp = _experiment(tracking_store)
    with pytest.raises(error, match=match):
        tracking_store.record_run(_whole_run(exp, **changes), [Metric("loss", 1.0, 0, 1)])
    assert tracking_store.search_runs([exp]).items == ()


def test_run_experiment_names_the_experiment_of_any_run(tracking_store: TrackingStore) -> None:
    exp = tracking_store.create_experiment("e")
    run = _run(tracking_store, experiment=exp.id)
    assert tracking_store.run_experiment(run.id) == exp
    tracking_store.delete_run(run.id, actor="ana")
    assert tracking_store.run_experiment(run.id).name == "e"
    with pytest.raises(NotFound, match="'nope'"):
        tracking_store.run_experiment("nope")


def test_a_nul_character_in_a_param_or_tag_is_refused_on_every_backend(
    tracking_store: TrackingStore,
) -> None:
    exp = _experiment(tracking_store)
    with pytest.raises(InvalidInput, match=r"param 'blob' has a NUL character .* position 3"):
        tracking_store.create_run(exp, params={"blob": "abc\x00def"})
    run = _run(tracking_store)
    with pytest.raises(InvalidInput, match="tag 'note' has a NUL character"):
        tracking_store.log_batch(run.id, tags={"note": "\x00"})
    assert dict(tracking_store.get_run(run.id).tags) == {}
    assert [r.id for r in tracking_store.search_runs([exp]).items] == [run.id]

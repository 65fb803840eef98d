"""Studies and trials through the sync client."""

from __future__ import annotations

import math
from typing import Any

import pytest

import asktell_client as at

TWO_OBJECTIVES = {"loss": "minimize", "acc": "maximize"}


def test_create_shorthands(client: at.Client, server: Any) -> None:
    study = client.studies.create(
        "demo",
        server.SPACE,
        objectives=TWO_OBJECTIVES,
        strategy="sobol",
        settings={"heartbeat_timeout": 60},
        metadata={"owner": "me"},
    )
    body = server.calls_to("POST", "/v1/studies")[0].body
    assert body["objectives"] == [
        {"name": "loss", "direction": "minimize"},
        {"name": "acc", "direction": "maximize"},
    ]
    assert body["strategy"] == {"name": "sobol"}
    assert body["space"][0]["type"] == "float"
    assert study.data.settings.heartbeat_timeout == 60
    assert isinstance(study.data, at.Study) and study.name == "demo"


def test_create_accepts_models(client: at.Client, server: Any) -> None:
    study = client.studies.create(
        "m",
        [at.FloatParam(name="x", low=0, high=1), at.IntParam(name="n", low=1, high=4)],
        objectives=[at.ObjectiveSpec(name="loss", direction=at.Direction.maximize)],
        strategy=at.StrategySpec(name="gp", options={"q": 2}),
        settings=at.StudySettings(seed=3),
    )
    body = server.calls_to("POST", "/v1/studies")[0].body
    assert [p["type"] for p in body["space"]] == ["float", "int"]
    assert body["objectives"][0]["direction"] == "maximize"
    assert study.data.strategy.options == {"q": 2} and study.data.settings.seed == 3


def test_invalid_input_comes_back_as_422_naming_the_field(client: at.Client, server: Any) -> None:
    with pytest.raises(at.UnprocessableEntityError) as info:
        client.studies.create("bad", [{"name": "x", "type": "float", "low": 1, "high": 0}])
    assert info.value.field is not None and info.value.field.startswith("space.0")
    assert "greater than low" in info.value.message
    assert len(server.calls) == 1


def test_get_by_id_and_by_name(client: at.Client, server: Any) -> None:
    created = client.studies.create("alpha", server.SPACE)
    assert client.studies.get(created.id).name == "alpha"
    assert client.studies.get(str(created.id)).id == created.id
    assert client.studies.get("alpha").id == created.id
    assert server.calls_to("GET", "/v1/studies")[-1].params["name"] == "alpha"
    with pytest.raises(at.NotFoundError) as info:
        client.studies.get("missing")
    assert info.value.field == "name"


def test_list_follows_cursors(client: at.Client, server: Any) -> None:
    for i in range(5):
        client.studies.create(f"s{i}", server.SPACE)
    names = [s.name for s in client.studies.list()]
    assert names == ["s0", "s1", "s2", "s3", "s4"]
    assert len(server.calls_to("GET", "/v1/studies")) == 3


def test_update_merges_settings_mapping(client: at.Client, server: Any) -> None:
    study = client.studies.create("s", server.SPACE, settings={"seed": 7})
    study.update(settings={"heartbeat_timeout": 30}, state="paused")
    sent = server.calls_to("PATCH", r"/v1/studies/\d+")[0].body
    assert sent["settings"]["seed"] == 7 and sent["settings"]["heartbeat_timeout"] == 30
    assert study.data.state == at.StudyState.paused
    assert study.refresh().settings.seed == 7


def test_delete(client: at.Client, server: Any) -> None:
    study = client.studies.create("s", server.SPACE)
    client.studies.delete("s")
    assert server.studies == {}
    with pytest.raises(at.NotFoundError):
        study.refresh()


def test_ask_returns_handles(client: at.Client, server: Any) -> None:
    study = client.studies.create("s", server.SPACE)
    trials = study.ask(3, evaluator="worker-1")
    assert len(trials) == 3 and all(isinstance(t, at.TrialHandle) for t in trials)
    assert 0.0 <= trials[0].params["x"] <= 1.0
    assert server.calls_to("POST", r"/v1/studies/\d+/trials:ask")[0].body["evaluator"] == "worker-1"


def test_ask_polls_a_202_operation(client: at.Client, server: Any, sleeps: list[float]) -> None:
    study = client.studies.create("s", server.SPACE)
    server.ask_mode = "operation"
    server.polls_until_done = 3
    trials = study.ask(2)
    assert len(trials) == 2 and {t.id for t in trials} <= set(server.trials)
    assert len(server.calls_to("GET", r"/v1/operations/\d+")) == 3
    assert len(sleeps) == 3 and sleeps[0] < sleeps[1] < sleeps[2]


def test_failed_operation_raises(client: at.Client, server: Any) -> None:
    study = client.studies.create("s", server.SPACE)
    server.ask_mode = "operation"
    server.operation_error = "strategy crashed"
    with pytest.raises(at.OperationError, match="strategy crashed"):
        study.ask()


def test_operation_timeout(client: at.Client, server: Any) -> None:
    study = client.studies.create("s", server.SPACE)
    server.ask_mode = "operation"
    server.polls_until_done = 10**6
    with pytest.raises(at.APITimeoutError):
        study.ask(timeout=0)


def test_tell_bare_float_maps_to_single_objective(client: at.Client, server: Any) -> None:
    study = client.studies.create("s", server.SPACE, objectives=["loss"])
    trial = study.ask()[0]
    told = trial.tell(0.125)
    assert server.calls_to("POST", r"/v1/trials/\d+:tell")[0].body["values"] == {"loss": 0.125}
    assert told.values == {"loss": 0.125} and trial.state == at.TrialState.completed


def test_tell_forms_with_two_objectives(client: at.Client, server: Any) -> None:
    study = client.studies.create("s", server.SPACE, objectives=TWO_OBJECTIVES)
    first, second = study.ask(2)
    with pytest.raises(ValueError, match="one objective"):
        first.tell(1.0)
    with pytest.raises(ValueError, match="not a finite"):
        first.tell({"loss": math.nan, "acc": 1.0})
    assert server.calls_to("POST", r"/v1/trials/\d+:tell") == []
    assert first.tell([0.5, 0.9]).values == {"loss": 0.5, "acc": 0.9}
    assert second.tell({"loss": 0.1, "acc": 0.2}).values == {"loss": 0.1, "acc": 0.2}


def test_fail_stop_report_heartbeat(client: at.Client, server: Any) -> None:
    study = client.studies.create("s", server.SPACE)
    a, b, c = study.ask(3)
    assert a.fail("out of memory").failure_reason == "out of memory"
    server.should_stop_after_step = 2
    assert b.report(1, 0.5) is False
    assert b.report(2, {"value": 0.4}) is True and b.should_stop
    assert server.trials[b.id]["intermediate"] == {"1": {"value": 0.5}, "2": {"value": 0.4}}
    assert b.stop().state == at.TrialState.stopped
    beat = c.heartbeat()
    assert beat.state == at.TrialState.running and beat.should_stop is False


def test_trials_iterates_pages_and_filters(client: at.Client, server: Any) -> None:
    study = client.studies.create("s", server.SPACE)
    trials = study.ask(5)
    trials[0].tell(0.3)
    trials[1].tell(0.1)
    assert len(list(study.trials())) == 5
    completed = list(study.trials(state="completed"))
    assert sorted(t.id for t in completed) == sorted([trials[0].id, trials[1].id])
    assert study.best().id == trials[1].id
    assert len(study.pareto()) == 2


def test_add_trial_and_handles_by_id(client: at.Client, server: Any) -> None:
    study = client.studies.create("s", server.SPACE)
    pending = study.add_trial({"x": 0.5})
    done = study.add_trial({"x": 0.2}, values=0.04)
    assert pending.state == at.TrialState.pending
    assert done.values == {"value": 0.04}
    again = client.trials.get(pending.id)
    assert again.params == {"x": 0.5}
    assert study.trial(done.id).state == at.TrialState.completed


def test_export_import_round_trip(client: at.Client, server: Any) -> None:
    study = client.studies.create("s", server.SPACE)
    study.ask()[0].tell(0.5)
    export = study.export()
    assert isinstance(export, at.StudyExport) and len(export.trials) == 1
    data = export.model_dump(mode="json")
    data["study"]["name"] = "copy"
    copy = client.studies.import_(data)
    assert copy.name == "copy" and copy.id != study.id
    assert [t.values for t in copy.trials()] == [{"value": 0.5}]

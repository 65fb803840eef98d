"""/v1/studies: create, read, list, update, delete, export/import, and bad input."""

from __future__ import annotations

import pytest

from tests.conftest import SPACE


def test_create_and_read_study(http, make_study):
    study = make_study(objectives=[{"name": "loss", "direction": "minimize"}])
    r = http.get(f"/v1/studies/{study['id']}")
    assert r.status_code == 200
    body = r.json()
    assert body["name"] == study["name"]
    assert [p["name"] for p in body["space"]] == ["x", "n", "opt", "momentum"]
    assert body["objectives"][0]["name"] == "loss"
    assert body["state"] == "running"


def test_duplicate_name_is_409(http, make_study):
    study = make_study()
    r = http.post(
        "/v1/studies", json={"name": study["name"], "space": SPACE, "strategy": {"name": "random"}}
    )
    assert r.status_code == 409
    assert r.json()["error"]["field"] == "name"


@pytest.mark.parametrize(
    ("space", "field"),
    [
        ([], "space"),
        ([{"name": "x", "type": "float", "low": 1, "high": 1}], "space[0].high"),
        ([{"name": "x", "type": "float", "low": 2, "high": 1}], "space[0].high"),
        ([{"name": "x", "type": "float", "low": 0, "high": 1, "log": True}], "space[0].low"),
        ([{"name": "x", "type": "int", "low": 0, "high": 9, "log": True}], "space[0].low"),
        ([{"name": "x", "type": "categorical", "choices": []}], "space[0].choices"),
        ([{"name": "x", "type": "categorical", "choices": ["a", "a"]}], "space[0].choices"),
        ([{"name": "x", "type": "categorical", "choices": [-4, -4.0]}], "space[0].choices"),
        (
            [
                {"name": "x", "type": "float", "low": 0, "high": 1},
                {"name": "x", "type": "float", "low": 0, "high": 1},
            ],
            "space[1].name",
        ),
        ([{"name": "x", "type": "float", "low": 0}], "space[0].high"),
        ([{"name": "x", "type": "bogus"}], "space[0].type"),
        ([{"name": "1x", "type": "float", "low": 0, "high": 1}], "space[0].name"),
        ([{"name": "x", "type": "float", "low": 0, "high": 1, "extra": 1}], "space[0].extra"),
        (
            [
                {
                    "name": "x",
                    "type": "float",
                    "low": 0,
                    "high": 1,
                    "condition": {"parent": "nope", "values": ["a"]},
                }
            ],
            "space[0].condition.parent",
        ),
        (
            [
                {"name": "c", "type": "categorical", "choices": ["a"]},
                {
                    "name": "x",
                    "type": "float",
                    "low": 0,
                    "high": 1,
                    "condition": {"parent": "c", "values": ["b"]},
                },
            ],
            "space[1].condition.values",
        ),
        ([{"name": "x", "type": "int", "low": 0, "high": 9, "step": 2}], "space[0].high"),
    ],
)
def test_invalid_space_is_422_naming_the_field(http, space, field):
    r = http.post("/v1/studies", json={"name": "bad", "space": space})
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid_input"
    assert error["field"] == field, error
    assert http.get("/v1/studies").json()["items"] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"objectives": []}, "objectives"),
        ({"objectives": [{"name": "a", "direction": "up"}]}, "objectives[0].direction"),
        ({"objectives": [{"name": "a"}, {"name": "a"}]}, "objectives[1].name"),
        ({"constraints": [{"name": "c"}]}, "constraints[0].upper"),
        ({"strategy": {"name": "no-such"}}, "strategy.name"),
        ({"strategy": {"name": "random", "options": {"nope": 1}}}, "strategy.options.nope"),
        ({"settings": {"heartbeat_timeout": -1}}, "settings.heartbeat_timeout"),
        ({"settings": {"fallback_strategy": "gp"}}, "settings.fallback_strategy"),
        (
            {
                "strategy": {"name": "zo-adam"},
                "space": [{"name": "c", "type": "categorical", "choices": ["a", "b"]}],
            },
            "strategy.name",
        ),
        (
            {"strategy": {"name": "cma-es"}, "objectives": [{"name": "a"}, {"name": "b"}]},
            "strategy.name",
        ),
        ({"settings": {"fallback_strategy": "nope"}}, "settings.fallback_strategy"),
        ({"name": ""}, "name"),
        ({"name": "x" * 300}, "name"),
        ({"name": 12}, "name"),
    ],
)
def test_invalid_study_fields_are_422(http, body, field):
    payload = {"name": "bad", "space": SPACE[:1], "strategy": {"name": "random"}, **body}
    r = http.post("/v1/studies", json=payload)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == field


@pytest.mark.parametrize(
    "raw",
    [b"{", b"null", b"[]", b'"x"', b"\xff\xfe", b'{"name": "a", "space": NaN}'],
)
def test_malformed_bodies_are_4xx_not_500(http, raw):
    r = http.post("/v1/studies", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"]


def test_huge_body_is_413(http):
    r = http.post("/v1/studies", content=b"x", headers={"content-length": str(10**12)})
    assert r.status_code == 413


@pytest.mark.parametrize("sid", ["abc", "0", "-1", "99999999999999999999999", "1.5"])
def test_bad_study_ids(http, sid):
    r = http.get(f"/v1/studies/{sid}")
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "study_id"


def test_missing_study_is_404(http):
    r = http.get("/v1/studies/424242")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "study_not_found"


def test_list_paginates(http, make_study):
    ids = [make_study()["id"] for _ in range(5)]
    seen, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = http.get("/v1/studies", params=params).json()
        seen += [s["id"] for s in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == ids
    assert http.get("/v1/studies", params={"cursor": "zz"}).json()["error"]["field"] == "cursor"
    assert http.get("/v1/studies", params={"limit": 0}).json()["error"]["field"] == "limit"


def test_change_strategy_keeps_history(http, make_study):
    study = make_study()
    trial = http.post(f"/v1/studies/{study['id']}/trials:ask", json={"count": 1}).json()["trials"][
        0
    ]
    http.post(f"/v1/trials/{trial['id']}:tell", json={"values": {"value": 1.0}})
    r = http.patch(f"/v1/studies/{study['id']}", json={"strategy": {"name": "sobol"}})
    assert r.status_code == 200
    assert r.json()["strategy"]["name"] == "sobol"
    assert r.json()["trial_counts"] == {"completed": 1}
    new = http.post(f"/v1/studies/{study['id']}/trials:ask", json={"count": 1}).json()["trials"]
    assert new[0]["strategy"] == "sobol"
    bad = http.patch(f"/v1/studies/{study['id']}", json={"strategy": {"name": "nope"}})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "strategy.name"


def test_paused_study_refuses_asks(http, make_study):
    study = make_study()
    http.patch(f"/v1/studies/{study['id']}", json={"state": "paused"})
    r = http.post(f"/v1/studies/{study['id']}/trials:ask", json={})
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "study_paused"


def test_delete_study(http, make_study):
    study = make_study()
    assert http.delete(f"/v1/studies/{study['id']}").status_code == 204
    assert http.get(f"/v1/studies/{study['id']}").status_code == 404
    assert http.delete(f"/v1/studies/{study['id']}").status_code == 404


def test_export_import_roundtrip(http, make_study):
    study = make_study(objectives=[{"name": "value"}])
    sid = study["id"]
    trials = http.post(f"/v1/studies/{sid}/trials:ask", json={"count": 4}).json()["trials"]
    http.post(f"/v1/trials/{trials[0]['id']}:report", json={"step": 1, "values": {"value": 3.0}})
    http.post(f"/v1/trials/{trials[0]['id']}:tell", json={"values": {"value": 2.0}})
    http.post(f"/v1/trials/{trials[1]['id']}:tell", json={"state": "failed", "reason": "oom"})
    exported = http.get(f"/v1/studies/{sid}:export").json()
    assert len(exported["trials"]) == 4
    exported["study"]["name"] = "copy"
    r = http.post("/v1/studies:import", json=exported)
    assert r.status_code == 201, r.text
    again = http.get(f"/v1/studies/{r.json()['id']}:export").json()
    assert again == exported
    assert r.json()["trial_counts"] == {"completed": 1, "failed": 1, "running": 2}


def test_a_study_stored_with_choices_now_refused_still_reads_and_exports(http, make_study, db_url):
    # 1 and 1.0 became one choice after such studies could be created; they must still load.
    from datetime import timedelta

    from sqlalchemy import create_engine, update
    from sqlalchemy.orm import Session

    from asktell.db.models import StudyRow

    space = [{"name": "c", "type": "categorical", "choices": ["a", 1]}]
    study = make_study(space=space, objectives=[{"name": "value"}])
    sid = study["id"]
    trial = http.post(f"/v1/studies/{sid}/trials:ask", json={}).json()["trials"][0]
    http.post(f"/v1/trials/{trial['id']}:tell", json={"values": {"value": 1.0}})
    engine = create_engine(db_url)
    with Session(engine) as session, session.begin():
        row = session.get(StudyRow, sid)
        spec = {**row.spec, "space": [{**row.spec["space"][0], "choices": ["a", 1, 1.0]}]}
        later = row.updated_at + timedelta(seconds=1)  # past the parsed-study cache
        session.execute(
            update(StudyRow).where(StudyRow.id == sid).values(spec=spec, updated_at=later)
        )
    engine.dispose()
    assert http.get(f"/v1/studies/{sid}").status_code == 200
    exported = http.get(f"/v1/studies/{sid}:export")
    assert exported.status_code == 200, exported.text
    assert exported.json()["study"]["space"][0]["choices"] == ["a", 1, 1.0]
    assert exported.json()["trials"][0]["values"] == {"value": 1.0}
    asked = http.post(f"/v1/studies/{sid}/trials:ask", json={})
    assert asked.status_code == 200, asked.text


def test_import_rejects_params_outside_space(http, make_study):
    study = make_study()
    exported = http.get(f"/v1/studies/{study['id']}:export").json()
    exported["study"]["name"] = "copy"
    exported["trials"] = [
        {
            "state": "completed",
            "params": {"x": 99, "n": 1, "opt": "adam"},
            "values": {"value": 1},
            "created_at": "2026-01-01T00:00:00Z",
        }
    ]
    r = http.post("/v1/studies:import", json=exported)
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "trials[0].params.x"
    assert [s["name"] for s in http.get("/v1/studies").json()["items"]] == [study["name"]]


def test_retried_create_with_idempotency_key_replays(http):
    body = {"name": "once", "space": SPACE, "strategy": {"name": "random"}}
    headers = {"Idempotency-Key": "k-1"}
    first = http.post("/v1/studies", json=body, headers=headers)
    again = http.post("/v1/studies", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert len(http.get("/v1/studies").json()["items"]) == 1
    other = http.post("/v1/studies", json=body, headers={"Idempotency-Key": "k-2"})
    assert other.status_code == 409


def test_retried_manual_trial_is_added_once(http, make_study):
    sid = make_study()["id"]
    body = {"params": {"x": 1.0, "n": 3, "opt": "adam"}, "values": {"value": 1.0}}
    for _ in range(3):
        r = http.post(f"/v1/studies/{sid}/trials", json=body, headers={"Idempotency-Key": "t"})
        assert r.status_code == 201
    assert len(http.get(f"/v1/studies/{sid}/trials").json()["items"]) == 1
    reused = http.post(
        "/v1/studies", json={"name": "z", "space": SPACE}, headers={"Idempotency-Key": "t"}
    )
    assert reused.status_code == 409 and reused.json()["error"]["field"] == "Idempotency-Key"

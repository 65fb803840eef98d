"""The trials CSV download (filters, batches, formula-safe cells) and deleting a study with
everything in it, on both engines."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import create_engine, func, select

from asktell.dashboard import trials_csv
from asktell.dashboard.trials_csv import csv_cell
from asktell.db.models import IntermediateRow, NoteRow, StudyRow, TrialRow
from tests.api.test_dashboard_api import D, add, ask

HOSTILE = ['=HYPERLINK("http://x","y")', "+1+1", "-2", "@SUM(A1)", 'plain, with "quotes"\n']
SPACE = [
    {"name": "x", "type": "float", "low": -5.0, "high": 5.0},
    {"name": "pick", "type": "categorical", "choices": [*HOSTILE, -3, True]},
]


def rows_of(http, sid: int, **params) -> list[dict]:
    r = http.get(f"{D}/studies/{sid}/trials.csv", params=params)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"].startswith('attachment; filename="study-')
    return list(csv.DictReader(io.StringIO(r.text)))


def test_cells_that_would_be_formulas_are_quoted():
    assert [csv_cell(v) for v in HOSTILE[:4]] == ["'" + v for v in HOSTILE[:4]]
    assert csv_cell("\tx") == "'\tx" and csv_cell("\rx") == "'\rx"
    assert csv_cell(-2.5) == -2.5 and csv_cell(-3) == -3 and csv_cell(True) == "true"
    assert csv_cell(None) == "" and csv_cell([1, "=a"]) == '[1,"=a"]'
    assert csv_cell({"=k": 1}) == '{"=k":1}' and csv_cell("a=b") == "a=b"


def test_every_column_and_the_table_filters(http, make_study):
    s = make_study(
        space=SPACE,
        objectives=[{"name": "loss"}, {"name": "acc", "direction": "maximize"}],
        constraints=[{"name": "mem", "upper": 1.0}],
    )
    sid = s["id"]
    told = []
    for i, pick in enumerate([*HOSTILE, -3, True]):
        values = {"loss": -i, "acc": 0.5, "mem": i}
        body = {"params": {"x": i - 3.5, "pick": pick}, "values": values}
        r = http.post(f"/v1/studies/{sid}/trials", json=body)
        assert r.status_code == 201, r.text
        told.append(r.json()["id"])
    (running,) = ask(http, sid, evaluator="=cmd|' /C calc'!A0")
    (failed,) = ask(http, sid, evaluator="@evil")
    r = http.post(f"/v1/trials/{failed['id']}:tell", json={"state": "failed", "reason": "-oom, x"})
    assert r.status_code == 200, r.text

    rows = rows_of(http, sid)
    assert list(rows[0]) == [
        "id", "state", "value.loss", "value.acc", "value.mem", "param.x", "param.pick",
        "strategy", "evaluator", "failure_reason", "created_at", "started_at", "finished_at",
    ]  # fmt: skip
    assert [int(r["id"]) for r in rows] == [*told, running["id"], failed["id"]]
    by_id = {int(r["id"]): r for r in rows}
    picks = [by_id[t]["param.pick"] for t in told]
    assert picks == ["'" + v for v in HOSTILE[:4]] + [HOSTILE[4], "-3", "true"]
    assert by_id[told[2]]["value.loss"] == "-2.0" and by_id[told[3]]["value.mem"] == "3.0"
    assert by_id[told[1]]["param.x"] == "-2.5" and by_id[told[1]]["strategy"] == "manual"
    assert by_id[running["id"]]["evaluator"] == "'=cmd|' /C calc'!A0"
    assert by_id[running["id"]]["state"] == "running" and by_id[running["id"]]["value.loss"] == ""
    assert by_id[failed["id"]]["evaluator"] == "'@evil"
    assert by_id[failed["id"]]["failure_reason"] == "'-oom, x"
    assert by_id[failed["id"]]["finished_at"] and by_id[told[0]]["created_at"]

    assert [r["id"] for r in rows_of(http, sid, state="failed")] == [str(failed["id"])]
    both = rows_of(http, sid, state=["failed", "running"])
    assert [int(r["id"]) for r in both] == [running["id"], failed["id"]]
    assert [r["id"] for r in rows_of(http, sid, evaluator="@evil")] == [str(failed["id"])]
    assert len(rows_of(http, sid, strategy="manual")) == len(told)
    assert rows_of(http, sid, strategy="nope") == []


def test_streams_in_batches_and_rejects_bad_input(http, make_study, monkeypatch):
    monkeypatch.setattr(trials_csv, "BATCH", 3)
    s = make_study()
    sid = s["id"]
    ids = [add(http, sid, 0.25 * i, {"value": float(i)})["id"] for i in range(10)]
    with http.stream("GET", f"{D}/studies/{sid}/trials.csv") as r:
        assert r.status_code == 200
        chunks = list(r.iter_text())
    rows = list(csv.DictReader(io.StringIO("".join(chunks))))
    assert [int(r["id"]) for r in rows] == ids and rows[9]["value.value"] == "9.0"
    assert rows[0]["param.momentum"] == "" and rows[0]["param.opt"] == "adam"

    r = http.get(f"{D}/studies/{sid}/trials.csv", params={"state": "done"})
    assert r.status_code == 422 and r.json()["error"]["field"].startswith("state")
    r = http.get(f"{D}/studies/{sid}/trials.csv", params={"evaluator": "e" * 200})
    assert r.status_code == 422 and r.json()["error"]["field"] == "evaluator"
    assert http.get(f"{D}/studies/999999/trials.csv").status_code == 404
    empty = make_study()
    assert rows_of(http, empty["id"]) == []


def test_deleting_a_study_removes_its_trials_notes_and_curves(http, make_study, db_url):
    keep = make_study()
    add(http, keep["id"], 0.0, {"value": 1.0})
    s = make_study()
    sid = s["id"]
    (t,) = ask(http, sid)
    assert http.post(f"/v1/trials/{t['id']}:report", json={"step": 1, "values": {"value": 2}})
    assert http.put(f"/v1/studies/{sid}/note", json={"body": "n", "version": 0}).status_code == 200
    assert http.put(f"/v1/trials/{t['id']}/note", json={"body": "n", "version": 0})
    add(http, sid, 1.0, {"value": 1.0})
    assert http.delete(f"/v1/studies/{sid}").status_code == 204
    assert http.get(f"{D}/studies/{sid}").status_code == 404
    assert http.get(f"{D}/studies/{sid}/trials.csv").status_code == 404
    engine = create_engine(db_url)
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).where(StudyRow.id == sid)) == 0
        assert conn.scalar(select(func.count()).where(TrialRow.study_id == sid)) == 0
        assert conn.scalar(select(func.count()).where(IntermediateRow.trial_id == t["id"])) == 0
        assert conn.scalar(select(func.count()).select_from(NoteRow)) == 0
        assert conn.scalar(select(func.count()).where(TrialRow.study_id == keep["id"])) == 1
    engine.dispose()
    assert http.delete(f"/v1/studies/{sid}").status_code == 404


@pytest.mark.parametrize(
    "body, field",
    [
        ({"name": "bad name!", "space": SPACE[:1]}, "name"),
        ({"name": "ok", "space": []}, "space"),
        ({"name": "ok", "space": [{**SPACE[0], "low": 2, "high": 1}]}, "space[0]"),
        ({"name": "ok", "space": SPACE[:1], "objectives": [{"name": "=a"}]}, "objectives[0].name"),
        ({"name": "ok", "space": SPACE[:1], "strategy": {"name": "nope"}}, "strategy"),
    ],
)
def test_create_errors_name_the_field_the_form_marks(http, body, field):
    r = http.post("/v1/studies", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"].startswith(field)

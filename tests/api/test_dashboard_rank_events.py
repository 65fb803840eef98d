"""The rank plot payload and the study's server-sent change events."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest

from asktell.dashboard.rank import ranks
from tests.api.test_dashboard_api import D, add, get


def test_ranks_put_the_best_at_zero_and_share_ties():
    score = np.array([3.0, 1.0, np.nan, 2.0, 3.0, -np.inf])
    r = ranks(score)
    assert r[0] == r[4] == 0.0
    assert r[3] == pytest.approx(2 / 3) and r[1] == pytest.approx(1.0)
    assert np.isnan(r[2]) and np.isnan(r[5])
    assert np.isnan(ranks(np.array([np.nan]))).all() and ranks(np.array([5.0]))[0] == 0.0


def test_rank_payload_ranks_every_trial_and_downsamples(http, make_study):
    s = make_study(objectives=[{"name": "acc", "direction": "maximize"}])
    for i in range(40):
        add(http, s["id"], -4.0 + i * 0.2, {"acc": float(i)}, opt="adam" if i % 2 else "sgd")
    d = get(http, f"{D}/studies/{s['id']}/rank", max_points=10)
    assert d["objective"] == "acc" and d["direction"] == "maximize"
    assert d["total"] == d["ranked"] == 40 and d["shown"] == len(d["ids"]) <= 10
    assert set(d["columns"]) == {"x", "n", "opt", "momentum"}
    best = d["ids"][int(np.argmax(d["values"]))]
    assert d["rank"][d["ids"].index(best)] == 0.0
    by_value = sorted(zip(d["values"], d["rank"], strict=True))
    assert [r for _, r in by_value] == sorted((r for _, r in by_value), reverse=True)
    assert d["stamp"]


def test_rank_of_an_empty_study_and_bad_objective(http, make_study):
    s = make_study()
    d = get(http, f"{D}/studies/{s['id']}/rank")
    assert d["shown"] == 0 and d["rank"] == [] and d["ranked"] == 0
    r = http.get(f"{D}/studies/{s['id']}/rank", params={"objective": "nope"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "objective"
    assert http.get(f"{D}/studies/999999/rank").status_code == 404


def _events(http, sid: int, timeout: float) -> list[dict]:
    with http.stream("GET", f"{D}/studies/{sid}/events", params={"timeout": timeout}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        text = "".join(r.iter_text())
    assert text.startswith("retry: ")
    return [
        json.loads(line.removeprefix("data: "))
        for line in text.splitlines()
        if line.startswith("data: ")
    ]


def test_events_stream_starts_with_the_current_stamp_and_ends_after_timeout(http, make_study):
    s = make_study()
    add(http, s["id"], 1.0, {"value": 1.0})
    events = _events(http, s["id"], 0)
    assert len(events) == 1
    summary = get(http, f"{D}/studies/{s['id']}")
    assert events[0]["stamp"] == summary["stamp"] and events[0]["state"] == "running"


def test_events_report_a_tell_while_streaming(http, make_study):
    s = make_study()
    trial = http.post(f"/v1/studies/{s['id']}/trials:ask", json={"count": 1}).json()
    tid = trial["trials"][0]["id"]

    def tell_soon():
        time.sleep(0.6)
        http.post(f"/v1/trials/{tid}:tell", json={"values": {"value": 2.0}})

    teller = threading.Thread(target=tell_soon)
    teller.start()
    events = _events(http, s["id"], 2.0)
    teller.join()
    assert len(events) >= 2
    assert events[-1]["stamp"] != events[0]["stamp"]


def test_events_of_an_unknown_study_are_404(http):
    assert http.get(f"{D}/studies/999999/events", params={"timeout": 0}).status_code == 404
    r = http.get(f"{D}/studies/1/events", params={"timeout": -1})
    assert r.status_code == 422 and r.json()["error"]["field"] == "timeout"

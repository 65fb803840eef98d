"""The ask/tell fast lane answers exactly as the FastAPI routes would.

A request the lane takes and the same request with an extra query parameter (which the
lane leaves to FastAPI, and FastAPI ignores) must get the same status and error; the
lane must really serve the common requests; and its statement-per-write path on
PostgreSQL must keep a tell's idempotency under races.
"""

from __future__ import annotations

import threading

import pytest

from asktell.api.deps import get_writer
from asktell.core.errors import Forbidden

TO_FASTAPI = "x-route=fastapi"  # a query parameter the lane does not know


def _both(http, path: str, **kwargs):
    """The lane's answer and FastAPI's answer to one request."""
    sep = "&" if "?" in path else "?"
    return http.post(path, **kwargs), http.post(f"{path}{sep}{TO_FASTAPI}", **kwargs)


def _same_error(lane, fastapi) -> None:
    assert lane.status_code == fastapi.status_code
    assert lane.json() == fastapi.json()


def test_the_lane_serves_ask_and_tell(app, http, make_study):
    """FastAPI's dependencies are skipped: an override that refuses every writer
    refuses only the requests that reach FastAPI."""
    study = make_study()

    async def refuse():
        raise Forbidden("refused by the test", field="authorization")

    app.dependency_overrides[get_writer] = refuse
    ask, via_fastapi = _both(http, f"/v1/studies/{study['id']}/trials:ask", json={"count": 1})
    assert ask.status_code == 200, ask.text
    assert via_fastapi.status_code == 403
    trial = ask.json()["trials"][0]
    tell = http.post(f"/v1/trials/{trial['id']}:tell", json={"values": {"value": 1.0}})
    assert tell.status_code == 200, tell.text
    assert tell.json()["state"] == "completed"


def test_answers_have_the_same_shape(http, make_study):
    study = make_study()
    lane, fastapi = _both(http, f"/v1/studies/{study['id']}/trials:ask", json={"count": 2})
    assert lane.status_code == fastapi.status_code == 200
    assert lane.headers["content-type"] == fastapi.headers["content-type"]
    a, b = lane.json()["trials"][0], fastapi.json()["trials"][0]
    assert a.keys() == b.keys()
    assert {k: a[k] for k in ("state", "strategy", "evaluator", "values")} == {
        k: b[k] for k in ("state", "strategy", "evaluator", "values")
    }
    told = [
        http.post(f"/v1/trials/{t['id']}:tell{q}", json={"values": {"value": 2.0}})
        for t, q in ((a, ""), (b, "?" + TO_FASTAPI))
    ]
    assert [r.status_code for r in told] == [200, 200]
    assert told[0].json().keys() == told[1].json().keys()


BAD_ASKS = [
    {"content": b"{not json", "headers": {"content-type": "application/json"}},
    {"content": b"", "headers": {"content-type": "application/json"}},
    {"json": {"count": 0}},
    {"json": {"count": "many"}},
    {"json": {"count": 1, "evaluator": "x" * 10_000}},
    {"json": [1, 2]},
    {"content": b'{"count": 1}', "headers": {"content-type": "text/plain"}},
    {"json": {"count": 1}, "headers": {"authorization": "Basic abc"}},
    {"json": {"count": 1}, "headers": {"authorization": "Bearer unknown-token"}},
]


@pytest.mark.parametrize("kwargs", BAD_ASKS)
def test_bad_asks_get_fastapis_error(http, make_study, kwargs):
    study = make_study()
    lane, fastapi = _both(http, f"/v1/studies/{study['id']}/trials:ask", **kwargs)
    assert lane.status_code >= 400
    _same_error(lane, fastapi)


@pytest.mark.parametrize(
    "path", ["/v1/studies/0/trials:ask", "/v1/studies/99999999999999999999/trials:ask"]
)
def test_ids_out_of_range_get_fastapis_error(http, path):
    lane, fastapi = _both(http, path, json={"count": 1})
    assert lane.status_code == 422
    _same_error(lane, fastapi)


def test_unknown_study_and_trial(http):
    lane, fastapi = _both(http, "/v1/studies/424242/trials:ask", json={"count": 1})
    assert lane.status_code == 404
    _same_error(lane, fastapi)
    lane, fastapi = _both(http, "/v1/trials/424242:tell", json={"values": {"value": 1.0}})
    assert lane.status_code == 404
    _same_error(lane, fastapi)


BAD_TELLS = [
    {"json": {"values": {"value": "NaN"}}},
    {"json": {"values": {"other": 1.0}}},
    {"json": {"values": {}}},
    {"json": {"state": "exploded"}},
    {"content": b'{"values": {"value": NaN}}', "headers": {"content-type": "application/json"}},
    {"content": b'{"values": {"value": 1e999}}', "headers": {"content-type": "application/json"}},
]


@pytest.mark.parametrize("kwargs", BAD_TELLS)
def test_bad_tells_get_fastapis_error(http, make_study, kwargs):
    study = make_study()
    trials = http.post(f"/v1/studies/{study['id']}/trials:ask", json={"count": 2}).json()
    first, second = (t["id"] for t in trials["trials"])
    lane = http.post(f"/v1/trials/{first}:tell", **kwargs)
    fastapi = http.post(f"/v1/trials/{second}:tell?{TO_FASTAPI}", **kwargs)
    assert lane.status_code == 422
    _same_error(lane, fastapi)
    # Nothing was written: both trials still take a good tell.
    for tid in (first, second):
        ok = http.post(f"/v1/trials/{tid}:tell", json={"values": {"value": 1.0}})
        assert ok.status_code == 200, ok.text


def test_retold_and_conflicting_tells(http, make_study):
    study = make_study()
    trial = http.post(f"/v1/studies/{study['id']}/trials:ask", json={"count": 1}).json()
    path = f"/v1/trials/{trial['trials'][0]['id']}:tell"
    first = http.post(path, json={"values": {"value": 1.0}})
    again = http.post(path, json={"values": {"value": 1.0}})
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    lane, fastapi = _both(http, path, json={"values": {"value": 2.0}})
    assert lane.status_code == 409
    _same_error(lane, fastapi)


def _race(http, tid: int) -> dict[float, list[int]]:
    """Eight threads tell one trial at once, half with 1.0 and half with 2.0."""
    statuses: dict[float, list[int]] = {1.0: [], 2.0: []}
    barrier = threading.Barrier(8)

    def tell(value: float) -> None:
        barrier.wait()
        r = http.post(f"/v1/trials/{tid}:tell", json={"values": {"value": value}})
        statuses[value].append(r.status_code)

    threads = [threading.Thread(target=tell, args=(1.0 + i % 2,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return statuses


def test_racing_tells_of_one_trial(http, make_study):
    """The first tell wins: the same value again is 200, the other one 409, and the
    stored value is the winner's."""
    study = make_study()
    for _ in range(5):
        trial = http.post(f"/v1/studies/{study['id']}/trials:ask", json={"count": 1}).json()
        tid = trial["trials"][0]["id"]
        statuses = _race(http, tid)
        stored = http.get(f"/v1/trials/{tid}").json()["values"]["value"]
        loser = 2.0 if stored == 1.0 else 1.0
        assert statuses[stored] == [200] * 4
        assert statuses[loser] == [409] * 4

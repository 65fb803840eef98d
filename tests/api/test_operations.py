"""Asks answered by workers: waiting, 202 operations, merging, deadlines, fallbacks."""

from __future__ import annotations

import threading
import time
from typing import ClassVar

import pytest

from asktell.core.encoding import SpaceEncoder
from asktell.strategies.base import Proposal, Strategy, StrategyConfig
from asktell.strategies.registry import register_strategy


class SlowConfig(StrategyConfig):
    seconds: float = 0.0
    fail: bool = False


@register_strategy("test-slow")
class SlowStrategy(Strategy):
    """Random points after a pause; records what it saw. Runs on workers only."""

    description = "test strategy"
    Config = SlowConfig
    calls: ClassVar[list[dict]] = []

    def suggest(self, snapshot, n, state):
        SlowStrategy.calls.append(
            {"n": n, "pending": len(snapshot.pending), "completed": len(snapshot.completed)}
        )
        time.sleep(self.config.seconds)
        if self.config.fail:
            raise RuntimeError("boom")
        import numpy as np

        rng = np.random.default_rng(len(SlowStrategy.calls))
        enc = SpaceEncoder(snapshot.space)
        return Proposal(enc.decode(rng.random((n, enc.d))))


@pytest.fixture(autouse=True)
def _reset_calls():
    SlowStrategy.calls.clear()


def slow_study(make_study, seconds=0.0, **extra):
    return make_study(
        strategy={"name": "test-slow", "options": {"seconds": seconds, **extra.pop("options", {})}},
        **extra,
    )


def test_worker_answers_within_the_ask(http, make_study):
    sid = slow_study(make_study)["id"]
    r = http.post(f"/v1/studies/{sid}/trials:ask", json={"count": 3, "evaluator": "e1"})
    assert r.status_code == 200, r.text
    trials = r.json()["trials"]
    assert len(trials) == 3 and {t["strategy"] for t in trials} == {"test-slow"}
    assert {t["evaluator"] for t in trials} == {"e1"}


def test_slow_ask_returns_202_and_operation_completes(http, make_study):
    sid = slow_study(make_study, seconds=0.8)["id"]
    r = http.post(f"/v1/studies/{sid}/trials:ask", json={"count": 2, "wait": 0.05})
    assert r.status_code == 202, r.text
    op = r.json()
    assert op["done"] is False
    deadline = time.time() + 20
    while not op["done"] and time.time() < deadline:
        time.sleep(0.1)
        op = http.get(f"/v1/operations/{op['id']}").json()
    assert op["done"] and len(op["trials"]) == 2


def test_worker_sees_pending_trials(http, make_study):
    sid = slow_study(make_study)["id"]
    http.post(f"/v1/studies/{sid}/trials:ask", json={"count": 2})
    http.post(f"/v1/studies/{sid}/trials:ask", json={"count": 1})
    assert SlowStrategy.calls[-1]["pending"] == 2


def test_concurrent_asks_are_merged(http, make_study):
    sid = slow_study(make_study, seconds=0.5)["id"]
    results: list = []

    def one(i):
        r = http.post(f"/v1/studies/{sid}/trials:ask", json={"count": 1, "evaluator": f"e{i}"})
        results.append(r)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
        time.sleep(0.02)
    for t in threads:
        t.join()
    assert all(r.status_code == 200 for r in results), [r.text for r in results]
    trials = [r.json()["trials"][0] for r in results]
    assert len({t["id"] for t in trials}) == 6
    assert len({repr(sorted(t["params"].items())) for t in trials}) == 6
    assert sorted(t["evaluator"] for t in trials) == [f"e{i}" for i in range(6)]
    assert len(SlowStrategy.calls) < 6
    assert sum(c["n"] for c in SlowStrategy.calls) == 6


def test_deadline_answers_with_fallback(http, make_study):
    sid = slow_study(make_study, seconds=1.5, settings={"suggestion_deadline": 0.2})["id"]
    started = time.time()
    r = http.post(f"/v1/studies/{sid}/trials:ask", json={"count": 2})
    assert r.status_code == 200, r.text
    assert time.time() - started < 1.4
    assert {t["strategy"] for t in r.json()["trials"]} == {"sobol"}
    time.sleep(1.6)
    trials = http.get(f"/v1/studies/{sid}/trials").json()["items"]
    assert len(trials) == 2


def test_failing_strategy_falls_back(http, make_study):
    sid = slow_study(make_study, options={"fail": True})["id"]
    r = http.post(f"/v1/studies/{sid}/trials:ask", json={"count": 2})
    assert r.status_code == 200, r.text
    assert {t["strategy"] for t in r.json()["trials"]} == {"sobol"}


def test_bad_operation_ids(http):
    assert http.get("/v1/operations/0").status_code == 422
    assert http.get("/v1/operations/abc").json()["error"]["field"] == "operation_id"
    assert http.get("/v1/operations/777").status_code == 404


def test_strategies_listing(http):
    names = {s["name"] for s in http.get("/v1/strategies").json()}
    assert {"random", "sobol", "test-slow"} <= names


def test_metrics_and_health(http, make_study):
    sid = make_study()["id"]
    http.post(f"/v1/studies/{sid}/trials:ask", json={"count": 1})
    told = http.post(f"/v1/studies/{sid}/trials:ask", json={"count": 1}).json()["trials"][0]
    assert http.post(f"/v1/trials/{told['id']}:tell", json={"values": {"value": 1.0}}).is_success
    assert http.get("/healthz").json() == {"status": "ok"}
    assert http.get("/readyz").json() == {"status": "ready"}
    text = http.get("/metrics").text
    for name in (
        "asktell_request_seconds_bucket",
        "asktell_asks_waiting",
        "asktell_jobs",
        'asktell_trials{state="running"} 1.0',
        'asktell_trials{state="completed"} 1.0',
        "asktell_suggest_seconds",
    ):
        assert name in text, name
    # ask and tell are served by the fast lane, which labels them as FastAPI would
    assert 'route="/v1/studies/{study_id}/trials:ask",status="200"' in text
    assert 'route="/v1/trials/{trial_id}:tell",status="200"' in text
    assert 'method="POST",route="unmatched",status="200"' not in text  # how the lane was labelled


def _buffer(http, sid):
    items = http.get(f"/v1/studies/{sid}/trials", params={"state": "pending"}).json()["items"]
    return {t["id"] for t in items}


def _wait_for(predicate, timeout=15.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not reached")


def test_prefetch_fills_a_buffer_that_asks_take_at_once(http, make_study):
    sid = slow_study(make_study, seconds=0.3, settings={"prefetch": 2})["id"]
    (first,) = http.post(f"/v1/studies/{sid}/trials:ask", json={"count": 1}).json()["trials"]
    buffered = _wait_for(lambda: len(_buffer(http, sid)) == 2 and _buffer(http, sid))
    started = time.time()
    (second,) = http.post(f"/v1/studies/{sid}/trials:ask", json={"count": 1}).json()["trials"]
    assert time.time() - started < 0.3
    assert second["id"] in buffered and second["strategy"] == "test-slow"
    assert second["state"] == "running"
    calls = len(SlowStrategy.calls)
    http.post(f"/v1/trials/{first['id']}:tell", json={"values": {"value": 1.0}})
    _wait_for(lambda: len(SlowStrategy.calls) > calls and SlowStrategy.calls[-1]["completed"])
    refreshed = _wait_for(
        lambda: (b := _buffer(http, sid)) and len(b) == 2 and not b & buffered and b
    )
    assert second["id"] not in refreshed
    assert SlowStrategy.calls[-1]["pending"] == 1  # the running trial, not the buffer


def _worker_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "asktell-worker" and t.is_alive()}


def test_shutdown_lets_the_job_in_flight_write_its_result(settings):
    # A tell queues a refill; the app stops while the worker computes it. The worker
    # finishes and writes before the database closes, and its thread ends.
    from fastapi.testclient import TestClient
    from sqlalchemy import create_engine, text

    from asktell.api.app import create_app

    before = _worker_threads()
    with TestClient(create_app(settings)) as http:
        body = {
            "name": "slow",
            "space": [{"name": "x", "type": "float", "low": 0.0, "high": 1.0}],
            "strategy": {"name": "test-slow", "options": {"seconds": 1.0}},
            "settings": {"prefetch": 1},
        }
        sid = http.post("/v1/studies", json=body).json()["id"]
        (trial,) = http.post(f"/v1/studies/{sid}/trials:ask", json={"count": 1}).json()["trials"]
        calls = len(SlowStrategy.calls)
        http.post(f"/v1/trials/{trial['id']}:tell", json={"values": {"value": 1.0}})
        _wait_for(lambda: len(SlowStrategy.calls) > calls)  # the refill is being computed
    assert not _worker_threads() - before
    engine = create_engine(settings.database_url)
    with engine.connect() as conn:
        jobs = conn.execute(text("SELECT state FROM jobs")).scalars().all()
        buffer = conn.execute(
            text("SELECT count(*) FROM trials WHERE prefetched AND state = 'pending'")
        ).scalar()
    engine.dispose()
    assert jobs and set(jobs) == {"done"}
    assert buffer == 1


def test_prefetch_respects_the_budget(http, make_study):
    sid = slow_study(make_study, settings={"prefetch": 5, "budget": 3})["id"]
    http.post(f"/v1/studies/{sid}/trials:ask", json={"count": 2})
    _wait_for(lambda: len(_buffer(http, sid)) == 1)
    assert len(http.post(f"/v1/studies/{sid}/trials:ask", json={"count": 5}).json()["trials"]) == 1
    r = http.post(f"/v1/studies/{sid}/trials:ask", json={"count": 1})
    assert r.status_code == 409 and r.json()["error"]["code"] == "budget_exhausted"


def test_openapi_docs(http):
    assert http.get("/docs").status_code == 200
    spec = http.get("/openapi.json").json()
    paths = spec["paths"]
    for path in (
        "/v1/studies",
        "/v1/studies/{study_id}/trials:ask",
        "/v1/trials/{trial_id}:tell",
        "/v1/trials/{trial_id}:report",
        "/v1/trials/{trial_id}:heartbeat",
        "/v1/operations/{operation_id}",
        "/v1/studies:import",
    ):
        assert path in paths, path
    assert paths["/v1/studies/{study_id}/trials:ask"]["post"]["operationId"] == "trials-ask_trials"


def test_changing_strategy_empties_the_buffer(http, make_study):
    sid = slow_study(make_study, settings={"prefetch": 2})["id"]
    http.post(f"/v1/studies/{sid}/trials:ask", json={"count": 1})
    _wait_for(lambda: len(_buffer(http, sid)) == 2)
    http.patch(f"/v1/studies/{sid}", json={"strategy": {"name": "random"}})
    assert _buffer(http, sid) == set()
    (trial,) = http.post(f"/v1/studies/{sid}/trials:ask", json={"count": 1}).json()["trials"]
    assert trial["strategy"] == "random"


def test_concurrent_asks_of_an_inline_strategy_with_state_all_succeed(http, make_study):
    """Sobol keeps its place in the sequence as state: parallel asks take turns writing it
    instead of losing the race and failing."""
    sid = make_study(strategy={"name": "sobol"})["id"]
    results: list = []

    def evaluator():
        for _ in range(6):
            results.append(http.post(f"/v1/studies/{sid}/trials:ask", json={"count": 1}))

    threads = [threading.Thread(target=evaluator) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.status_code for r in results] == [200] * 72, [r.text for r in results]
    trials = [r.json()["trials"][0] for r in results]
    assert len({t["id"] for t in trials}) == 72
    assert len({repr(sorted(t["params"].items())) for t in trials}) == 72

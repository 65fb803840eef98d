"""`study.optimize(n_jobs=4)` against a real server: parallel evaluators never share a point."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from typing import Any

import pytest

from asktell_client.types import TrialState

from .procs import Cluster
from .workload import (
    FAST_GP,
    EvaluatorPool,
    Ledger,
    check_study_outcome,
    create_study,
    fetch_trials,
    objective,
    point_key,
    recording_client,
    recording_http,
    shared_open_points,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(300)]

N_JOBS = 4


def grid(n: int) -> list[dict[str, Any]]:
    """Two integer parameters with `n` values each: few points, so collisions are likely."""
    return [
        {"name": "x", "type": "int", "low": 0, "high": n - 1},
        {"name": "y", "type": "int", "low": 0, "high": n - 1},
    ]


class Evaluations:
    """The objective, recording which points are being evaluated at the same time."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.active: Counter[str] = Counter()
        self.running = 0
        self.max_running = 0
        self.calls = 0
        self.clashes: list[str] = []
        self.rng = random.Random(0)

    def __call__(self, params: dict[str, Any]) -> float:
        key = point_key(params)
        with self.lock:
            if self.active[key]:
                self.clashes.append(key)
            self.active[key] += 1
            self.running += 1
            self.calls += 1
            self.max_running = max(self.max_running, self.running)
            pause = self.rng.uniform(0.03, 0.06)
        time.sleep(pause)
        with self.lock:
            self.active[key] -= 1
            self.running -= 1
        return objective(params)


CASES = [
    pytest.param("postgres", "random", 3, 24, id="postgres-random-3x3", marks=pytest.mark.postgres),
    pytest.param("sqlite", "random", 3, 24, id="sqlite-random-3x3"),
    pytest.param("sqlite", FAST_GP, 5, 12, id="sqlite-gp-5x5"),
]


@pytest.mark.parametrize(
    ("database_url", "strategy", "side", "n_trials"), CASES, indirect=["database_url"]
)
def test_parallel_evaluators_get_distinct_points(
    cluster: Cluster, database_url: str, strategy: Any, side: int, n_trials: int
) -> None:
    """4 threads of ask → evaluate → tell on a small grid; no point is handed out while
    another trial holds it, and every trial completes."""
    embedded = database_url.startswith("sqlite")
    server = cluster.server(database_url, worker=embedded)
    study_id = create_study(
        server.base_url, "parallel", budget=None, strategy=strategy, space=grid(side)
    )
    ledger = Ledger()
    evaluations = Evaluations()
    with recording_http(ledger) as http:
        study = recording_client(http, server.base_url).studies.get(study_id)
        results = study.optimize(evaluations, n_trials=n_trials, n_jobs=N_JOBS, show_progress=False)

    assert not ledger.server_errors, f"the server answered 5xx: {ledger.server_errors}"
    assert not evaluations.clashes, f"points evaluated twice at once: {evaluations.clashes}"
    assert evaluations.max_running >= 2, "the evaluators never ran in parallel"
    assert len(results) == n_trials == evaluations.calls
    assert len({t.id for t in results}) == n_trials, "a trial was evaluated twice"
    assert all(t.state == TrialState.completed for t in results), [t.state for t in results]

    trials = fetch_trials(server.base_url, study_id)
    assert sorted(t.id for t in trials) == sorted(t.id for t in results)
    clashes = shared_open_points(trials)
    assert not clashes, f"points open twice at once: {clashes}"
    assert len({t.evaluator for t in trials}) > 1, "one evaluator got every trial"


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres), "sqlite"], indirect=True
)
def test_parallel_asks_never_overrun_the_budget(cluster: Cluster, database_url: str) -> None:
    """4 evaluators on a model-based study with a budget: exactly `budget` trials are made,
    however many asks wait for the worker when the budget runs out (10 is no multiple of
    4, so asks wait for more points than the budget has left)."""
    budget = 10
    embedded = database_url.startswith("sqlite")
    server = cluster.server(database_url, worker=embedded, wait=False)
    if not embedded:
        cluster.worker(database_url, wait=False).wait_ready()
    server.wait_ready()
    study_id = create_study(server.base_url, "budget", budget=budget)
    ledger = Ledger()
    with EvaluatorPool(server.base_url, study_id, ledger, n=N_JOBS) as pool:
        pool.join(120.0)
    check_study_outcome(server.base_url, study_id, ledger, budget=budget, evaluators=N_JOBS)

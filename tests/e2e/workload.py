"""Evaluators that drive a study through the client SDK, and checks on what the server kept."""

from __future__ import annotations

import json
import math
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx

from asktell_client import Client, ConflictError
from asktell_client.types import Trial, TrialState

MAX_RETRIES = 12
OPERATION_TIMEOUT = 120.0
SPACE_2D = [
    {"name": "x", "type": "float", "low": -2.0, "high": 2.0},
    {"name": "y", "type": "float", "low": -2.0, "high": 2.0},
]
FAST_GP = {
    "name": "gp",
    "options": {
        "num_restarts": 1,
        "raw_samples": 32,
        "maxiter": 20,
        "fit_maxiter": 50,
        "timeout_sec": 1.0,
        "fit_timeout_sec": 1.0,
    },
}


def objective(params: dict[str, Any]) -> float:
    """A cheap function with a distinct value at almost every point."""
    return (params["x"] - 0.3) ** 2 + (params["y"] + 0.2) ** 2 + 0.1 * math.sin(5 * params["x"])


def point_key(params: dict[str, Any]) -> str:
    return json.dumps(params, sort_keys=True)


@dataclass(repr=False)
class Ledger:
    """What the evaluators saw: handed-out trials, acknowledged tells, 5xx answers, errors."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    asked: dict[int, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    handed_twice: list[str] = field(default_factory=list)
    told: dict[int, dict[str, float]] = field(default_factory=dict)
    server_errors: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    exhausted: set[str] = field(default_factory=set)
    transport_errors: int = 0
    stopped: threading.Event = field(default_factory=threading.Event)

    def on_response(self, response: httpx.Response) -> None:
        if response.status_code >= 500:
            request = response.request
            with self.lock:
                self.server_errors.append(
                    f"{request.method} {request.url.path} -> {response.status_code}"
                )

    def on_transport_error(self, exc: httpx.TransportError) -> None:
        with self.lock:
            self.transport_errors += 1

    def on_ask(self, evaluator: str, trial_id: int, params: dict[str, Any]) -> None:
        with self.lock:
            if trial_id in self.asked:
                self.handed_twice.append(
                    f"trial {trial_id} to {self.asked[trial_id][0]} and to {evaluator}"
                )
            self.asked[trial_id] = (evaluator, dict(params))

    def on_tell(self, trial_id: int, values: dict[str, float]) -> None:
        with self.lock:
            self.told[trial_id] = dict(values)

    def on_error(self, evaluator: str, exc: BaseException) -> None:
        with self.lock:
            self.errors.append(f"{evaluator}: {type(exc).__name__}: {exc}")

    def on_exhausted(self, evaluator: str) -> None:
        with self.lock:
            self.exhausted.add(evaluator)

    def __repr__(self) -> str:
        return f"Ledger({self.summary()})"

    @property
    def n_told(self) -> int:
        with self.lock:
            return len(self.told)

    def summary(self) -> str:
        with self.lock:
            return (
                f"asked {len(self.asked)}, told {len(self.told)}, "
                f"exhausted {sorted(self.exhausted)}, errors {self.errors}, "
                f"5xx {self.server_errors}, connection errors {self.transport_errors}"
            )


class EvaluatorStopped(RuntimeError):
    """The test is over: no more requests from its evaluators."""


class _CountingTransport(httpx.BaseTransport):
    """Passes requests on and reports connection failures to the ledger; refuses to send
    once the ledger is stopped, so evaluators of a finished test never reach a later one."""

    def __init__(self, ledger: Ledger):
        self._ledger = ledger
        self._inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self._ledger.stopped.is_set():
            raise EvaluatorStopped(f"{request.method} {request.url.path} after the test")
        try:
            return self._inner.handle_request(request)
        except httpx.TransportError as exc:
            self._ledger.on_transport_error(exc)
            raise

    def close(self) -> None:
        self._inner.close()


def recording_http(ledger: Ledger) -> httpx.Client:
    """An HTTP client that reports every response and connection failure to `ledger`."""
    return httpx.Client(
        transport=_CountingTransport(ledger), event_hooks={"response": [ledger.on_response]}
    )


def recording_client(http: httpx.Client, base_url: str) -> Client:
    """An SDK client on `http` that rides out a server restart."""
    return Client(base_url=base_url, max_retries=MAX_RETRIES, timeout=30.0, http_client=http)


def evaluate_until_exhausted(base_url: str, study_id: int, name: str, ledger: Ledger) -> None:
    """ask(1) → evaluate → tell, until the study's budget is used up."""
    rng = random.Random(name)
    try:
        with recording_http(ledger) as http:
            _evaluate_loop(recording_client(http, base_url), study_id, name, ledger, rng)
    except Exception as exc:
        ledger.on_error(name, exc)


def _evaluate_loop(
    client: Client, study_id: int, name: str, ledger: Ledger, rng: random.Random
) -> None:
    study = client.studies.get(study_id)
    while True:
        try:
            trials = study.ask(1, evaluator=name, timeout=OPERATION_TIMEOUT)
        except ConflictError as err:
            if err.code == "budget_exhausted":
                ledger.on_exhausted(name)
                return
            raise
        if not trials:
            raise AssertionError("an ask answered with no trials")
        for trial in trials:
            ledger.on_ask(name, trial.id, trial.params)
            time.sleep(rng.uniform(0.02, 0.05))
            values = {"value": objective(trial.params)}
            trial.tell(values)
            ledger.on_tell(trial.id, values)


class EvaluatorPool:
    """`n` evaluator threads on one study; leaving the `with` block stops them."""

    def __init__(self, base_url: str, study_id: int, ledger: Ledger, n: int = 4):
        self.ledger = ledger
        self.threads = [
            threading.Thread(
                target=evaluate_until_exhausted,
                args=(base_url, study_id, f"e2e-{i}", ledger),
                name=f"e2e-evaluator-{i}",
                daemon=True,
            )
            for i in range(n)
        ]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def __enter__(self) -> EvaluatorPool:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.ledger.stopped.set()

    @property
    def alive(self) -> bool:
        return any(t.is_alive() for t in self.threads)

    def join(self, timeout: float) -> None:
        """Wait for every evaluator; fail if one is still running after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(max(deadline - time.monotonic(), 0.0))
        stuck = [t.name for t in self.threads if t.is_alive()]
        assert not stuck, f"evaluators still running after {timeout}s: {stuck}; " + (
            self.ledger.summary()
        )


def wait_until(
    condition: Callable[[], bool], *, timeout: float, what: str, detail: Callable[[], str]
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}: {detail()}")
        time.sleep(0.02)


def create_study(
    base_url: str,
    name: str,
    *,
    budget: int | None,
    strategy: Any = FAST_GP,
    space: list[dict[str, Any]] | None = None,
) -> int:
    with Client(base_url=base_url, timeout=60.0) as client:
        settings = {"budget": budget} if budget is not None else None
        study = client.studies.create(
            name, space=space or SPACE_2D, strategy=strategy, settings=settings
        )
        return study.id


def fetch_trials(base_url: str, study_id: int) -> list[Trial]:
    with Client(base_url=base_url, timeout=60.0) as client:
        return list(client.studies.get(study_id).trials(page_size=1000))


def _interval(trial: Trial) -> tuple[datetime, datetime | None]:
    return trial.started_at or trial.created_at, trial.finished_at


# Server timestamps are taken in Python just before their statements run, so a tell and
# the ask that reuses the point it freed may overlap by that gap (about a millisecond,
# more when the machine is busy). A point handed out twice overlaps by a whole evaluation.
TIMESTAMP_SLACK = timedelta(milliseconds=25)


def shared_open_points(trials: Iterable[Trial]) -> list[str]:
    """Pairs of trials that were open at the same time on the same point."""
    by_point: dict[str, list[Trial]] = {}
    for trial in trials:
        by_point.setdefault(point_key(trial.params), []).append(trial)
    clashes = []
    for key, group in by_point.items():
        for i, a in enumerate(group):
            for b in group[i + 1 :]:
                a_start, a_end = _interval(a)
                b_start, b_end = _interval(b)
                a_end = None if a_end is None else a_end - TIMESTAMP_SLACK
                b_end = None if b_end is None else b_end - TIMESTAMP_SLACK
                if (a_end is None or b_start < a_end) and (b_end is None or a_start < b_end):
                    clashes.append(f"trials {a.id} and {b.id} both open on {key}")
    return clashes


def check_study_outcome(
    base_url: str,
    study_id: int,
    ledger: Ledger,
    *,
    budget: int,
    evaluators: int,
) -> None:
    """Every acknowledged tell is stored as told; the budget is used up by exactly those trials;
    no trial went to two evaluators; no point was open twice; no answer was a 5xx."""
    assert not ledger.errors, f"evaluators failed: {ledger.errors}"
    assert not ledger.server_errors, f"the server answered 5xx: {ledger.server_errors}"
    assert not ledger.handed_twice, f"trials handed out twice: {ledger.handed_twice}"
    assert len(ledger.exhausted) == evaluators, f"budget_exhausted seen by {ledger.exhausted}"

    trials = {t.id: t for t in fetch_trials(base_url, study_id)}
    lost = {tid: v for tid, v in ledger.told.items() if tid not in trials}
    assert not lost, f"acknowledged tells of trials the server does not have: {lost}"
    wrong = {
        tid: (values, trials[tid].state.value, trials[tid].values)
        for tid, values in ledger.told.items()
        if trials[tid].state != TrialState.completed or trials[tid].values != values
    }
    assert not wrong, f"acknowledged tells stored differently (told, state, stored): {wrong}"

    completed = {tid for tid, t in trials.items() if t.state == TrialState.completed}
    assert completed == set(ledger.told), (
        f"completed trials {sorted(completed)} != acknowledged tells {sorted(ledger.told)}"
    )
    states = {tid: t.state.value for tid, t in trials.items() if tid not in completed}
    assert not states, f"trials left unfinished: {states}"
    assert len(completed) == budget, f"{len(completed)} completed trials, budget {budget}"

    moved = {
        tid: (params, trials[tid].params)
        for tid, (_, params) in ledger.asked.items()
        if tid in trials and trials[tid].params != params
    }
    assert not moved, f"trials whose stored params differ from the handed-out ones: {moved}"
    clashes = shared_open_points(trials.values())
    assert not clashes, f"points open twice at once: {clashes}"
